/// A session was created: the first event of its stream.
public struct SessionCreated: EventPayload {
    public static let eventType = EventType.sessionCreated
    /// Who or what the session works for (an agent name, a user, a job).
    public var agentID: String
    /// Free-form labels, stored sorted by key.
    public var metadata: [String: String]
    /// Tags to find the session by.
    public var tags: [String]

    public init(agentID: String, metadata: [String: String] = [:], tags: [String] = []) {
        self.agentID = agentID
        self.metadata = metadata
        self.tags = tags
    }

    enum CodingKeys: String, CodingKey {
        case agentID = "agent_id"
        case metadata, tags
    }
}

/// A session was activated and accepts runs.
public struct SessionActivated: EventPayload {
    public static let eventType = EventType.sessionActivated
    public init() {}
}

/// A session ended successfully.
public struct SessionCompleted: EventPayload {
    public static let eventType = EventType.sessionCompleted
    /// An optional closing summary.
    public var summary: String?
    public init(summary: String? = nil) { self.summary = summary }
}

/// A session ended in failure.
public struct SessionFailed: EventPayload {
    public static let eventType = EventType.sessionFailed
    /// Why, in one line.
    public var reason: String
    public init(reason: String) { self.reason = reason }
}

/// A session was archived: it is kept, read-only, and accepts no more runs.
public struct SessionArchived: EventPayload {
    public static let eventType = EventType.sessionArchived
    public init() {}
}
