import ASMCore
import ASMPolicy
import ASMProviders
import ASMStore
internal import Synchronization

/// One run being executed: the provider's events go through an inbox to a single writer,
/// which appends them in batches and feeds each committed event, at its recording time,
/// to the policy evaluator; the evaluator's decisions are appended and carried out.
///
/// Everything the evaluator sees is in the log, in the order it saw it, so its decisions
/// can be re-derived from the log alone.
final class RunExecution: Sendable {
    let runID: RunID
    let sessionID: SessionID
    let provider: any ProviderAdapter
    private let engine: PolicyEngine
    private let store: any EventStore
    private let clock: any WallClock
    private let inbox = Inbox()
    /// Approval ids asked for and not yet answered (the writer adds them; ``resolve`` takes them).
    private let pendingApprovals = Mutex<Set<String>>([])
    private let cancelRequested = Mutex<CancelReason?>(nil)
    /// Runs once the provider has ended and before the run's terminal event is recorded:
    /// the events it returns (the workspace's post snapshot, diff, rollback) go first.
    let beforeTerminal: (@Sendable (SessionEvent) async -> [SessionEvent])?

    init(
        runID: RunID, sessionID: SessionID, provider: any ProviderAdapter, engine: PolicyEngine, store: any EventStore,
        clock: any WallClock, beforeTerminal: (@Sendable (SessionEvent) async -> [SessionEvent])? = nil
    ) {
        self.beforeTerminal = beforeTerminal
        self.runID = runID
        self.sessionID = sessionID
        self.provider = provider
        self.engine = engine
        self.store = store
        self.clock = clock
    }

    /// The gate a holding provider asks before each tool.
    var toolCallGate: ToolCallGate {
        let inbox = self.inbox
        return ToolCallGate { call, afterEvents in
            let waiter = GateWaiter()
            return await withTaskCancellationHandler {
                await withCheckedContinuation { continuation in
                    waiter.attach(continuation)
                    if !inbox.push(.toolRequest(call, waiter, afterEvents: afterEvents)) { waiter.resume(.deny("the run has ended")) }
                }
            } onCancel: {
                waiter.resume(.deny("the run was stopped"))
            }
        }
    }

    /// Cancels the provider; safe to call at any time and more than once.
    func cancel(_ reason: CancelReason) async {
        let first = cancelRequested.withLock { requested -> Bool in
            guard requested == nil else { return false }
            requested = reason
            return true
        }
        if first { await provider.cancel(runID, reason: reason) }
    }

    /// Answers a pending approval: the answer is appended and the evaluator acts on it.
    func resolve(_ resolved: ToolApprovalResolved) throws(SessionManagerError) {
        let pending = pendingApprovals.withLock { $0.remove(resolved.approvalID) != nil }
        guard pending else {
            throw SessionManagerError(.approvalNotFound, "approval \(resolved.approvalID) is not waiting for an answer")
        }
        guard inbox.push(.external(NewEvent(resolved, run: runID))) else {
            throw SessionManagerError(.approvalNotFound, "run \(runID) has ended")
        }
    }

