/// A session made as a fork of another (its `session.forked` event), from the sessions
/// projection: one edge of a session tree.
public struct SessionFork: Hashable, Sendable, Codable {
    /// The fork.
    public var sessionID: SessionID
    /// The session it was forked from.
    public var parentSessionID: SessionID
    /// The parent's last event the fork keeps.
    public var forkedAt: SequenceNumber
    /// The fork's `session.forked` event.
    public var sequence: SequenceNumber

    enum CodingKeys: String, CodingKey {
        case sessionID = "session_id"
        case parentSessionID = "parent_session_id"
        case forkedAt = "forked_at"
        case sequence
    }

    public init(sessionID: SessionID, parentSessionID: SessionID, forkedAt: SequenceNumber, sequence: SequenceNumber) {
        self.sessionID = sessionID
        self.parentSessionID = parentSessionID
        self.forkedAt = forkedAt
        self.sequence = sequence
    }
}

/// The session a new session is started under (``SessionCreated/parentSessionID``): the
/// session, and the run and its tool call that started it when there were ones.
public struct ParentLink: Hashable, Sendable {
    public var session: SessionID
    public var run: RunID?
    /// The parent run's tool call; needs `run`.
    public var toolCall: String?

    public init(session: SessionID, run: RunID? = nil, toolCall: String? = nil) {
        self.session = session
        self.run = run
        self.toolCall = toolCall
    }
}

/// A session started under another (its `session.created` names a parent), from the sessions
/// projection: one edge of a session tree, beside forks.
public struct SessionParent: Hashable, Sendable, Codable {
    /// How a session came to be under its parent in a session tree.
    public enum Relation: String, Hashable, Sendable, Codable {
        /// Forked from the parent's conversation (`session.forked`).
        case fork
        /// Started by the parent (or one of its runs) as a sub-agent.
        case subAgent = "sub_agent"
        /// Started by one of the parent run's tool calls.
        case toolCall = "tool_call"
    }

    /// The child.
    public var sessionID: SessionID
    public var parentSessionID: SessionID
    public var parentRunID: RunID?
    public var parentCallID: String?
    /// The child's `session.created` event.
    public var sequence: SequenceNumber

    /// `toolCall` when a tool call is named, otherwise `subAgent`.
    public var relation: Relation { parentCallID == nil ? .subAgent : .toolCall }

    enum CodingKeys: String, CodingKey {
        case sessionID = "session_id"
        case parentSessionID = "parent_session_id"
        case parentRunID = "parent_run_id"
        case parentCallID = "parent_call_id"
        case sequence
    }

    public init(
        sessionID: SessionID,
        parentSessionID: SessionID,
        parentRunID: RunID?,
        parentCallID: String?,
        sequence: SequenceNumber
    ) {
        self.sessionID = sessionID
        self.parentSessionID = parentSessionID
        self.parentRunID = parentRunID
        self.parentCallID = parentCallID
        self.sequence = sequence
    }
}
