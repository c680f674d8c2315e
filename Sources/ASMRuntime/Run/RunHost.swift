import ASMCore
import ASMProviders
import ASMStore
internal import Synchronization

/// Runs a ``RunMachine``: one loop over one ordered channel, carrying out the machine's
/// actions — appends, provider attempts, cancels, answers to held tools, timers, the
/// router's fold and the workspace's post-run snapshot.
///
/// Everything that happens to the run arrives on the channel in order: the provider's
/// events (a tool waiting for permission is one of them, so it comes after everything the
/// provider said before it), approvals, cancels and timer firings. The loop takes whatever
/// is queued, feeds it to the machine, then writes the batch the machine hands out. The
/// provider's stream and the timers are child tasks of ``run(_:)``; nothing outlives it.
final class RunHost: Sendable {
    /// What the host acts on.
    struct Environment: Sendable {
        var store: any EventStore
        var clock: any WallClock
        /// The providers attempts may go to, by name.
        var providers: [String: any ProviderAdapter]
        /// Sent to each attempt's provider (``ProviderRequest/asksBeforeTools`` set per attempt).
        var request: ProviderRequest
        /// The router's view of the log, for a routed run.
        var fold: RouterFold?
        var seeds: @Sendable () -> UInt64 = { 0 }
        /// The workspace's post-run events for the run's terminal event.
        var finishWorkspace: (@Sendable (SessionEvent) async -> [SessionEvent])?
        /// Each event right before it is appended, in log order.
        var onEvent: @Sendable (SessionEvent) async -> Void
    }

    let runID: RunID
    let sessionID: SessionID
    private let channel = RunChannel()

    init(runID: RunID, sessionID: SessionID) {
        self.runID = runID
        self.sessionID = sessionID
    }

    /// Asks the run to stop; safe at any time and more than once.
    func cancel(_ reason: CancelReason) {
        _ = channel.push(.input(.cancelRequested(reason)))
    }

    /// Answers an approval the run waits for; returns once the machine took it.
    func resolve(_ resolved: ToolApprovalResolved) async throws(SessionManagerError) {
        let accepted = await withCheckedContinuation { (reply: CheckedContinuation<Bool, Never>) in
            if !channel.push(.resolve(resolved, reply)) { reply.resume(returning: false) }
        }
        guard accepted else {
            throw SessionManagerError(.approvalNotFound, "approval \(resolved.approvalID) is not waiting for an answer")
        }
    }

