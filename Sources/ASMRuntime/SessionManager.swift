public import ASMCore
public import ASMPolicy
public import ASMProviders
public import ASMRouting
public import ASMStore
public import ASMWorkspace
internal import Synchronization

/// The library's main API: sessions and their runs, executed on providers under stacked
/// policies, continuing the conversation from run to run. Every step is an event in the
/// log; every state is read from the projections.
///
/// ```swift
/// let manager = SessionManager(store: store, providers: [CommandLineProvider(dialect: ClaudeCode())])
/// let session = try await manager.startSession(agentID: "reviewer")
/// let org = try Policy(json: Array(orgPolicyFile))
/// let result = try await manager.run(
///     "Review the diff in this directory", in: session,
///     options: RunOptions(provider: "claude", policies: [org], continuation: .auto))
/// print(result.status, result.costUSD ?? 0, result.policy.summary)
/// ```
///
/// State changes are checked against the projections first: an illegal one throws a
/// ``SessionManagerError`` and appends nothing.
public final class SessionManager: Sendable {
    public struct Configuration: Sendable {
        /// Prices usage into cost; its version is recorded with each cost.
        public var priceTable: PriceTable = .standard
        /// How much transcript a replay may send.
        public var continuationLimits = ContinuationLimits()
        /// The time decisions are made at, and the timers a run waits on (``WallClock/timers``):
        /// deadlines, idle timeouts, policy duration limits and router cooldowns.
        public var clock: any WallClock = SystemClock()

        public init() {}
    }

    private enum Slot {
        case starting(pendingCancel: CancelReason?)
        case running(RunHost)
    }

    /// Where a run's attempts go: one provider, or a router's choice among several.
    enum Lane {
        case provider(any ProviderAdapter)
        case routed(ProviderRouter, RouterFold)

        var name: String {
            switch self {
            case .provider(let provider): provider.name
            case .routed(let router, _): router.name
            }
        }

        var capabilities: ProviderCapabilities {
            switch self {
            case .provider(let provider): provider.capabilities
            case .routed(let router, _): router.capabilities
            }
        }
    }

    public let store: any EventStore
    private let providers: [String: any ProviderAdapter]
    private let routers: [String: (router: ProviderRouter, fold: RouterFold)]
    private let configuration: Configuration
    private let executions = Mutex<[RunID: Slot]>([:])
    private let recovered = Mutex(false)

    /// - Parameters:
    ///   - providers: the providers runs may use, by their names.
    ///   - routers: routers runs may use by their names (``RunOptions/provider``), each over its
    ///     own candidates; a name already taken by a provider or an earlier router is ignored.
    public init(
        store: any EventStore,
        providers: [any ProviderAdapter],
        routers: [ProviderRouter] = [],
        configuration: Configuration = Configuration()
    ) {
        self.store = store
        var byName: [String: any ProviderAdapter] = [:]
        for provider in providers where byName[provider.name] == nil { byName[provider.name] = provider }
        self.providers = byName
        var routed: [String: (router: ProviderRouter, fold: RouterFold)] = [:]
        for router in routers where byName[router.name] == nil && routed[router.name] == nil {
            routed[router.name] = (router, RouterFold(router: Router(config: router.config), store: store))
        }
        self.routers = routed
        self.configuration = configuration
    }

    /// The registered providers' and routers' names, sorted.
    public var providerNames: [String] { (Array(providers.keys) + Array(routers.keys)).sorted() }

    // MARK: Sessions

    /// Creates a session and activates it, ready for runs. With `parent`, the session is
    /// started under that session (a sub-agent, or the work of one of its runs' tool calls): it
    /// is recorded in its `session.created`, and its usage, cost and failures roll up there
    /// (``SessionTree``).
    /// - Throws: ``SessionManagerError`` `sessionNotFound`/`runNotFound` for a parent that is
    ///   not in the log, `invalidArgument` for a tool call without its run; nothing is written then.
    public func startSession(
        agentID: String,
        metadata: [String: String] = [:],
        tags: [String] = [],
        parent: ParentLink? = nil
    ) async throws -> SessionID {
        try await startSession(SessionID.generate(), agentID: agentID, metadata: metadata, tags: tags, parent: parent)
    }

