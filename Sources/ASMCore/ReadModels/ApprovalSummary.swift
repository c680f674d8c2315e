/// Where a tool approval stands.
public struct ApprovalStatus: RawRepresentable, Hashable, Sendable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    /// Waiting for an answer.
    public static let pending: ApprovalStatus = "pending"
    public static let approved: ApprovalStatus = "approved"
    public static let denied: ApprovalStatus = "denied"
    /// Its run ended while it waited.
    public static let closed: ApprovalStatus = "closed"
}

/// A tool approval as the approvals projection sees it.
public struct ApprovalSummary: Hashable, Sendable {
    public var approvalID: String
    public var sessionID: SessionID
    public var runID: RunID
    public var callID: String?
    public var tool: String
    public var input: JSONValue?
    public var policy: String
    public var rule: String
    /// Whether the tool waits for the answer (else the answer decides whether the run goes on).
    public var canBlock: Bool
    public var requestedAt: Timestamp
    public var requestedSequence: SequenceNumber
    public var status: ApprovalStatus
    public var resolvedBy: String?
    public var reason: String?
    public var resolvedAt: Timestamp?
    public var resolvedSequence: SequenceNumber?
    /// When the run denies it for want of an answer.
    public var deadline: Timestamp?

    public init(
        approvalID: String,
        sessionID: SessionID,
        runID: RunID,
        callID: String?,
        tool: String,
        input: JSONValue?,
        policy: String,
        rule: String,
        canBlock: Bool,
        requestedAt: Timestamp,
        requestedSequence: SequenceNumber,
        status: ApprovalStatus,
        resolvedBy: String?,
        reason: String?,
        resolvedAt: Timestamp?,
        resolvedSequence: SequenceNumber?,
        deadline: Timestamp? = nil
    ) {
        self.deadline = deadline
        self.approvalID = approvalID
        self.sessionID = sessionID
        self.runID = runID
        self.callID = callID
        self.tool = tool
        self.input = input
        self.policy = policy
        self.rule = rule
        self.canBlock = canBlock
        self.requestedAt = requestedAt
        self.requestedSequence = requestedSequence
        self.status = status
        self.resolvedBy = resolvedBy
        self.reason = reason
        self.resolvedAt = resolvedAt
        self.resolvedSequence = resolvedSequence
    }
}