    /// Runs `request` to its end.
    ///
    /// - Parameters:
    ///   - opening: events recorded before the provider starts (continuation, nothing else yet).
    ///   - onEvent: every event as it is recorded: provider events as they arrive, decisions as they are made.
    func execute(
        _ request: ProviderRequest, priceTable: PriceTable, opening: [SessionEvent],
        onEvent: @escaping @Sendable (SessionEvent) async -> Void
    ) async throws -> RunResult {
        let (state, startDecisions) = engine.start(at: clock.now())
        var writer = Writer(
            execution: self, state: state, onEvent: onEvent,
            result: RunResult(
                sessionID: sessionID, runID: runID, provider: provider.name,
                policy: PolicyOutcome(
                    policies: engine.stack.names, stackHash: engine.stack.isEmpty ? nil : engine.stack.hash, violations: [],
                    approvalsRequested: [])))
        // The evaluated stack, then the continuation, before anything runs.
        var firstEvents = startDecisions.compactMap { decision -> SessionEvent? in
            if case .record(let event) = decision { return event }
            return nil
        }
        firstEvents += opening
        for event in firstEvents { await onEvent(event) }
        if case .continuationApplied(let applied)? = opening.first { writer.result.continuation = applied }
        try await writer.append(firstEvents.map { NewEvent(id: .generate(), runID: runID, event: $0) })

        let inbox = self.inbox
        let writerTask = Task { [writer] in
            var writer = writer
            do {
                try await writer.run()
            } catch {
                // Nothing more can be recorded: stop the provider rather than run unrecorded.
                inbox.fail()
                await writer.stopTimer()
                await self.provider.cancel(self.runID, reason: .shutdown)
                throw error
            }
            return writer.result
        }

        var tracker = Tracker(provider: provider.name, model: request.model)
        var sawTerminal = false
        for await event in provider.execute(request) {
            let recorded = tracker.record(event, priceTable: priceTable)
            if !event.isTerminal { await onEvent(recorded) }
            var id: EventID?
            if case .routing(_, let chosen) = event { id = chosen }
            guard inbox.push(.provider(recorded, id: id, terminal: event.isTerminal)) else { break }
            if event.isTerminal {
                sawTerminal = true
                break
            }
        }
        if !sawTerminal {
            // A provider whose stream ended without a terminal event broke its contract;
            // the run still ends in the log.
            let failed = ProviderEvent.failure(.invalidOutput, "\(provider.name) ended the run without a result")
            _ = inbox.push(.provider(failed.sessionEvent, id: nil, terminal: true))
        }
        var result = try await writerTask.value
        result.provider = tracker.provider
        result.attempts = tracker.attempts
        result.model = tracker.model
        result.usage = tracker.usage
        result.costNanoUSD = tracker.costNanoUSD
        result.priceTable = tracker.costNanoUSD == nil ? nil : priceTable.version
        result.reportedCostUSD = tracker.reportedCostUSD
        result.providerSessionID = tracker.providerSessionID ?? result.providerSessionID
        return result
    }

    // MARK: The writer

    /// The single task that appends, evaluates and acts.
    private struct Writer: Sendable {
        let execution: RunExecution
        var state: PolicyState
        let onEvent: @Sendable (SessionEvent) async -> Void
        var result: RunResult
        var heldTools: [String: GateWaiter] = [:]
        var cancellation: RunFailure?
        var timer: Task<Void, Never>?
        var nextTick: Timestamp?

        init(execution: RunExecution, state: PolicyState, onEvent: @escaping @Sendable (SessionEvent) async -> Void, result: RunResult) {
            self.execution = execution
            self.state = state
            self.onEvent = onEvent
            self.result = result
        }

        mutating func run() async throws {
            scheduleTick()
            // Tool requests that arrived before the provider events emitted ahead of them.
            var parked: [(call: ToolCallStarted, waiter: GateWaiter, after: Int)] = []
            var providerEvents = 0
            while let items = await execution.inbox.next() {
                var batch: [NewEvent] = []
                for item in items {
                    switch item {
                    case .provider(let event, let id, let terminal):
                        if terminal {
                            try await append(batch)
                            batch = []
                            try await finish(with: event)
                            return
                        }
                        batch.append(NewEvent(id: id ?? .generate(), runID: execution.runID, event: event))
                        providerEvents += 1
                        if parked.contains(where: { $0.after <= providerEvents }) {
                            try await append(batch)
                            batch = []
                            while let index = parked.firstIndex(where: { $0.after <= providerEvents }) {
                                let request = parked.remove(at: index)
                                try await hold(request.call, request.waiter)
                            }
                        }
                    case .external(let event):
                        await onEvent(event.event)
                        batch.append(event)
                    case .toolRequest(let call, let waiter, let after):
                        guard after <= providerEvents else {
                            parked.append((call, waiter, after))
                            continue
                        }
                        try await append(batch)
                        batch = []
                        try await hold(call, waiter)
                    case .tick(let due):
                        try await append(batch)
                        batch = []
                        try await reduce(.tick(due))
                    }
                }
                try await append(batch)
            }
        }

        /// Records a tool the provider holds; evaluating the record answers it.
        mutating func hold(_ call: ToolCallStarted, _ waiter: GateWaiter) async throws {
            heldTools[call.callID] = waiter
            let requested = SessionEvent.toolCallRequested(ToolCallRequested(call))
            await onEvent(requested)
            try await append([NewEvent(id: .generate(), runID: execution.runID, event: requested)])
        }

        /// Appends a batch, then evaluates each of its events at the batch's recording time.
        mutating func append(_ batch: [NewEvent]) async throws {
            guard !batch.isEmpty else { return }
            let written = try await execution.store.append(batch, to: execution.sessionID.stream, expectedVersion: .streamExists)
            if result.eventsWritten == 0 {
                result.firstSequence = written.firstSequence
                // The execution starts when its first events are recorded: durations count from there.
                state.startedAt = written.recordedAt
            }
            result.eventsWritten += batch.count
            result.lastSequence = written.lastSequence
            for event in batch {
                try await reduce(.event(event.event, at: written.recordedAt))
            }
        }