    /// Creates and activates a session with an id chosen beforehand.
    @discardableResult
    func startSession(
        _ session: SessionID,
        agentID: String,
        metadata: [String: String],
        tags: [String],
        parent: ParentLink? = nil
    ) async throws -> SessionID {
        try Self.checkAgent(agentID)
        let created = try await created(agentID: agentID, metadata: metadata, tags: tags, parent: parent)
        try await store.append(
            [NewEvent(created), NewEvent(SessionActivated())],
            to: session.stream,
            expectedVersion: .noStream
        )
        return session
    }

    /// Creates a session in the `created` state; ``activateSession(_:)`` makes it ready for runs.
    /// `parent` as in ``startSession(agentID:metadata:tags:parent:)``.
    public func createSession(
        agentID: String,
        metadata: [String: String] = [:],
        tags: [String] = [],
        parent: ParentLink? = nil
    ) async throws -> SessionID {
        try Self.checkAgent(agentID)
        let session = SessionID.generate()
        try await store.append(
            [NewEvent(try await created(agentID: agentID, metadata: metadata, tags: tags, parent: parent))],
            to: session.stream,
            expectedVersion: .noStream
        )
        return session
    }

    /// The `session.created` of a new session, its parent checked against the log.
    private func created(
        agentID: String,
        metadata: [String: String],
        tags: [String],
        parent: ParentLink?
    ) async throws -> SessionCreated {
        guard let parent else { return SessionCreated(agentID: agentID, metadata: metadata, tags: tags) }
        if parent.toolCall != nil, parent.run == nil {
            throw SessionManagerError(.invalidArgument, "a parent tool call needs its run")
        }
        if let call = parent.toolCall, call.isEmpty {
            throw SessionManagerError(.invalidArgument, "a parent tool call id cannot be empty")
        }
        let (session, runSession) = try await store.read { snapshot in
            (try snapshot.session(parent.session), try parent.run.flatMap { try snapshot.run($0)?.sessionID })
        }
        guard session != nil else { throw SessionManagerError(.sessionNotFound, "no parent session \(parent.session)") }
        if let run = parent.run, runSession != parent.session {
            throw SessionManagerError(.runNotFound, "no run \(run) in parent session \(parent.session)")
        }
        return SessionCreated(
            agentID: agentID,
            metadata: metadata,
            tags: tags,
            parentSessionID: parent.session,
            parentRunID: parent.run,
            parentCallID: parent.toolCall
        )
    }

    public func activateSession(_ session: SessionID) async throws {
        try await transition(session, to: "activate", allowed: [.created]) { _ in SessionActivated() }
    }

    /// Completes an active session. Refused while one of its runs is executing here.
    public func completeSession(_ session: SessionID, summary: String? = nil) async throws {
        try refuseWhileExecuting(session, "complete")
        try await transition(session, to: "complete", allowed: [.active]) { _ in SessionCompleted(summary: summary) }
    }

    public func failSession(_ session: SessionID, reason: String) async throws {
        try refuseWhileExecuting(session, "fail")
        try await transition(session, to: "fail", allowed: [.created, .active]) { _ in SessionFailed(reason: reason) }
    }

    /// Archives a session in any state but archived. Refused while one of its runs is executing here.
    public func archiveSession(_ session: SessionID) async throws {
        try refuseWhileExecuting(session, "archive")
        try await transition(session, to: "archive", allowed: [.created, .active, .completed, .failed]) { _ in
            SessionArchived()
        }
    }

    // MARK: Runs

    /// Records a run's request in an active session: the messages to send, the last one the
    /// prompt. ``execute(_:options:onEvent:)`` runs it.
    public func startRun(
        in session: SessionID,
        messages: [ChatMessage],
        metadata: [String: String]? = nil
    ) async throws -> RunID {
        try await requestRun(in: session, messages: messages, metadata: metadata, queued: nil)
    }

