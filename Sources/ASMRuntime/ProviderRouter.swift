public import ASMCore
public import ASMProviders
public import ASMRouting
public import ASMStore
import ASMPolicy
internal import Synchronization

/// Several providers behind one adapter: each attempt of a run goes to the provider the
/// router chooses, and a retryable failure fails over to the next one.
///
/// ```swift
/// let router = ProviderRouter(
///     providers: [CommandLineProvider(dialect: ClaudeCode()), CommandLineProvider(dialect: Codex())],
///     config: try RouterConfig(json: Array(routerFile)), store: store)
/// let manager = SessionManager(store: store, providers: [router])
/// let result = try await manager.run("Fix the build", in: session, options: RunOptions(provider: "router"))
/// ```
///
/// The router keeps nothing of its own: before each decision it folds the log (breakers,
/// cooldowns, sticky bindings) through its last position, adds its run's own decisions not
/// yet committed, and decides with the time and a seed it records. Its decisions and the
/// breaker changes they imply are events of the run (`routing.decided`,
/// `routing.failed_over`, `provider.health_changed`), so another process on the same file
/// decides the same, and `asm replay --verify` can check every decision.
public final class ProviderRouter: ProviderAdapter {
    public let name: String
    public let config: RouterConfig
    private let router: Router
    private let providers: [any ProviderAdapter]
    private let profiles: [CandidateProfile]
    private let store: any EventStore
    private let clock: any WallClock
    private let seeds: @Sendable () -> UInt64
    private let view = Mutex(RouterState())
    private let owners = Mutex<[RunID: Owner]>([:])

    private struct Owner {
        var adapter: (any ProviderAdapter)?
        var cancelled: CancelReason?
    }

    /// - Parameters:
    ///   - providers: the candidates, in the order `prefer` falls back to; names must differ.
    ///   - seeds: where weighted draws get their seed (recorded with each decision).
    public init(
        name: String = "router", providers: [any ProviderAdapter], config: RouterConfig, store: any EventStore,
        clock: any WallClock = SystemClock(), seeds: @escaping @Sendable () -> UInt64 = { UInt64.random(in: .min ... .max) }
    ) {
        self.name = name
        self.config = config
        router = Router(config: config)
        var seen = Set<String>()
        self.providers = providers.filter { seen.insert($0.name).inserted }
        profiles = self.providers.map { ProviderRouter.profile(of: $0) }
        self.store = store
        self.clock = clock
        self.seeds = seeds
    }

    /// A provider's capabilities as the router matches them.
    public static func profile(of provider: any ProviderAdapter) -> CandidateProfile {
        let capabilities = provider.capabilities
        var offered: Set<String> = []
        if capabilities.streamsText { offered.insert("streaming") }
        if capabilities.reportsToolCalls { offered.insert("tool") }
        if capabilities.resumesNatively { offered.insert("resume") }
        if capabilities.interrupts { offered.insert("interrupt") }
        if capabilities.toolGate == .beforeRun { offered.insert("tool_gate:before_run") }
        if capabilities.holdsTools { offered.insert("holds_tools") }
        for tool in capabilities.tools { offered.insert(CandidateProfile.tool(tool)) }
        return CandidateProfile(name: provider.name, capabilities: offered)
    }

    /// What every candidate can do. A router does not resume natively: an attempt may land
    /// on another provider, so conversations continue by replay.
    public var capabilities: ProviderCapabilities {
        let all = providers.map(\.capabilities)
        return ProviderCapabilities(
            streamsText: all.contains { $0.streamsText }, reportsToolCalls: all.allSatisfy(\.reportsToolCalls),
            resumesNatively: false, interrupts: all.allSatisfy(\.interrupts),
            toolGate: all.allSatisfy { $0.toolGate == .beforeRun } ? .beforeRun : .observeOnly,
            holdsTools: !all.isEmpty && all.allSatisfy(\.holdsTools), tools: Array(Set(all.flatMap(\.tools))).sorted())
    }

