public import ASMCore
import ASMPolicy
import ASMProviders
public import ASMStore
import ASMSystem
import ASMWorkspace

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A long-lived owner of one or more sessions that runs several runs at once and streams
/// their events to subscribers.
///
/// ```swift
/// let manager = SessionManager(store: store, providers: [CommandLineProvider(dialect: ClaudeCode())])
/// let server = try await SessionServer.start(
///     manager: manager, agentID: "maintainer",
///     configuration: .init(defaultOptions: RunOptions(provider: "claude"), maxConcurrentRuns: 2))
/// let first = try await server.submitRun([ChatMessage(role: .user, content: "Add tests")])
/// let second = try await server.submitRun([ChatMessage(role: .user, content: "Fix the linter warnings")])
/// for try await envelope in server.subscribe(from: SequenceNumber(1), filter: EventFilter(run: first)) {
///     print(envelope.sequence, envelope.type)
/// }
/// await server.drain()
/// ```
///
/// **Scheduling.** ``submitRun(_:options:in:metadata:)`` records the run and returns at
/// once. At most ``Configuration/maxConcurrentRuns`` runs execute at a time; the others
/// wait in a first-in, first-out queue, and a `run.queued` event (in the same batch as the
/// request) records the position and the reason. Runs whose options name the same
/// workspace path are serialized: a run waits while another run of this server uses its
/// workspace (a run behind it in the queue that needs another workspace may start first),
/// so snapshots and diffs never mix two runs' changes. Runs with worktree isolation
/// (``WorkspaceOptions/worktree``) each work in a git worktree of their own and run at once.
/// Two servers (or processes) on one workspace are not coordinated.
///
/// **Stopping.** ``drain()`` refuses new runs and returns when the queue is empty and
/// every run has ended. ``shutdown(reason:)`` refuses new runs, records every queued run
/// as cancelled, cancels the running ones the provider's way, and returns when every run
/// has recorded its end. After either, subscriptions end once they have delivered the
/// server's last event.
public actor SessionServer {
    public struct Configuration: Sendable {
        /// How many runs execute at once (at least 1).
        public var maxConcurrentRuns: Int
        /// The options for runs submitted without their own.
        public var defaultOptions: RunOptions
        /// How many of the newest events subscribers read from memory; a subscriber further
        /// behind reads the log until it catches up.
        public var subscriberWindow: Int = 8192
        /// How many ended runs' results ``SessionServer/result(of:)`` keeps (older ones are
        /// read from the log's projections).
        public var retainedResults: Int = 1000
        /// Take runs for every active session in the log, not only the server's own (as an
        /// HTTP server does, whose clients create sessions); subscriptions then carry every
        /// session's events.
        public var servesEverySession = false

        public init(defaultOptions: RunOptions, maxConcurrentRuns: Int = 4) {
            self.defaultOptions = defaultOptions
            self.maxConcurrentRuns = maxConcurrentRuns
        }
    }

    /// Whether the server takes new runs.
    public enum State: String, Sendable {
        case accepting, draining, stopped
    }

    /// What the server is doing, for a status line.
    public struct Status: Hashable, Sendable {
        public var state: State
        /// Executing now, in the order they started.
        public var running: [RunID]
        /// Waiting, first to start first.
        public var queued: [RunID]
        /// Runs this server has finished.
        public var finished: Int
    }

    private struct Ticket {
        let number: Int
        /// Set once the request is recorded.
        var run: RunID?
        let options: RunOptions
        let lane: SessionManager.Lane
        let stack: PolicyStack
        let workspace: String?
        /// A slot was given to it before its request was recorded.
        var granted = false
    }

    public nonisolated let manager: SessionManager
    /// The sessions this server runs runs in; the first is the default.
    public nonisolated let sessions: [SessionID]
    public nonisolated let configuration: Configuration
    private nonisolated let hub: EventHub

    /// How many times the server's log reader woke for a commit its process's writer had not
    /// handed it (another process's, or one that came before the reader was live).
    package nonisolated var readerWakeUps: Int { hub.readerWakeUps }

    private var state = State.accepting
    private var stopReason: CancelReason?
    private var nextTicket = 0
    private var queue: [Ticket] = []
    private var slotsInUse = 0
    /// Workspace paths in use, by the ticket using them.
    private var busyWorkspaces: [String: Int] = [:]
    private var running: [RunID: Task<RunResult, any Error>] = [:]
    private var startOrder: [RunID] = []
    private var results: [RunID: Result<RunResult, any Error>] = [:]
    private var resultOrder: [RunID] = []
    private var finishedCount = 0
    private var changeWaiters: [CheckedContinuation<Void, Never>] = []
    /// Tickets shutdown took from the queue before their request was recorded.
    private var abandoned: Set<Int> = []

    /// A server for sessions that already exist (they must be active to take runs).
    /// - Throws: ``SessionServerError`` when `sessions` is empty or the limit is below 1.
    public init(manager: SessionManager, sessions: [SessionID], configuration: Configuration) throws(SessionServerError)
    {
        guard !sessions.isEmpty else {
            throw SessionServerError(.invalidArgument, "a server needs at least one session")
        }
        guard configuration.maxConcurrentRuns >= 1 else {
            throw SessionServerError(
                .invalidArgument,
                "the concurrency limit must be at least 1, not \(configuration.maxConcurrentRuns)"
            )
        }
        self.manager = manager
        var unique: [SessionID] = []
        for session in sessions where !unique.contains(session) { unique.append(session) }
        self.sessions = unique
        self.configuration = configuration
        self.hub = EventHub(
            store: manager.store,
            streams: configuration.servesEverySession ? nil : Set(unique.map(\.stream)),
            capacity: configuration.subscriberWindow
        )
        hub.start()
    }

    /// Starts a new session and a server for it.
    public static func start(
        manager: SessionManager,
        agentID: String,
        metadata: [String: String] = [:],
        tags: [String] = [],
        configuration: Configuration
    ) async throws -> SessionServer {
        let session = SessionID.generate()
        let server = try SessionServer(manager: manager, sessions: [session], configuration: configuration)
        try await manager.startSession(session, agentID: agentID, metadata: metadata, tags: tags)
        // Subscribers from here on are served from the window.
        await server.hub.waitUntilLive()
        return server
    }

    deinit {
        hub.stop()
    }

    /// The default session.
    public nonisolated var session: SessionID { sessions[0] }

    public var status: Status {
        Status(
            state: state,
            running: startOrder.filter { running[$0] != nil },
            queued: queue.compactMap(\.run),
            finished: finishedCount
        )
    }

    // MARK: Runs

    /// Records a run and schedules it: it starts now if a slot (and its workspace) is free,
    /// or waits in the queue. Returns once the request is recorded, not when the run ends.
    ///
    /// - Parameters:
    ///   - options: how to execute it; the configuration's defaults when `nil`.
    ///   - session: one of ``sessions`` (any session with
    ///     ``Configuration/servesEverySession``); the first when `nil`.
    /// - Throws: ``SessionServerError`` when the server is draining or stopped or the session
    ///   is not one of its own; ``SessionManagerError`` when the provider is unknown, the
    ///   policies fail their preflight, the messages are empty or the session is not active.
    ///   Nothing is recorded then.
    public func submitRun(
        _ messages: [ChatMessage],
        options: RunOptions? = nil,
        in session: SessionID? = nil,
        metadata: [String: String]? = nil
    ) async throws -> RunID {
        guard state == .accepting else {
            throw SessionServerError(.notAccepting, "the server is \(state) and takes no new runs")
        }
        let session = session ?? sessions[0]
        guard configuration.servesEverySession || sessions.contains(session) else {
            throw SessionServerError(.invalidArgument, "session \(session) is not one of this server's sessions")
        }
        let options = options ?? configuration.defaultOptions
        let (lane, stack) = try manager.check(options)
        nextTicket += 1
        var ticket = Ticket(
            number: nextTicket,
            options: options,
            lane: lane,
            stack: stack,
            // A run in a worktree of its own shares nothing with the others: no waiting.
            workspace: options.workspace.flatMap { $0.worktree == nil ? Self.canonicalPath($0.path) : nil }
        )

        let wait = reasonToWait(ticket)
        var queued: RunQueued?
        if let wait {
            queue.append(ticket)
            queued = RunQueued(position: queue.count, reason: wait)
        } else {
            take(ticket)
        }

        let run: RunID
        do {
            run = try await manager.requestRun(in: session, messages: messages, metadata: metadata, queued: queued)
        } catch {
            if queued == nil {
                release(ticket)
            } else if let removed = removeFromQueue(ticket.number) {
                if removed.granted { release(removed) }
            } else {
                abandoned.remove(ticket.number)
            }
            schedule()
            throw error
        }
        ticket.run = run

        if queued != nil {
            if abandoned.remove(ticket.number) != nil {
                await endUnstarted(run, options: options, reason: stopReason ?? .shutdown)
                return run
            }
            guard let index = queue.firstIndex(where: { $0.number == ticket.number }) else { return run }
            queue[index].run = run
            guard queue[index].granted else { return run }
            queue.remove(at: index)
        }
        if let reason = stopReason {
            release(ticket)
            await endUnstarted(run, options: options, reason: reason)
            schedule()
            return run
        }
        launch(run, ticket)
        return run
    }

    /// Submits one user message.
    public func submitRun(
        _ prompt: String,
        options: RunOptions? = nil,
        in session: SessionID? = nil
    ) async throws -> RunID {
        try await submitRun([ChatMessage(role: .user, content: prompt)], options: options, in: session)
    }

    /// Cancels a run: a queued one leaves the queue and is recorded as cancelled, a running
    /// one is stopped the provider's way. A finished run is left as it is.
    public func cancel(_ run: RunID, reason: CancelReason = .requested) async throws {
        if let index = queue.firstIndex(where: { $0.run == run }) {
            let ticket = queue.remove(at: index)
            if ticket.granted { release(ticket) }
            await endUnstarted(run, options: ticket.options, reason: reason)
            schedule()
            return
        }
        try await manager.cancel(run, reason: reason)
    }

    /// The run's result once it has ended, waiting for it if needed.
    /// - Throws: ``SessionServerError`` for a run this server does not know (or no longer
    ///   keeps), or what executing it threw (a ``StoreError`` when the log refused a write).
    public func result(of run: RunID) async throws -> RunResult {
        if let task = running[run] { return try await task.value }
        if let result = results[run] { return try result.get() }
        if queue.contains(where: { $0.run == run }) {
            while results[run] == nil && running[run] == nil && queue.contains(where: { $0.run == run }) {
                await waitForChange()
            }
            return try await result(of: run)
        }
        throw SessionServerError(.unknownRun, "run \(run) is not one this server runs or keeps")
    }

    /// Stops taking runs and returns once the queued and running ones have ended.
    public func drain() async {
        if state == .accepting { state = .draining }
        await waitUntilIdle()
        await stop()
    }

    /// Stops taking runs, records the queued ones as cancelled and cancels the running ones,
    /// and returns once every one has recorded its end.
    public func shutdown(reason: CancelReason = .shutdown) async {
        if state == .accepting { state = .draining }
        if stopReason == nil { stopReason = reason }
        let waiting = queue
        queue.removeAll()
        for ticket in waiting {
            if ticket.granted { release(ticket) }
            if let run = ticket.run {
                await endUnstarted(run, options: ticket.options, reason: reason)
            } else {
                abandoned.insert(ticket.number)
            }
        }
        for run in startOrder where running[run] != nil {
            try? await manager.cancel(run, reason: reason)
        }
        await waitUntilIdle()
        await stop()
    }

    // MARK: Subscriptions

    /// This server's events from `sequence` on (the log's backfill, then live), across its
    /// concurrent runs in sequence order, narrowed by `filter` (run, types, one session).
    ///
    /// After a disconnect, subscribing again from the last delivered sequence + 1 yields
    /// exactly the events after it. A subscriber that reads slowly takes the events it
    /// missed from the log: it neither holds back the runs nor makes the server buffer for
    /// it. The sequence ends once the server has stopped and its last event was delivered.
    public nonisolated func subscribe(
        from sequence: SequenceNumber = SequenceNumber(1),
        filter: EventFilter = .all
    )
        -> ServerSubscription
    {
        ServerSubscription(hub: hub, from: sequence, filter: filter)
    }

    /// A subscription for a durable consumer: from the event after its checkpoint (created
    /// at `start` if new). Acknowledge with ``acknowledge(consumer:through:)``; after a restart,
    /// subscribing again resumes after the last acknowledged event.
    public nonisolated func subscribe(
        consumer name: String,
        startingAt start: ConsumerStart = .beginning,
        filter: EventFilter = .all
    ) async throws -> ServerSubscription {
        let consumer = try await manager.store.consumer(named: name, startingAt: start)
        return subscribe(from: try await consumer.position().next, filter: filter)
    }

    /// Stores a durable consumer's checkpoint (it never moves backwards).
    public nonisolated func acknowledge(consumer name: String, through sequence: SequenceNumber) async throws {
        try await manager.store.acknowledge(consumer: name, through: sequence)
    }

    // MARK: Scheduling

    /// Why a ticket cannot start now, or `nil` when it can.
    ///
    /// With a slot free, the runs already waiting wait only for their workspaces, so a run
    /// whose workspace is free may pass them; runs on one workspace keep their order.
    private func reasonToWait(_ ticket: Ticket) -> String? {
        if slotsInUse >= configuration.maxConcurrentRuns {
            return "concurrency limit of \(configuration.maxConcurrentRuns) reached"
        }
        if let path = ticket.workspace {
            if busyWorkspaces[path] != nil || queue.contains(where: { $0.workspace == path }) {
                return "workspace \(path) is in use"
            }
        }
        return nil
    }

    private func take(_ ticket: Ticket) {
        slotsInUse += 1
        if let path = ticket.workspace { busyWorkspaces[path] = ticket.number }
    }

    private func release(_ ticket: Ticket) {
        slotsInUse -= 1
        if let path = ticket.workspace, busyWorkspaces[path] == ticket.number { busyWorkspaces[path] = nil }
    }

    private func removeFromQueue(_ number: Int) -> Ticket? {
        guard let index = queue.firstIndex(where: { $0.number == number }) else { return nil }
        return queue.remove(at: index)
    }

    /// Starts the queued runs that can start, in queue order.
    private func schedule() {
        var index = 0
        while index < queue.count, slotsInUse < configuration.maxConcurrentRuns, stopReason == nil {
            let ticket = queue[index]
            if ticket.granted || ticket.workspace.map({ busyWorkspaces[$0] != nil }) == true {
                index += 1
                continue
            }
            take(ticket)
            if let run = ticket.run {
                queue.remove(at: index)
                launch(run, ticket)
            } else {
                // Its request is still being recorded: the submission starts it.
                queue[index].granted = true
                index += 1
            }
        }
        notifyChange()
    }

    private func launch(_ run: RunID, _ ticket: Ticket) {
        do {
            try manager.reserve(run)
        } catch {
            release(ticket)
            record(run, .failure(error))
            return
        }
        let manager = self.manager
        running[run] = Task {
            let outcome: Result<RunResult, any Error>
            do {
                outcome = .success(
                    try await manager.executeReserved(
                        run,
                        lane: ticket.lane,
                        stack: ticket.stack,
                        options: ticket.options,
                        onEvent: { _ in }
                    )
                )
            } catch {
                // A run that could not start (its workspace, its session) is recorded as failed.
                let recorded = await Self.recordStartFailure(
                    run,
                    error: error,
                    options: ticket.options,
                    manager: manager
                )
                outcome = recorded.map { .success($0) } ?? .failure(error)
            }
            self.ended(run, ticket, outcome)
            return try outcome.get()
        }
        startOrder.append(run)
    }

    private func ended(_ run: RunID, _ ticket: Ticket, _ outcome: Result<RunResult, any Error>) {
        running[run] = nil
        startOrder.removeAll { $0 == run }
        release(ticket)
        record(run, outcome)
        schedule()
    }

    private func record(_ run: RunID, _ outcome: Result<RunResult, any Error>) {
        results[run] = outcome
        resultOrder.append(run)
        finishedCount += 1
        if resultOrder.count > configuration.retainedResults {
            let old = resultOrder.removeFirst()
            results[old] = nil
        }
        notifyChange()
    }

    /// Records the end of a run that never started, and its result.
    private func endUnstarted(_ run: RunID, options: RunOptions, reason: CancelReason) async {
        do {
            try await manager.cancel(run, reason: reason)
            var result = Self.emptyResult(run, options: options)
            result.status = .cancelled
            result.cancelReason = reason
            if let summary = try await manager.store.run(run) {
                result.sessionID = summary.sessionID
                result.status = summary.status
            }
            record(run, .success(result))
        } catch {
            record(run, .failure(error))
        }
    }

    private static func recordStartFailure(
        _ run: RunID,
        error: any Error,
        options: RunOptions,
        manager: SessionManager
    )
        async -> RunResult?
    {
        guard let summary = try? await manager.store.run(run) else { return nil }
        var result = emptyResult(run, options: options)
        result.sessionID = summary.sessionID
        if summary.status.isTerminal {
            // Ended elsewhere (cancelled before it started): report what the log says.
            result.status = summary.status
            result.cancelReason = summary.cancelReason
            return result
        }
        // The error's one line, code first: `workspace in use: the workspace … is in use by …`.
        let failure = RunFailure(kind: .invalidRequest, message: "the run could not start: \(error)")
        do {
            try await manager.store.append(
                [NewEvent(RunFailed(failure: failure), run: run)],
                to: summary.sessionID.stream,
                expectedVersion: .streamExists
            )
        } catch {
            return nil
        }
        result.status = .failed
        result.failure = failure
        return result
    }

    private static func emptyResult(_ run: RunID, options: RunOptions) -> RunResult {
        RunResult(
            sessionID: SessionID(uuid: .zero),
            runID: run,
            provider: options.provider,
            policy: PolicyOutcome(
                policies: [],
                stackHash: nil,
                violations: [],
                approvalsRequested: [],
                cancellation: nil
            )
        )
    }

    // MARK: Waiting

    private var isIdle: Bool { queue.isEmpty && running.isEmpty && slotsInUse == 0 }

    private func waitUntilIdle() async {
        while !isIdle { await waitForChange() }
    }

    private func waitForChange() async {
        await withCheckedContinuation { changeWaiters.append($0) }
    }

    private func notifyChange() {
        let waiters = changeWaiters
        changeWaiters.removeAll()
        for waiter in waiters { waiter.resume() }
    }

    /// Marks the server stopped; subscriptions end after the log's current last event.
    private func stop() async {
        guard state != .stopped else { return }
        state = .stopped
        let last = (try? await manager.store.lastSequence()) ?? SequenceNumber(.max)
        hub.finish(through: last)
    }

    static func canonicalPath(_ path: String) -> String { SystemPaths.resolved(path) ?? path }
}