    /// Records a run's request, and with it (in the same batch) that it waits in a queue.
    func requestRun(
        in session: SessionID,
        messages: [ChatMessage],
        metadata: [String: String]?,
        queued: RunQueued?
    )
        async throws -> RunID
    {
        guard let prompt = messages.last, !prompt.content.isEmpty else {
            throw SessionManagerError(
                .invalidArgument,
                "a run needs at least one message, and the last one must not be empty"
            )
        }
        let run = RunID.generate()
        try await withVersionRetry {
            let summary = try await activeSession(session, for: "start a run")
            var events = [NewEvent(RunRequested(messages: messages, metadata: metadata), run: run)]
            events += messages.filter { $0.role == .user }.map {
                NewEvent(MessageReceived(role: .user, content: $0.content), run: run)
            }
            if let queued { events.append(NewEvent(queued, run: run)) }
            try await store.append(events, to: session.stream, expectedVersion: Self.unchangedState(since: summary))
        }
        return run
    }

    /// Starts a run with one user message and executes it.
    public func run(
        _ prompt: String,
        in session: SessionID,
        options: RunOptions,
        onEvent: @escaping @Sendable (SessionEvent) async -> Void = { _ in }
    ) async throws -> RunResult {
        let run = try await startRun(in: session, messages: [ChatMessage(role: .user, content: prompt)])
        return try await execute(run, options: options, onEvent: onEvent)
    }

    /// Executes a requested run on `options.provider`, under `options.policies` stacked in
    /// order, continuing the session's conversation as `options.continuation` says.
    ///
    /// Records, in order: `policy.evaluated` (when there are policies), `continuation.applied`,
    /// the provider's events with the policies' decisions between them, and one terminal
    /// event. Returns once the terminal event is committed.
    ///
    /// - Parameter onEvent: each event as it is recorded (to print a run live).
    /// - Throws: ``SessionManagerError`` before anything is appended when the run is not
    ///   `requested` or `queued`, is already executing, its session is not active, the provider is
    ///   unknown or the policies fail their preflight; ``StoreError`` when the log refuses a
    ///   write (the provider is stopped first).
    public func execute(
        _ run: RunID,
        options: RunOptions,
        onEvent: @escaping @Sendable (SessionEvent) async -> Void = { _ in }
    ) async throws -> RunResult {
        let (lane, stack) = try check(options)
        try reserve(run)
        return try await executeReserved(run, lane: lane, stack: stack, options: options, onEvent: onEvent)
    }

    /// The provider (or router) and policy stack `options` name, or the error that refuses them.
    func check(_ options: RunOptions) throws(SessionManagerError) -> (Lane, PolicyStack) {
        let lane: Lane
        if let provider = providers[options.provider] {
            lane = .provider(provider)
        } else if let routed = routers[options.provider] {
            lane = .routed(routed.router, routed.fold)
        } else {
            let known =
                providerNames.isEmpty ? "none are registered" : "known: \(providerNames.joined(separator: ", "))"
            throw SessionManagerError(.unknownProvider, "no provider named \(options.provider) (\(known))")
        }
        do {
            return (lane, try PolicyStack(options.policies))
        } catch {
            throw SessionManagerError(.invalidPolicy, "policy preflight failed: \(error)")
        }
    }

    /// Closes the runs whose executing process died (see ``RunRecovery``). A manager does it
    /// once by itself, before its first run; calling this first does it then instead.
    @discardableResult
    public func recoverAbandonedRuns() async throws -> RunRecovery.Report {
        recovered.withLock { $0 = true }
        return try await RunRecovery(store: store).recover()
    }

    /// The pass before the first run, unless ``recoverAbandonedRuns()`` already ran.
    func recoverOnce() async throws {
        let first = recovered.withLock { done -> Bool in
            defer { done = true }
            return !done
        }
        guard first else { return }
        _ = try await RunRecovery(store: store).recover()
    }

    /// Marks a run as executing here, so a cancel that comes before it starts is kept for it.
    func reserve(_ run: RunID) throws(SessionManagerError) {
        let reserved = executions.withLock { executions -> Bool in
            guard executions[run] == nil else { return false }
            executions[run] = .starting(pendingCancel: nil)
            return true
        }
        guard reserved else { throw SessionManagerError(.alreadyExecuting, "run \(run) is already executing") }
    }

