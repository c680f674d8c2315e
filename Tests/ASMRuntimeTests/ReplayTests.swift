import ASMCore
import ASMPolicy
import ASMProviders
import ASMRouting
import ASMRuntime
import ASMStore
import AgentSessionManagerTesting
import FoundationEssentials
import Testing

/// Replay: a recorded multi-provider session re-derives; an edited decision does not.
@Suite(.serialized) struct ReplayTests {
    static let fixture = PackageFiles.path("Fixtures/logs/multi-provider.sqlite")
    static let recording = ProcessInfo.processInfo.environment["RECORD_FIXTURES"] == "1"

    /// Six runs over three providers behind a weighted, sticky router with a breaker, under
    /// two policies: failovers before and after output, claude's breaker opening, cooling
    /// down, probed and closing, a sticky session rebound when its provider fails, policy
    /// warnings. Runs 1, 2 and 6 share a session (sticky); the others each have their own.
    static func record(into store: SQLiteEventStore) async throws -> SessionID {
        let claude = Flaky("claude") { n in
            switch n {
            case 1: [.fail(RunFailure(kind: .rateLimited, message: "API Error: 429 rate limited", httpStatus: 429))]
            case 2:
                [
                    .text("Starting the review"),
                    .fail(RunFailure(kind: .overloaded, message: "API Error: 529 overloaded", httpStatus: 529)),
                ]
            default:
                [
                    .text("Reviewed."), .toolCall(name: "Read", input: ["file_path": "README.md"], output: "# Title"),
                    .usage(TokenUsage(input: 900, output: 40)),
                ]
            }
        }
        let codex = Flaky("codex") { n in
            switch n {
            case 1: [.text("Done on codex."), .usage(TokenUsage(input: 400, output: 30))]
            case 2:
                [
                    .toolCall(name: "Bash", input: ["command": "rm -rf build"], output: ""), .text("Cleaned."),
                    .usage(TokenUsage(input: 500, output: 20)),
                ]
            default: [.fail(RunFailure(kind: .overloaded, message: "API Error: 503", httpStatus: 503))]
            }
        }
        let amp = Flaky("amp") { _ in [.text("Done on amp."), .usage(TokenUsage(input: 300, output: 10))] }
        let config = RouterConfig(
            strategy: .weighted,
            weights: ["claude": 100, "codex": 2, "amp": 1],
            maxAttempts: 3,
            circuitBreaker: .init(failureThreshold: 2, cooldown: .milliseconds(150)),
            stickyTTL: .seconds(600)
        )
        let seeds = Counter()
        let router = ProviderRouter(
            providers: [claude, codex, amp],
            config: config,
            seeds: { UInt64(seeds.next()) &* 0x5DEE_CE66 }
        )
        var configuration = SessionManager.Configuration()
        let clock = ManualClock(start: SystemClock().now())
        configuration.clock = clock
        let manager = SessionManager(store: store, providers: [], routers: [router], configuration: configuration)
        let org = try Policy(
            json: Array(#"{"name": "org", "tool_rules": [{"deny": ["Bash(rm *)"]}], "on_violation": "warn"}"#.utf8)
        )
        let team = Policy(
            name: "team",
            limits: PolicyLimits(maxTotalTokens: 100_000, maxToolCalls: 5),
            onViolation: .warn
        )
        let options = RunOptions(provider: "router", policies: [org, team])
        let sticky = try await manager.startSession(agentID: "fixture", tags: ["replay"])
        // claude 429 → codex; bound to codex
        _ = try await manager.run("Review the diff", in: sticky, options: options)
        _ = try await manager.run("Clean the build", in: sticky, options: options)  // sticky codex; rm -rf warned
        // claude fails after output and opens; then it is skipped
        for prompt in ["Review it again", "Summarise"] {
            _ = try await manager.run(prompt, in: try await manager.startSession(agentID: "fixture"), options: options)
        }
        clock.advance(by: .milliseconds(200))  // past claude's cooldown
        // half-open, closes
        _ = try await manager.run("Probe", in: try await manager.startSession(agentID: "fixture"), options: options)
        _ = try await manager.run("Once more", in: sticky, options: options)  // codex fails: rebound
        return sticky
    }

    private func copyFixture(to directory: TemporaryDirectory) throws -> String {
        let path = directory.file("fixture.sqlite")
        let data = try #require(
            FileManager.default.contents(atPath: Self.fixture),
            "missing \(Self.fixture); record it with RECORD_FIXTURES=1"
        )
        _ = FileManager.default.createFile(atPath: path, contents: data)
        return path
    }

