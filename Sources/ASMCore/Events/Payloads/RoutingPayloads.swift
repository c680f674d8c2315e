/// One provider the router considered, with its score or why it was excluded.
public struct RoutingCandidate: Hashable, Sendable, PayloadObject {
    public static let fields = Fields(
        RoutingCandidate.init(provider:score:excludedBecause:),
        Field("provider", \.provider),
        Field("score", \.score),
        Field("excluded_because", \.excludedBecause)
    )
    public var provider: String
    /// The strategy's score (a weight share, a preference rank), when it was eligible.
    public var score: Double?
    /// Why it was not eligible (`open_circuit`, `excluded`, `missing_capability:tool:read`...).
    public var excludedBecause: String?

    public init(provider: String, score: Double? = nil, excludedBecause: String? = nil) {
        self.provider = provider
        self.score = score
        self.excludedBecause = excludedBecause
    }
}

/// The router chose a provider for an attempt of a run.
public struct RoutingDecided: EventPayload {
    public static let eventType: EventType = "routing.decided"
    public static let fields = Fields(
        RoutingDecided.init(
            attempt:
            strategy:
            candidates:
            chosen:
            seed:
            stickyKey:
            rebound:
            decidedAt:
            stateSequence:
            stickyUntil:
            router:
        ),
        Field("attempt", \.attempt),
        Field("strategy", \.strategy),
        Field("candidates", \.candidates),
        Field("chosen", \.chosen),
        Field("seed", \.seed),
        Field("sticky_key", \.stickyKey),
        Field("rebound", \.rebound),
        Field("decided_at", \.decidedAt),
        Field("state_sequence", \.stateSequence),
        Field("sticky_until", \.stickyUntil),
        Field("router", \.router)
    )
    /// 1 for the first attempt.
    public var attempt: Int
    /// `prefer` or `weighted`.
    public var strategy: String
    public var candidates: [RoutingCandidate]
    /// The chosen provider; `nil` when no candidate was eligible.
    public var chosen: String?
    /// The seed of the weighted draw, so replay draws the same.
    public var seed: UInt64?
    /// The sticky key that bound the choice, if any.
    public var stickyKey: String?
    /// Whether a sticky binding was replaced because its provider was unavailable.
    public var rebound: Bool?
    /// The time the decision was made with (cooldowns and stickiness are compared with it).
    public var decidedAt: Timestamp?
    /// The log position the router's state was folded through when it decided.
    public var stateSequence: SequenceNumber?
    /// Until when the sticky key stays bound to the chosen provider.
    public var stickyUntil: Timestamp?
    /// The router's configuration, so the decision can be re-derived. JSON `null` is stored as absent.
    public var router: JSONValue?

    public init(
        attempt: Int,
        strategy: String,
        candidates: [RoutingCandidate],
        chosen: String?,
        seed: UInt64? = nil,
        stickyKey: String? = nil,
        rebound: Bool? = nil,
        decidedAt: Timestamp? = nil,
        stateSequence: SequenceNumber? = nil,
        stickyUntil: Timestamp? = nil,
        router: JSONValue? = nil
    ) {
        self.decidedAt = decidedAt
        self.stateSequence = stateSequence
        self.stickyUntil = stickyUntil
        self.router = router == .null ? nil : router
        self.attempt = attempt
        self.strategy = strategy
        self.candidates = candidates
        self.chosen = chosen
        self.seed = seed
        self.stickyKey = stickyKey
        self.rebound = rebound
    }
}

/// The router moved a run from a failed provider to the next candidate.
public struct RoutingFailedOver: EventPayload {
    public static let eventType: EventType = "routing.failed_over"
    public static let fields = Fields(
        RoutingFailedOver.init(attempt:from:to:failure:afterOutput:failedAt:),
        Field("attempt", \.attempt),
        Field("from", \.from),
        Field("to", \.to),
        Field("failure", \.failure),
        Field("after_output", \.afterOutput),
        Field("failed_at", \.failedAt)
    )
    /// The attempt that failed.
    public var attempt: Int
    public var from: String
    /// The next provider, or `nil` when the router gives up (no candidate left, attempts used
    /// up, or a failure that is not failed over).
    public var to: String?
    public var failure: RunFailure
    /// Whether the failed attempt had already streamed output (never a silent failover).
    public var afterOutput: Bool
    /// When the attempt failed (a breaker it opens cools down from then).
    public var failedAt: Timestamp?

    public init(
        attempt: Int,
        from: String,
        to: String?,
        failure: RunFailure,
        afterOutput: Bool,
        failedAt: Timestamp? = nil
    ) {
        self.failedAt = failedAt
        self.attempt = attempt
        self.from = from
        self.to = to
        self.failure = failure
        self.afterOutput = afterOutput
    }
}

/// A provider's circuit breaker changed state.
public struct ProviderHealthChanged: EventPayload {
    public static let eventType: EventType = "provider.health_changed"
    public static let fields = Fields(
        ProviderHealthChanged.init(provider:previous:current:reason:until:consecutiveFailures:changedAt:stateSequence:),
        Field("provider", \.provider),
        Field("previous", \.previous),
        Field("current", \.current),
        Field("reason", \.reason),
        Field("until", \.until),
        Field("consecutive_failures", \.consecutiveFailures),
        Field("changed_at", \.changedAt),
        Field("state_sequence", \.stateSequence)
    )
    public var provider: String
    /// `closed`, `open` or `half_open`.
    public var previous: String
    public var current: String
    /// Why, in one line.
    public var reason: String
    /// When an open breaker lets probes through again.
    public var until: Timestamp?
    public var consecutiveFailures: Int
    /// The time the change was decided with.
    public var changedAt: Timestamp?
    /// The log position the router's state was folded through when it derived the change.
    public var stateSequence: SequenceNumber?

    public init(
        provider: String,
        previous: String,
        current: String,
        reason: String,
        until: Timestamp? = nil,
        consecutiveFailures: Int,
        changedAt: Timestamp? = nil,
        stateSequence: SequenceNumber? = nil
    ) {
        self.changedAt = changedAt
        self.stateSequence = stateSequence
        self.provider = provider
        self.previous = previous
        self.current = current
        self.reason = reason
        self.until = until
        self.consecutiveFailures = consecutiveFailures
    }
}

/// A provider wrote something the adapter could not use, and the run went on.
///
/// For example a line that starts like JSON but does not parse. The run's outcome is not
/// affected; the warning keeps the evidence.
public struct ProviderWarning: EventPayload {
    public static let eventType: EventType = "provider.warning"
    public static let fields = Fields(
        ProviderWarning.init(provider:message:excerpt:),
        Field("provider", \.provider),
        Field("message", \.message),
        Field("excerpt", \.excerpt)
    )
    public var provider: String
    /// What happened, in one line.
    public var message: String
    /// The start of the offending output, bounded and redacted.
    public var excerpt: String?

    public init(provider: String, message: String, excerpt: String? = nil) {
        self.provider = provider
        self.message = message
        self.excerpt = excerpt
    }
}
