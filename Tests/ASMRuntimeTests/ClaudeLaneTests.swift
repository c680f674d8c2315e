import ASMCore
import ASMPolicy
import ASMProviders
import ASMStore
import AgentSessionManagerTesting
import FoundationEssentials
import Testing

@testable import ASMRuntime

/// Claude Code as a lane that holds tools: the real adapter and process runner against the
/// fake CLI speaking the host permission protocol from the captures. Each tool's fate is
/// checked by its side effect (a file the fake writes only when it is allowed to run).
@Suite(.serialized) struct ClaudeLaneTests {
    static let fakeAgent = PackageFiles.path("Fixtures/fake-cli/fake-agent")
    static let captures = PackageFiles.path("Fixtures/providers")

    static func claude(_ inputMode: ClaudeCode.InputMode = .streamJSON) -> ClaudeCodeProvider {
        CommandLineProvider(
            dialect: ClaudeCode(inputMode: inputMode),
            configuration: .init(executable: fakeAgent)
        )
    }

    static func policy(_ name: String, deny pattern: String, _ action: PolicyAction) -> Policy {
        Policy(name: name, toolRules: [.deny([PolicyExecutionTests.pattern(pattern)])], onViolation: action)
    }

    /// Runs `capture` through the Claude lane under `policies`; `ran` is the tool's side effect.
    private func run(
        _ capture: String,
        _ policies: [Policy],
        inputMode: ClaudeCode.InputMode = .streamJSON,
        meanwhile: (@Sendable (String) async throws -> Void)? = nil,
        _ check: (Harness, RunResult, [SessionEvent], Bool) async throws -> Void
    ) async throws {
        let directory = TemporaryDirectory(prefix: "asm-claude-lane")
        defer { directory.remove() }
        let ran = directory.file("ran")
        try await withHarness([Self.claude(inputMode)]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let path = h.store.path
            let other = meanwhile.map { work in Task { try await work(path) } }
            let result = try await h.manager.run(
                "echo hi",
                in: session,
                options: RunOptions(
                    provider: "claude",
                    environment: [
                        "FAKE_FIXTURE": "\(Self.captures)/\(capture)", "FAKE_ON_ALLOW": "echo ran > \(ran)",
                    ],
                    policies: policies
                )
            )
            try await other?.value
            let events = try await h.events(of: result.runID).map(\.event)
            let sideEffect = FileManager.default.fileExists(atPath: ran)
            // Every decision re-derives from the log, and every held tool's fate matches it.
            let report = try await ReplayVerifier(store: h.store).verify()
            #expect(report.isConsistent, "\(report.mismatches)")
            try await check(h, result, events, sideEffect)
        }
    }

    private func violations(_ events: [SessionEvent]) -> [PolicyViolated] {
        events.compactMap { if case .policyViolated(let violated) = $0 { violated } else { nil } }
    }

    private func started(_ events: [SessionEvent]) -> Int {
        events.filter { if case .toolCallStarted = $0 { true } else { false } }.count
    }

