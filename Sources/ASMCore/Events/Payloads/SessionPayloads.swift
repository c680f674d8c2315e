/// A session was created: the first event of its stream.
public struct SessionCreated: EventPayload {
    public static let eventType: EventType = "session.created"
    public static let fields = Fields(
        SessionCreated.init(agentID:metadata:tags:parentSessionID:parentRunID:parentCallID:),
        Field("agent_id", \.agentID),
        Field("metadata", \.metadata),
        Field("tags", \.tags),
        Field("parent_session_id", \.parentSessionID),
        Field("parent_run_id", \.parentRunID),
        Field("parent_call_id", \.parentCallID)
    )
    /// Who or what the session works for (an agent name, a user, a job).
    public var agentID: String
    /// Free-form labels, stored sorted by key.
    public var metadata: [String: String]
    /// Tags to find the session by.
    public var tags: [String]
    /// The session this one was started under, when its creator named one: a sub-agent's
    /// session under the session (and run) that started it, or a session started by another
    /// agent's tool call under that call. Its usage, cost and failures roll up there
    /// (``SessionTree``). A fork records its parent in `session.forked` instead.
    public var parentSessionID: SessionID?
    /// The parent's run that started this session, when there was one.
    public var parentRunID: RunID?
    /// The parent run's tool call that started this session, when there was one.
    public var parentCallID: String?

    public init(
        agentID: String,
        metadata: [String: String] = [:],
        tags: [String] = [],
        parentSessionID: SessionID? = nil,
        parentRunID: RunID? = nil,
        parentCallID: String? = nil
    ) {
        self.agentID = agentID
        self.metadata = metadata
        self.tags = tags
        self.parentSessionID = parentSessionID
        self.parentRunID = parentRunID
        self.parentCallID = parentCallID
    }
}

/// A session was created as a fork of another: its first event. Its conversation is the
/// parent's up to `forked_at` (the parent's last event it keeps, a sequence of the log), and
/// its workspace, when the parent had one, the snapshot in force there.
public struct SessionForked: EventPayload {
    public static let eventType: EventType = "session.forked"
    public static let fields = Fields(
        SessionForked.init(parentSessionID:forkedAt:agentID:metadata:tags:workspaceSnapshot:workspacePath:),
        Field("parent_session_id", \.parentSessionID),
        Field("forked_at", \.forkedAt),
        Field("agent_id", \.agentID),
        Field("metadata", \.metadata),
        Field("tags", \.tags),
        Field("workspace_snapshot", \.workspaceSnapshot),
        Field("workspace_path", \.workspacePath)
    )
    public var parentSessionID: SessionID
    /// The parent's last event the fork keeps (before the run it was asked to fork inside).
    public var forkedAt: SequenceNumber
    /// As in `session.created`, taken from the parent.
    public var agentID: String
    public var metadata: [String: String]
    public var tags: [String]
    /// The parent's workspace snapshot in force at the fork point, when the fork got a
    /// workspace of its own made from it, and where that workspace is.
    public var workspaceSnapshot: String?
    public var workspacePath: String?

    public init(
        parentSessionID: SessionID,
        forkedAt: SequenceNumber,
        agentID: String,
        metadata: [String: String] = [:],
        tags: [String] = [],
        workspaceSnapshot: String? = nil,
        workspacePath: String? = nil
    ) {
        self.parentSessionID = parentSessionID
        self.forkedAt = forkedAt
        self.agentID = agentID
        self.metadata = metadata
        self.tags = tags
        self.workspaceSnapshot = workspaceSnapshot
        self.workspacePath = workspacePath
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
