public import ASMCore
public import ASMPolicy
public import ASMStore

/// Re-evaluates recorded runs under another policy stack — no model is called, nothing is
/// written — and reports where its decisions differ from the recorded ones: runs it would
/// have cancelled (or not), earlier or later; violations it would have recorded or not; tools
/// it would have held for approval or not.
///
/// Each run's own events are fed to ``PolicyEngine`` with the new stack at their recording
/// times, from the run's start (its `policy.evaluated` or first `run.started`), as the run's
/// host fed the recorded stack; a duration limit falls due as of its time. Where the new stack
/// cancels, the comparison stops: what the run did afterwards would not have happened. Where
/// the recorded stack cancelled and the new one would not, the log cannot say what would have
/// followed, and the report says so.
public struct PolicyWhatIf: Sendable {
    /// One way the new stack decides differently.
    public struct Difference: Sendable, Hashable {
        public enum Kind: String, Sendable, CaseIterable {
            /// The new stack cancels a run the recorded one let finish (or ended otherwise).
            case cancelled
            /// The recorded stack cancelled the run; the new one would not have.
            case notCancelled = "not_cancelled"
            /// Both cancel, the new stack at an earlier event.
            case cancelledEarlier = "cancelled_earlier"
            /// Both cancel, the new stack at a later event.
            case cancelledLater = "cancelled_later"
            /// A violation (warn, cancel or request_approval) the log does not have.
            case violation
            /// A recorded violation the new stack would not record.
            case violationGone = "violation_gone"
            /// A tool the new stack would hold for a person's answer.
            case held
            /// A tool held in the log that the new stack would let run.
            case notHeld = "not_held"
        }

        public var kind: Kind
        public var run: RunID
        public var session: SessionID?
        /// The event the decision falls on (the tool call, the usage update, the run's end).
        public var sequence: SequenceNumber
        public var policy: String?
        public var rule: String?
        public var action: String?
        /// One sentence saying what would have happened, and what the log recorded.
        public var message: String
    }

    public struct Report: Sendable {
        public var runs = 0
        public var differences: [Difference] = []
        /// Runs with at least one difference.
        public var runsChanged: Int { Set(differences.map(\.run)).count }

        public func count(_ kind: Difference.Kind) -> Int { differences.filter { $0.kind == kind }.count }
    }

    public let stack: PolicyStack

    public init(stack: PolicyStack) {
        self.stack = stack
    }

    /// Compares every run of the log, or of one session.
    public func compare(in store: any EventStore, session: SessionID? = nil) async throws -> Report {
        compare(try await store.allEvents(session.map { EventFilter(stream: $0.stream) } ?? EventFilter()))
    }

    /// Compares the runs among `events` (the log's order; events without a run are skipped).
    public func compare(_ events: [EventEnvelope]) -> Report {
        var report = Report()
        for (run, runEvents) in events.groupedByRun() {
            guard let differences = compare(run: run, runEvents) else { continue }
            report.runs += 1
            report.differences += differences
        }
        return report
    }

    private struct Violation: Hashable {
        /// The decision's own event (recorded), or the event it was decided on (derived).
        var sequence: SequenceNumber
        /// The event it was decided on: the last event before it that is not a decision.
        var input: SequenceNumber
        var policy: String
        var rule: String
        var action: String
        var message: String

        init(_ violated: PolicyViolated, at sequence: SequenceNumber, input: SequenceNumber) {
            self.sequence = sequence
            self.input = input
            policy = violated.policy
            rule = violated.rule
            action = violated.action
            message = violated.message
        }

        /// What is compared: a host may record a decision a few events after its input (an
        /// observing lane records a tool's violation once the tool is seen), so not the sequence.
        var key: [String] { [policy, rule, action, message] }
    }

    private struct Hold: Hashable {
        var sequence: SequenceNumber
        var input: SequenceNumber
        var tool: String
        var policy: String
        var rule: String