/// Why a server refused a request.
///
/// Match on ``code``; ``description`` is one line (`code: message`). Equality compares the
/// code and message, not the cause.
public struct SessionServerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was refused. New codes may be added; switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: String, Hashable, Sendable {
            case notAccepting = "not accepting"
            case unknownRun = "unknown run"
            case invalidArgument = "invalid argument"
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The server is draining or stopped.
        public static let notAccepting = Code(.notAccepting)
        /// The run is not one this server runs or keeps the result of.
        public static let unknownRun = Code(.unknownRun)
        /// No session, a limit below 1, a session that is not the server's.
        public static let invalidArgument = Code(.invalidArgument)

        public var description: String { wrapped.rawValue }
    }

    public var code: Code
    /// One line.
    public var message: String
    /// The cause, when another error led to this one.
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String { "\(code): \(message)" }

    /// The description followed by the chain of causes, one per line.
    public func detailedDescription() -> String { ErrorDetail.text(description, underlying: underlying) }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code && lhs.message == rhs.message }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
    }
}

extension SessionServerError: DetailedError {}

extension SessionServerError.Code {
    /// Matches an error by code, so `catch SessionServerError.Code.notAccepting` works.
    public static func ~= (code: SessionServerError.Code, error: any Error) -> Bool {
        (error as? SessionServerError)?.code == code
    }
}
