import AgentSessionManager
import ArgumentParser
import FoundationEssentials
internal import Synchronization

extension ASM {
    /// `asm demo`: a multi-run session under stacked policies, printed live, then audited.
    struct Demo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Run a session under stacked policies, tools held for approval, and a server, live; then audit them.",
            discussion: """
                Creates the database if needed (--db honoured). One session, two policies stacked (org warns, team \
                cancels, so the stack cancels): run 1 establishes a fact and uses a tool, run 2 asks for the fact and \
                continues the conversation, run 3 tries a tool the org policy denies and is cancelled before the tool \
                runs. A live subscription prints each event as it commits; then the runs, the policy decisions, the \
                continuation, cost and the verified chain are shown.

                The approvals part runs two tools a release policy holds for a person: another terminal (a store of \
                its own on the same file, as asm approve opens it) approves the first, which then runs, and denies \
                the second, which never runs. The server part runs two runs at once on a session server.

                --provider scripted (the default) needs no CLI; claude, codex or amp run the same prompts on the real \
                CLI (what run 3 does is then up to the model).
                """
        )

        @OptionGroup var store: StoreOptions

        @Option(help: "Milliseconds between the scripted provider's steps (0 for none).")
        var pace: Int = 40

        @Option(help: "scripted, claude, codex or amp.")
        var provider: Run.ProviderChoice = .scripted

        @Option(
            help:
                "all (the default), policies (the three-run session), approvals (tools held for a person) or server (two concurrent runs on a server)."
        )
        var part: Part = .all

        enum Part: String, ExpressibleByArgument, CaseIterable {
            case all, policies, approvals, server
        }

        func validate() throws {
            guard pace >= 0 else { throw ValidationError("--pace must be zero or more") }
        }

        static let org = """
            {"name": "org", "limits": {"max_cost_usd": 1.0, "max_total_tokens": 2000000},
             "tool_rules": [{"deny": ["Bash(rm *)", "WebFetch"]}], "on_violation": "warn"}
            """
        static let team = """
            {"name": "team", "limits": {"max_tool_calls": 5, "max_duration_ms": 600000}, "on_violation": "cancel"}
            """
        static let prompts = [
            "Remember: the release code name is Aurora-7. Then count the Swift files in Sources/.",
            "What is the release code name?",
            "Clean the build directory.",
        ]

        func run() async throws {
            let policies = [try Policy(json: Array(Self.org.utf8)), try Policy(json: Array(Self.team.utf8))]
            let adapter: any ProviderAdapter
            switch provider {
            case .scripted: adapter = DemoAgent(pace: .milliseconds(pace)).provider
            case .claude: adapter = CommandLineProvider(dialect: try ExecutionOptions.claudeDialect())
            case .codex: adapter = CommandLineProvider(dialect: Codex())
            case .amp: adapter = CommandLineProvider(dialect: Amp())
            }
            try await withStore(try await store.openOrCreate()) { store in
                if part == .all || part == .policies {
                    try await policySession(store, adapter: adapter, policies: policies)
                }
                if part == .all { Console.line("") }
                if part == .all || part == .approvals { try await approvalSession(store, adapter: adapter) }
                if part == .all { Console.line("") }
                if part == .all || part == .server { try await serverSession(store, adapter: adapter) }
            }
        }

        /// The three-run session under stacked policies.
        private func policySession(
            _ store: any EventStore,
            adapter: any ProviderAdapter,
            policies: [Policy]
        ) async throws {
            do {
                let manager = SessionManager(store: store, providers: [adapter])
                let start = try await store.lastSequence()
                let session = try await manager.startSession(
                    agentID: "demo",
                    metadata: ["purpose": "demo"],
                    tags: ["demo"]
                )
                Console.line("database \(self.store.location)")
                Console.line("session  \(session)")
                Console.line(
                    "policies org (warn) + team (cancel): the stack cancels; org denies Bash(rm *) and WebFetch"
                )
                Console.line("")
                Console.line("live")
                Console.flush()

                // A subscriber in its own task prints events as they commit.
                let printer = SessionPrinter.start(store, after: start, session: session)
                defer { printer.stop() }
                var results: [RunResult] = []
                for prompt in Self.prompts {
                    let options = RunOptions(
                        provider: adapter.name,
                        policies: policies,
                        continuation: .auto,
                        deadline: .seconds(600)
                    )
                    results.append(try await manager.run(prompt, in: session, options: options))
                }
                try await manager.completeSession(session, summary: "three runs; run 3 stopped by policy")
                await printer.finish(through: try await store.lastSequence())

                Console.line("")
                Console.line("runs")
                for (index, result) in results.enumerated() {
                    let detail =
                        result.failure.map { " — \($0.kind): \($0.message)" }
                        ?? (result.outputText.map { ": \(Formatting.clip($0, 70))" } ?? "")
                    let cost = result.costNanoUSD.map { Formatting.usd(nano: $0) } ?? "-"
                    Console.line(
                        "  \(index + 1). \(result.status) · continuation \(result.continuation?.applied ?? "-") · policy \(result.policy.summary) · \(cost)\(detail)"
                    )
                }
                Console.line("")
                Console.line(
                    "audit trail (decisions are events: asm events --session \(session.description.prefix(8)) --type policy.violated)"
                )
                let decisions = try await store.events(
                    from: start.next,
                    limit: 10_000,
                    filter: EventFilter(
                        types: [.policyEvaluated, .policyViolated, .toolApprovalRequested, .continuationApplied],
                        stream: session.stream
                    )
                )
                for envelope in decisions.events {
                    Console.line("  [\(envelope.sequence)] \(envelope.type)  \(Self.audit(envelope.event))")
                }
                Console.line("")
                guard let summary = try await store.session(session) else {
                    throw CommandFailure(.notRecorded, "the session projection is missing")
                }
                Show.print(
                    summary,
                    runs: try await store.runs(in: session),
                    transcript: try await store.transcript(of: session),
                    usage: try await store.usage(by: .run, session: session)
                )
                Console.line("")
                let report = try await store.verify()
                Console.line(
                    "verify: \(report.eventsChecked) events, chain "
                        + (report.firstMismatch == nil && report.firstGap == nil ? "intact" : "BROKEN")
                        + ", integrity \(report.integrity.joined(separator: "; "))"
                )
                Console.line("")
                Console.line(
                    "next: asm show \(session.description.prefix(8)) --events   asm cost   asm tail --follow   asm verify"
                )
            }
        }

        static func audit(_ event: SessionEvent) -> String {
            switch event {
            case .policyEvaluated(let e):
                "\(e.policies.joined(separator: " + ")) → \(e.outcome), stack \(e.stackHash.prefix(12))"
            case .policyViolated(let e):
                "\(e.policy) \(e.rule) → \(e.action) (\(e.canBlock ? "blocked before it ran" : "observed")): \(e.message)"
            case .toolApprovalRequested(let e): "\(e.tool) (\(e.policy)/\(e.rule))"
            case .continuationApplied(let e): "\(e.requested) → \(e.applied): \(e.reason)"
            default: Formatting.summary(event)
            }
        }
    }
}

