public import ASMCore
public import ASMRouting
public import ASMStore

/// Each provider's circuit breaker and the sticky bindings, folded from the log as the router
/// folds them: what `asm providers` prints and `GET /v1/providers` returns.
public struct ProviderHealth: Sendable {
    /// One provider's breaker as of ``ProviderHealth/asOf``.
    public struct Provider: Hashable, Sendable, Encodable {
        public var name: String
        public var breaker: RouterState.Breaker
        /// An open breaker whose cooldown has passed: the next decision sends a probe.
        public var cooldownOver: Bool
        /// The last sequence folded.
        public var asOfSequence: SequenceNumber

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .provider)
            try container.encode(breaker.status.rawValue, forKey: .breaker)
            try container.encode(breaker.consecutiveFailures, forKey: .consecutiveFailures)
            try container.encodeIfPresent(breaker.since?.description, forKey: .since)
            try container.encodeIfPresent(breaker.until?.description, forKey: .until)
            try container.encode(cooldownOver, forKey: .cooldownOver)
            if breaker.status != .closed { try container.encode(breaker.reason, forKey: .reason) }
            try container.encode(asOfSequence.rawValue, forKey: .asOfSequence)
        }

        enum CodingKeys: String, CodingKey {
            case provider, breaker, since, until, reason
            case consecutiveFailures = "consecutive_failures"
            case cooldownOver = "cooldown_over"
            case asOfSequence = "as_of_sequence"
        }
    }

    /// A sticky key bound to a provider until a time.
    public struct Binding: Hashable, Sendable, Encodable {
        public var key: String
        public var provider: String
        public var until: Timestamp
        public var expired: Bool

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(key, forKey: .stickyKey)
            try container.encode(provider, forKey: .provider)
            try container.encode(until.description, forKey: .until)
            try container.encode(expired, forKey: .expired)
        }

        enum CodingKeys: String, CodingKey {
            case provider, until, expired
            case stickyKey = "sticky_key"
        }
    }

    /// The last sequence folded.
    public var asOf: SequenceNumber
    /// The time breakers and bindings are judged at.
    public var now: Timestamp
    /// Providers named by the recorded configuration, the given one, or a recorded failure.
    public var providers: [Provider]
    /// Sticky bindings by key.
    public var bindings: [Binding]

    /// Folds the log through `through` (its end when `nil`) with `config` (the last recorded
    /// router configuration when `nil`). "Now" is `now`, or the time of the event at
    /// `through` when a sequence is given.
    public static func fold(
        _ store: any EventStore,
        through: SequenceNumber? = nil,
        config given: RouterConfig? = nil,
        now clock: Timestamp
    ) async throws -> ProviderHealth {
        let last = try await store.lastSequence()
        let at = through
        let through = through.map { min($0, last) } ?? last
        var events: [EventEnvelope] = []
        var cursor = SequenceNumber.zero.next
        while cursor <= through {
            let page = try await store.events(from: cursor, limit: 2000, filter: ProviderRouter.foldedTypes)
            events += page.events.filter { $0.sequence <= through }
            guard page.events.count == 2000 else { break }
            cursor = page.scannedThrough.next
        }
        // The configuration: the given one, else the last decision's.
        var recorded: JSONValue?
        for envelope in events.reversed() {
            if case .routingDecided(let decided) = envelope.event, let config = decided.router {
                recorded = config
                break
            }
        }
        var config = given ?? RouterConfig()
        if given == nil, case .object(let members)? = recorded {
            config = (try? RouterConfig(value: .object(members.filter { $0.key != "providers" }))) ?? config
        }
        let router = Router(config: config)
        var state = RouterState()
        for envelope in events {
            _ = router.apply(&state, envelope.event, run: envelope.runID, sequence: envelope.sequence)
        }
        var now = clock
        if let at, let event = try await store.events(from: at, limit: 1, filter: EventFilter()).events.first {
            now = event.recordedAt
        }
        var names = (recorded?["providers"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
        names += config.prefer + config.weights.keys.sorted() + state.breakers.keys.sorted()
        var seen = Set<String>()
        names = names.filter { seen.insert($0).inserted }
        return ProviderHealth(
            asOf: through,
            now: now,
            providers: names.map { name in
                let breaker = state.breakers[name] ?? RouterState.Breaker()
                return Provider(
                    name: name,
                    breaker: breaker,
                    cooldownOver: breaker.status == .open && (breaker.until.map { $0 <= now } ?? false),
                    asOfSequence: through
                )
            },
            bindings: state.bindings.sorted(by: { $0.key < $1.key }).map { key, binding in
                Binding(key: key, provider: binding.provider, until: binding.until, expired: binding.until <= now)
            }
        )
    }
}