    public func execute(_ request: ProviderRequest) -> ProviderEventStream {
        let (stream, continuation) = AsyncStream<ProviderEvent>.makeStream()
        owners.withLock { $0[request.runID] = Owner() }
        let task = Task {
            await self.route(request) { continuation.yield($0) }
            _ = self.owners.withLock { $0.removeValue(forKey: request.runID) }
            continuation.finish()
        }
        continuation.onTermination = { termination in
            if case .cancelled = termination { Task { await self.cancel(request.runID, reason: .requested) } }
            _ = task
        }
        return ProviderEventStream(stream)
    }

    /// Goes to whichever provider owns the run's current attempt; no further attempt follows.
    public func cancel(_ run: RunID, reason: CancelReason) async {
        let adapter = owners.withLock { owners -> (any ProviderAdapter)? in
            guard var owner = owners[run] else { return nil }
            if owner.cancelled == nil { owner.cancelled = reason }
            owners[run] = owner
            return owner.adapter
        }
        await adapter?.cancel(run, reason: reason)
    }

    // MARK: Routing a run

    private func route(_ request: ProviderRequest, emit: (ProviderEvent) -> Void) async {
        let run = request.runID
        var tried: [String] = []
        /// This run's routing events, in order, with their ids: an overlay on the folded log.
        var own: [(id: EventID, event: SessionEvent)] = []
        func record(_ event: SessionEvent) {
            let id = EventID.generate()
            own.append((id, event))
            emit(.routing(event, id: id))
        }
        /// Breaker changes, stamped with the log position their state was folded through.
        func record(_ transitions: [ProviderHealthChanged], at position: SequenceNumber) {
            for var transition in transitions {
                transition.stateSequence = position
                record(.providerHealthChanged(transition))
            }
        }
        var attempt = 1
        var decision: RouteDecision
        do {
            decision = decide(try await folded(run: run, own: own), run: run, attempt: attempt, request: request, tried: tried)
        } catch {
            emit(.failure(.noProviderAvailable, "the router could not read the log: \(error)"))
            return
        }
        while true {
            record(decision.transitions, at: decision.event.stateSequence ?? .zero)
            record(.routingDecided(decision.event))
            guard let chosen = decision.event.chosen, let adapter = providers.first(where: { $0.name == chosen }) else {
                emit(.failure(.noProviderAvailable, "no provider is available: " + Self.why(decision.event)))
                return
            }
            let cancelledBefore = owners.withLock { owners -> CancelReason? in
                owners[run]?.adapter = adapter
                return owners[run]?.cancelled
            }
            if let reason = cancelledBefore {
                emit(.cancelled(RunCancelled(reason: reason, message: "cancelled before \(chosen) started")))
                return
            }

            var afterOutput = false
            var terminal: ProviderEvent?
            for await event in adapter.execute(request) {
                switch event {
                case .started(var started):
                    started.attempt = attempt
                    emit(.started(started))
                case .streamed, .received, .toolStarted, .toolCompleted:
                    afterOutput = true
                    emit(event)
                case .completed, .failed, .cancelled:
                    terminal = event
                default:
                    emit(event)
                }
                if terminal != nil { break }
            }
            let ended = terminal ?? .failure(.invalidOutput, "\(chosen) ended the attempt without a result")
            // The state the attempt's outcome is judged in (a failed read judges nothing more).
            let state = try? await folded(run: run, own: own)

            switch ended {
            case .completed:
                // A successful probe closes the breaker: say so before the run ends.
                if var copy = state {
                    record(router.apply(&copy, .runCompleted(RunCompleted()), run: run, sequence: copy.position), at: copy.position)
                }
                emit(ended)
                return
            case .failed(let failed):
                let failure = failed.failure
                let cancelled = owners.withLock { $0[run]?.cancelled }
                let counts = FailureClass.countsAgainstProvider(failure)
                let retry = cancelled == nil && FailureClass.isRetryable(failure, afterOutput: afterOutput) && attempt < config.maxAttempts
                guard counts || retry, var after = state else {
                    emit(ended)
                    return
                }
                var failedOver = RoutingFailedOver(
                    attempt: attempt, from: chosen, to: nil, failure: failure, afterOutput: afterOutput, failedAt: clock.now())
                let position = after.position
                let transitions = router.apply(&after, .routingFailedOver(failedOver), run: run, sequence: position)
                var next: RouteDecision?
                if retry {
                    tried.append(chosen)
                    next = decide(after, run: run, attempt: attempt + 1, request: request, tried: tried)
                    failedOver.to = next?.event.chosen
                }
                record(.routingFailedOver(failedOver))
                record(transitions, at: position)
                guard let next, next.event.chosen != nil else {
                    if let next {
                        // Nothing left to fail over to: the decision that found none is recorded too.
                        record(next.transitions, at: position)
                        record(.routingDecided(next.event))
                    }
                    emit(ended)
                    return
                }
                attempt += 1
                decision = next
            default:
                emit(ended)
                return
            }
        }
    }

