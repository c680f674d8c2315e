/// The lifecycle state of a run, as the runs projection derives it.
public struct RunStatus: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    public static let requested: RunStatus = "requested"
    /// Waiting in a server's queue.
    public static let queued: RunStatus = "queued"
    public static let running: RunStatus = "running"
    public static let completed: RunStatus = "completed"
    public static let failed: RunStatus = "failed"
    public static let cancelled: RunStatus = "cancelled"

    /// Whether the run has ended.
    public var isTerminal: Bool { self == .completed || self == .failed || self == .cancelled }
}

/// A run as the runs projection sees it.
public struct RunSummary: Hashable, Sendable, Codable {
    public var id: RunID
    public var sessionID: SessionID
    public var status: RunStatus
    public var provider: String?
    public var model: String?
    public var providerSessionID: String?
    public var requestedAt: Timestamp
    public var startedAt: Timestamp?
    public var endedAt: Timestamp?
    /// The sequence of the run's first event (its request, or its start).
    public var firstSequence: SequenceNumber
    /// The sequence of the event that ended the run, once it ended.
    public var endSequence: SequenceNumber?
    public var failureKind: FailureKind?
    public var failureMessage: String?
    public var cancelReason: CancelReason?

    public init(
        id: RunID,
        sessionID: SessionID,
        status: RunStatus,
        provider: String?,
        model: String?,
        providerSessionID: String?,
        requestedAt: Timestamp,
        startedAt: Timestamp?,
        endedAt: Timestamp?,
        firstSequence: SequenceNumber,
        endSequence: SequenceNumber?,
        failureKind: FailureKind?,
        failureMessage: String?,
        cancelReason: CancelReason?
    ) {
        self.id = id
        self.sessionID = sessionID
        self.status = status
        self.provider = provider
        self.model = model
        self.providerSessionID = providerSessionID
        self.requestedAt = requestedAt
        self.startedAt = startedAt
        self.endedAt = endedAt
        self.firstSequence = firstSequence
        self.endSequence = endSequence
        self.failureKind = failureKind
        self.failureMessage = failureMessage
        self.cancelReason = cancelReason
    }

    enum CodingKeys: String, CodingKey {
        case id, status, provider, model
        case sessionID = "session_id"
        case providerSessionID = "provider_session_id"
        case requestedAt = "requested_at"
        case startedAt = "started_at"
        case endedAt = "ended_at"
        case firstSequence = "first_sequence"
        case endSequence = "end_sequence"
        case failureKind = "failure_kind"
        case failureMessage = "failure_message"
        case cancelReason = "cancel_reason"
    }
}
