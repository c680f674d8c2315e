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