    /// Executes a run ``reserve(_:)`` marked; releases the mark when done.
    func executeReserved(
        _ run: RunID,
        lane: Lane,
        stack: PolicyStack,
        options: RunOptions,
        onEvent: @escaping @Sendable (SessionEvent) async -> Void
    ) async throws -> RunResult {
        defer { _ = executions.withLock { $0.removeValue(forKey: run) } }
        try await recoverOnce()

        // One snapshot for everything the run starts from, so the pieces agree with each other.
        let start = try await store.read { snapshot in try RunStart(run, in: snapshot) }
        let summary = start.summary
        guard summary.status == .requested || summary.status == .queued else {
            throw SessionManagerError(.illegalTransition, "run \(run) is \(summary.status); a run executes once")
        }
        let session = summary.sessionID
        try Self.requireActive(start.session, session, for: "execute a run")
        let requested = start.requested

        // Continuation, from the transcript and the runs before this one that ran and ended:
        // runs still executing alongside it, waiting, or ended before they started (cancelled
        // in a queue) are not part of its conversation.
        let usage = Dictionary(
            start.usage.compactMap { row in row.runID.map { ($0, row.tokens) } },
            uniquingKeysWith: +
        )
        let runs = start.runs
        let unfinished = Set(runs.filter { !$0.status.isTerminal || $0.startedAt == nil }.map(\.id))
        // A fork's inherited runs come first, never resumable natively: their provider
        // sessions went on past the fork point.
        let prior =
            start.inherited.runs.map { PriorRun(runID: $0.id, provider: $0.provider, providerSessionID: nil) }
            + runs
            .filter { $0.id != run && $0.firstSequence < summary.firstSequence && !unfinished.contains($0.id) }
            .map {
                PriorRun(
                    runID: $0.id,
                    provider: $0.provider,
                    providerSessionID: $0.providerSessionID,
                    usage: usage[$0.id] ?? .zero
                )
            }
        let transcript =
            start.inherited.transcript
            + start.transcript.filter { entry in
                entry.runID.map { $0 == run || !unfinished.contains($0) } ?? true
            }
        let capabilities = lane.capabilities
        let plan = ContinuationPlanner.plan(
            mode: options.continuation,
            provider: lane.name,
            resumesNatively: capabilities.resumesNatively,
            run: run,
            transcript: transcript,
            priorRuns: prior,
            limits: options.continuationLimits ?? configuration.continuationLimits
        )

        // The workspace is checked and snapshotted before anything is recorded.
        var workspace: WorkspaceRun?
        if let options = options.workspace { workspace = try await WorkspaceRun.start(options, run: run) }

        // The run's own deadline and idle timeout are the machine's timers, not the provider's.
        var request = ProviderRequest(
            runID: run,
            messages: plan.history + requested.messages,
            systemPrompt: options.systemPrompt ?? requested.systemPrompt,
            model: options.model ?? requested.model,
            workingDirectory: options.workingDirectory,
            environment: options.environment,
            resumeSessionID: plan.resumeSessionID,
            resumeUsageBaseline: plan.resumeUsageBaseline,
            controls: ProviderControls(stack)
        )
        if let workspace { request.workingDirectory = workspace.path }
        request.controls.allowedTools += options.preapprovedTools.filter { !request.controls.allowedTools.contains($0) }
        request.controls.availableTools = options.availableTools
        request.controls.maxTurns = options.maxTurns

        var environment = RunHost.Environment(
            store: store,
            clock: configuration.clock,
            providers: [:],
            request: request,
            onEvent: onEvent
        )
        let machineLane: RunMachine.Lane
        switch lane {
        case .provider(let provider):
            environment.providers = [provider.name: provider]
            machineLane = .provider(provider.name, asksBeforeTools: capabilities.holdsTools && !stack.isEmpty)
        case .routed(let router, let fold):
            environment.providers = Dictionary(
                router.providers.map { ($0.name, $0) },
                uniquingKeysWith: { first, _ in first }
            )
            environment.fold = fold
            environment.seeds = router.seeds
            var routed = router.lane(for: run, stickyKey: session.description, requiring: options.requiredCapabilities)
            routed.holdingTools = Set(router.providers.filter(\.capabilities.holdsTools).map(\.name))
            machineLane = .routed(routed)
        }
        if let workspace {
            environment.finishWorkspace = { terminal in await workspace.finish(terminal) }
        }
        let machine = RunMachine(
            RunMachine.Configuration(
                runID: run,
                sessionID: session,
                engine: PolicyEngine(stack: stack, runID: run),
                lane: machineLane,
                priceTable: configuration.priceTable,
                model: request.model,
                deadline: options.deadline,
                idleTimeout: options.idleTimeout,
                approvalTimeout: options.approvalTimeout ?? stack.approvalTimeout?.value
                    ?? RunOptions.defaultApprovalTimeout,
                opening: [.continuationApplied(plan.event)] + (workspace?.opening ?? []),
                hasWorkspace: workspace != nil,
                redactor: Redactor(environment: options.environment.compactMapValues { $0 })
            )
        )
        let host = RunHost(runID: run, sessionID: session)

        let pendingCancel = executions.withLock { executions -> CancelReason? in
            guard case .starting(let pending)? = executions[run] else { return nil }
            executions[run] = .running(host)
            return pending
        }
        if let pendingCancel { host.cancel(pendingCancel) }

        let resumed = plan.resumeSessionID
        let result = try await host.run(machine, environment)
        if let resumed, let actual = result.providerSessionID, actual != resumed {
            // The provider started a new session instead of resuming: say so in the log.
            let fresh = ContinuationApplied(
                requested: plan.requested.rawValue,
                applied: "fresh",
                reason: "\(lane.name) started session \(actual) instead of resuming \(resumed)",
                providerSessionID: actual
            )
            try await store.append([NewEvent(fresh, run: run)], to: session.stream, expectedVersion: .streamExists)
            await onEvent(.continuationApplied(fresh))
        }
        return result
    }

