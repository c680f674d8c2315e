public import ASMCore
import ASMPolicy
import ASMRouting
public import ASMStore

/// Re-derives every routing and policy decision from the log with the pure reducers and
/// compares it with the recorded one.
///
/// - Policies: each run's stack is read back from its `policy.evaluated` (and must hash to
///   the recorded hash); the run's events are fed to the evaluator at their recording
///   times; the decisions it records must be the ones in the log, in order, and a cancel
///   must have ended the run as that policy-violation failure.
/// - Routing: each `routing.decided` is decided again from the log folded through its
///   `state_sequence` plus the run's own earlier routing events, with its recorded time,
///   seed and configuration; each `routing.failed_over` must name the next decision's
///   choice, fail over only for a retryable failure, and say truly whether output had been
///   streamed; each `provider.health_changed` must be the change its cause implies.
public struct ReplayVerifier: Sendable {
    private let store: any EventStore

    public init(store: any EventStore) {
        self.store = store
    }

    /// Verifies the whole log, or one session.
    public func verify(session: SessionID? = nil) async throws -> ReplayReport {
        let runs = try await store.allEvents(session.map { EventFilter(stream: $0.stream) } ?? EventFilter())
            .groupedByRun()
        var report = ReplayReport()
        let routed = runs.contains { $0.events.contains { $0.type == .routingDecided } }
        let global = routed ? try await store.allEvents(ProviderRouter.foldedTypes) : []
        var folds = FoldCache(log: global)
        for (run, runEvents) in runs {
            report.runs += 1
            verifyPolicies(run, runEvents, &report)
            verifyRouting(run, runEvents, &folds, &report)
        }
        return report
    }

    // MARK: Policies

    private func verifyPolicies(_ run: RunID, _ events: [EventEnvelope], _ report: inout ReplayReport) {
        guard let start = events.firstIndex(where: { $0.type == .policyEvaluated }),
            case .policyEvaluated(let evaluated) = events[start].event
        else { return }
        let at = events[start].sequence
        let stack: PolicyStack
        do {
            stack = try PolicyStack(recorded: evaluated.merged ?? .null)
        } catch {
            report.mismatch(
                .policy,
                at,
                run,
                "the recorded stack cannot be read: \(error)",
                expected: nil,
                recorded: .policyEvaluated(evaluated)
            )
            return
        }
        let engine = PolicyEngine(stack: stack, runID: run)
        let (initial, opening) = engine.start(at: events[start].recordedAt)
        report.policyDecisions += 1
        if opening != [.record(.policyEvaluated(evaluated))] {
            report.mismatch(
                .policy,
                at,
                run,
                "the stack does not hash to the recorded stack_hash",
                expected: opening.recorded.first,
                recorded: .policyEvaluated(evaluated)
            )
            return
        }
        var state = initial
        var derived: [SessionEvent] = []
        var cancellation: RunFailure?
        var terminal: EventEnvelope?
        // An expunged event's payload is gone: decisions from it on cannot be re-derived.
        var expunged: SequenceNumber?
        for envelope in events[start...] {
            if envelope.event.isRunTerminal {
                terminal = envelope
                break
            }
            if expunged == nil, case .opaque(let opaque) = envelope.event, case .expunged = opaque.reason {
                expunged = envelope.sequence
            }
            let (next, decisions) = engine.reduce(state, .event(envelope.event, at: envelope.recordedAt))
            state = next
            derived += decisions.recorded
            for case .cancelRun(let failure) in decisions where cancellation == nil { cancellation = failure }
        }
        // The deadline is the run's own (its approval timeout), not the evaluator's decision.
        let recorded = events[start...].filter { $0.type == .policyViolated || $0.type == .toolApprovalRequested }
            .map { envelope -> EventEnvelope in
                guard case .toolApprovalRequested(var requested) = envelope.event else { return envelope }
                requested.deadline = nil
                var undated = envelope
                undated.event = .toolApprovalRequested(requested)
                return undated
            }
        report.policyDecisions += recorded.count
        for index in 0..<max(derived.count, recorded.count) {
            let expected = index < derived.count ? derived[index] : nil
            let actual = index < recorded.count ? recorded[index] : nil
            guard expected != actual?.event else { continue }
            let sequence = actual?.sequence ?? terminal?.sequence ?? at
            if let expunged, expunged < sequence {
                report.unverifiable.append(
                    ReplayReport.Unverifiable(
                        kind: .policy,
                        sequence: sequence,
                        run: run,
                        message: "its input at sequence \(expunged) was expunged"
                    )
                )
                return
            }
            report.mismatch(
                .policy,
                actual?.sequence ?? terminal?.sequence ?? at,
                run,
                actual == nil ? "a decision the log should have recorded is missing" : "the recorded decision differs",
                expected: expected,
                recorded: actual?.event
            )
            return
        }
        verifyHeldTools(run, events[start...], &report)
        if let cancellation, let terminal, terminal.event != .runFailed(RunFailed(failure: cancellation)),
            expunged == nil
        {
            report.mismatch(
                .policy,
                terminal.sequence,
                run,
                "a policy cancelled the run, but it did not end as that policy violation",
                expected: .runFailed(RunFailed(failure: cancellation)),
                recorded: terminal.event
            )
        }
    }