    /// Runs the machine to its end.
    /// - Throws: the store's error when a write failed (the provider is stopped first).
    func run(_ machine: RunMachine, _ environment: Environment) async throws -> RunResult {
        let timers = TimerBoard()
        let channel = self.channel
        let clock = environment.clock
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await timers.run(clock: clock, channel: channel) }
            var loop = Loop(
                machine: machine,
                environment: environment,
                channel: channel,
                timers: timers,
                runID: runID,
                sessionID: sessionID
            )
            defer {
                timers.close()
                for item in channel.close() { Loop.refuse(item) }
                group.cancelAll()
            }
            let store = environment.store
            let runID = self.runID
            return try await loop.run { spawn in
                guard case .attempt(let attempt, let adapter, let request) = spawn else {
                    guard case .follower(let from) = spawn else { return }
                    // Answers to this run's approvals that other processes record in the log.
                    group.addTask {
                        let subscription = store.subscribe(
                            from: from,
                            filter: EventFilter(types: [.toolApprovalResolved], run: runID)
                        )
                        for try await envelope in subscription {
                            guard case .toolApprovalResolved(let resolved) = envelope.event else { continue }
                            let item = RunChannel.Item.input(.approvalRecorded(resolved, at: envelope.recordedAt))
                            if !channel.push(item) { break }
                        }
                    }
                    return
                }
                group.addTask {
                    for await event in adapter.execute(request) {
                        let time = clock.now()
                        let item: RunChannel.Item =
                            if case .toolPermission(let permission) = event {
                                .permission(permission, attempt: attempt, at: time)
                            } else {
                                .input(.providerEvent(event, attempt: attempt, at: time))
                            }
                        if !channel.push(item) {
                            if case .toolPermission(let permission) = event {
                                permission.answer(.deny("the run has ended"))
                            }
                            break
                        }
                        if event.isTerminal { break }
                    }
                    _ = channel.push(.input(.providerStreamEnded(attempt: attempt)))
                }
            }
        }
    }

    /// The loop's own state: the machine, the held tools' handles, the attempt's adapter.
    private struct Loop {
        var machine: RunMachine
        let environment: Environment
        let channel: RunChannel
        let timers: TimerBoard
        let runID: RunID
        let sessionID: SessionID
        var permissions: [String: ToolPermissionRequest] = [:]
        var adapter: (any ProviderAdapter)?
        var result: RunResult?
        var writeError: (any Error)?
        /// Whether the log is followed for answers other processes record.
        var following = false

        /// What the loop asks its host to start as a child task.
        enum Spawn {
            /// A provider attempt.
            case attempt(Int, any ProviderAdapter, ProviderRequest)
            /// Following the log for answers to the run's approvals, from this sequence.
            case follower(from: SequenceNumber)
        }

        typealias StartAttempt = (Spawn) -> Void

        mutating func run(start: StartAttempt) async throws -> RunResult {
            await perform(machine.start(at: environment.clock.now()), start: start)
            while !machine.isFinished {
                try await write(start: start)
                guard !machine.isFinished else { break }
                for item in await channel.next() {
                    switch item {
                    case .input(let input):
                        if case .approvalRecorded(let resolved, _) = input,
                            machine.isWaiting(forApproval: resolved.approvalID)
                        {
                            // Recorded by another process: shown like the run's own events.
                            await environment.onEvent(.toolApprovalResolved(resolved))
                        }
                        await perform(machine.receive(input), start: start)
                    case .permission(let permission, let attempt, let time):
                        permissions[permission.call.callID] = permission
                        await perform(
                            machine.receive(.toolPermissionRequested(permission.call, attempt: attempt, at: time)),
                            start: start
                        )
                    case .resolve(let resolved, let reply):
                        let actions = machine.receive(.approvalResolved(resolved))
                        for case .approvalAnswered(resolved.approvalID, let accepted) in actions {
                            reply.resume(returning: accepted)
                        }
                        await perform(actions, start: start)
                    }
                }
            }
            if let writeError { throw writeError }
            guard let result else { preconditionFailure("the run machine finished without a result") }
            return result
        }

        /// Writes batches until the machine has nothing more to write.
        mutating func write(start: StartAttempt) async throws {
            while case .append(let events)? = machine.flush().first {
                for event in events { await environment.onEvent(event) }
                let batch = events.map { NewEvent(id: .generate(), runID: runID, event: $0) }
                let input: RunMachine.Input
                do {
                    let written = try await environment.store.append(
                        batch,
                        to: sessionID.stream,
                        expectedVersion: .streamExists
                    )
                    input = .committed(first: written.firstSequence, last: written.lastSequence, at: written.recordedAt)
                    if !following, events.contains(where: { $0.type == .toolApprovalRequested }) {
                        following = true
                        start(.follower(from: written.firstSequence))
                    }
                    if events.contains(where: { $0.type == .runStarted }),
                        let group = AgentReaper.shared.group(for: runID)
                    {
                        // In the run's lease, for a recovery pass should this process die and
                        // take the agent's watcher with it. A failure here is the next append's.
                        try? await environment.store.recordAgentProcess(group, for: runID)
                    }
                } catch let error as StoreError where error.code == .alreadyResolved {
                    // Another process answered an approval first: write the rest; its answer
                    // comes from the log.
                    input = .approvalsAnsweredElsewhere
                } catch let error as StoreError where error.code == .staleBreakerChange {
                    // Another process recorded this breaker change first: write the rest.
                    input = .breakerChangesSuperseded
                } catch {
                    writeError = error
                    input = .appendFailed
                }
                await perform(machine.receive(input), start: start)
            }
        }

        mutating func perform(_ actions: [RunMachine.Action], start: StartAttempt) async {
            for action in actions {
                switch action {
                case .append:
                    preconditionFailure("appends come from flush()")
                case .startAttempt(let name, let attempt, let asks):
                    guard let provider = environment.providers[name] else {
                        preconditionFailure("the machine chose \(name), which is not a candidate")
                    }
                    adapter = provider
                    var request = environment.request
                    request.asksBeforeTools = asks
                    start(.attempt(attempt, provider, request))
                case .cancelProvider(let reason):
                    await adapter?.cancel(runID, reason: reason)
                case .answerTool(let callID, let verdict):
                    permissions.removeValue(forKey: callID)?.answer(verdict)
                case .armTimer(let timer, let due):
                    timers.arm(timer, at: due)
                case .disarmTimer(let timer):
                    timers.disarm(timer)
                case .loadRouterState(let forDecision):
                    await loadRouterState(forDecision: forDecision, start: start)
                case .finishWorkspace(let terminal):
                    let events = await environment.finishWorkspace?(terminal) ?? []
                    await perform(machine.receive(.workspaceFinished(events)), start: start)
                case .approvalAnswered:
                    break
                case .finish(let finished):
                    result = finished
                case .abort:
                    for permission in permissions.values { permission.answer(.deny("the run has ended")) }
                    permissions.removeAll()
                }
            }
        }

        mutating func loadRouterState(forDecision: Bool, start: StartAttempt) async {
            guard let fold = environment.fold else {
                await perform(machine.receive(.routerStateUnavailable("the run has no router")), start: start)
                return
            }
            let input: RunMachine.Input
            do {
                let state = try await fold.current()
                input = .routerState(state, now: environment.clock.now(), seed: forDecision ? environment.seeds() : nil)
            } catch {
                input = .routerStateUnavailable("the router could not read the log: \(error)")
            }
            await perform(machine.receive(input), start: start)
        }

        /// An item left on the channel after the run ended gets its answer.
        static func refuse(_ item: RunChannel.Item) {
            switch item {
            case .permission(let permission, _, _): permission.answer(.deny("the run has ended"))
            case .resolve(_, let reply): reply.resume(returning: false)
            case .input: break
            }
        }
    }
}

