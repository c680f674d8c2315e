import AgentSessionManager
import ArgumentParser

extension ASM {
    /// `asm replay`: re-derives routing and policy decisions from the log and compares them.
    struct Replay: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-derive every routing and policy decision from the log and compare it with the recorded one.",
            discussion: """
                Each run's policy stack is read back from its policy.evaluated and its events fed to the evaluator; each \
                routing decision is made again from the log folded through its recorded state position, with its \
                recorded time and seed; breaker changes are checked against their causes. With --verify, a mismatch \
                exits 1; each one prints the sequence, what the reducers derive and what the log recorded.
                """
        )

        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions

        @Flag(help: "Exit 1 when a recorded decision does not re-derive.")
        var verify = false

        @Option(help: "Only this session (an id or an unambiguous prefix).")
        var session: String?

        func run() async throws {
            let report = try await withStore(try await store.openForReading()) { store in
                var sessionID: SessionID?
                if let session { sessionID = try await resolveSession(session, in: store) }
                return try await ReplayVerifier(store: store).verify(session: sessionID)
            }
            if output.json {
                for mismatch in report.mismatches { Console.line(Formatting.json(MismatchLine(mismatch))) }
                Console.line(Formatting.json(Summary(report)))
            } else {
                for skipped in report.unverifiable {
                    Console.line(
                        "NOT RE-DERIVED at sequence \(skipped.sequence) (run \(skipped.run), \(skipped.kind)): \(skipped.message)"
                    )
                }
                for mismatch in report.mismatches {
                    Console.line(
                        "MISMATCH at sequence \(mismatch.sequence) (run \(mismatch.run), \(mismatch.kind)): \(mismatch.message)"
                    )
                    Console.line("  expected: \(mismatch.expected.map(Formatting.payloadJSON) ?? "nothing")")
                    Console.line("  recorded: \(mismatch.recorded.map(Formatting.payloadJSON) ?? "nothing")")
                }
                Console.line(
                    "replayed \(report.runs) runs: \(report.policyDecisions) policy decisions, \(report.routingDecisions) routing decisions, "
                        + "\(report.healthChanges) breaker changes; "
                        + (report.isConsistent
                            ? "all match"
                            : "\(report.mismatches.count) mismatch\(report.mismatches.count == 1 ? "" : "es")")
                        + (report.unverifiable.isEmpty
                            ? ""
                            : " (\(report.unverifiable.count) not re-derived: an input was expunged)")
                )
            }
            Console.flush()
            if verify, !report.isConsistent { throw CommandFailure.reported(.verificationFailed) }
        }

        private struct Summary: Encodable {
            var runs, policyDecisions, routingDecisions, healthChanges, mismatches, unverifiable: Int
            var consistent: Bool
            init(_ report: ReplayReport) {
                unverifiable = report.unverifiable.count
                runs = report.runs
                policyDecisions = report.policyDecisions
                routingDecisions = report.routingDecisions
                healthChanges = report.healthChanges
                mismatches = report.mismatches.count
                consistent = report.isConsistent
            }
            enum CodingKeys: String, CodingKey {
                case runs, mismatches, consistent, unverifiable
                case policyDecisions = "policy_decisions"
                case routingDecisions = "routing_decisions"
                case healthChanges = "health_changes"
            }
        }

        private struct MismatchLine: Encodable {
            var sequence: Int64
            var run: String
            var kind: String
            var message: String
            var expected: JSONValue?
            var recorded: JSONValue?
            init(_ mismatch: ReplayReport.Mismatch) {
                sequence = mismatch.sequence.rawValue
                run = mismatch.run.description
                kind = mismatch.kind.rawValue
                message = mismatch.message
                expected = mismatch.expected.map(Formatting.payloadValue)
                recorded = mismatch.recorded.map(Formatting.payloadValue)
            }
        }
    }
}