    /// Each held tool's fate matches its approval's recorded answer: it never starts before
    /// the answer, and never after a denial (by a person, another process or the deadline);
    /// a tool a cancelling rule refused before it ran never starts.
    private func verifyHeldTools(_ run: RunID, _ events: ArraySlice<EventEnvelope>, _ report: inout ReplayReport) {
        var held: [String: String] = [:]  // approval id → call id, for tools that wait
        var answers: [String: (approved: Bool, sequence: SequenceNumber)] = [:]  // by call id
        var asking: String?  // the call whose tool_call.requested came last
        var refused: Set<String> = []  // calls a cancelling rule refused before they ran
        for envelope in events {
            switch envelope.event {
            case .toolCallRequested(let requested):
                asking = requested.callID
            case .policyViolated(let violated) where violated.canBlock && violated.action == "cancel":
                if let call = asking { refused.insert(call) }
            case .toolApprovalRequested(let requested) where requested.canBlock:
                if let call = requested.callID { held[requested.approvalID] = call }
            case .toolApprovalResolved(let resolved):
                if let call = held[resolved.approvalID] { answers[call] = (resolved.approved, envelope.sequence) }
            case .toolCallStarted(let started) where refused.contains(started.callID):
                report.mismatch(
                    .policy,
                    envelope.sequence,
                    run,
                    "tool \(started.callID) started although a cancelling rule refused it before it ran",
                    expected: nil,
                    recorded: envelope.event
                )
                return
            case .toolCallStarted(let started):
                guard held.values.contains(started.callID) else { continue }
                let answer = answers[started.callID]
                guard answer?.approved != true else { continue }
                report.mismatch(
                    .policy,
                    envelope.sequence,
                    run,
                    answer == nil
                        ? "held tool \(started.callID) started before its approval was answered"
                        : "held tool \(started.callID) started although its approval was denied",
                    expected: nil,
                    recorded: envelope.event
                )
                return
            default:
                continue
            }
        }
    }

    // MARK: Routing