/// The run's one ordered channel: whatever has arrived is taken at once.
final class RunChannel: Sendable {
    enum Item: Sendable {
        case input(RunMachine.Input)
        /// A held tool, with the handle its answer goes to.
        case permission(ToolPermissionRequest, attempt: Int, at: Timestamp)
        /// An approval's answer, and where to say whether it was taken.
        case resolve(ToolApprovalResolved, CheckedContinuation<Bool, Never>)
    }

    private struct State {
        var items: [Item] = []
        var closed = false
        var waiter: CheckedContinuation<[Item], Never>?
    }

    private let state = Mutex(State())

    /// Queues an item; `false` once the run has ended.
    func push(_ item: Item) -> Bool {
        let (accepted, waiter) = state.withLock { state -> (Bool, CheckedContinuation<[Item], Never>?) in
            guard !state.closed else { return (false, nil) }
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

    /// Everything queued, waiting for at least one item.
    func next() async -> [Item] {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> [Item]? in
                guard state.items.isEmpty else {
                    defer { state.items.removeAll(keepingCapacity: true) }
                    return state.items
                }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Refuses further items; returns those never taken.
    func close() -> [Item] {
        state.withLock { state in
            state.closed = true
            defer { state.items = [] }
            return state.items
        }
    }
}

/// The machine's armed timers, and the task that fires them on the clock's timers.
///
/// One task sleeps until the earliest due time; arming an earlier one wakes it early,
/// re-arming a later one (an idle timeout moved on by output) does not.
final class TimerBoard: Sendable {
    private struct State {
        var armed: [RunMachine.Timer: Timestamp] = [:]
        var closed = false
        /// The due time the firing task sleeps until.
        var sleepingUntil: Timestamp?
        var wake: CheckedContinuation<Void, Never>?
        /// A timer was armed while the firing task was between looking and waiting: it must
        /// look again rather than wait.
        var armedUnseen = false
    }

    private let state = Mutex(State())

    func arm(_ timer: RunMachine.Timer, at due: Timestamp) {
        let wake = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.armed[timer] = due
            guard state.sleepingUntil.map({ due < $0 }) ?? true else { return nil }
            guard let wake = state.wake else {
                state.armedUnseen = true
                return nil
            }
            state.wake = nil
            return wake
        }
        wake?.resume()
    }

    func disarm(_ timer: RunMachine.Timer) {
        state.withLock { _ = $0.armed.removeValue(forKey: timer) }
    }

    func close() {
        let wake = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.closed = true
            defer { state.wake = nil }
            return state.wake
        }
        wake?.resume()
    }

    /// Fires timers into `channel` as they fall due, until closed.
    func run(clock: any WallClock, channel: RunChannel) async {
        let timers = clock.timers
        while !Task.isCancelled {
            let now = clock.now()
            var due: [(RunMachine.Timer, Timestamp)] = []
            var next: Timestamp?
            var closed = false
            state.withLock { state in
                closed = state.closed
                state.armedUnseen = false
                for (timer, time) in state.armed where time <= now { due.append((timer, time)) }
                for (timer, _) in due { state.armed[timer] = nil }
                next = state.armed.values.min()
                state.sleepingUntil = next
            }
            if closed { return }
            for (timer, _) in due.sorted(by: { $0.1 < $1.1 }) {
                guard channel.push(.input(.timerFired(timer, at: now))) else { return }
            }
            if !due.isEmpty { continue }
            let wait = next.map { Duration.microseconds($0.microseconds - now.microseconds) }
            await withTaskGroup(of: Void.self) { group in
                if let wait {
                    group.addTask { try? await Self.sleep(on: timers, for: wait) }
                }
                group.addTask { await self.waitForWake() }
                await group.next()
                group.cancelAll()
                self.wakeWaiter()
            }
        }
    }

    private static func sleep<C: Clock>(on clock: C, for duration: Duration) async throws where C.Duration == Duration {
        try await clock.sleep(for: duration)
    }

    /// Suspends until an earlier timer is armed, the board closes, or the task is cancelled.
    private func waitForWake() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if state.closed || Task.isCancelled || state.armedUnseen { return true }
                    state.wake = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            wakeWaiter()
        }
    }

    private func wakeWaiter() {
        let wake = state.withLock { state -> CheckedContinuation<Void, Never>? in
            defer { state.wake = nil }
            return state.wake
        }
        wake?.resume()
    }
}
