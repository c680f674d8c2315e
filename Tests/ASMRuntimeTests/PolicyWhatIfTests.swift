import ASMCore
import ASMPolicy
import ASMRuntime
import ASMStore
import AgentSessionManagerTesting
import FoundationEssentials
import Testing

/// What if: recorded runs evaluated again under another stack, differences exactly as expected.
@Suite struct PolicyWhatIfTests {
    private static func stack(_ json: String...) throws -> PolicyStack {
        try PolicyStack(json.map { try Policy(json: Array($0.utf8)) })
    }

    /// (kind, sequence, rule) of each difference, in the report's order.
    private static func summary(_ report: PolicyWhatIf.Report) -> [String] {
        report.differences.map { "\($0.kind.rawValue) \($0.sequence) \($0.rule ?? "-")" }
    }

    /// A copy of the multi-provider fixture; `body` must write nothing to it.
    static func withFixture<T>(_ body: (SQLiteEventStore) async throws -> T) async throws -> T {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("multi-provider.sqlite")
        let data = try #require(FileManager.default.contents(atPath: ReplayTests.fixture))
        _ = FileManager.default.createFile(atPath: path, contents: data)
        let store = try SQLiteEventStore(path: path)
        let before = try await store.lastSequence()
        let value = try await body(store)
        #expect(try await store.lastSequence() == before, "what if never writes")
        await store.close()
        return value
    }

