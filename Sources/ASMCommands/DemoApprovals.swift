import AgentSessionManager
import FoundationEssentials

extension ASM.Demo {
    static let release = """
        {"name": "release", "tool_rules": [{"deny": ["Bash(make deploy*)", "Bash(git push*)"]}],
         "on_violation": "request_approval", "approval_timeout_ms": 60000}
        """

    /// Two runs whose tools wait for a person: one approved and one denied from "another
    /// terminal" (a second store on the same file, exactly what `asm approve` opens), the
    /// executing run following the log for the answer.
    func approvalSession(_ store: any EventStore, adapter: any ProviderAdapter) async throws {
        let agent: any ProviderAdapter = provider == .scripted ? Self.releaseAgent(pace: .milliseconds(pace)) : adapter
        let manager = SessionManager(store: store, providers: [agent])
        let policy = try Policy(json: Array(Self.release.utf8))
        let start = try await store.lastSequence()
        let session = try await manager.startSession(agentID: "demo-release", metadata: ["purpose": "demo"])
        Console.line("session  \(session)")
        Console.line("policy   release: Bash(make deploy*) and Bash(git push*) wait for a person (60 s, then denied)")
        Console.line("")
        Console.line("live (the run holds each tool until another terminal answers)")
        Console.flush()
        let printer = SessionPrinter.start(store, after: start, session: session)
        defer { printer.stop() }
        var outcomes: [(String, RunResult)] = []
        for (prompt, approve) in [("Deploy the release.", true), ("Push the release tag.", false)] {
            let asked = try await store.lastSequence()
            let terminal = Task { try await Self.anotherTerminal(self.store, after: asked, approve: approve) }
            let result = try await manager.run(
                prompt,
                in: session,
                options: RunOptions(provider: agent.name, policies: [policy], deadline: .seconds(600))
            )
            // A run that asked nothing (a real CLI may not) leaves the other terminal waiting.
            terminal.cancel()
            _ = try? await terminal.value
            outcomes.append((prompt, result))
        }
        try await manager.completeSession(session, summary: "one tool approved, one denied before it ran")
        await printer.finish(through: try await store.lastSequence())
        Console.line("")
        Console.line("runs")
        for (index, (prompt, result)) in outcomes.enumerated() {
            let events = try await store.events(from: start.next, limit: 10_000, filter: EventFilter(run: result.runID))
            let ran = events.events.contains { $0.type == .toolCallStarted }
            Console.line(
                "  \(index + 1). \(prompt) → \(result.status); its held tool \(ran ? "ran after the approval" : "never ran")"
            )
        }
        Console.line("")
        Console.line(
            "next: asm approvals   asm tail --follow   (answer a held tool with asm approve ID or asm deny ID)"
        )
    }

    /// What a person does in another terminal: `asm approvals --pending`, then `asm approve`
    /// or `asm deny`, through a store of its own on the same file.
    private static func anotherTerminal(_ options: StoreOptions, after: SequenceNumber, approve: Bool) async throws {
        let store = try await options.openExisting()
        let manager = SessionManager(store: store, providers: [])
        for try await envelope in store.subscribe(
            from: after.next,
            filter: EventFilter(types: [.toolApprovalRequested])
        ) {
            guard case .toolApprovalRequested(let requested) = envelope.event else { continue }
            let verb = approve ? "approve" : "deny"
            let reason = approve ? "release window is open" : "tags are pushed by CI"
            Console.line(
                "    another terminal $ asm \(verb) \(requested.approvalID.prefix(12)) --by ops --reason \"\(reason)\""
            )
            Console.flush()
            try await manager.resolveApproval(requested.approvalID, approved: approve, by: "ops", reason: reason)
            break
        }
        await store.close()
    }

    /// The scripted release agent: it deploys or pushes a tag with Bash.
    static func releaseAgent(pace: Duration) -> ScriptedProvider {
        ScriptedProvider(name: "scripted") { request in
            let pause: [ProviderScript.Step] = pace > .zero ? [.delay(pace)] : []
            let deploy = request.messages.last?.content.lowercased().contains("deploy") ?? false
            let command = deploy ? "make deploy" : "git push origin v1.0"
            let steps: [ProviderScript.Step] =
                [.text(deploy ? "Deploying with make." : "Pushing the tag.", chunks: 2)] + pause + [
                    .toolCall(
                        name: "Bash",
                        input: ["command": .string(command)],
                        output: deploy ? "deployed" : "pushed"
                    ),
                    .text(deploy ? "The release is live." : "Understood; I did not push the tag.", chunks: 2),
                    .usage(TokenUsage(input: 300, output: 30)),
                ]
            return ProviderScript(steps, model: "scripted-1", tools: ["Bash"])
        }
    }
}
