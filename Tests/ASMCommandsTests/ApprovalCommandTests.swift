import AgentSessionManager
import AgentSessionManagerTesting
import Foundation
import Testing

/// A run held for an approval in this process (Claude Code, through the fake CLI speaking its
/// host permission protocol), answered with `asm approve` and `asm deny` from another: the
/// tool runs (or not) accordingly, and everyone sees the same answer.
@Suite(.serialized) struct ApprovalCommandTests {
    static let team = Policy(
        name: "team",
        toolRules: [.deny([(try? ToolPattern("Bash(echo hi*)")) ?? { fatalError("pattern") }()])],
        onViolation: .requestApproval
    )

    /// Claude Code with the host permission protocol: the fake CLI plays the captured run
    /// whose Bash call waits for the host, and writes `ran` only when the call is allowed.
    static func claude() -> ClaudeCodeProvider {
        CommandLineProvider(
            dialect: ClaudeCode(),
            configuration: .init(executable: PackageFiles.path("Fixtures/fake-cli/fake-agent"))
        )
    }

    /// A run in this process whose tool waits for an approval, that approval once it is in
    /// the log, and the file the tool writes if it runs.
    private func heldRun(
        _ directory: TemporaryDirectory
    ) async throws -> (SQLiteEventStore, Task<RunResult, any Error>, ToolApprovalRequested, String) {
        let store = try SQLiteEventStore(path: directory.file("asm.sqlite"))
        let manager = SessionManager(store: store, providers: [Self.claude()])
        let session = try await manager.startSession(agentID: "a")
        let start = try await store.lastSequence()
        let ran = directory.file("ran")
        let environment = [
            "FAKE_FIXTURE": PackageFiles.path("Fixtures/providers/claude-permission-stdio-allow.jsonl"),
            "FAKE_ON_ALLOW": "echo hi > \(ran)",
        ]
        let running = Task {
            try await manager.run(
                "echo hi",
                in: session,
                options: RunOptions(provider: "claude", environment: environment, policies: [Self.team])
            )
        }
        return (store, running, try await store.nextApprovalRequest(after: start), ran)
    }

    @Test("asm approve answers a tool held in another process; a second answer is refused with exit 1")
    func approveFromAnotherProcess() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let (store, running, requested, ran) = try await heldRun(directory)

