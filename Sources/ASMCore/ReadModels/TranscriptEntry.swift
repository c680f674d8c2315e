/// One whole message of a session's transcript, in log order.
public struct TranscriptEntry: Hashable, Sendable, Codable {
    public var sequence: SequenceNumber
    public var sessionID: SessionID
    public var runID: RunID?
    public var role: MessageRole
    /// The provider of the run the message belongs to, when known.
    public var provider: String?
    public var content: String

    public init(
        sequence: SequenceNumber,
        sessionID: SessionID,
        runID: RunID?,
        role: MessageRole,
        provider: String?,
        content: String
    ) {
        self.sequence = sequence
        self.sessionID = sessionID
        self.runID = runID
        self.role = role
        self.provider = provider
        self.content = content
    }

    enum CodingKeys: String, CodingKey {
        case sequence, role, provider, content
        case sessionID = "session_id"
        case runID = "run_id"
    }
}