    private func verifyRouting(
        _ run: RunID,
        _ events: [EventEnvelope],
        _ folds: inout FoldCache,
        _ report: inout ReplayReport
    ) {
        let routing = events.filter { [.routingDecided, .routingFailedOver, .providerHealthChanged].contains($0.type) }
        guard !routing.isEmpty else { return }
        /// The run's own routing events before `sequence` and after `position`, in log order.
        func overlay(
            _ state: inout RouterState,
            _ router: Router,
            after position: SequenceNumber,
            before sequence: SequenceNumber
        ) {
            for envelope in routing where envelope.sequence > position && envelope.sequence < sequence {
                _ = router.apply(&state, envelope.event, run: run, sequence: position)
            }
        }
        // The configuration the run was routed with.
        guard
            let config = routing.lazy.compactMap({ envelope -> JSONValue? in
                if case .routingDecided(let decided) = envelope.event { return decided.router }
                return nil
            }).first, let routerConfig = try? RouterConfig(value: Self.withoutProviders(config))
        else {
            report.mismatch(
                .routing,
                routing[0].sequence,
                run,
                "no routing.decided records the router's configuration",
                expected: nil,
                recorded: routing[0].event
            )
            return
        }
        let router = Router(config: routerConfig)
        let profiles = Self.profiles(config)
        var tried: [String] = []
        for (index, envelope) in routing.enumerated() {
            switch envelope.event {
            case .routingDecided(let recorded):
                report.routingDecisions += 1
                var decision = folds.redecide(
                    recorded,
                    at: envelope,
                    of: run,
                    routing: routing,
                    router: router,
                    tried: tried,
                    profiles: profiles
                )
                decision.event.router = recorded.router
                if decision.event != recorded {
                    report.mismatch(
                        .routing,
                        envelope.sequence,
                        run,
                        "the decision re-derived from the log differs",
                        expected: .routingDecided(decision.event),
                        recorded: envelope.event
                    )
                }
            case .routingFailedOver(let failed):
                report.routingDecisions += 1
                tried.append(failed.from)
                let next = routing[(index + 1)...].lazy.compactMap { envelope -> RoutingDecided? in
                    if case .routingDecided(let decided) = envelope.event { return decided }
                    return nil
                }.first
                let retry =
                    FailureClass.isRetryable(failed.failure, afterOutput: failed.afterOutput)
                    && failed.attempt < routerConfig.maxAttempts
                let attemptStart = routing[..<index].last { $0.type == .routingDecided }?.sequence ?? .zero
                let output = events.contains { event in
                    event.sequence > attemptStart && event.sequence < envelope.sequence
                        && [.messageStreamed, .messageReceived, .toolCallStarted, .toolCallCompleted].contains(
                            event.type
                        )
                }
                var problem: String?
                if failed.afterOutput != output {
                    problem =
                        "after_output says \(failed.afterOutput), but the attempt \(output ? "had" : "had no") output"
                } else if retry != (next != nil) {
                    problem =
                        retry
                        ? "a retryable failure was not failed over" : "failed over a failure that is not retryable"
                } else if failed.to != next?.chosen {
                    problem =
                        "names \(failed.to ?? "none") as next, but the next decision chose \(next?.chosen ?? "none")"
                }
                if let problem {
                    report.mismatch(.routing, envelope.sequence, run, problem, expected: nil, recorded: envelope.event)
                }
            case .providerHealthChanged(let recorded):
                report.healthChanges += 1
                let position = recorded.stateSequence ?? .zero
                var state = folds.state(router, through: position)
                var derived: [ProviderHealthChanged] = []
                switch recorded.current {
                case "half_open":
                    // Decided with the next decision, from its time.
                    overlay(&state, router, after: position, before: envelope.sequence)
                    if case .routingDecided(let decided)? = routing[(index + 1)...].first(where: {
                        $0.type == .routingDecided
                    })?.event {
                        derived =
                            router.decide(
                                state,
                                RouteRequest(runID: run, attempt: decided.attempt, tried: tried),
                                candidates: profiles(decided.candidates.map(\.provider)),
                                now: decided.decidedAt ?? envelope.recordedAt,
                                seed: 0
                            ).transitions
                    }
                case "open":
                    // Caused by the failure recorded just before.
                    if let cause = routing[..<index].last(where: { $0.type == .routingFailedOver }) {
                        overlay(&state, router, after: position, before: cause.sequence)
                        derived = router.apply(&state, cause.event, run: run, sequence: position)
                    }
                default:
                    // A successful probe, stated before the run completed.
                    overlay(&state, router, after: position, before: envelope.sequence)
                    derived = router.apply(&state, .runCompleted(RunCompleted()), run: run, sequence: position)
                }
                let matches = derived.contains { candidate in
                    var candidate = candidate
                    candidate.stateSequence = recorded.stateSequence
                    return candidate == recorded
                }
                if !matches {
                    var expected = derived.first { $0.provider == recorded.provider }
                    expected?.stateSequence = recorded.stateSequence
                    report.mismatch(
                        .health,
                        envelope.sequence,
                        run,
                        "the breaker change is not the one its cause implies",
                        expected: expected.map(SessionEvent.providerHealthChanged),
                        recorded: envelope.event
                    )
                }
            default:
                break
            }
        }
    }

    /// The recorded configuration without the candidates' capabilities recorded beside it.
    static func withoutProviders(_ config: JSONValue) -> JSONValue {
        guard case .object(let members) = config else { return config }
        return .object(members.filter { $0.key != "providers" })
    }

