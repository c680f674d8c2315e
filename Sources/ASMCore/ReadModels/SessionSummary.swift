/// The lifecycle state of a session, as the sessions projection derives it.
public struct SessionStatus: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    public static let created: SessionStatus = "created"
    public static let active: SessionStatus = "active"
    public static let completed: SessionStatus = "completed"
    public static let failed: SessionStatus = "failed"
    public static let archived: SessionStatus = "archived"
}

/// A session as the sessions projection sees it.
public struct SessionSummary: Hashable, Sendable, Codable {
    public var id: SessionID
    public var agentID: String
    public var status: SessionStatus
    public var metadata: [String: String]
    public var tags: [String]
    public var createdAt: Timestamp
    /// When the session's last event was recorded.
    public var updatedAt: Timestamp
    /// The sequence of the session's first event.
    public var firstSequence: SequenceNumber
    /// The sequence of the session's last event.
    public var lastSequence: SequenceNumber
    /// The stream version of the last event, which is also the session's event count.
    public var version: StreamVersion
    public var runCount: Int
    public var failureReason: String?

    public init(
        id: SessionID,
        agentID: String,
        status: SessionStatus,
        metadata: [String: String],
        tags: [String],
        createdAt: Timestamp,
        updatedAt: Timestamp,
        firstSequence: SequenceNumber,
        lastSequence: SequenceNumber,
        version: StreamVersion,
        runCount: Int,
        failureReason: String?
    ) {
        self.id = id
        self.agentID = agentID
        self.status = status
        self.metadata = metadata
        self.tags = tags
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.firstSequence = firstSequence
        self.lastSequence = lastSequence
        self.version = version
        self.runCount = runCount
        self.failureReason = failureReason
    }

    /// How many events the session's stream holds.
    public var eventCount: Int { Int(version.rawValue) }

    enum CodingKeys: String, CodingKey {
        case id, status, metadata, tags, version
        case agentID = "agent_id"
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case firstSequence = "first_sequence"
        case lastSequence = "last_sequence"
        case runCount = "run_count"
        case failureReason = "failure_reason"
    }
}