        init(_ requested: ToolApprovalRequested, at sequence: SequenceNumber, input: SequenceNumber) {
            self.sequence = sequence
            self.input = input
            tool = requested.tool
            policy = requested.policy
            rule = requested.rule
        }

        var key: [String] { [tool, policy, rule] }
    }

    /// The differences for one run; `nil` for a run that never started.
    private func compare(run: RunID, _ events: [EventEnvelope]) -> [Difference]? {
        let decisionTypes: Set<EventType> = [.policyEvaluated, .policyViolated, .toolApprovalRequested]
        guard let start = events.firstIndex(where: { $0.type == .policyEvaluated || $0.type == .runStarted }) else {
            return nil
        }
        let session = events.first.map { SessionID(uuid: $0.stream.uuid) }
        let terminal = events.last { $0.event.isRunTerminal }

        // What the log recorded.
        var recordedViolations: [Violation] = []
        var recordedHolds: [Hold] = []
        var lastInput = events[start].sequence
        for envelope in events[start...] {
            switch envelope.event {
            case .policyViolated(let violated):
                recordedViolations.append(Violation(violated, at: envelope.sequence, input: lastInput))
            case .toolApprovalRequested(let requested):
                recordedHolds.append(Hold(requested, at: envelope.sequence, input: lastInput))
            default:
                if !decisionTypes.contains(envelope.type) { lastInput = envelope.sequence }
            }
        }
        let recordedCancel: Violation? =
            if case .runFailed(let failed) = terminal?.event, failed.failure.kind == .policyViolation {
                recordedViolations.first { $0.action == PolicyAction.cancel.rawValue }
            } else {
                nil
            }

        // What the new stack decides.
        let engine = PolicyEngine(stack: stack, runID: run)
        var (state, _) = engine.start(at: events[start].recordedAt)
        var derivedViolations: [Violation] = []
        var derivedHolds: [Hold] = []
        var derivedCancel: Violation?
        func take(_ decisions: [PolicyDecision], at sequence: SequenceNumber) {
            for decision in decisions {
                switch decision {
                case .record(.policyViolated(let violated)):
                    let violation = Violation(violated, at: sequence, input: sequence)
                    derivedViolations.append(violation)
                    if violated.action == PolicyAction.cancel.rawValue, derivedCancel == nil {
                        derivedCancel = violation
                    }
                case .record(.toolApprovalRequested(let requested)):
                    derivedHolds.append(Hold(requested, at: sequence, input: sequence))
                default:
                    continue
                }
            }
        }
        for envelope in events[start...] where !decisionTypes.contains(envelope.type) {
            if envelope.event.isRunTerminal {
                // A duration limit due before the run ended fires as of its time.
                if let due = engine.nextTick(state), due <= envelope.recordedAt {
                    let (next, decisions) = engine.reduce(state, .tick(due))
                    state = next
                    take(decisions, at: envelope.sequence)
                }
                break
            }
            let (next, decisions) = engine.reduce(state, .event(envelope.event, at: envelope.recordedAt))
            state = next
            take(decisions, at: envelope.sequence)
            if derivedCancel != nil { break }
        }

        // Past the new stack's cancel nothing happened; past the recorded cancel nothing is known.
        let horizon = min(
            derivedCancel?.input ?? .init(Int64.max),
            recordedCancel?.input ?? .init(Int64.max)
        )
        var differences: [Difference] = []
        func add(_ kind: Difference.Kind, _ sequence: SequenceNumber, _ item: Violation, _ message: String) {
            add(kind, sequence, policy: item.policy, rule: item.rule, action: item.action, message)
        }
        func add(
            _ kind: Difference.Kind,
            _ sequence: SequenceNumber,
            policy: String,
            rule: String,
            action: String,
            _ message: String
        ) {
            differences.append(
                Difference(
                    kind: kind,
                    run: run,
                    session: session,
                    sequence: sequence,
                    policy: policy,
                    rule: rule,
                    action: action,
                    message: message
                )
            )
        }
        let ending = Self.ending(terminal)
        var cancelReported = true
        switch (derivedCancel, recordedCancel) {
        case (let derived?, nil):
            add(
                .cancelled,
                derived.sequence,
                derived,
                "would have been cancelled at sequence \(derived.sequence) by \(derived.rule) of policy "
                    + "\(derived.policy) (recorded: \(ending)): \(derived.message)"
            )
        case (nil, let recorded?):
            add(
                .notCancelled,
                recorded.sequence,
                recorded,
                "would not have been cancelled at sequence \(recorded.sequence) (recorded: cancelled by "
                    + "\(recorded.rule) of policy \(recorded.policy)); the log cannot show what would have followed"
            )
        case (let derived?, let recorded?) where derived.key != recorded.key && derived.input != recorded.input:
            add(
                derived.input < recorded.input ? .cancelledEarlier : .cancelledLater,
                derived.sequence,
                derived,
                "would have been cancelled at sequence \(derived.sequence) by \(derived.rule) of policy "
                    + "\(derived.policy) (recorded: cancelled at sequence \(recorded.sequence) by \(recorded.rule) of "
                    + "policy \(recorded.policy))"
            )
        default:
            // The same cancel; or another rule cancelling at the same event, which the
            // violations below show.
            cancelReported = false
        }
        // Matched as multisets: each recorded decision pairs with one derived decision alike.
        let unmatchedDerived = Self.unmatched(derivedViolations, against: recordedViolations, by: \.key)
        let unmatchedRecorded = Self.unmatched(recordedViolations, against: derivedViolations, by: \.key)
        for violation in unmatchedDerived where !(cancelReported && violation == derivedCancel) {
            guard violation.input <= horizon else { continue }
            add(
                .violation,
                violation.sequence,
                violation,
                "would have recorded \(violation.action) by \(violation.rule) of policy \(violation.policy) at "
                    + "sequence \(violation.sequence): \(violation.message)"
            )
        }
        for violation in unmatchedRecorded where !(cancelReported && violation == recordedCancel) {
            guard violation.input <= horizon else { continue }
            add(
                .violationGone,
                violation.sequence,
                violation,
                "would not have recorded \(violation.action) by \(violation.rule) of policy \(violation.policy) at "
                    + "sequence \(violation.sequence)"
            )
        }
        for hold in Self.unmatched(derivedHolds, against: recordedHolds, by: \.key) where hold.input <= horizon {
            add(
                .held,
                hold.sequence,
                policy: hold.policy,
                rule: hold.rule,
                action: PolicyAction.requestApproval.rawValue,
                "tool \(hold.tool) at sequence \(hold.sequence) would have been held for approval by \(hold.rule) "
                    + "of policy \(hold.policy)"
            )
        }
        for hold in Self.unmatched(recordedHolds, against: derivedHolds, by: \.key) where hold.input <= horizon {
            add(
                .notHeld,
                hold.sequence,
                policy: hold.policy,
                rule: hold.rule,
                action: PolicyAction.requestApproval.rawValue,
                "tool \(hold.tool) at sequence \(hold.sequence) would not have been held (recorded: held by "
                    + "\(hold.rule) of policy \(hold.policy))"
            )
        }
        return differences.sorted { ($0.sequence, $0.kind.rawValue) < ($1.sequence, $1.kind.rawValue) }
    }

    /// The items of `items` left once each item of `others` has taken one alike.
    private static func unmatched<T>(_ items: [T], against others: [T], by key: (T) -> [String]) -> [T] {
        var available: [[String]: Int] = [:]
        for other in others { available[key(other), default: 0] += 1 }
        return items.filter { item in
            guard let count = available[key(item)], count > 0 else { return true }
            available[key(item)] = count - 1
            return false
        }
    }

    private static func ending(_ terminal: EventEnvelope?) -> String {
        switch terminal?.event {
        case .runCompleted: "completed"
        case .runFailed(let failed): "failed, \(failed.failure.kind.rawValue)"
        case .runCancelled(let cancelled): "cancelled, \(cancelled.reason.rawValue)"
        default: "not ended"
        }
    }
}
