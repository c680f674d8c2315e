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

                What if: with --policy FILE (repeatable, stacked in order as asm run stacks them), each recorded run \
                is evaluated again under that stack instead, with no model called and nothing written, and every \
                place its decisions differ from the recorded ones is printed: runs it would have cancelled (at which \
                sequence, by which rule) or not, earlier or later, violations it would or would not have recorded, \
                tools it would or would not have held for approval; then a summary. Exit status 0 either way.

                What if, routing: with --router FILE (a configuration as asm run --router reads it), each recorded \
                routing decision is made again under it — the log's breakers folded with its thresholds and \
                cooldown, the run's recorded candidates, time and seed, the same recorded outcomes — and every \
                attempt it would have sent elsewhere (or nowhere), every failover it would not have made and every \
                attempt it would have added is printed, each run up to its first difference; then a summary.
                """
        )

        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions

        @Flag(help: "Exit 1 when a recorded decision does not re-derive.")
        var verify = false

        @Option(help: "Only this session (an id or an unambiguous prefix).")
        var session: String?

        @Option(
            name: .customLong("policy"),
            help: "What if: evaluate the recorded runs under this JSON policy instead (repeatable)."
        )
        var policyFiles: [String] = []

        @Option(
            name: .customLong("router"),
            help: "What if: decide the recorded runs' attempts under this JSON router configuration instead."
        )
        var routerFile: String?

        func validate() throws {
            if verify, !policyFiles.isEmpty || routerFile != nil {
                throw ValidationError(
                    "--verify checks the recorded decisions; --policy and --router ask what another configuration would decide: use one"
                )
            }
            if !policyFiles.isEmpty, routerFile != nil {
                throw ValidationError("ask about --policy or --router, one at a time")
            }
        }

        func run() async throws {
            if !policyFiles.isEmpty { return try await whatIf() }
            if let routerFile { return try await routerWhatIf(routerFile) }
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

        private func whatIf() async throws {
            var policies: [Policy] = []
            for file in policyFiles {
                do {
                    policies.append(try Policy(json: try contents(of: file, "the policy")))
                } catch var error as PolicyError {
                    error.path = file
                    throw error
                }
            }
            let stack = try PolicyStack(policies)
            let report = try await withStore(try await store.openForReading()) { store in
                var sessionID: SessionID?
                if let session { sessionID = try await resolveSession(session, in: store) }
                return try await PolicyWhatIf(stack: stack).compare(in: store, session: sessionID)
            }
            if output.json {
                for difference in report.differences { Console.line(Formatting.json(DifferenceLine(difference))) }
                Console.line(Formatting.json(WhatIfSummary(report, stack: stack)))
                return
            }
            for difference in report.differences {
                Console.line("run \(difference.run): \(difference.message)")
            }
            let counts = Self.counts(report.count as (PolicyWhatIf.Difference.Kind) -> Int).compactMap { kind, count in
                count == 0 ? nil : "\(count) \(String(kind.map { $0 == "_" ? " " : $0 }))"
            }
            Console.line(
                "what if \(stack.policies.map(\.name).joined(separator: " + ")) (stack \(stack.hash.prefix(12))): \(report.runs) runs, "
                    + (report.differences.isEmpty
                        ? "every decision as recorded"
                        : "\(report.runsChanged) would have gone differently (\(counts.joined(separator: ", ")))")
            )
        }

        private func routerWhatIf(_ file: String) async throws {
            let config: RouterConfig
            do {
                config = try RouterConfig(json: try contents(of: file, "the router configuration"))
                try config.validate()
            } catch var error as RouterConfigError {
                error.path = file
                throw error
            }
            let report = try await withStore(try await store.openForReading()) { store in
                var sessionID: SessionID?
                if let session { sessionID = try await resolveSession(session, in: store) }
                return try await RouterWhatIf(config: config).compare(in: store, session: sessionID)
            }
            if output.json {
                for difference in report.differences {
                    Console.line(Formatting.json(RoutingDifferenceLine(difference)))
                }
                Console.line(Formatting.json(RoutingWhatIfSummary(report)))
                return
            }
            for difference in report.differences {
                Console.line("run \(difference.run): \(difference.message)")
            }
            let counts = Self.counts(report.count as (RouterWhatIf.Difference.Kind) -> Int).compactMap { kind, count in
                count == 0 ? nil : "\(count) \(String(kind.map { $0 == "_" ? " " : $0 }))"
            }
            Console.line(
                "what if router \(file): \(report.runs) routed runs, \(report.decisions) decisions, "
                    + (report.differences.isEmpty
                        ? "every attempt as recorded"
                        : "\(report.runsChanged) would have gone differently (\(counts.joined(separator: ", ")))")
            )
        }

        /// Each kind of difference (by its JSON name) and how many there are, in the kinds' order.
        static func counts<Kind: RawRepresentable & CaseIterable>(_ count: (Kind) -> Int) -> [(String, Int)]
        where Kind.RawValue == String {
            Kind.allCases.map { ($0.rawValue, count($0)) }
        }

        private struct RoutingDifferenceLine: Encodable {
            var run: String
            var session: String?
            var sequence: Int64
            var kind: String
            var attempt: Int
            var recorded: String?
            var proposed: String?
            var message: String
            init(_ difference: RouterWhatIf.Difference) {
                run = difference.run.description
                session = difference.session?.description
                sequence = difference.sequence.rawValue
                kind = difference.kind.rawValue
                attempt = difference.attempt
                recorded = difference.recorded
                proposed = difference.proposed
                message = difference.message
            }
        }

        private struct RoutingWhatIfSummary: Encodable {
            var runs: Int
            var decisions: Int
            var runsChanged: Int
            var differences: [String: Int]
            init(_ report: RouterWhatIf.Report) {
                runs = report.runs
                decisions = report.decisions
                runsChanged = report.runsChanged
                differences = Dictionary(
                    uniqueKeysWithValues: Replay.counts(report.count as (RouterWhatIf.Difference.Kind) -> Int)
                )
            }
            enum CodingKeys: String, CodingKey {
                case runs, decisions, differences
                case runsChanged = "runs_changed"
            }
        }

        private struct DifferenceLine: Encodable {
            var run: String
            var session: String?
            var sequence: Int64
            var kind: String
            var policy: String?
            var rule: String?
            var action: String?
            var message: String
            init(_ difference: PolicyWhatIf.Difference) {
                run = difference.run.description
                session = difference.session?.description
                sequence = difference.sequence.rawValue
                kind = difference.kind.rawValue
                policy = difference.policy
                rule = difference.rule
                action = difference.action
                message = difference.message
            }
        }

        private struct WhatIfSummary: Encodable {
            var stackHash: String
            var policies: [String]
            var runs: Int
            var runsChanged: Int
            var differences: [String: Int]
            init(_ report: PolicyWhatIf.Report, stack: PolicyStack) {
                stackHash = stack.hash
                policies = stack.policies.map(\.name)
                runs = report.runs
                runsChanged = report.runsChanged
                differences = Dictionary(
                    uniqueKeysWithValues: Replay.counts(report.count as (PolicyWhatIf.Difference.Kind) -> Int)
                )
            }
            enum CodingKeys: String, CodingKey {
                case policies, runs, differences
                case stackHash = "stack_hash"
                case runsChanged = "runs_changed"
            }
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
