import ASMCore

/// Rules a run executes under: limits, tool rules, and what to do when one is broken.
///
/// Policies stack (an organisation's, a team's, a run's); see ``PolicyStack`` for how
/// they merge. Read one from a file with ``Policy/init(json:)``.
public struct Policy: Hashable, Sendable {
    public var name: String
    public var limits: PolicyLimits
    /// Ordered allow and deny lists.
    public var toolRules: [ToolRule]
    public var onViolation: PolicyAction
    /// How long a tool held for approval waits for an answer before it is denied by
    /// `timeout` (JSON `approval_timeout_ms`); the run's default when `nil`.
    public var approvalTimeout: Duration?

    public init(
        name: String,
        limits: PolicyLimits = PolicyLimits(),
        toolRules: [ToolRule] = [],
        onViolation: PolicyAction = .cancel,
        approvalTimeout: Duration? = nil
    ) {
        self.name = name
        self.limits = limits
        self.toolRules = toolRules
        self.onViolation = onViolation
        self.approvalTimeout = approvalTimeout
    }
}

/// A policy's limits; `nil` sets none.
public struct PolicyLimits: Hashable, Sendable {
    /// Input, output, cache read and cache write tokens of the run, together.
    public var maxTotalTokens: Int64?
    /// The run's cost from the price table (the provider's own report when the table has no price).
    public var maxCostUSD: Double?
    /// From the start of the execution.
    public var maxDuration: Duration?
    /// Tool calls that ran (a call blocked before it ran does not count).
    public var maxToolCalls: Int?

    public init(
        maxTotalTokens: Int64? = nil,
        maxCostUSD: Double? = nil,
        maxDuration: Duration? = nil,
        maxToolCalls: Int? = nil
    ) {
        self.maxTotalTokens = maxTotalTokens
        self.maxCostUSD = maxCostUSD
        self.maxDuration = maxDuration
        self.maxToolCalls = maxToolCalls
    }

    /// The limit names as decisions record them.
    public enum Name: String, Hashable, Sendable, CaseIterable {
        case maxTotalTokens = "max_total_tokens"
        case maxCostUSD = "max_cost_usd"
        case maxDuration = "max_duration_ms"
        case maxToolCalls = "max_tool_calls"
    }
}

/// An allow or deny list of tool patterns.
public enum ToolRule: Hashable, Sendable {
    case allow([ToolPattern])
    case deny([ToolPattern])

    public var patterns: [ToolPattern] {
        switch self {
        case .allow(let patterns), .deny(let patterns): patterns
        }
    }

    public var isAllow: Bool {
        if case .allow = self { return true }
        return false
    }
}

/// What happens when a policy is broken, from mildest to strictest.
public enum PolicyAction: String, Hashable, Sendable, CaseIterable, Comparable {
    /// Record the violation and go on.
    case warn
    /// Ask a human: a blocking lane holds the tool until the answer; otherwise the run goes
    /// on and a denial cancels it.
    case requestApproval = "request_approval"
    /// Stop the run; it ends as a `policy_violation` failure.
    case cancel

    private var strictness: Int {
        switch self {
        case .warn: 0
        case .requestApproval: 1
        case .cancel: 2
        }
    }

    public static func < (lhs: PolicyAction, rhs: PolicyAction) -> Bool { lhs.strictness < rhs.strictness }
}
