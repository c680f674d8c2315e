/// A session was created: the first event of its stream.
public struct SessionCreated: EventPayload {
    public static let eventType: EventType = "session.created"
    public static let fields = Fields(
        SessionCreated.init(agentID:metadata:tags:),
        Field("agent_id", \.agentID),
        Field("metadata", \.metadata),
        Field("tags", \.tags)
    )
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
}

/// A session was activated and accepts runs.
public struct SessionActivated: EventPayload {
    public static let eventType: EventType = "session.activated"
    public static let fields = Fields(
        SessionActivated.init
    )
    public init() {}
}

/// A session ended successfully.
public struct SessionCompleted: EventPayload {
    public static let eventType: EventType = "session.completed"
    public static let fields = Fields(
        SessionCompleted.init(summary:),
        Field("summary", \.summary)
    )
    /// An optional closing summary.
    public var summary: String?
    public init(summary: String? = nil) { self.summary = summary }
}

/// A session ended in failure.
public struct SessionFailed: EventPayload {
    public static let eventType: EventType = "session.failed"
    public static let fields = Fields(
        SessionFailed.init(reason:),
        Field("reason", \.reason)
    )
    /// Why, in one line.
    public var reason: String
    public init(reason: String) { self.reason = reason }
}

/// A session was archived: it is kept, read-only, and accepts no more runs.
public struct SessionArchived: EventPayload {
    public static let eventType: EventType = "session.archived"
    public static let fields = Fields(
        SessionArchived.init
    )
    public init() {}
}