    /// Decides in `state` (the log folded, with this run's own events).
    ///
    /// The request's own capability requirements join the configuration's, and the decision
    /// records the configuration it was made with, requirements included.
    private func decide(_ state: RouterState, run: RunID, attempt: Int, request: ProviderRequest, tried: [String]) -> RouteDecision {
        var effective = config
        for text in request.requiredCapabilities {
            let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
            let requirement = CapabilityRequirement(type: parts.first ?? text, name: parts.count > 1 ? parts[1] : nil)
            if !effective.requiredCapabilities.contains(requirement) { effective.requiredCapabilities.append(requirement) }
        }
        let routeRequest = RouteRequest(runID: run, attempt: attempt, stickyKey: request.stickyKey, tried: tried)
        var decision = Router(config: effective).decide(state, routeRequest, candidates: profiles, now: clock.now(), seed: seeds())
        decision.event.router = Self.recordedConfig(effective, profiles)
        return decision
    }

    /// The router's state: the log folded through its end, then this run's own events that
    /// are not in it yet.
    private func folded(run: RunID, own: some Collection<(id: EventID, event: SessionEvent)>) async throws -> RouterState {
        var state = try await catchUp()
        let committed = Set(
            try await store.events(
                from: .zero, limit: 10_000,
                filter: EventFilter(types: [.routingDecided, .routingFailedOver, .providerHealthChanged], run: run)
            ).events.filter { $0.sequence <= state.position }.map(\.id))
        for (id, event) in own where !committed.contains(id) {
            _ = router.apply(&state, event, run: run, sequence: state.position)
        }
        return state
    }

    /// Folds the log's routing events and routed runs' outcomes since the last position.
    private func catchUp() async throws -> RouterState {
        var state = view.withLock { $0 }
        while true {
            let page = try await store.events(from: state.position.next, limit: 1000, filter: Self.foldedTypes)
            for envelope in page.events {
                _ = router.apply(&state, envelope.event, run: envelope.runID, sequence: envelope.sequence)
            }
            guard page.scannedThrough > state.position || !page.events.isEmpty else { break }
            state.position = max(state.position, page.scannedThrough)
            if page.events.count < 1000 { break }
        }
        let caught = state
        view.withLock { current in
            if caught.position > current.position { current = caught }
        }
        return caught
    }

    /// The events the router's state is folded from.
    public static let foldedTypes = EventFilter(types: [.routingDecided, .routingFailedOver, .runCompleted, .runFailed, .runCancelled])

    /// The configuration with the candidates' capabilities, as a decision records it.
    static func recordedConfig(_ config: RouterConfig, _ profiles: [CandidateProfile]) -> JSONValue {
        guard case .object(var members) = config.json else { return config.json }
        members.append(
            JSONMember(
                "providers",
                .array(profiles.map { profile in
                    .object([
                        JSONMember("name", .string(profile.name)),
                        JSONMember("capabilities", .array(profile.capabilities.sorted().map(JSONValue.string))),
                    ])
                })))
        return .object(members)
    }

    /// Why each candidate was left out, for the failure message.
    static func why(_ decided: RoutingDecided) -> String {
        decided.candidates.map { "\($0.provider) \($0.excludedBecause ?? "eligible")" }.joined(separator: ", ")
    }
}
