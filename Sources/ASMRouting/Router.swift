public import ASMCore
import ASMPolicy

/// What a provider offers, as the router matches requirements against it.
public struct CandidateProfile: Hashable, Sendable {
    public var name: String
    /// `streaming`, `tool` (reports tool calls), `tool:<name>` per tool (families such as
    /// `tool:read`, `tool:shell`), `resume`, `interrupt`, `tool_gate:before_run`, `holds_tools`.
    public var capabilities: Set<String>

    public init(name: String, capabilities: Set<String>) {
        self.name = name
        self.capabilities = capabilities
    }

    /// The capability string of a tool name: its family when it has one (`Read` → `tool:read`).
    public static func tool(_ name: String) -> String {
        "tool:" + (ToolPattern.family(of: name) ?? name.lowercased())
    }

    public func satisfies(_ requirement: CapabilityRequirement) -> Bool {
        guard let name = requirement.name else { return capabilities.contains(requirement.type) }
        if requirement.type == "tool" { return capabilities.contains(Self.tool(name)) }
        return capabilities.contains("\(requirement.type):\(name.lowercased())")
    }
}

/// One attempt to route.
public struct RouteRequest: Hashable, Sendable {
    public var runID: RunID
    /// 1 for the first attempt.
    public var attempt: Int
    /// Binds the session to a provider for the sticky TTL (the session id).
    public var stickyKey: String?
    /// Providers already tried in this run.
    public var tried: [String]
    /// Requirements of this request, on top of the configuration's.
    public var required: [CapabilityRequirement]

    public init(
        runID: RunID,
        attempt: Int = 1,
        stickyKey: String? = nil,
        tried: [String] = [],
        required: [CapabilityRequirement] = []
    ) {
        self.runID = runID
        self.attempt = attempt
        self.stickyKey = stickyKey
        self.tried = tried
        self.required = required
    }
}

/// A routing decision: the event to record, and the breaker changes it implies (cooled-down
/// breakers turning half-open), to record before it.
public struct RouteDecision: Hashable, Sendable {
    public var event: RoutingDecided
    public var transitions: [ProviderHealthChanged]
}

/// The router's pure core: the fold of the log into ``RouterState`` and the decision as a
/// function of (state, request, candidates, time, seed).
///
/// Breaker state is derived from outcomes in the log — `routing.failed_over` (a failure,
/// with its time) and the terminal event of a routed run — and from decision times (an open
/// breaker turns half-open at the first decision after its cooldown). The transitions are
/// returned so they can be recorded as `provider.health_changed` events; they are not read
/// back, so the same log always folds to the same state.
public struct Router: Hashable, Sendable {
    public let config: RouterConfig

    public init(config: RouterConfig) {
        self.config = config
    }

    // MARK: Deciding

    public func decide(
        _ state: RouterState,
        _ request: RouteRequest,
        candidates: [CandidateProfile],
        now: Timestamp,
        seed: UInt64
    ) -> RouteDecision {
        var state = state
        let transitions = coolDown(&state, candidates.map(\.name), at: now)
        let required = config.requiredCapabilities + request.required

        var scored: [RoutingCandidate] = []
        var eligible: [CandidateProfile] = []
        for candidate in candidates {
            let breaker = state.breakers[candidate.name] ?? RouterState.Breaker()
            var reason: String?
            if config.exclude.contains(candidate.name) {
                reason = "excluded"
            } else if request.tried.contains(candidate.name) {
                reason = "already_tried"
            } else if let missing = required.first(where: { !candidate.satisfies($0) }) {
                reason = "missing_capability:\(missing)"
            } else if breaker.status == .open {
                reason = "open_circuit_until:\(breaker.until?.description ?? "?")"
            } else if breaker.status == .halfOpen, breaker.probesInFlight >= config.circuitBreaker.halfOpenProbes {
                reason = "half_open_probe_in_flight"
            } else if config.strategy == .weighted, weight(candidate.name) <= 0 {
                reason = "weight_zero"
            }
            if let reason {
                scored.append(RoutingCandidate(provider: candidate.name, excludedBecause: reason))
            } else {
                eligible.append(candidate)
                scored.append(RoutingCandidate(provider: candidate.name))
            }
        }

        // Scores, then the choice.
        var chosen: String?
        var strategy = config.strategy.rawValue
        var seedUsed: UInt64?
        switch config.strategy {
        case .prefer:
            let ranked = preferenceOrder(eligible.map(\.name))
            for (rank, name) in ranked.enumerated() {
                if let index = scored.firstIndex(where: { $0.provider == name }) {
                    scored[index].score = Double(ranked.count - rank)
                }
            }
            chosen = ranked.first
        case .weighted:
            let total = eligible.reduce(0) { $0 + weight($1.name) }
            for candidate in eligible {
                if let index = scored.firstIndex(where: { $0.provider == candidate.name }) {
                    scored[index].score = weight(candidate.name) / total
                }
            }
            if !eligible.isEmpty {
                var generator = SplitMix64(seed: seed)
                var draw = generator.nextUnit() * total
                chosen = eligible.last?.name
                for candidate in eligible {
                    draw -= weight(candidate.name)
                    if draw < 0 {
                        chosen = candidate.name
                        break
                    }
                }
                seedUsed = seed
            }
        }

        // Stickiness wins when its provider is eligible; otherwise the binding moves.
        var rebound: Bool?
        if let key = request.stickyKey, config.stickyTTL != nil, let binding = state.bindings[key], binding.until > now
        {
            if eligible.contains(where: { $0.name == binding.provider }) {
                chosen = binding.provider
                strategy = "sticky"
                seedUsed = nil
            } else if chosen != nil {
                rebound = true
            }
        }
        let stickyUntil =
            (chosen != nil && request.stickyKey != nil)
            ? config.stickyTTL.map { now.adding(microseconds: $0.wholeMilliseconds * 1000) } : nil
        let event = RoutingDecided(
            attempt: request.attempt,
            strategy: strategy,
            candidates: scored,
            chosen: chosen,
            seed: seedUsed,
            stickyKey: config.stickyTTL == nil ? nil : request.stickyKey,
            rebound: rebound,
            decidedAt: now,
            stateSequence: state.position,
            stickyUntil: stickyUntil,
            router: config.json
        )
        return RouteDecision(event: event, transitions: transitions)
    }