    /// The candidates' capabilities, as the decision recorded them.
    static func profiles(_ config: JSONValue) -> ([String]) -> [CandidateProfile] {
        var known: [String: CandidateProfile] = [:]
        for entry in config["providers"]?.arrayValue ?? [] {
            guard let name = entry["name"]?.stringValue else { continue }
            known[name] = CandidateProfile(
                name: name,
                capabilities: Set((entry["capabilities"]?.arrayValue ?? []).compactMap(\.stringValue))
            )
        }
        return { names in names.map { known[$0] ?? CandidateProfile(name: $0, capabilities: []) } }
    }
}

/// The global fold of routing events, advanced once per configuration.
struct FoldCache {
    let log: [EventEnvelope]
    var folds: [RouterConfig: (state: RouterState, next: Int)] = [:]

    init(log: [EventEnvelope]) {
        self.log = log
    }

    /// The recorded decision made again by `router`: from the log folded through its recorded
    /// state position plus the run's own routing events since, with its attempt, sticky key,
    /// candidates, time and seed, and the providers the run had `tried`.
    mutating func redecide(
        _ recorded: RoutingDecided,
        at envelope: EventEnvelope,
        of run: RunID,
        routing: [EventEnvelope],
        router: Router,
        tried: [String],
        profiles: ([String]) -> [CandidateProfile]
    ) -> RouteDecision {
        let position = recorded.stateSequence ?? .zero
        var state = self.state(router, through: position)
        for earlier in routing where earlier.sequence > position && earlier.sequence < envelope.sequence {
            _ = router.apply(&state, earlier.event, run: run, sequence: position)
        }
        return router.decide(
            state,
            RouteRequest(runID: run, attempt: recorded.attempt, stickyKey: recorded.stickyKey, tried: tried),
            candidates: profiles(recorded.candidates.map(\.provider)),
            now: recorded.decidedAt ?? envelope.recordedAt,
            seed: recorded.seed ?? 0
        )
    }

    /// The state folded through `position` (decisions come in increasing positions per run,
    /// but not across runs: a fold that is past `position` starts again).
    mutating func state(_ router: Router, through position: SequenceNumber) -> RouterState {
        var (state, next) = folds[router.config] ?? (RouterState(), 0)
        if state.position > position {
            (state, next) = (RouterState(), 0)
        }
        while next < log.count, log[next].sequence <= position {
            _ = router.apply(&state, log[next].event, run: log[next].runID, sequence: log[next].sequence)
            next += 1
        }
        state.position = max(state.position, position)
        folds[router.config] = (state, next)
        return state
    }
}

/// What a replay found.
public struct ReplayReport: Hashable, Sendable {
    public enum Kind: String, Hashable, Sendable {
        case policy, routing, health
    }

    /// A decision that did not re-derive.
    public struct Mismatch: Hashable, Sendable {
        public var kind: Kind
        public var sequence: SequenceNumber
        public var run: RunID
        public var message: String
        /// What the reducers derive (`nil` when nothing should have been recorded).
        public var expected: SessionEvent?
        public var recorded: SessionEvent?
    }

    public var runs = 0
    public var policyDecisions = 0
    public var routingDecisions = 0
    public var healthChanges = 0
    public var mismatches: [Mismatch] = []
    /// Decisions that cannot be re-derived because an event they came from was expunged:
    /// not mismatches (the log was changed in the one audited way), but not checked either.
    public var unverifiable: [Unverifiable] = []

    /// A decision whose inputs are no longer in the log.
    public struct Unverifiable: Hashable, Sendable {
        public var kind: Kind
        public var sequence: SequenceNumber
        public var run: RunID
        public var message: String
    }

    public var isConsistent: Bool { mismatches.isEmpty }

    mutating func mismatch(
        _ kind: Kind,
        _ sequence: SequenceNumber,
        _ run: RunID,
        _ message: String,
        expected: SessionEvent?,
        recorded: SessionEvent?
    ) {
        mismatches.append(
            Mismatch(kind: kind, sequence: sequence, run: run, message: message, expected: expected, recorded: recorded)
        )
    }
}

extension [PolicyDecision] {
    fileprivate var recorded: [SessionEvent] {
        compactMap { decision in
            if case .record(let event) = decision { return event }
            return nil
        }
    }
}

extension SessionEvent {
    var isRunTerminal: Bool {
        switch self {
        case .runCompleted, .runFailed, .runCancelled: true
        default: false
        }
    }
}