        /// Feeds one input to the evaluator and carries out its decisions.
        mutating func reduce(_ input: PolicyInput) async throws {
            let (next, decided) = execution.engine.reduce(state, input)
            state = next
            // A cancel goes out before a held tool is released, so the provider stops first.
            let decisions = decided.filter { if case .cancelRun = $0 { true } else { false } }
                + decided.filter { if case .cancelRun = $0 { false } else { true } }
            var records: [NewEvent] = []
            for decision in decisions {
                switch decision {
                case .record(let event):
                    switch event {
                    case .policyViolated(let violated): result.policy.violations.append(violated)
                    case .toolApprovalRequested(let requested):
                        result.policy.approvalsRequested.append(requested)
                        execution.pendingApprovals.withLock { _ = $0.insert(requested.approvalID) }
                    default: break
                    }
                    await onEvent(event)
                    records.append(NewEvent(id: .generate(), runID: execution.runID, event: event))
                case .cancelRun(let failure):
                    if cancellation == nil {
                        cancellation = failure
                        result.policy.cancellation = failure
                        await execution.cancel(.policy)
                        releaseHeldTools("the run is being cancelled")
                    }
                case .allowTool(let call):
                    heldTools.removeValue(forKey: call)?.resume(.allow)
                case .blockTool(let call, let reason):
                    heldTools.removeValue(forKey: call)?.resume(.deny(reason))
                case .holdTool:
                    break
                }
            }
            if case .event(.toolApprovalResolved(let resolved), _) = input {
                execution.pendingApprovals.withLock { _ = $0.remove(resolved.approvalID) }
            }
            try await append(records)
            scheduleTick()
        }

        /// Records the run's one terminal event: a policy's cancellation wins over what the
        /// provider reported.
        mutating func finish(with reported: SessionEvent) async throws {
            if let beforeTerminal = execution.beforeTerminal {
                let decided = cancellation.map { SessionEvent.runFailed(RunFailed(failure: $0)) } ?? reported
                let events = await beforeTerminal(decided)
                for event in events {
                    await onEvent(event)
                    if case .workspaceDiffComputed(let diff) = event { result.workspaceDiff = diff }
                    if case .workspaceRolledBack(let rollback) = event { result.workspaceRollback = rollback }
                }
                try await append(events.map { NewEvent(id: .generate(), runID: execution.runID, event: $0) })
            }
            var terminal = reported
            if let cancellation { terminal = .runFailed(RunFailed(failure: cancellation)) }
            await onEvent(terminal)
            releaseHeldTools("the run has ended")
            execution.inbox.finish()
            await stopTimer()
            let written = try await execution.store.append(
                [NewEvent(id: .generate(), runID: execution.runID, event: terminal)], to: execution.sessionID.stream,
                expectedVersion: .streamExists)
            if result.eventsWritten == 0 { result.firstSequence = written.firstSequence }
            result.eventsWritten += 1
            result.lastSequence = written.lastSequence
            switch terminal {
            case .runCompleted(let completed):
                result.status = .completed
                result.outputText = completed.outputText
                result.providerSessionID = completed.providerSessionID
            case .runFailed(let failed):
                result.status = .failed
                result.failure = failed.failure
            case .runCancelled(let cancelled):
                result.status = .cancelled
                result.cancelReason = cancelled.reason
            default:
                result.status = .failed
            }
        }

        private mutating func releaseHeldTools(_ reason: String) {
            for waiter in heldTools.values { waiter.resume(.deny(reason)) }
            heldTools.removeAll()
        }

        /// Keeps one timer armed for the evaluator's next tick.
        private mutating func scheduleTick() {
            let due = execution.engine.nextTick(state)
            guard due != nextTick else { return }
            timer?.cancel()
            nextTick = due
            guard let due else {
                timer = nil
                return
            }
            let wait = max(0, due.microseconds - execution.clock.now().microseconds)
            let inbox = execution.inbox
            timer = Task {
                try? await Task.sleep(for: .microseconds(wait))
                guard !Task.isCancelled else { return }
                _ = inbox.push(.tick(due))
            }
        }

        func stopTimer() async {
            timer?.cancel()
        }
    }
}