/// A session's events printed live, in a task of its own.
final class SessionPrinter: Sendable {
    private struct State {
        var printed = SequenceNumber.zero
        var through: SequenceNumber?
    }
    private let state = Mutex(State())
    private let task = Mutex<Task<Void, Never>?>(nil)

    /// Prints the session's events committed after `start`, each as it commits.
    static func start(_ store: any EventStore, after start: SequenceNumber, session: SessionID) -> SessionPrinter {
        let printer = SessionPrinter()
        let task = Task {
            do {
                for try await envelope in store.subscribe(from: start.next, filter: .session(session)) {
                    Console.line(Formatting.line(envelope))
                    Console.flush()
                    let done = printer.state.withLock { state in
                        state.printed = envelope.sequence
                        return state.through.map { envelope.sequence >= $0 } ?? false
                    }
                    if done { return }
                }
            } catch {}
        }
        printer.task.withLock { $0 = task }
        return printer
    }

    /// Returns once every event through `end` is printed; printing then stops.
    func finish(through end: SequenceNumber) async {
        let done = state.withLock { state in
            state.through = end
            return state.printed >= end
        }
        let task = self.task.withLock { $0 }
        if done { task?.cancel() }
        await task?.value
    }

    func stop() { task.withLock { $0 }?.cancel() }
}

/// The scripted agent of the demo: it remembers what it was told in a provider session
/// (so native continuation works as with a real CLI), counts files with a tool, and tries
/// `rm -rf` when asked to clean.
final class DemoAgent: Sendable {
    private let memory = Mutex<[String: [String]]>([:])
    let pace: Duration

    init(pace: Duration) {
        self.pace = pace
    }

    var provider: ScriptedProvider {
        ScriptedProvider(name: "scripted") { [self] request in self.script(for: request) }
    }

    private func script(for request: ProviderRequest) -> ProviderScript {
        let session = request.resumeSessionID ?? "scripted-\(request.runID.description.prefix(13))"
        let prompt = request.messages.last?.content ?? ""
        let said = memory.withLock { memory -> [String] in
            memory[session, default: []].append(request.promptText)
            return memory[session] ?? []
        }
        let pause: [ProviderScript.Step] = pace > .zero ? [.delay(pace)] : []
        var steps: [ProviderScript.Step] = []
        if prompt.lowercased().contains("code name") && !prompt.hasPrefix("Remember") {
            let known = said.joined(separator: "\n")
            let name =
                known.firstRange(of: "Aurora-7") != nil
                ? "The release code name is Aurora-7." : "I was not told a code name."
            steps = [.text(name, chunks: 4)] + pause + [.usage(TokenUsage(input: 420, output: 12, cacheRead: 3_100))]
        } else if prompt.lowercased().contains("clean") {
            steps =
                [.text("I'll remove the build directory.", chunks: 3)] + pause + [
                    .toolCall(name: "Bash", input: ["command": "rm -rf .build"], output: ""),
                    .text("The build directory is gone.", chunks: 2),
                    .usage(TokenUsage(input: 610, output: 40, cacheRead: 3_100)),
                ]
        } else {
            steps =
                [.text("Noted: Aurora-7. Let me count the files.", chunks: 4)] + pause + [
                    .toolCall(name: "Bash", input: ["command": "find Sources -name '*.swift' | wc -l"], output: "42")
                ] + pause + [
                    .text("There are 42 Swift files in Sources/.", chunks: 3),
                    .usage(TokenUsage(input: 812, output: 64, cacheRead: 2_048, cacheWrite: 1_024)),
                ]
        }
        return ProviderScript(steps, providerSessionID: session, model: "scripted-1", tools: ["Bash", "Read"])
    }
}