    @Test("the recorded multi-provider session in Fixtures/ replays with every decision matching")
    func fixtureReplays() async throws {
        if Self.recording {
            try? FileManager.default.removeItem(atPath: Self.fixture)
            let store = try SQLiteEventStore(path: Self.fixture)
            _ = try await Self.record(into: store)
            await store.close()
        }
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(path: try copyFixture(to: directory))
        let report = try await ReplayVerifier(store: store).verify()
        await store.close()
        #expect(report.isConsistent, "\(report.mismatches)")
        #expect(
            report.runs == 6 && report.routingDecisions >= 8 && report.healthChanges >= 3 && report.policyDecisions >= 7
        )
    }

    @Test("a fresh recording of the same scenario replays too")
    func freshRecordingReplays() async throws {
        try await withTemporaryStore { store in
            let sticky = try await Self.record(into: store)
            let report = try await ReplayVerifier(store: store).verify()
            #expect(try await ReplayVerifier(store: store).verify(session: sticky).isConsistent)
            #expect(report.isConsistent, "\(report.mismatches)")
            let kinds = try await store.events(
                from: .zero,
                limit: 10_000,
                filter: EventFilter(types: [.providerHealthChanged])
            ).events.compactMap { envelope -> String? in
                if case .providerHealthChanged(let changed) = envelope.event {
                    return "\(changed.provider):\(changed.current)"
                }
                return nil
            }
            #expect(
                kinds.contains("claude:open") && kinds.contains("claude:half_open") && kinds.contains("claude:closed")
            )
            let rebound = try await store.events(
                from: .zero,
                limit: 10_000,
                filter: EventFilter(types: [.routingDecided])
            ).events.contains { envelope in
                if case .routingDecided(let decided) = envelope.event { return decided.rebound == true }
                return false
            }
            #expect(rebound)
        }
    }

    /// Edits one stored payload, bypassing the append-only trigger.
    private func tamper(_ path: String, sequence: SequenceNumber, replacing old: String, with new: String) throws {
        let connection = try Connection(path: path, mode: .readWrite)
        defer { connection.close() }
        try connection.execute(
            "DROP TRIGGER events_are_append_only_update; UPDATE events SET payload = replace(payload, '\(old)', '\(new)') WHERE sequence = \(sequence.rawValue)"
        )
    }

    @Test("an edited routing decision is reported with the sequence, what re-derives and what was recorded")
    func editedRouting() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = try copyFixture(to: directory)
        var store = try SQLiteEventStore(path: path)
        let decided = try #require(
            try await store.events(from: .zero, limit: 1, filter: EventFilter(types: [.routingDecided])).events.first
        )
        guard case .routingDecided(let recorded) = decided.event, let chosen = recorded.chosen else {
            Issue.record("no decision to edit")
            return
        }
        await store.close()
        let other = chosen == "codex" ? "amp" : "codex"
        try tamper(
            path,
            sequence: decided.sequence,
            replacing: "\"chosen\":\"\(chosen)\"",
            with: "\"chosen\":\"\(other)\""
        )
        store = try SQLiteEventStore(path: path)
        let report = try await ReplayVerifier(store: store).verify()
        await store.close()
        let mismatch = try #require(report.mismatches.first)
        #expect(mismatch.kind == .routing && mismatch.sequence == decided.sequence)
        guard case .routingDecided(let expected)? = mismatch.expected,
            case .routingDecided(let found)? = mismatch.recorded
        else {
            Issue.record("expected routing decisions in the mismatch")
            return
        }
        #expect(expected.chosen == chosen && found.chosen == other)
    }

    @Test("an edited policy decision is reported as a policy mismatch")
    func editedPolicy() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = try copyFixture(to: directory)
        var store = try SQLiteEventStore(path: path)
        let violated = try #require(
            try await store.events(from: .zero, limit: 1, filter: EventFilter(types: [.policyViolated])).events.first
        )
        await store.close()
        try tamper(path, sequence: violated.sequence, replacing: "\"action\":\"warn\"", with: "\"action\":\"cancel\"")
        store = try SQLiteEventStore(path: path)
        let report = try await ReplayVerifier(store: store).verify()
        await store.close()
        #expect(report.mismatches.map(\.kind) == [.policy])
        #expect(report.mismatches.first?.sequence == violated.sequence)
    }
}