/// What a run has reported so far, and its events as they are recorded (usage priced).
///
/// Through a router a run may have several attempts, each starting anew: the provider and
/// model are the latest attempt's, usage adds the attempts up.
private struct Tracker {
    var provider: String
    var model: String?
    var providerSessionID: String?
    var usage: TokenUsage = .zero
    /// Usage of the attempts before the current one.
    var earlierAttempts: TokenUsage = .zero
    var startedAttempts = 0
    var routedAttempts = 0
    var attempts: Int { max(startedAttempts, routedAttempts) }
    var costNanoUSD: Int64?
    var reportedCostUSD: Double?

    init(provider: String, model: String?) {
        self.provider = provider
        self.model = model
    }

    mutating func record(_ event: ProviderEvent, priceTable: PriceTable) -> SessionEvent {
        switch event {
        case .routing(.routingDecided(let decided), _):
            // An attempt may fail before its provider starts: count the router's choices.
            if decided.chosen != nil { routedAttempts += 1 }
        case .started(let started):
            startedAttempts += 1
            earlierAttempts = usage
            provider = started.provider
            model = started.model ?? model
            providerSessionID = started.providerSessionID ?? providerSessionID
        case .usage(var update):
            usage = earlierAttempts + update.total
            reportedCostUSD = update.reportedCostUSD ?? reportedCostUSD
            let priced = update.model ?? model
            if update.costNanoUSD == nil, let cost = priceTable.costNanoUSD(of: update.delta, provider: provider, model: priced) {
                update.costNanoUSD = cost
                update.priceTable = priceTable.version
            }
            if let cost = update.costNanoUSD { costNanoUSD = (costNanoUSD ?? 0) + cost }
            return .tokenUsageUpdated(update)
        case .completed(let completed):
            providerSessionID = completed.providerSessionID ?? providerSessionID
        default:
            break
        }
        return event.sessionEvent
    }
}

/// A tool call waiting for its verdict; resumed exactly once.
final class GateWaiter: Sendable {
    private struct State {
        var continuation: CheckedContinuation<ToolCallGate.Verdict, Never>?
        var verdict: ToolCallGate.Verdict?
        var resumed = false
    }

    private let state = Mutex(State())

    func attach(_ continuation: CheckedContinuation<ToolCallGate.Verdict, Never>) {
        let ready = state.withLock { state -> ToolCallGate.Verdict? in
            if let verdict = state.verdict, !state.resumed {
                state.resumed = true
                return verdict
            }
            state.continuation = continuation
            return nil
        }
        if let ready { continuation.resume(returning: ready) }
    }

    func resume(_ verdict: ToolCallGate.Verdict) {
        let continuation = state.withLock { state -> CheckedContinuation<ToolCallGate.Verdict, Never>? in
            guard !state.resumed else { return nil }
            guard let continuation = state.continuation else {
                state.verdict = state.verdict ?? verdict
                return nil
            }
            state.resumed = true
            state.continuation = nil
            return continuation
        }
        continuation?.resume(returning: verdict)
    }
}

/// The writer's queue: whatever has arrived is taken at once.
private final class Inbox: Sendable {
    enum Item: Sendable {
        /// A provider event, with the id its adapter chose for it (a router's decisions).
        case provider(SessionEvent, id: EventID?, terminal: Bool)
        case external(NewEvent)
        /// Answered once the writer has seen `afterEvents` provider events.
        case toolRequest(ToolCallStarted, GateWaiter, afterEvents: Int)
        /// The evaluator's duration limit falls due.
        case tick(Timestamp)
    }

    private struct State {
        var items: [Item] = []
        var finished = false
        var failed = false
        var waiter: CheckedContinuation<[Item]?, Never>?
    }

    private let state = Mutex(State())

    /// Queues an item; `false` once the run has ended or the writer failed.
    func push(_ item: Item) -> Bool {
        let (accepted, waiter) = state.withLock { state -> (Bool, CheckedContinuation<[Item]?, Never>?) in
            guard !state.failed, !state.finished else { return (false, nil) }
            if let waiter = state.waiter {
                state.waiter = nil
                return (true, waiter)
            }
            state.items.append(item)
            return (true, nil)
        }
        waiter?.resume(returning: [item])
        return accepted
    }

    /// No more items are accepted.
    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<[Item]?, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The writer failed: refuse further items.
    func fail() {
        state.withLock { $0.failed = true }
    }

    /// Everything queued, waiting for at least one item; `nil` once finished and drained.
    func next() async -> [Item]? {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> [Item]?? in
                if !state.items.isEmpty {
                    defer { state.items.removeAll(keepingCapacity: true) }
                    return .some(state.items)
                }
                if state.finished || state.failed { return .some(nil) }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