    @Test("denied under cancel: the tool is refused before it runs, the violation can block, and the run is cancelled")
    func deniedCancel() async throws {
        try await run("claude-permission-stdio-allow.jsonl", [Self.policy("org", deny: "bash", .cancel)]) {
            h,
            result,
            events,
            ran in
            #expect(!ran, "a denied tool never runs")
            #expect(result.status == .failed)
            #expect(result.failure?.kind == .policyViolation)
            #expect(violations(events).map(\.canBlock) == [true])
            let requested = try #require(
                events.lazy.compactMap { if case .toolCallRequested(let call) = $0 { call } else { nil } }.first
            )
            #expect(started(events) == 0)
            // A log claiming the refused tool ran anyway does not replay.
            let run = try #require(try await h.store.run(result.runID))
            try await h.store.append(
                [NewEvent(ToolCallStarted(callID: requested.callID, name: "Bash"), run: result.runID)],
                to: run.sessionID.stream,
                expectedVersion: .any
            )
            let report = try await ReplayVerifier(store: h.store).verify()
            #expect(
                report.mismatches.map(\.message)
                    == ["tool \(requested.callID) started although a cancelling rule refused it before it ran"]
            )
        }
    }

    @Test("denied under warn: the violation is recorded before the tool runs, then it runs, as on every lane")
    func deniedWarn() async throws {
        try await run("claude-permission-stdio-allow.jsonl", [Self.policy("team", deny: "bash", .warn)]) {
            _,
            result,
            events,
            ran in
            #expect(ran)
            #expect(result.status == .completed)
            #expect(violations(events).map(\.canBlock) == [true])
            let order = events.compactMap { event -> String? in
                switch event {
                case .toolCallRequested: "requested"
                case .policyViolated: "violated"
                case .toolCallStarted: "started"
                case .toolCallCompleted: "completed"
                default: nil
                }
            }
            #expect(order == ["requested", "violated", "started", "completed"])
        }
    }

    @Test("no rule applies: the tool is allowed and runs, with no violation")
    func allowed() async throws {
        try await run("claude-permission-stdio-allow.jsonl", [Self.policy("team", deny: "WebFetch", .cancel)]) {
            _,
            result,
            events,
            ran in
            #expect(ran)
            #expect(result.status == .completed)
            #expect(violations(events).isEmpty)
            #expect(started(events) == 1)
        }
    }

    @Test(
        "a tool the CLI refused itself is tool_call.refused, not a violation: the run goes on, in both input modes",
        arguments: [ClaudeCode.InputMode.streamJSON, .print]
    )
    func refusedByTheCLI(mode: ClaudeCode.InputMode) async throws {
        try await run(
            "claude-disallowed-tool.jsonl",
            [Self.policy("org", deny: "bash", .cancel), Self.policy("team", deny: "bash", .warn)],
            inputMode: mode
        ) { _, result, events, _ in
            #expect(result.status == .completed)
            #expect(violations(events).isEmpty)
            #expect(started(events) == 0)
            let refused = events.compactMap { if case .toolCallRefused(let refused) = $0 { refused } else { nil } }
            #expect(refused.map(\.name) == ["Bash"])
            #expect(refused.first?.reason.contains("No such tool available") == true)
        }
    }

    @Test("in print mode the lane only observes: a warn rule is recorded after the tool started (can_block false)")
    func printModeObserves() async throws {
        try await run(
            "claude-tool.jsonl",
            [Self.policy("team", deny: "bash", .warn)],
            inputMode: .print
        ) { _, result, events, _ in
            #expect(result.status == .completed)
            #expect(violations(events).map(\.canBlock) == [false])
            #expect(!events.contains { if case .toolCallRequested = $0 { true } else { false } })
        }
    }

    /// Another process, as far as the log goes (its own store on the same file): it answers
    /// the first approval requested.
    static func answerFirstApproval(_ approve: Bool) -> @Sendable (String) async throws -> Void {
        { path in
            let store = try SQLiteEventStore(path: path)
            let manager = SessionManager(store: store, providers: [])
            let requested = try await store.nextApprovalRequest()
            #expect(requested.canBlock)
            try await manager.resolveApproval(requested.approvalID, approved: approve, by: "ana", reason: nil)
            await store.close()
        }
    }

    @Test(
        "held for approval on Claude: the answer from another manager on the same file lets the tool run or not",
        arguments: [true, false]
    )
    func heldForApproval(approve: Bool) async throws {
        try await run(
            "claude-permission-stdio-allow.jsonl",
            [Self.policy("team", deny: "Bash(echo hi*)", .requestApproval)],
            meanwhile: Self.answerFirstApproval(approve)
        ) { h, result, events, ran in
            #expect(ran == approve)
            #expect(result.status == .completed)
            #expect(started(events) == (approve ? 1 : 0))
            let approvals = try await h.store.approvals(pendingOnly: false)
            #expect(approvals.map(\.status) == [approve ? .approved : .denied])
        }
    }
}