    /// Open breakers whose cooldown has passed turn half-open.
    private func coolDown(
        _ state: inout RouterState,
        _ providers: [String],
        at now: Timestamp
    ) -> [ProviderHealthChanged] {
        var transitions: [ProviderHealthChanged] = []
        for provider in providers {
            guard var breaker = state.breakers[provider], breaker.status == .open, let until = breaker.until,
                until <= now
            else { continue }
            breaker.status = .halfOpen
            breaker.until = nil
            breaker.probesInFlight = 0
            breaker.since = now
            breaker.reason = "cooldown passed"
            state.breakers[provider] = breaker
            transitions.append(
                ProviderHealthChanged(
                    provider: provider,
                    previous: "open",
                    current: "half_open",
                    reason: "cooldown passed",
                    consecutiveFailures: breaker.consecutiveFailures,
                    changedAt: now
                )
            )
        }
        return transitions
    }

    private func weight(_ provider: String) -> Double { config.weights[provider] ?? 1 }

    /// `prefer` first, in its order, then the others as given.
    private func preferenceOrder(_ names: [String]) -> [String] {
        config.prefer.filter(names.contains) + names.filter { !config.prefer.contains($0) }
    }

    // MARK: Folding

    /// Folds one logged event into the state; returns the breaker transitions it implies.
    public func apply(
        _ state: inout RouterState,
        _ event: SessionEvent,
        run: RunID?,
        sequence: SequenceNumber
    ) -> [ProviderHealthChanged] {
        defer { state.position = max(state.position, sequence) }
        switch event {
        case .routingDecided(let decided):
            var transitions: [ProviderHealthChanged] = []
            if let at = decided.decidedAt {
                transitions = coolDown(&state, decided.candidates.map(\.provider), at: at)
            }
            if let chosen = decided.chosen, let run {
                var breaker = state.breakers[chosen] ?? RouterState.Breaker()
                let probe = breaker.status == .halfOpen
                if probe {
                    breaker.probesInFlight += 1
                    state.breakers[chosen] = breaker
                }
                state.inFlight[run] = RouterState.Flight(provider: chosen, probe: probe)
                if let key = decided.stickyKey, let until = decided.stickyUntil {
                    state.bindings[key] = RouterState.Binding(provider: chosen, until: until)
                }
            }
            return transitions
        case .routingFailedOver(let failed):
            if let run { state.inFlight.removeValue(forKey: run).map { endProbe(&state, $0) } }
            return failure(&state, provider: failed.from, failed.failure, at: failed.failedAt)
        case .runCompleted:
            guard let run, let flight = state.inFlight.removeValue(forKey: run) else { return [] }
            endProbe(&state, flight)
            var breaker = state.breakers[flight.provider] ?? RouterState.Breaker()
            breaker.consecutiveFailures = 0
            guard breaker.status == .halfOpen else {
                state.breakers[flight.provider] = breaker
                return []
            }
            breaker.status = .closed
            breaker.since = nil
            breaker.reason = "probe succeeded"
            state.breakers[flight.provider] = breaker
            return [
                ProviderHealthChanged(
                    provider: flight.provider,
                    previous: "half_open",
                    current: "closed",
                    reason: "probe succeeded",
                    consecutiveFailures: 0
                )
            ]
        case .runFailed, .runCancelled:
            if let run { state.inFlight.removeValue(forKey: run).map { endProbe(&state, $0) } }
            return []
        default:
            return []
        }
    }

