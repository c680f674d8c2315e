import ASMCore
import ASMRouting
import ASMRuntime
import ASMStore
import AgentSessionManagerTesting
import FoundationEssentials
import Testing

/// What if: the recorded runs' attempts decided again under another router configuration.
@Suite struct RouterWhatIfTests {
    /// The fixture's router, with `changes` on top (JSON members, replacing the recorded ones).
    private static func config(_ changes: String = "") throws -> RouterConfig {
        let base =
            #""strategy": "weighted", "weights": {"amp": 1, "claude": 100, "codex": 2}, "max_attempts": 3, "circuit_breaker": {"failure_threshold": 2, "cooldown_ms": 150, "half_open_probes": 1}, "sticky_ttl_ms": 600000"#
        var members: [String: String] = [:]
        var order: [String] = []
        for text in [base, changes] where !text.isEmpty {
            let parsed = try JSONValue(parsing: Array("{\(text)}".utf8))
            guard case .object(let object) = parsed else { continue }
            for member in object {
                if members[member.key] == nil { order.append(member.key) }
                members[member.key] = String(decoding: try member.value.jsonBytes(), as: UTF8.self)
            }
        }
        let json = "{" + order.map { "\"\($0)\": \(members[$0] ?? "null")" }.joined(separator: ", ") + "}"
        return try RouterConfig(json: Array(json.utf8))
    }

    /// (kind, sequence, recorded → proposed) of each difference, in the report's order.
    private static func summary(_ report: RouterWhatIf.Report) -> [String] {
        report.differences.map { "\($0.kind.rawValue) \($0.sequence) \($0.recorded ?? "-")→\($0.proposed ?? "-")" }
    }

    private static func fixture() async throws -> (events: [EventEnvelope], log: [EventEnvelope]) {
        try await PolicyWhatIfTests.withFixture { store in
            let events = try await store.allEvents(.all)
            // The same through the store.
            let stored = try await RouterWhatIf(config: try config()).compare(in: store)
            #expect(stored.runs == 6 && stored.differences.isEmpty)
            let log = events.filter {
                ProviderRouter.foldedTypes.matches(type: $0.type, stream: $0.stream, run: $0.runID)
            }
            return (events, log)
        }
    }

    @Test("the recorded configuration routes every attempt as recorded")
    func recorded() async throws {
        let (events, log) = try await Self.fixture()
        let report = RouterWhatIf(config: try Self.config()).compare(events, log: log)
        #expect(report.runs == 6 && report.decisions == 11 && report.differences.isEmpty)
    }

    @Test("preferring amp sends each run's first decided attempt there; the failover to claude at 87 as well")
    func preferAmp() async throws {
        let (events, log) = try await Self.fixture()
        let report = RouterWhatIf(
            config: try Self.config(#""strategy": "prefer", "prefer": ["amp", "codex", "claude"], "weights": {}"#)
        ).compare(events, log: log)
        #expect(
            Self.summary(report) == [
                "elsewhere 7 claude→amp", "elsewhere 34 claude→amp", "elsewhere 54 codex→amp",
                "elsewhere 71 claude→amp", "elsewhere 87 claude→amp",
            ]
        )
        #expect(report.runsChanged == 5 && report.count(.elsewhere) == 5)
    }

    @Test("a breaker that opens at the first failure and stays open moves later runs off the failed providers")
    func stricterBreaker() async throws {
        let (events, log) = try await Self.fixture()
        let report = RouterWhatIf(
            config: try Self.config(
                #""circuit_breaker": {"failure_threshold": 1, "cooldown_ms": 600000, "half_open_probes": 1}"#
            )
        ).compare(events, log: log)
        #expect(
            Self.summary(report) == [
                "elsewhere 34 claude→codex", "elsewhere 54 codex→amp", "elsewhere 71 claude→amp",
                "elsewhere 84 codex→amp",
            ]
        )
    }

    @Test("one attempt per run stops every failover; excluding everyone leaves no provider")
    func attemptsAndExclusions() async throws {
        let (events, log) = try await Self.fixture()
        let single = RouterWhatIf(config: try Self.config(#""max_attempts": 1"#)).compare(events, log: log)
        #expect(
            Self.summary(single) == [
                "stops_earlier 8 codex→-", "stops_earlier 38 codex→-", "stops_earlier 55 amp→-",
                "stops_earlier 85 claude→-",
            ]
        )
        let none = RouterWhatIf(config: try Self.config(#""exclude": ["amp", "codex", "claude"]"#))
            .compare(events, log: log)
        #expect(none.count(.noProvider) == 6 && none.runsChanged == 6)
        #expect(none.differences.first?.message.contains("claude: excluded, codex: excluded, amp: excluded") == true)
    }

    @Test("a run the recorded router gave up on is tried again by one with more attempts")
    func triesMore() async throws {
        let (events, log) = try await Self.fixture()
        // The first run as if its router had stopped after the first failure: the failover
        // names no next provider and the second decision never happened.
        let first = try #require(events.first { $0.type == .routingDecided }?.runID)
        let gaveUp = events.filter { $0.runID == first }.compactMap { envelope -> EventEnvelope? in
            guard envelope.type != .routingDecided || envelope.sequence == 7 else { return nil }
            guard case .routingFailedOver(var failed) = envelope.event else { return envelope }
            failed.to = nil
            var edited = envelope
            edited.event = .routingFailedOver(failed)
            return edited
        }
        let report = RouterWhatIf(config: try Self.config()).compare(gaveUp, log: log)
        #expect(Self.summary(report) == ["tries_more 8 -→-"])
        #expect(report.differences.first?.message.contains("would have tried attempt 2 after claude failed") == true)
    }
}