    /// Cancels a run: an executing one the provider's way, a requested or queued one at once
    /// (it is recorded as cancelled); a finished run is left as it is. Safe to call at any time
    /// and more than once.
    public func cancel(_ run: RunID, reason: CancelReason = .requested) async throws {
        let slot = executions.withLock { executions -> Slot? in
            guard let slot = executions[run] else { return nil }
            if case .starting(let pending) = slot, pending == nil {
                executions[run] = .starting(pendingCancel: reason)
            }
            return slot
        }
        switch slot {
        case .running(let host)?:
            host.cancel(reason)
            return
        case .starting?:
            return
        case nil:
            break
        }
        guard let summary = try await store.run(run) else { throw SessionManagerError(.runNotFound, "no run \(run)") }
        guard summary.status == .requested || summary.status == .queued else { return }
        try await store.append(
            [NewEvent(RunCancelled(reason: reason, message: "cancelled before it was executed"), run: run)],
            to: summary.sessionID.stream,
            expectedVersion: .streamExists
        )
    }

    /// Answers a tool approval a policy asked for. A tool held for it runs (or not); on a
    /// run that could not hold the tool, a denial cancels the run.
    public func resolveApproval(
        _ approvalID: String,
        approved: Bool,
        by resolver: String? = nil,
        reason: String? = nil
    )
        async throws
    {
        let resolved = ToolApprovalResolved(
            approvalID: approvalID,
            approved: approved,
            resolvedBy: resolver,
            reason: reason
        )
        guard let slash = approvalID.lastIndex(of: "/"), let run = RunID(String(approvalID[..<slash])) else {
            throw SessionManagerError(.approvalNotFound, "\(approvalID) is not an approval id")
        }
        let host = executions.withLock { executions -> RunHost? in
            if case .running(let host)? = executions[run] { return host }
            return nil
        }
        if let host {
            try await host.resolve(resolved)
            return
        }
        // The run is not executing here (it may be in another process, which follows the log
        // for answers): record the answer. The store takes only the first answer.
        guard
            let approval = try await store.approvals(pendingOnly: false, session: nil, id: approvalID, limit: 2)
                .first(where: { $0.approvalID == approvalID })
        else {
            throw SessionManagerError(.approvalNotFound, "no approval \(approvalID)")
        }
        do {
            try await store.append(
                [NewEvent(resolved, run: run)],
                to: approval.sessionID.stream,
                expectedVersion: .streamExists
            )
        } catch let error as StoreError where error.code == .alreadyResolved {
            throw SessionManagerError(.alreadyResolved, error.message, underlying: error)
        }
    }