    @Test("a stricter stack on the multi-provider fixture: the rm and the two README reads would have cancelled")
    func stricter() async throws {
        let report = try await Self.withFixture { store in
            try await PolicyWhatIf(
                stack: try Self.stack(
                    #"{"name": "strict", "limits": {"max_total_tokens": 500}, "tool_rules": [{"deny": ["Bash(rm *)", "Read(README.md)"]}], "on_violation": "cancel"}"#
                )
            ).compare(in: store)
        }
        #expect(report.runs == 6 && report.runsChanged == 3)
        #expect(
            Self.summary(report) == [
                "cancelled 21 deny:Bash(rm *)", "cancelled 75 deny:Read(README.md)",
                "cancelled 91 deny:Read(README.md)",
            ]
        )
        #expect(
            report.differences.first?.message
                == "would have been cancelled at sequence 21 by deny:Bash(rm *) of policy strict (recorded: completed): "
                + "Bash `rm -rf build` is denied by Bash(rm *) (strict)"
        )
        #expect(report.differences.allSatisfy { $0.session != nil && $0.policy == "strict" && $0.action == "cancel" })
    }

    @Test("a looser stack: the recorded warning is gone; the recorded stack itself changes nothing")
    func looserAndSame() async throws {
        try await Self.withFixture { store in
            let looser = try await PolicyWhatIf(
                stack: try Self.stack(#"{"name": "loose", "limits": {"max_tool_calls": 5}}"#)
            ).compare(in: store)
            #expect(Self.summary(looser) == ["violation_gone 26 deny:Bash(rm *)"])
            #expect(looser.differences.first?.policy == "org" && looser.differences.first?.action == "warn")

            let recorded = try await PolicyWhatIf(
                stack: try Self.stack(
                    #"{"name": "org", "tool_rules": [{"deny": ["Bash(rm *)"]}], "on_violation": "warn"}"#,
                    #"{"name": "team", "limits": {"max_tool_calls": 5, "max_total_tokens": 100000}, "on_violation": "warn"}"#
                )
            ).compare(in: store)
            #expect(recorded.runs == 6 && recorded.differences.isEmpty, "\(recorded.differences)")
        }
    }

    @Test("request_approval holds the rm for a person; a 1 ms duration limit fires in every run at its time")
    func heldAndDuration() async throws {
        try await Self.withFixture { store in
            let gate = try await PolicyWhatIf(
                stack: try Self.stack(
                    #"{"name": "gate", "tool_rules": [{"deny": ["Bash(rm *)"]}], "on_violation": "request_approval"}"#
                )
            ).compare(in: store)
            #expect(
                Self.summary(gate) == [
                    "held 21 deny:Bash(rm *)", "violation 21 deny:Bash(rm *)", "violation_gone 26 deny:Bash(rm *)",
                ]
            )
            let quick = try await PolicyWhatIf(
                stack: try Self.stack(#"{"name": "quick", "limits": {"max_duration_ms": 1}, "on_violation": "cancel"}"#)
            ).compare(in: store)
            #expect(quick.count(.cancelled) == 5 && quick.runsChanged == 5)
            #expect(quick.differences.filter { $0.kind == .cancelled }.allSatisfy { $0.rule == "max_duration_ms" })
        }
    }

    @Test("against a recorded cancel: earlier, later, not at all, or the same")
    func recordedCancel() throws {
        let run = RunID.generate()
        let session = SessionID.generate()
        var sequence: Int64 = 0
        var micros: Int64 = 1_000_000
        func event(_ payload: SessionEvent, after milliseconds: Int64 = 0) -> EventEnvelope {
            sequence += 1
            micros += milliseconds * 1000
            return EventEnvelope(
                sequence: SequenceNumber(sequence),
                id: EventID.generate(),
                stream: session.stream,
                streamVersion: StreamVersion(sequence),
                runID: run,
                recordedAt: Timestamp(microseconds: micros),
                event: payload,
                hash: .genesis
            )
        }
        let rm = JSONValue.object([JSONMember("command", .string("rm -rf build"))])
        let usage = TokenUsage(input: 900, output: 100)
        let log = [
            event(.runRequested(RunRequested(messages: [ChatMessage(role: .user, content: "clean up")]))),
            event(.policyEvaluated(PolicyEvaluated(policies: ["org"], stackHash: "x", outcome: "accepted"))),
            event(.runStarted(RunStarted(provider: "scripted"))),  // 3
            event(.tokenUsageUpdated(TokenUsageUpdated(delta: usage, total: usage)), after: 5),  // 4
            event(.toolCallRequested(ToolCallRequested(callID: "c1", name: "Bash", input: rm)), after: 5),  // 5
            event(
                .policyViolated(
                    PolicyViolated(
                        policy: "org",
                        rule: "deny:Bash(rm *)",
                        action: "cancel",
                        message: "Bash `rm -rf build` is denied by Bash(rm *) (org)",
                        stackHash: "x",
                        counters: PolicyCounters(),
                        canBlock: true
                    )
                )
            ),  // 6
            event(
                .runFailed(
                    RunFailed(
                        failure: RunFailure(kind: .policyViolation, message: "org: Bash `rm -rf build` is denied")
                    )
                ),
                after: 10
            ),  // 7
        ]
        let earlier = PolicyWhatIf(
            stack: try Self.stack(#"{"name": "tokens", "limits": {"max_total_tokens": 500}, "on_violation": "cancel"}"#)
        ).compare(log)
        #expect(Self.summary(earlier) == ["cancelled_earlier 4 max_total_tokens"])
        let later = PolicyWhatIf(
            stack: try Self.stack(#"{"name": "slow", "limits": {"max_duration_ms": 12}, "on_violation": "cancel"}"#)
        ).compare(log)
        #expect(Self.summary(later) == ["cancelled_later 7 max_duration_ms"])
        let none = PolicyWhatIf(stack: try Self.stack(#"{"name": "none", "limits": {"max_tool_calls": 9}}"#)).compare(
            log
        )
        #expect(Self.summary(none) == ["not_cancelled 6 deny:Bash(rm *)"])
        #expect(none.differences.first?.message.hasSuffix("the log cannot show what would have followed") == true)
        let same = PolicyWhatIf(
            stack: try Self.stack(
                #"{"name": "org", "tool_rules": [{"deny": ["Bash(rm *)"]}], "on_violation": "cancel"}"#
            )
        ).compare(log)
        #expect(same.differences.isEmpty, "\(same.differences)")
    }
}
