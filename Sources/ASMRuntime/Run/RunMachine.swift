package import ASMCore
package import ASMPolicy
package import ASMProviders
package import ASMRouting

/// One run's execution as a state machine: inputs in, actions out, no I/O.
///
/// The machine decides everything about a run — which events to record and when, which
/// provider each attempt goes to, when to cancel, how to answer a held tool, which timers
/// to keep, and the result — and a host (``RunHost``) carries out the actions it returns:
/// appends, starting and cancelling providers, answering tools, timers. It takes time
/// only from its inputs, so a test feeds inputs one by one and compares whole action lists.
///
/// - Events to record collect in a pending batch that ``flush()`` hands out as one
///   ``Action/append(_:)``; the next batch waits for ``Input/committed(_:)``. The host
///   flushes after taking everything queued for it, so a burst of provider events is one
///   transaction.
/// - Each committed event goes to the policy evaluator at its recording time, in log order;
///   its decisions are recorded in the next batch and carried out (cancel the provider once,
///   answer a held tool). Replay feeds the same events in the same order.
/// - With a router, each attempt is decided from the log folded through its end
///   (``Action/loadRouterState(forDecision:)``), when everything the run recorded so far is
///   committed; a retryable failure fails over to the next choice.
/// - The run's deadline (total, across attempts), its idle timeout (per attempt; paused
///   while a tool waits for an answer) and the policy's duration limit are timers the host
///   arms at the times the machine gives.
package struct RunMachine: Sendable {
    // MARK: Configuration

    /// How the run reaches a provider.
    package enum Lane: Hashable, Sendable {
        /// One provider; `asksBeforeTools` when it holds tools and policies apply.
        case provider(String, asksBeforeTools: Bool)
        /// A router's choice per attempt.
        case routed(RoutedLane)
    }

    package struct RoutedLane: Hashable, Sendable {
        /// Decides, with the run's own capability requirements.
        package var router: Router
        /// Folds outcomes into the state (the registered configuration).
        package var folding: Router
        package var candidates: [CandidateProfile]
        /// The configuration as decisions record it.
        package var recordedConfig: JSONValue
        package var stickyKey: String?
        /// Candidates that hold tools, so their attempts ask before each tool.
        package var holdingTools: Set<String> = []

        package init(
            router: Router,
            folding: Router,
            candidates: [CandidateProfile],
            recordedConfig: JSONValue,
            stickyKey: String?,
            holdingTools: Set<String> = []
        ) {
            self.router = router
            self.folding = folding
            self.candidates = candidates
            self.recordedConfig = recordedConfig
            self.stickyKey = stickyKey
            self.holdingTools = holdingTools
        }
    }

    package struct Configuration: Sendable {
        package var runID: RunID
        package var sessionID: SessionID
        package var engine: PolicyEngine
        package var lane: Lane
        package var priceTable: PriceTable
        /// The model asked for (the provider may report another).
        package var model: String?
        /// The run's total time, across attempts.
        package var deadline: Duration?
        /// How long an attempt may emit nothing.
        package var idleTimeout: Duration?
        /// How long an approval waits for an answer before it is denied (`timeout`).
        package var approvalTimeout: Duration = RunOptions.defaultApprovalTimeout
        /// Recorded before anything runs, after `policy.evaluated` (continuation, workspace).
        package var opening: [SessionEvent]
        /// Whether the host snapshots a workspace after the provider ends (``Action/finishWorkspace(terminal:)``).
        package var hasWorkspace: Bool
        /// Redacts what the provider says before it is recorded: the secret formats and the
        /// values of the run's secret-named environment variables. Streamed text is held back
        /// until no secret can be cut in two (``StreamingRedaction``). The store redacts every
        /// event again on append.
        package var redactor: Redactor

        package init(
            runID: RunID,
            sessionID: SessionID,
            engine: PolicyEngine,
            lane: Lane,
            priceTable: PriceTable,
            model: String? = nil,
            deadline: Duration? = nil,
            idleTimeout: Duration? = nil,
            approvalTimeout: Duration = RunOptions.defaultApprovalTimeout,
            opening: [SessionEvent] = [],
            hasWorkspace: Bool = false,
            redactor: Redactor = Redactor()
        ) {
            self.runID = runID
            self.sessionID = sessionID
            self.engine = engine
            self.lane = lane
            self.priceTable = priceTable
            self.model = model
            self.deadline = deadline
            self.idleTimeout = idleTimeout
            self.approvalTimeout = approvalTimeout
            self.opening = opening
            self.hasWorkspace = hasWorkspace
            self.redactor = redactor
        }
    }

    // MARK: Inputs and actions

    package enum Timer: String, Hashable, Sendable, CaseIterable {
        /// The policy's duration limit falls due.
        case policyTick = "policy_tick"
        case deadline
        case idle
        /// The earliest deadline of an approval still waiting.
        case approvals
    }

    package enum Input: Hashable, Sendable {
        /// An event of attempt `attempt`, stamped with the time the host took it.
        /// ``ProviderEvent/toolPermission(_:)`` arrives as ``toolPermissionRequested(_:attempt:at:)``.
        case providerEvent(ProviderEvent, attempt: Int, at: Timestamp)
        /// A holding provider waits for an answer before running this tool.
        case toolPermissionRequested(ToolCallStarted, attempt: Int, at: Timestamp)
        /// The attempt's event stream ended (after its terminal event, or without one).
        case providerStreamEnded(attempt: Int)
        /// Someone answered an approval (this process: the machine records the answer).
        case approvalResolved(ToolApprovalResolved)
        /// An answer another process recorded in the log, at `at`: applied, not recorded again.
        case approvalRecorded(ToolApprovalResolved, at: Timestamp)
        /// The batch was refused, writing nothing, because an approval it answers was answered
        /// first by another process: the batch is to be written again without those answers,
        /// and the recorded answers will arrive as ``approvalRecorded(_:at:)``.
        case approvalsAnsweredElsewhere
        /// The batch handed out by ``flush()`` is in the log, at these sequences, recorded at `at`.
        case committed(first: SequenceNumber, last: SequenceNumber, at: Timestamp)
        /// The batch could not be written: nothing more can be recorded.
        case appendFailed
        /// The batch was refused, writing nothing, because its breaker changes were derived
        /// from a state another process has changed since (it recorded the change first):
        /// the batch is to be written again without them.
        case breakerChangesSuperseded
        case timerFired(Timer, at: Timestamp)
        case cancelRequested(CancelReason)
        /// The log folded for the router, the time, and a seed when a decision is to be made.
        case routerState(RouterState, now: Timestamp, seed: UInt64?)
        /// The log could not be folded for the router.
        case routerStateUnavailable(String)
        /// The workspace's post-run events (snapshot, diff, rollback).
        case workspaceFinished([SessionEvent])
    }

    package enum Action: Hashable, Sendable {
        /// Append these events, in order, as one batch; answer with ``Input/committed(_:)``.
        case append([SessionEvent])
        /// Start an attempt on the named provider (asking before tools when told to).
        case startAttempt(provider: String, attempt: Int, asksBeforeTools: Bool)
        /// Stop the current attempt the provider's way (at most once per run).
        case cancelProvider(CancelReason)
        case answerTool(callID: String, ToolPermissionRequest.Verdict)
        case armTimer(Timer, at: Timestamp)
        case disarmTimer(Timer)
        /// Fold the log for the router and answer with ``Input/routerState(_:now:seed:)``,
        /// with a seed when `forDecision`.
        case loadRouterState(forDecision: Bool)
        /// Take the workspace's post-run snapshot for this terminal event and answer with
        /// ``Input/workspaceFinished(_:)``.
        case finishWorkspace(terminal: SessionEvent)
        /// The answer to ``Input/approvalResolved(_:)``: whether the approval was waiting.
        case approvalAnswered(approvalID: String, accepted: Bool)
        /// The run's terminal event is committed.
        case finish(RunResult)
        /// A write failed; the provider has been told to stop. End without a result.
        case abort
    }

    // MARK: State

    private enum Phase: Hashable, Sendable {
        /// Recording the opening events.
        case opening
        /// Waiting for the router's state to decide attempt `attempt`.
        case routing(attempt: Int)
        /// An attempt is running.
        case running(provider: String, attempt: Int)
        /// The attempt reported its end; recording what is pending first.
        case ending(reported: SessionEvent)
        /// Waiting for the router's state to judge the attempt's end.
        case judging(reported: SessionEvent)
        /// Waiting for the workspace's post-run events.
        case finishingWorkspace(terminal: SessionEvent)
        /// The terminal event goes last, once what is pending is in (`queued` once it is).
        case recordingTerminal(SessionEvent, queued: Bool)
        case finished
    }

    package let configuration: Configuration
    private var phase = Phase.opening
    private var policy: PolicyState
    private var pending: [SessionEvent] = []
    private var inFlight: [SessionEvent]?
    private var result: RunResult
    private var armed: [Timer: Timestamp] = [:]
    /// Held tools waiting for an answer, by call id.
    private var held: Set<String> = []
    private var pendingApprovals: Set<String> = []
    /// When each approval waiting for an answer is denied for want of one.
    private var approvalDeadlines: [String: Timestamp] = [:]
    /// A run-wide end decided here (policy cancel, deadline): it is the terminal event,
    /// whatever the provider then reports.
    private var cancellation: RunFailure?
    /// The current attempt's end decided here (idle timeout).
    private var attemptFailure: RunFailure?
    private var cancelRequested: CancelReason?
    private var providerCancelled = false
    private var attempt = 0
    private var tried: [String] = []
    private var afterOutput = false
    private var currentProvider: String?
    private var tracker: Tracker
    private var streaming: StreamingRedaction
    /// The message the held streamed text belongs to.
    private var streamingMessage: (id: String?, role: MessageRole)?
    private var startedPolicy = false

    package init(_ configuration: Configuration) {
        self.configuration = configuration
        policy = PolicyState(startedAt: Timestamp(microseconds: 0))
        let stack = configuration.engine.stack
        let laneName: String =
            switch configuration.lane {
            case .provider(let name, _): name
            case .routed: "router"
            }
        result = RunResult(
            sessionID: configuration.sessionID,
            runID: configuration.runID,
            provider: laneName,
            policy: PolicyOutcome(
                policies: stack.names,
                stackHash: stack.isEmpty ? nil : stack.hash,
                violations: [],
                approvalsRequested: []
            )
        )
        tracker = Tracker(provider: laneName, model: configuration.model)
        streaming = StreamingRedaction(redactor: configuration.redactor)
    }

    /// The first input: records the evaluated stack and the opening events, and arms the deadline.
    package mutating func start(at now: Timestamp) -> [Action] {
        let (state, decisions) = configuration.engine.start(at: now)
        policy = state
        for case .record(let event) in decisions { pending.append(event) }
        pending += configuration.opening
        if case .continuationApplied(let applied)? = configuration.opening.first { result.continuation = applied }
        var actions: [Action] = []
        if let deadline = configuration.deadline { actions += arm(.deadline, at: now.adding(deadline)) }
        if pending.isEmpty { actions += beginFirstAttempt(at: now) }
        return actions
    }

    /// The batch to append now, if any: everything pending, unless a batch is in flight.
    package mutating func flush() -> [Action] {
        guard inFlight == nil, !pending.isEmpty else { return [] }
        let batch = pending
        pending = []
        inFlight = batch
        return [.append(batch)]
    }

    /// Whether the run waits for an answer to `approval`.
    package func isWaiting(forApproval approval: String) -> Bool { pendingApprovals.contains(approval) }

    /// Whether the run has ended (its result handed out, or aborted).
    package var isFinished: Bool { phase == .finished }

    package mutating func receive(_ input: Input) -> [Action] {
        guard phase != .finished else {
            if case .approvalResolved(let resolved) = input {
                return [.approvalAnswered(approvalID: resolved.approvalID, accepted: false)]
            }
            return []
        }
        var actions: [Action]
        switch input {
        case .providerEvent(let event, let attempt, let time):
            actions = providerEvent(event, attempt: attempt, at: time)
        case .toolPermissionRequested(let call, let attempt, let time):
            actions = toolPermissionRequested(call, attempt: attempt, at: time)
        case .providerStreamEnded(let attempt):
            actions = providerStreamEnded(attempt: attempt)
        case .approvalRecorded(let resolved, let time):
            actions = approvalRecorded(resolved, at: time)
        case .approvalsAnsweredElsewhere:
            actions = approvalsAnsweredElsewhere()
        case .approvalResolved(let resolved):
            actions = approvalResolved(resolved)
        case .committed(let first, let last, let time):
            actions = committed(first: first, last: last, at: time)
        case .appendFailed:
            actions = appendFailed()
        case .breakerChangesSuperseded:
            actions = breakerChangesSuperseded()
        case .timerFired(let timer, let time):
            actions = timerFired(timer, at: time)
        case .cancelRequested(let reason):
            actions = cancelRequested(reason)
        case .routerState(let state, let now, let seed):
            actions = routerState(state, now: now, seed: seed)
        case .routerStateUnavailable(let message):
            actions = routerStateUnavailable(message)
        case .workspaceFinished(let events):
            actions = workspaceFinished(events)
        }
        return actions + advance()
    }

    // MARK: Handlers

    private mutating func providerEvent(_ event: ProviderEvent, attempt: Int, at time: Timestamp) -> [Action] {
        guard case .running(_, let current) = phase, attempt == current else { return [] }
        if case .toolPermission(let request) = event {
            return toolPermissionRequested(request.call, attempt: attempt, at: time)
        }
        var event = event
        if case .started(var started) = event, case .routed = configuration.lane {
            started.attempt = attempt
            event = .started(started)
        }
        switch event {
        case .streamed, .received, .toolStarted, .toolCompleted, .toolRefused: afterOutput = true
        default: break
        }
        var actions: [Action] = []
        if case .streamed(let streamed) = event {
            // Held back until no secret can be cut in two; the rest comes with what follows.
            if let message = streamingMessage, message.id != streamed.messageID || message.role != streamed.role {
                flushStreamedText()
            }
            streamingMessage = (streamed.messageID, streamed.role)
            let ready = streaming.feed(streamed.delta)
            if !ready.isEmpty {
                pending.append(
                    .messageStreamed(MessageStreamed(messageID: streamed.messageID, role: streamed.role, delta: ready))
                )
            }
            if held.isEmpty, let idle = configuration.idleTimeout { actions += arm(.idle, at: time.adding(idle)) }
            return actions
        }
        flushStreamedText()
        if event.isTerminal {
            var reported = configuration.redactor.redact(event.sessionEvent)
            if let attemptFailure { reported = .runFailed(RunFailed(failure: attemptFailure)) }
            actions += disarm(.idle)
            phase = .ending(reported: reported)
            return actions
        }
        pending.append(configuration.redactor.redact(tracker.record(event, priceTable: configuration.priceTable)))
        if held.isEmpty, let idle = configuration.idleTimeout { actions += arm(.idle, at: time.adding(idle)) }
        return actions
    }

    /// Records the streamed text still held back, redacted, as the message's last delta.
    private mutating func flushStreamedText() {
        guard let message = streamingMessage else { return }
        streamingMessage = nil
        let rest = streaming.flush()
        guard !rest.isEmpty else { return }
        pending.append(.messageStreamed(MessageStreamed(messageID: message.id, role: message.role, delta: rest)))
    }

    private mutating func toolPermissionRequested(_ call: ToolCallStarted, attempt: Int, at time: Timestamp) -> [Action]
    {
        guard case .running(_, let current) = phase, attempt == current else {
            return [.answerTool(callID: call.callID, .deny("the run has ended"))]
        }
        if cancellation != nil || cancelRequested != nil || attemptFailure != nil {
            return [.answerTool(callID: call.callID, .deny("the run is being cancelled"))]
        }
        held.insert(call.callID)
        flushStreamedText()
        pending.append(configuration.redactor.redact(.toolCallRequested(ToolCallRequested(call))))
        // Waiting for an answer is not silence.
        return disarm(.idle)
    }

    private mutating func providerStreamEnded(attempt: Int) -> [Action] {
        guard case .running(let provider, let current) = phase, attempt == current else { return [] }
        // A provider whose stream ended without a terminal event broke its contract; the run
        // still ends in the log.
        let message =
            switch configuration.lane {
            case .provider: "\(provider) ended the run without a result"
            case .routed: "\(provider) ended the attempt without a result"
            }
        var failure = RunFailure(kind: .invalidOutput, message: message)
        if let attemptFailure { failure = attemptFailure }
        phase = .ending(reported: .runFailed(RunFailed(failure: failure)))
        return disarm(.idle)
    }

    private mutating func approvalResolved(_ resolved: ToolApprovalResolved) -> [Action] {
        guard pendingApprovals.remove(resolved.approvalID) != nil else {
            return [.approvalAnswered(approvalID: resolved.approvalID, accepted: false)]
        }
        pending.append(.toolApprovalResolved(resolved))
        return [.approvalAnswered(approvalID: resolved.approvalID, accepted: true)]
    }

    private mutating func committed(first: SequenceNumber, last: SequenceNumber, at recordedAt: Timestamp) -> [Action] {
        guard let batch = inFlight else { return [] }
        inFlight = nil
        if result.eventsWritten == 0 { result.firstSequence = first }
        result.eventsWritten += batch.count
        result.lastSequence = last
        if case .recordingTerminal(let terminal, queued: true) = phase {
            return finish(terminal)
        }
        var actions: [Action] = []
        if !startedPolicy {
            // The execution starts when its first events are recorded: durations count from there.
            startedPolicy = true
            policy.startedAt = recordedAt
        }
        for event in batch {
            if case .toolApprovalRequested(let requested) = event, pendingApprovals.contains(requested.approvalID) {
                approvalDeadlines[requested.approvalID] =
                    requested.deadline ?? recordedAt.adding(configuration.approvalTimeout)
            }
            actions += evaluate(.event(event, at: recordedAt))
        }
        actions += scheduleTick()
        actions += scheduleApprovalDeadline()
        if phase == .opening {
            actions += beginFirstAttempt(at: recordedAt)
        }
        return actions
    }

    private mutating func approvalRecorded(_ resolved: ToolApprovalResolved, at time: Timestamp) -> [Action] {
        guard pendingApprovals.remove(resolved.approvalID) != nil else { return [] }
        return evaluate(.event(.toolApprovalResolved(resolved), at: time))
    }

    private mutating func approvalsAnsweredElsewhere() -> [Action] {
        guard let batch = inFlight else { return [] }
        inFlight = nil
        var kept: [SessionEvent] = []
        for event in batch {
            if case .toolApprovalResolved(let resolved) = event {
                pendingApprovals.insert(resolved.approvalID)
            } else {
                kept.append(event)
            }
        }
        pending = kept + pending
        return []
    }

    private mutating func breakerChangesSuperseded() -> [Action] {
        guard let batch = inFlight else { return [] }
        inFlight = nil
        let kept = batch.filter { event in
            if case .providerHealthChanged = event { return false }
            return true
        }
        pending = kept + pending
        return []
    }

    private mutating func appendFailed() -> [Action] {
        inFlight = nil
        pending = []
        // Nothing more can be recorded: stop the provider rather than run unrecorded.
        var actions = stopAttempt(.shutdown, releasing: "the run has ended")
        actions += disarmAll()
        phase = .finished
        return actions + [.abort]
    }

    private mutating func timerFired(_ timer: Timer, at time: Timestamp) -> [Action] {
        guard let due = armed[timer], due <= time else { return [] }
        armed[timer] = nil
        switch timer {
        case .policyTick:
            return evaluate(.tick(due)) + scheduleTick()
        case .deadline:
            guard cancellation == nil, isBeforeEnd else { return [] }
            let limit = configuration.deadline ?? .zero
            cancellation = RunFailure(kind: .timeout, message: "the run's deadline of \(limit.asText) passed")
            return stopAttempt(.deadline, releasing: "the run's deadline passed")
        case .approvals:
            // Fail closed: an approval nobody answered in time is denied.
            var actions: [Action] = []
            let limit = configuration.approvalTimeout
            for (approval, due) in approvalDeadlines.sorted(by: { $0.value < $1.value }) where due <= time {
                approvalDeadlines[approval] = nil
                guard pendingApprovals.contains(approval) else { continue }
                actions += approvalResolved(
                    ToolApprovalResolved(
                        approvalID: approval,
                        approved: false,
                        resolvedBy: "timeout",
                        reason: "no answer within \(limit.asText)"
                    )
                )
            }
            return actions + scheduleApprovalDeadline()
        case .idle:
            guard case .running(let provider, _) = phase, attemptFailure == nil, cancellation == nil else { return [] }
            let limit = configuration.idleTimeout ?? .zero
            attemptFailure = RunFailure(kind: .timeout, message: "\(provider) wrote nothing for \(limit.asText)")
            return stopAttempt(.idleTimeout, releasing: "the run is being cancelled")
        }
    }

    private mutating func cancelRequested(_ reason: CancelReason) -> [Action] {
        guard cancelRequested == nil, isBeforeEnd else { return [] }
        cancelRequested = reason
        switch phase {
        case .opening, .routing:
            // Nothing runs yet: the attempt will not start.
            return []
        default:
            return stopAttempt(reason, releasing: "the run was cancelled")
        }
    }

    private mutating func routerState(_ state: RouterState, now: Timestamp, seed: UInt64?) -> [Action] {
        guard case .routed(let lane) = configuration.lane else { return [] }
        switch phase {
        case .routing(let attempt):
            let decision = decide(lane, state, attempt: attempt, now: now, seed: seed ?? 0)
            record(decision.transitions, at: decision.event.stateSequence ?? .zero)
            pending.append(.routingDecided(decision.event))
            return startDecided(decision.event, attempt: attempt, at: now)
        case .judging(let reported):
            return judge(reported, lane, state, now: now, seed: seed ?? 0)
        default:
            return []
        }
    }

    private mutating func routerStateUnavailable(_ message: String) -> [Action] {
        switch phase {
        case .routing:
            phase = .ending(
                reported: .runFailed(RunFailed(failure: RunFailure(kind: .noProviderAvailable, message: message)))
            )
            return []
        case .judging(let reported):
            // A failed read judges nothing more: the attempt's outcome ends the run.
            return endAttempts(reported)
        default:
            return []
        }
    }

    private mutating func workspaceFinished(_ events: [SessionEvent]) -> [Action] {
        guard case .finishingWorkspace(let terminal) = phase else { return [] }
        for event in events {
            if case .workspaceDiffComputed(let diff) = event { result.workspaceDiff = diff }
            if case .workspaceRolledBack(let rollback) = event { result.workspaceRollback = rollback }
        }
        pending += events
        phase = .recordingTerminal(terminal, queued: false)
        return []
    }

    // MARK: Steps

    /// Moves on once everything pending is committed: an attempt's end is judged, then the
    /// workspace finished, then the terminal event recorded.
    private mutating func advance() -> [Action] {
        guard pending.isEmpty, inFlight == nil else { return [] }
        switch phase {
        case .ending(let reported):
            if case .routed = configuration.lane, currentProvider != nil {
                phase = .judging(reported: reported)
                return [.loadRouterState(forDecision: needsDecision(after: reported))]
            }
            let actions = endAttempts(reported)
            return actions + advance()
        case .recordingTerminal(let terminal, queued: false):
            // Everything else is in: the terminal goes last, alone.
            pending.append(terminal)
            phase = .recordingTerminal(terminal, queued: true)
            return releaseHeld("the run has ended")
        default:
            return []
        }
    }

    private mutating func beginFirstAttempt(at time: Timestamp) -> [Action] {
        switch configuration.lane {
        case .provider(let name, let asks):
            if let reason = cancelRequested ?? (cancellation != nil ? .policy : nil) {
                phase = .ending(
                    reported: .runCancelled(RunCancelled(reason: reason, message: "cancelled before \(name) started"))
                )
                return []
            }
            return begin(name, attempt: 1, asksBeforeTools: asks, at: time)
        case .routed:
            phase = .routing(attempt: 1)
            return [.loadRouterState(forDecision: true)]
        }
    }

    private mutating func begin(_ provider: String, attempt: Int, asksBeforeTools: Bool, at time: Timestamp) -> [Action]
    {
        self.attempt = attempt
        currentProvider = provider
        afterOutput = false
        attemptFailure = nil
        providerCancelled = false
        phase = .running(provider: provider, attempt: attempt)
        result.attempts = attempt
        var actions: [Action] = [.startAttempt(provider: provider, attempt: attempt, asksBeforeTools: asksBeforeTools)]
        if let idle = configuration.idleTimeout { actions += arm(.idle, at: time.adding(idle)) }
        return actions
    }

    /// Starts the decided attempt, or ends the run when no provider was chosen or a cancel
    /// came first.
    private mutating func startDecided(_ decided: RoutingDecided, attempt: Int, at time: Timestamp) -> [Action] {
        guard case .routed(let lane) = configuration.lane, let chosen = decided.chosen else {
            let failure = RunFailure(
                kind: .noProviderAvailable,
                message: "no provider is available: " + ProviderRouter.why(decided)
            )
            phase = .ending(reported: .runFailed(RunFailed(failure: failure)))
            currentProvider = nil
            return []
        }
        if let reason = cancelRequested ?? (cancellation != nil ? .policy : nil) {
            phase = .ending(
                reported: .runCancelled(RunCancelled(reason: reason, message: "cancelled before \(chosen) started"))
            )
            currentProvider = nil
            return []
        }
        let asks = lane.holdingTools.contains(chosen) && !configuration.engine.stack.isEmpty
        return begin(chosen, attempt: attempt, asksBeforeTools: asks, at: time)
    }

    /// Whether judging `reported` may decide another attempt.
    private func needsDecision(after reported: SessionEvent) -> Bool {
        guard case .runFailed(let failed) = reported, case .routed(let lane) = configuration.lane else { return false }
        return isRetry(failed.failure, lane)
    }

    private func isRetry(_ failure: RunFailure, _ lane: RoutedLane) -> Bool {
        cancelRequested == nil && cancellation == nil && FailureClass.isRetryable(failure, afterOutput: afterOutput)
            && attempt < lane.folding.config.maxAttempts
    }

    /// Judges an attempt's end in the router's state: a successful probe closes its breaker,
    /// a failure is counted and, when retryable, fails over to the next choice.
    private mutating func judge(
        _ reported: SessionEvent,
        _ lane: RoutedLane,
        _ state: RouterState,
        now: Timestamp,
        seed: UInt64
    )
        -> [Action]
    {
        guard let chosen = currentProvider else { return endAttempts(reported) }
        switch reported {
        case .runCompleted:
            var copy = state
            record(
                lane.folding.apply(
                    &copy,
                    .runCompleted(RunCompleted()),
                    run: configuration.runID,
                    sequence: copy.position
                ),
                at: copy.position
            )
            return endAttempts(reported)
        case .runFailed(let failed):
            let failure = failed.failure
            let retry = isRetry(failure, lane)
            guard FailureClass.countsAgainstProvider(failure) || retry else { return endAttempts(reported) }
            var after = state
            var failedOver = RoutingFailedOver(
                attempt: attempt,
                from: chosen,
                to: nil,
                failure: failure,
                afterOutput: afterOutput,
                failedAt: now
            )
            let position = after.position
            let transitions = lane.folding.apply(
                &after,
                .routingFailedOver(failedOver),
                run: configuration.runID,
                sequence: position
            )
            var next: RouteDecision?
            if retry {
                tried.append(chosen)
                next = decide(lane, after, attempt: attempt + 1, now: now, seed: seed)
                failedOver.to = next?.event.chosen
            }
            pending.append(.routingFailedOver(failedOver))
            record(transitions, at: position)
            guard let next else { return endAttempts(reported) }
            // The decision that found none is recorded too.
            record(next.transitions, at: position)
            pending.append(.routingDecided(next.event))
            guard next.event.chosen != nil else { return endAttempts(reported) }
            return startDecided(next.event, attempt: attempt + 1, at: now)
        default:
            return endAttempts(reported)
        }
    }

    private func decide(
        _ lane: RoutedLane,
        _ state: RouterState,
        attempt: Int,
        now: Timestamp,
        seed: UInt64
    ) -> RouteDecision {
        let request = RouteRequest(
            runID: configuration.runID,
            attempt: attempt,
            stickyKey: lane.stickyKey,
            tried: tried
        )
        var decision = lane.router.decide(state, request, candidates: lane.candidates, now: now, seed: seed)
        decision.event.router = lane.recordedConfig
        return decision
    }

    /// Breaker changes, stamped with the log position their state was folded through.
    private mutating func record(_ transitions: [ProviderHealthChanged], at position: SequenceNumber) {
        for var transition in transitions {
            transition.stateSequence = position
            pending.append(.providerHealthChanged(transition))
        }
    }

    /// No more attempts: the run's end is decided (a cancellation decided here wins over
    /// what the provider reported), then the workspace finishes and the terminal is recorded.
    private mutating func endAttempts(_ reported: SessionEvent) -> [Action] {
        var terminal = reported
        if let cancellation { terminal = .runFailed(RunFailed(failure: cancellation)) }
        var actions = disarmAll()
        if configuration.hasWorkspace {
            phase = .finishingWorkspace(terminal: terminal)
            actions.append(.finishWorkspace(terminal: terminal))
        } else {
            phase = .recordingTerminal(terminal, queued: false)
        }
        return actions
    }

    private mutating func finish(_ terminal: SessionEvent) -> [Action] {
        phase = .finished
        result.provider = tracker.provider
        result.model = tracker.model
        result.usage = tracker.usage
        result.costNanoUSD = tracker.costNanoUSD
        result.priceTable = tracker.costNanoUSD == nil ? nil : configuration.priceTable.version
        result.reportedCostUSD = tracker.reportedCostUSD
        result.providerSessionID = tracker.providerSessionID
        switch terminal {
        case .runCompleted(let completed):
            result.status = .completed
            result.outputText = completed.outputText
            result.providerSessionID = completed.providerSessionID ?? result.providerSessionID
        case .runFailed(let failed):
            result.status = .failed
            result.failure = failed.failure
        case .runCancelled(let cancelled):
            result.status = .cancelled
            result.cancelReason = cancelled.reason
        default:
            result.status = .failed
        }
        return [.finish(result)]
    }

    /// Stops the running attempt (once per attempt), and refuses held tools.
    private mutating func stopAttempt(_ reason: CancelReason, releasing message: String) -> [Action] {
        var actions: [Action] = []
        if case .running = phase, !providerCancelled {
            providerCancelled = true
            actions.append(.cancelProvider(reason))
        }
        actions += releaseHeld(message)
        return actions
    }

    // MARK: Policies

    /// Feeds one input to the evaluator and carries out its decisions: records are pending,
    /// a cancel goes out before held tools are answered, so the provider stops first.
    private mutating func evaluate(_ input: PolicyInput) -> [Action] {
        let (next, decided) = configuration.engine.reduce(policy, input)
        policy = next
        let decisions =
            decided.filter { if case .cancelRun = $0 { true } else { false } }
            + decided.filter { if case .cancelRun = $0 { false } else { true } }
        var actions: [Action] = []
        for decision in decisions {
            switch decision {
            case .record(var event):
                switch event {
                case .policyViolated(let violated): result.policy.violations.append(violated)
                case .toolApprovalRequested(var requested):
                    // Stamped with when it is denied for want of an answer, for everyone to see.
                    requested.deadline = input.time.adding(configuration.approvalTimeout)
                    event = .toolApprovalRequested(requested)
                    result.policy.approvalsRequested.append(requested)
                    pendingApprovals.insert(requested.approvalID)
                default: break
                }
                pending.append(event)
            case .cancelRun(let failure):
                guard cancellation == nil else { continue }
                cancellation = failure
                result.policy.cancellation = failure
                actions += stopAttempt(.policy, releasing: "the run is being cancelled")
            case .allowTool(let call):
                if held.remove(call) != nil { actions.append(.answerTool(callID: call, .allow)) }
                actions += rearmIdleIfFree(at: input.time)
            case .blockTool(let call, let reason):
                if held.remove(call) != nil { actions.append(.answerTool(callID: call, .deny(reason))) }
                actions += rearmIdleIfFree(at: input.time)
            case .holdTool:
                break
            }
        }
        if case .event(.toolApprovalResolved(let resolved), _) = input { pendingApprovals.remove(resolved.approvalID) }
        return actions
    }

    /// Keeps one timer armed for the earliest deadline of an approval still waiting.
    private mutating func scheduleApprovalDeadline() -> [Action] {
        approvalDeadlines = approvalDeadlines.filter { pendingApprovals.contains($0.key) }
        guard isBeforeEnd, let due = approvalDeadlines.values.min() else { return disarm(.approvals) }
        return arm(.approvals, at: due)
    }

    /// Keeps one timer armed for the evaluator's next tick.
    private mutating func scheduleTick() -> [Action] {
        guard isBeforeEnd, let due = configuration.engine.nextTick(policy) else { return disarm(.policyTick) }
        return arm(.policyTick, at: due)
    }

    private mutating func rearmIdleIfFree(at time: Timestamp) -> [Action] {
        guard held.isEmpty, case .running = phase, let idle = configuration.idleTimeout else { return [] }
        return arm(.idle, at: time.adding(idle))
    }

    private mutating func releaseHeld(_ reason: String) -> [Action] {
        let calls = held.sorted()
        held.removeAll()
        return calls.map { .answerTool(callID: $0, .deny(reason)) }
    }

    // MARK: Timers

    private mutating func arm(_ timer: Timer, at due: Timestamp) -> [Action] {
        guard armed[timer] != due else { return [] }
        armed[timer] = due
        return [.armTimer(timer, at: due)]
    }

    private mutating func disarm(_ timer: Timer) -> [Action] {
        guard armed.removeValue(forKey: timer) != nil else { return [] }
        return [.disarmTimer(timer)]
    }

    private mutating func disarmAll() -> [Action] {
        Timer.allCases.flatMap { disarm($0) }
    }

    /// Before the run's end is decided (attempts may still run).
    private var isBeforeEnd: Bool {
        switch phase {
        case .opening, .routing, .running, .ending, .judging: true
        case .finishingWorkspace, .recordingTerminal, .finished: false
        }
    }
}