    /// Whether a run is executing in this process.
    public func isExecuting(_ run: RunID) -> Bool {
        executions.withLock { $0[run] != nil }
    }

    // MARK: Reads

    public func session(_ id: SessionID) async throws -> SessionSummary? { try await store.session(id) }
    public func run(_ id: RunID) async throws -> RunSummary? { try await store.run(id) }
    public func runs(in session: SessionID) async throws -> [RunSummary] { try await store.runs(in: session) }
    public func transcript(of session: SessionID) async throws -> [TranscriptEntry] {
        try await store.transcript(of: session)
    }
    public func usage(by grouping: UsageGrouping, session: SessionID? = nil) async throws -> [UsageSummary] {
        try await store.usage(by: grouping, session: session)
    }

    // MARK: Checks

    private static func checkAgent(_ agentID: String) throws(SessionManagerError) {
        guard !agentID.isEmpty else { throw SessionManagerError(.invalidArgument, "a session needs an agent id") }
    }

    private func activeSession(_ session: SessionID, for action: String) async throws -> SessionSummary {
        try Self.requireActive(try await store.session(session), session, for: action)
    }

    @discardableResult
    private static func requireActive(
        _ summary: SessionSummary?,
        _ session: SessionID,
        for action: String
    ) throws(SessionManagerError) -> SessionSummary {
        guard let summary else {
            throw SessionManagerError(.sessionNotFound, "no session \(session)")
        }
        guard summary.status == .active else {
            throw SessionManagerError(
                .illegalTransition,
                "cannot \(action): session \(session) is \(summary.status), not active"
            )
        }
        return summary
    }

    private func refuseWhileExecuting(_ session: SessionID, _ action: String) throws(SessionManagerError) {
        let busy = executions.withLock { executions in
            executions.values.contains { slot in
                if case .running(let host) = slot { return host.sessionID == session }
                return false
            }
        }
        if busy {
            throw SessionManagerError(.illegalTransition, "cannot \(action) session \(session): a run is executing")
        }
    }

    /// Appends a session's lifecycle event if its current state allows it.
    private func transition(
        _ session: SessionID,
        to action: String,
        allowed: Set<SessionStatus>,
        _ event: (SessionSummary) -> some EventPayload
    ) async throws {
        try await withVersionRetry {
            guard let summary = try await store.session(session) else {
                throw SessionManagerError(.sessionNotFound, "no session \(session)")
            }
            guard allowed.contains(summary.status) else {
                throw SessionManagerError(
                    .illegalTransition,
                    "cannot \(action) session \(session): it is \(summary.status)"
                )
            }
            try await store.append(
                [NewEvent(event(summary))],
                to: session.stream,
                expectedVersion: Self.unchangedState(since: summary)
            )
        }
    }

    /// The events that change a session's state.
    static let lifecycleTypes: Set<EventType> = [
        .sessionCreated, .sessionActivated, .sessionCompleted, .sessionFailed, .sessionArchived,
    ]

    /// Appends only if the session's state is still the one read: runs may have appended
    /// meanwhile (they do all the time on a busy session), but no lifecycle event.
    private static func unchangedState(since summary: SessionSummary) -> ExpectedVersion {
        .noneSince(summary.version, types: lifecycleTypes)
    }

    /// Re-reads and re-checks when another writer changed the session's state in between.
    private func withVersionRetry(_ body: () async throws -> Void) async throws {
        var attempts = 0
        while true {
            do {
                try await body()
                return
            } catch let error as StoreError where error.code == .versionConflict && attempts < 5 {
                attempts += 1
            }
        }
    }
}