    private func endProbe(_ state: inout RouterState, _ flight: RouterState.Flight) {
        guard flight.probe, var breaker = state.breakers[flight.provider], breaker.probesInFlight > 0 else { return }
        breaker.probesInFlight -= 1
        state.breakers[flight.provider] = breaker
    }

    /// A failed attempt: counted ones add up, and may open the breaker.
    private func failure(
        _ state: inout RouterState,
        provider: String,
        _ failure: RunFailure,
        at time: Timestamp?
    ) -> [ProviderHealthChanged] {
        guard FailureClass.countsAgainstProvider(failure) else { return [] }
        var breaker = state.breakers[provider] ?? RouterState.Breaker()
        breaker.consecutiveFailures += 1
        let cooldown = config.circuitBreaker.cooldown.wholeMilliseconds * 1000
        let what =
            "\(failure.kind): \(failure.message.count > 80 ? String(failure.message.prefix(79)) + "…" : failure.message)"
        var transition: ProviderHealthChanged?
        switch breaker.status {
        case .halfOpen:
            transition = ProviderHealthChanged(
                provider: provider,
                previous: "half_open",
                current: "open",
                reason: "probe failed (\(what))",
                until: time?.adding(microseconds: cooldown),
                consecutiveFailures: breaker.consecutiveFailures,
                changedAt: time
            )
        case .closed where breaker.consecutiveFailures >= config.circuitBreaker.failureThreshold:
            transition = ProviderHealthChanged(
                provider: provider,
                previous: "closed",
                current: "open",
                reason:
                    "\(breaker.consecutiveFailures) consecutive failure\(breaker.consecutiveFailures == 1 ? "" : "s") (last \(what))",
                until: time?.adding(microseconds: cooldown),
                consecutiveFailures: breaker.consecutiveFailures,
                changedAt: time
            )
        default:
            break
        }
        if let transition {
            breaker.status = .open
            breaker.until = transition.until
            breaker.since = time
            breaker.reason = transition.reason
        }
        state.breakers[provider] = breaker
        return transition.map { [$0] } ?? []
    }
}

/// The router's view of providers, folded from the log.
public struct RouterState: Hashable, Sendable {
    public enum Status: String, Hashable, Sendable {
        case closed, open
        case halfOpen = "half_open"
    }

    public struct Breaker: Hashable, Sendable {
        public var status: Status = .closed
        public var consecutiveFailures = 0
        /// For an open breaker: when it lets a probe through.
        public var until: Timestamp?
        public var probesInFlight = 0
        /// Since when it has been open or half-open.
        public var since: Timestamp?
        /// Why it is in its state.
        public var reason: String = ""

        public init() {}
    }

    public struct Binding: Hashable, Sendable {
        public var provider: String
        public var until: Timestamp
    }

    public struct Flight: Hashable, Sendable {
        public var provider: String
        public var probe: Bool
    }

    public var breakers: [String: Breaker] = [:]
    /// Sticky keys and the provider they are bound to.
    public var bindings: [String: Binding] = [:]
    /// Routed runs whose attempt has not ended yet.
    public var inFlight: [RunID: Flight] = [:]
    /// The last log sequence folded in.
    public var position: SequenceNumber = .zero

    public init() {}
}

/// How failures count for routing.
public enum FailureClass {
    /// Failures that say something about the provider, and count towards its breaker: not
    /// the caller's (an invalid request, a policy, a limit the caller set) nor a cancel.
    public static func countsAgainstProvider(_ failure: RunFailure) -> Bool {
        switch failure.kind {
        case .invalidRequest, .maxTurns, .budgetExceeded, .permissionDenied, .policyViolation, .sessionNotFound,
            .noProviderAvailable:
            false
        default:
            true
        }
    }

    /// Failures worth trying another provider for: rate limits, overload and 5xx, timeouts,
    /// and a process that ended (or never started) before any output. Never authentication,
    /// billing, invalid requests or policy violations.
    public static func isRetryable(_ failure: RunFailure, afterOutput: Bool) -> Bool {
        switch failure.kind {
        case .rateLimited, .overloaded, .timeout: true
        case .apiError: (failure.httpStatus ?? 0) >= 500 || failure.httpStatus == 429
        case .missingBinary: true
        case .processExited, .invalidOutput: !afterOutput
        default: false
        }
    }
}

/// A small, fast, seedable generator (SplitMix64): the same seed draws the same.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) {
        state = seed
    }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A number in [0, 1).
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }
}
