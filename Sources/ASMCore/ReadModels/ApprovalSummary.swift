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

extension ApprovalSummary {
    /// Its fields as members of a JSON object, absent ones left out, in the order
    /// `asm approvals --json` and the HTTP API print them (the writer must not sort keys).
    public func writeFields(to writer: inout JSONWriter, in object: inout JSONWriter.ObjectMark) throws(JSONError) {
        writer.field("approval_id", approvalID, in: &object)
        writer.field("run_id", runID.description, in: &object)
        writer.field("session_id", sessionID.description, in: &object)
        writer.field("tool", tool, in: &object)
        writer.field("policy", policy, in: &object)
        writer.field("rule", rule, in: &object)
        writer.field("status", status.rawValue, in: &object)
        writer.field("requested_at", requestedAt.description, in: &object)
        if let input {
            writer.key("input", in: &object)
            try writer.write(input)
        }
        writer.field("can_block", canBlock, in: &object)
        writer.field("deadline", deadline?.description, in: &object)
        writer.field("resolved_by", resolvedBy, in: &object)
        writer.field("reason", reason, in: &object)
        writer.field("resolved_at", resolvedAt?.description, in: &object)
    }
}