/// What a run has reported so far, its events priced as they are recorded.
///
/// Through a router a run may have several attempts, each starting anew: the provider and
/// model are the latest attempt's, usage adds the attempts up.
private struct Tracker: Hashable, Sendable {
    var provider: String
    var model: String?
    var providerSessionID: String?
    var usage: TokenUsage = .zero
    /// Usage of the attempts before the current one.
    var earlierAttempts: TokenUsage = .zero
    var costNanoUSD: Int64?
    var reportedCostUSD: Double?

    init(provider: String, model: String?) {
        self.provider = provider
        self.model = model
    }

    mutating func record(_ event: ProviderEvent, priceTable: PriceTable) -> SessionEvent {
        switch event {
        case .started(let started):
            earlierAttempts = usage
            provider = started.provider
            model = started.model ?? model
            providerSessionID = started.providerSessionID ?? providerSessionID
        case .usage(var update):
            usage = earlierAttempts + update.total
            reportedCostUSD = update.reportedCostUSD ?? reportedCostUSD
            let priced = update.model ?? model
            if update.costNanoUSD == nil,
                let cost = priceTable.costNanoUSD(of: update.delta, provider: provider, model: priced)
            {
                update.costNanoUSD = cost
                update.priceTable = priceTable.version
            }
            if let cost = update.costNanoUSD { costNanoUSD = (costNanoUSD ?? 0) + cost }
            return .tokenUsageUpdated(update)
        default:
            break
        }
        return event.sessionEvent
    }
}

extension Timestamp {
    fileprivate func adding(_ duration: Duration) -> Timestamp {
        adding(microseconds: duration.wholeMicroseconds)
    }
}
