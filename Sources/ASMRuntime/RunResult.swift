public import ASMCore
import ASMPolicy

/// What an executed run came to.
public struct RunResult: Hashable, Sendable {
    public var sessionID: SessionID
    public var runID: RunID
    /// The provider that ran the (last) attempt.
    public var provider: String
    /// How many attempts the run took (more than one after a router's failover).
    public var attempts = 0
    public var model: String?
    /// The provider's own session id (to resume natively), once it reported one.
    public var providerSessionID: String?
    /// ``RunStatus/completed``, ``RunStatus/failed`` or ``RunStatus/cancelled``.
    public var status: RunStatus = .requested
    /// The final answer, for a completed run.
    public var outputText: String?
    public var failure: RunFailure?
    public var cancelReason: CancelReason?
    /// The run's token usage.
    public var usage: TokenUsage = .zero
    /// Our cost from the price table, in billionths of a US dollar; `nil` when the model has no price.
    public var costNanoUSD: Int64?
    /// The price table version the cost came from.
    public var priceTable: String?
    /// The provider's own cost report, where it gives one (Claude).
    public var reportedCostUSD: Double?
    /// What the policies decided.
    public var policy: PolicyOutcome
    /// How the conversation was continued.
    public var continuation: ContinuationApplied?
    /// What the run changed in its workspace: counts, files, and the patch inline or by reference.
    public var workspaceDiff: WorkspaceDiffComputed?
    /// The rollback, when the run failed and its workspace was put back.
    public var workspaceRollback: WorkspaceRolledBack?
    /// Events the execution appended.
    public var eventsWritten = 0
    public var firstSequence: SequenceNumber = .zero
    public var lastSequence: SequenceNumber = .zero

    /// Our cost in US dollars, or the provider's report when the model has no price.
    public var costUSD: Double? {
        costNanoUSD.map { Double($0) / 1e9 } ?? reportedCostUSD
    }
}

/// The policies' verdict on a run.
public struct PolicyOutcome: Hashable, Sendable {
    public var policies: [String]
    public var stackHash: String?
    public var violations: [PolicyViolated]
    public var approvalsRequested: [ToolApprovalRequested]
    /// Set when a policy cancelled the run.
    public var cancellation: RunFailure?

    /// `none` (no policies), `accepted`, `warned`, `approval_requested` or `cancelled`.
    public var summary: String {
        if policies.isEmpty { return "none" }
        if cancellation != nil { return "cancelled" }
        if !approvalsRequested.isEmpty { return "approval_requested" }
        return violations.isEmpty ? "accepted" : "warned"
    }
}
