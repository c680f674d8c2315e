/// What a policy evaluator had counted when it decided.
public struct PolicyCounters: Hashable, Sendable, PayloadObject {
    public static let fields = Fields(
        PolicyCounters.init(totalTokens:costNanoUSD:durationMilliseconds:toolCalls:),
        Field("total_tokens", \.totalTokens),
        Field("cost_nano_usd", \.costNanoUSD),
        Field("duration_ms", \.durationMilliseconds),
        Field("tool_calls", \.toolCalls)
    )
    public var totalTokens: Int64
    public var costNanoUSD: Int64
    public var durationMilliseconds: Int64
    public var toolCalls: Int

    public init(totalTokens: Int64 = 0, costNanoUSD: Int64 = 0, durationMilliseconds: Int64 = 0, toolCalls: Int = 0) {
        self.totalTokens = totalTokens
        self.costNanoUSD = costNanoUSD
        self.durationMilliseconds = durationMilliseconds
        self.toolCalls = toolCalls
    }
}

/// A stack of policies was merged and checked for a run.
public struct PolicyEvaluated: EventPayload {
    public static let eventType: EventType = "policy.evaluated"
    public static let fields = Fields(
        PolicyEvaluated.init(policies:stackHash:outcome:merged:),
        Field("policies", \.policies),
        Field("stack_hash", \.stackHash),
        Field("outcome", \.outcome),
        Field("merged", \.merged)
    )
    /// The policy names, in stacking order.
    public var policies: [String]
    /// The hash of the merged stack.
    public var stackHash: String
    /// The outcome (`accepted`, or why it was refused).
    public var outcome: String
    /// The merged policy, for audit. JSON `null` is stored as absent.
    public var merged: JSONValue?

    public init(policies: [String], stackHash: String, outcome: String, merged: JSONValue? = nil) {
        self.policies = policies
        self.stackHash = stackHash
        self.outcome = outcome
        self.merged = merged == .null ? nil : merged
    }
}

/// A policy rule fired.
public struct PolicyViolated: EventPayload {
    public static let eventType: EventType = "policy.violated"
    public static let fields = Fields(
        PolicyViolated.init(policy:rule:action:message:stackHash:counters:canBlock:),
        Field("policy", \.policy),
        Field("rule", \.rule),
        Field("action", \.action),
        Field("message", \.message),
        Field("stack_hash", \.stackHash),
        Field("counters", \.counters),
        Field("can_block", \.canBlock)
    )
    public var policy: String
    /// The rule (`max_total_tokens`, `deny:Bash(rm *)`...).
    public var rule: String
    /// `cancel`, `warn` or `request_approval`.
    public var action: String
    /// One line for humans.
    public var message: String
    public var stackHash: String
    public var counters: PolicyCounters
    /// Whether the lane could stop the tool before it ran, or only observe it afterwards.
    public var canBlock: Bool

    public init(
        policy: String,
        rule: String,
        action: String,
        message: String,
        stackHash: String,
        counters: PolicyCounters,
        canBlock: Bool
    ) {
        self.policy = policy
        self.rule = rule
        self.action = action
        self.message = message
        self.stackHash = stackHash
        self.counters = counters
        self.canBlock = canBlock
    }
}

/// A tool call needs a human's approval before (or, on observe-only lanes, after) it runs.
public struct ToolApprovalRequested: EventPayload {
    public static let eventType: EventType = "tool_approval.requested"
    public static let fields = Fields(
        ToolApprovalRequested.init(approvalID:callID:tool:input:policy:rule:canBlock:deadline:),
        Field("approval_id", \.approvalID),
        Field("call_id", \.callID),
        Field("tool", \.tool),
        Field("input", \.input),
        Field("policy", \.policy),
        Field("rule", \.rule),
        Field("can_block", \.canBlock),
        Field("deadline", \.deadline)
    )
    public var approvalID: String
    public var callID: String?
    public var tool: String
    /// The tool's arguments. JSON `null` is stored as absent.
    public var input: JSONValue?
    public var policy: String
    public var rule: String
    /// Whether the tool waits for the answer, or the rule could only observe.
    public var canBlock: Bool
    /// When the run denies it for want of an answer (`resolved_by` `timeout`); stamped by the
    /// run that asks, from its approval timeout.
    public var deadline: Timestamp?

    public init(
        approvalID: String,
        callID: String? = nil,
        tool: String,
        input: JSONValue? = nil,
        policy: String,
        rule: String,
        canBlock: Bool,
        deadline: Timestamp? = nil
    ) {
        self.deadline = deadline
        self.approvalID = approvalID
        self.callID = callID
        self.tool = tool
        self.input = input == .null ? nil : input
        self.policy = policy
        self.rule = rule
        self.canBlock = canBlock
    }
}

/// A tool approval was granted or denied.
public struct ToolApprovalResolved: EventPayload {
    public static let eventType: EventType = "tool_approval.resolved"
    public static let fields = Fields(
        ToolApprovalResolved.init(approvalID:approved:resolvedBy:reason:),
        Field("approval_id", \.approvalID),
        Field("approved", \.approved),
        Field("resolved_by", \.resolvedBy),
        Field("reason", \.reason)
    )
    public var approvalID: String
    public var approved: Bool
    public var resolvedBy: String?
    public var reason: String?

    public init(approvalID: String, approved: Bool, resolvedBy: String? = nil, reason: String? = nil) {
        self.approvalID = approvalID
        self.approved = approved
        self.resolvedBy = resolvedBy
        self.reason = reason
    }
}