/// What a run starts from, read in one snapshot: its row, its session, its request, and the
/// session's runs, usage and transcript.
private struct RunStart: Sendable {
    var summary: RunSummary
    var session: SessionSummary?
    var requested: RunRequested
    var runs: [RunSummary]
    var usage: [UsageSummary]
    var transcript: [TranscriptEntry]
    /// What the session has from the sessions it was forked from.
    var inherited: Inheritance

    init(_ run: RunID, in snapshot: any LogSnapshot) throws {
        guard let summary = try snapshot.run(run) else {
            throw SessionManagerError(.runNotFound, "no run \(run)")
        }
        let page = try snapshot.events(
            from: summary.firstSequence,
            limit: 1,
            filter: EventFilter(types: [.runRequested], run: run)
        )
        guard case .runRequested(let requested)? = page.events.first?.event else {
            throw SessionManagerError(.runNotFound, "run \(run) has no request in the log")
        }
        self.summary = summary
        self.requested = requested
        session = try snapshot.session(summary.sessionID)
        runs = try snapshot.runs(in: summary.sessionID)
        usage = try snapshot.usage(by: .run, session: summary.sessionID)
        transcript = try snapshot.transcript(of: summary.sessionID)
        inherited = try Inheritance(of: summary.sessionID, in: snapshot)
    }
}

/// How to execute a run.
public struct RunOptions: Sendable {
    /// A registered provider's name.
    public var provider: String
    public var model: String?
    public var systemPrompt: String?
    public var workingDirectory: String?
    /// Added to (or, with `nil`, removed from) the provider's environment; never logged.
    public var environment: [String: String?]
    /// Stacked in order: later limits override earlier ones (see ``PolicyStack``).
    public var policies: [Policy]
    public var continuation: ContinuationMode
    /// The manager's configuration when `nil`.
    public var continuationLimits: ContinuationLimits?
    /// The total time the run may take; not extended by output.
    public var deadline: Duration?
    public var idleTimeout: Duration?
    /// How long a tool approval waits for an answer; then it is denied, `resolved_by`
    /// `timeout` (fail closed). When `nil`: the policy stack's `approval_timeout_ms` (the
    /// last policy that sets it), else ten minutes.
    public var approvalTimeout: Duration?
    /// Ten minutes.
    public static let defaultApprovalTimeout: Duration = .seconds(600)
    /// Tools pre-approved for the provider beyond the policies' allow lists (no rule is
    /// made of them).
    public var preapprovedTools: [String]
    /// A hard whitelist for the provider (see ``ProviderControls/availableTools``).
    public var availableTools: [String]?
    /// At most this many model turns, where the CLI enforces it.
    public var maxTurns: Int?
    /// For a router: capabilities the chosen provider must have, on top of the router's own.
    public var requiredCapabilities: [CapabilityRequirement]
    /// Snapshot the directory the agent works in before and after, record the diff, and roll
    /// back on failure if asked; the provider runs in it.
    public var workspace: WorkspaceOptions?

    public init(
        provider: String,
        model: String? = nil,
        systemPrompt: String? = nil,
        workingDirectory: String? = nil,
        environment: [String: String?] = [:],
        policies: [Policy] = [],
        continuation: ContinuationMode = .auto,
        continuationLimits: ContinuationLimits? = nil,
        deadline: Duration? = nil,
        idleTimeout: Duration? = nil,
        preapprovedTools: [String] = [],
        availableTools: [String]? = nil,
        maxTurns: Int? = nil,
        requiredCapabilities: [CapabilityRequirement] = [],
        workspace: WorkspaceOptions? = nil
    ) {
        self.workspace = workspace
        self.requiredCapabilities = requiredCapabilities
        self.preapprovedTools = preapprovedTools
        self.availableTools = availableTools
        self.maxTurns = maxTurns
        self.provider = provider
        self.model = model
        self.systemPrompt = systemPrompt
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.policies = policies
        self.continuation = continuation
        self.continuationLimits = continuationLimits
        self.deadline = deadline
        self.idleTimeout = idleTimeout
    }
}