        let pending = try await ASMProcess.run(["approvals", "--pending", "--json", "--db", db])
        #expect(pending.lines.count == 1)
        #expect(pending.lines.first?.contains(#""approval_id":"\#(requested.approvalID)""#) == true)
        #expect(pending.lines.first?.contains(#""status":"pending""#) == true)
        #expect(pending.lines.first?.contains(#""tool":"Bash","#) == true)
        #expect(
            pending.lines.first?.contains(
                #""input":{"command":"echo hi > perm.txt","description":"Run echo hi > perm.txt"}"#
            ) == true
        )
        #expect(pending.lines.first?.contains(#""deadline":"20"#) == true, "ten minutes after the request")

        // An unambiguous prefix is enough.
        let prefix = String(requested.approvalID.prefix(requested.approvalID.count - 1))
        let approved = try await ASMProcess.run([
            "approve", prefix, "--by", "ops", "--reason", "release day", "--db", db,
        ])
        #expect(approved.exitCode == 0, "\(approved.stderr)")
        #expect(approved.stdout == "approved \(requested.approvalID) (by ops)\n")

        let result = try await running.value
        #expect(result.status == .completed)
        let types = try await store.events(from: .zero, limit: 1000, filter: EventFilter(run: result.runID)).events
            .map(\.type.rawValue)
        #expect(types.contains("tool_call.started"), "the approved tool ran")
        #expect(FileManager.default.fileExists(atPath: ran), "and did what it does")

        let again = try await ASMProcess.run(["deny", requested.approvalID, "--db", db])
        #expect(again.exitCode == 1)
        #expect(again.stderr == "asm: already resolved: approval \(requested.approvalID) is already approved by ops\n")
        let missing = try await ASMProcess.run(["approve", "nope", "--db", db])
        #expect(missing.exitCode == 66)
        let listed = try await ASMProcess.run(["approvals", "--db", db])
        #expect(listed.stdout.contains("approved by ops: release day"))
        // asm tail says what waits and who answered.
        let tail = try await ASMProcess.run(["tail", "-n", "30", "--db", db])
        #expect(
            tail.stdout.contains(
                "Bash (team/deny:Bash(echo hi*)) waits for asm approve or deny \(requested.approvalID)"
            )
        )
        #expect(tail.stdout.contains("approved \(requested.approvalID) by ops: release day"))
        await store.close()
    }

    @Test("two processes answering one held tool at once: one answer recorded, the other exits 1; the tool follows it")
    func racingProcesses() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let (store, running, requested, ran) = try await heldRun(directory)
        async let approving = ASMProcess.run(["approve", requested.approvalID, "--by", "ana", "--db", db])
        async let denying = ASMProcess.run(["deny", requested.approvalID, "--by", "bo", "--db", db])
        let (yes, no) = try await (approving, denying)
        #expect([yes.exitCode ?? -1, no.exitCode ?? -1].sorted() == [0, 1], "\(yes.stderr) \(no.stderr)")
        let result = try await running.value
        let events = try await store.events(from: .zero, limit: 1000, filter: EventFilter(run: result.runID)).events
        let answers = events.compactMap { envelope -> ToolApprovalResolved? in
            if case .toolApprovalResolved(let resolved) = envelope.event { return resolved }
            return nil
        }
        #expect(answers.count == 1)
        #expect(answers.first?.approved == (yes.exitCode == 0))
        #expect(events.contains { $0.type == .toolCallStarted } == (yes.exitCode == 0))
        #expect(FileManager.default.fileExists(atPath: ran) == (yes.exitCode == 0), "the tool ran only if approved")
        await store.close()
    }

    /// `asm run` or `asm serve` with `--approvals wait`, its held tool answered by `asm approve`
    /// or `asm deny` from another process once the request is in the log.
    @Test(
        "--approvals wait leaves the answer to another process, for asm run and asm serve",
        arguments: [("run", true), ("run", false), ("serve", true), ("serve", false)]
    )
    func waitForAnotherProcess(command: String, approve: Bool) async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let policy = directory.file("ask.json")
        FileManagerShim.write(
            policy,
            #"{"name": "ask", "tool_rules": [{"deny": ["Bash(make deploy*)"]}], "on_violation": "request_approval"}"#
        )
        let script = directory.file("deploy.json")
        FileManagerShim.write(
            script,
            #"{"steps": [{"tool": "Bash", "input": {"command": "make deploy"}, "output": "deployed"}, {"text": "Done."}]}"#
        )
        var arguments = [
            command, "--provider", "scripted", "--script", script, "--db", db, "--policy", policy, "--approvals",
            "wait",
        ]
        if command == "run" {
            arguments.append("Deploy")
        } else {
            let input = directory.file("requests.jsonl")
            FileManagerShim.write(input, #"{"messages": [{"role": "user", "content": "Deploy"}]}"# + "\n")
            arguments += ["--input", input]
        }
        #expect(try await ASMProcess.run(["init", "--db", db]).exitCode == 0)
        let running = Task { try await ASMProcess.run(arguments) }
        // The request, once it is in the log; then the answer from a third process.
        let store = try SQLiteEventStore(path: db)
        let requested = try await store.nextApprovalRequest(after: .zero)
        await store.close()
        let answer = approve ? "approve" : "deny"
        let answered = try await ASMProcess.run([answer, requested.approvalID, "--by", "pager", "--db", db])
        #expect(answered.exitCode == 0, "\(answered.stderr)")
        let result = try await running.value
        #expect(result.exitCode == 0, "\(result.stderr)")
        let started = try await ASMProcess.run(["events", "--db", db, "--type", "tool_call.started"])
        #expect(started.lines.count == (approve ? 1 : 0))
        let listed = try await ASMProcess.run(["approvals", "--db", db])
        #expect(listed.stdout.contains("\(approve ? "approved" : "denied") by pager"))
    }

    @Test("the demo's approvals part: one held tool approved from another terminal runs, one denied never does")
    func demo() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let demo = try await ASMProcess.run(["demo", "--part", "approvals", "--pace", "0", "--db", db])
        #expect(demo.exitCode == 0, "\(demo.stderr)")
        #expect(demo.stdout.contains("1. Deploy the release. → completed; its held tool ran after the approval"))
        #expect(demo.stdout.contains("2. Push the release tag. → completed; its held tool never ran"))
        #expect(demo.stdout.contains("another terminal $ asm approve "))
        #expect(demo.stdout.contains("another terminal $ asm deny "))
        let listed = try await ASMProcess.run(["approvals", "--json", "--db", db])
        #expect(listed.lines.count == 2)
        #expect(listed.lines.first?.contains(#""status":"approved""#) == true)
        #expect(listed.lines.last?.contains(#""status":"denied""#) == true)
        let started = try await ASMProcess.run(["events", "--db", db, "--type", "tool_call.started"])
        #expect(started.lines.count == 1 && started.stdout.contains("make deploy"))
        let replay = try await ASMProcess.run(["replay", "--verify", "--db", db])
        #expect(replay.exitCode == 0 && replay.stdout.hasSuffix("all match\n"))
    }
}
