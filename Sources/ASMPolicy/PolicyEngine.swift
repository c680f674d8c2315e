public import ASMCore

/// The policy evaluator: a pure reducer `(state, input) -> (state, decisions)` over a run's
/// events, for one merged ``PolicyStack``.
///
/// Its inputs are the run's events at their recording times, and ticks; time never comes
/// from a clock, so the same log always gives the same decisions and can be replayed to
/// verify them. Decisions to record are returned as events; the caller appends them (and
/// feeds them back) and carries out the others (cancel the provider once, release or block
/// a held tool).
///
/// - Limits fire once each: tokens and cost on `token_usage.updated`, tool calls on
///   `tool_call.started`, duration as of the moment it fell due — on the first input at or
///   after it, or on a tick the caller sends at ``nextTick(_:)`` when nothing else arrives.
/// - Tool rules are checked before a tool runs on a lane that asks (`tool_call.requested`,
///   `can_block: true`), else when the call is observed (`tool_call.started`,
///   `can_block: false`) — a tool the CLI should not have run is a violation even if its
///   flags were ignored.
/// - The stack's action applies: `warn` records and goes on; `cancel` records and cancels
///   the run once; `request_approval` records a `tool_approval.requested` — a held tool
///   waits for `tool_approval.resolved`, a denial blocks it (or, when nothing could be held,
///   cancels the run).
public struct PolicyEngine: Hashable, Sendable {
    public let stack: PolicyStack
    public let runID: RunID

    public init(stack: PolicyStack, runID: RunID) {
        self.stack = stack
        self.runID = runID
    }

    /// The state at the start of an execution, and the `policy.evaluated` event to record.
    public func start(at time: Timestamp) -> (PolicyState, [PolicyDecision]) {
        let state = PolicyState(startedAt: time)
        guard !stack.isEmpty else { return (state, []) }
        let evaluated = PolicyEvaluated(
            policies: stack.names,
            stackHash: stack.hash,
            outcome: "accepted",
            merged: stack.json
        )
        return (state, [.record(.policyEvaluated(evaluated))])
    }

    /// When the duration limit falls due, if it has not fired yet: tick then.
    public func nextTick(_ state: PolicyState) -> Timestamp? {
        guard let limit = stack.limits.maxDuration, !state.firedLimits.contains(PolicyLimits.Name.maxDuration.rawValue),
            state.cancellation == nil
        else { return nil }
        return state.startedAt.adding(microseconds: limit.value.wholeMilliseconds * 1000 + 1000)
    }

    public func reduce(_ state: PolicyState, _ input: PolicyInput) -> (PolicyState, [PolicyDecision]) {
        var state = state
        var decisions: [PolicyDecision] = []
        let now = input.time
        if case .event = input, let due = nextTick(state), due <= now {
            // The duration limit fell due before this input: it fires as of then.
            let (ticked, fired) = reduce(state, .tick(due))
            state = ticked
            decisions = fired
        }
        state.counters.durationMilliseconds = max(
            state.counters.durationMilliseconds,
            (now.microseconds - state.startedAt.microseconds) / 1000
        )

        switch input {
        case .event(let event, _):
            switch event {
            case .tokenUsageUpdated(let usage):
                // Deltas add up across attempts; a total is per attempt.
                let delta = usage.delta
                state.counters.totalTokens += delta.input + delta.output + delta.cacheRead + delta.cacheWrite
                if let cost = usage.costNanoUSD { state.pricedCostNanoUSD = (state.pricedCostNanoUSD ?? 0) + cost }
                if let reported = usage.reportedCostUSD, let nano = Int64(exactly: (reported * 1e9).rounded()) {
                    state.reportedCostNanoUSD = nano
                }
                state.counters.costNanoUSD = state.pricedCostNanoUSD ?? state.reportedCostNanoUSD ?? 0
            case .toolCallStarted(let call):
                state.counters.toolCalls += 1
                if !state.gatedCalls.contains(call.callID) {
                    decisions += observeTool(call, &state)
                }
            case .toolCallRequested(let requested):
                state.gatedCalls.insert(requested.callID)
                decisions += gateTool(requested.call, &state)
            case .toolApprovalResolved(let resolved):
                decisions += resolve(resolved, &state)
            default:
                break
            }
        case .tick:
            break
        }
        decisions += checkLimits(&state)
        return (state, decisions)
    }

    // MARK: Tools

    /// A call already running (or done): it can only be recorded, and the run cancelled.
    private func observeTool(_ call: ToolCallStarted, _ state: inout PolicyState) -> [PolicyDecision] {
        guard state.cancellation == nil, let (policy, rule, message) = ruleViolation(call) else { return [] }
        return violate(policy: policy, rule: rule, message: message, canBlock: false, call: call, &state)
    }

    /// A call that waits for our answer.
    private func gateTool(_ call: ToolCallStarted, _ state: inout PolicyState) -> [PolicyDecision] {
        guard state.cancellation == nil else {
            return [.blockTool(callID: call.callID, reason: "the run is being cancelled")]
        }
        var violation = ruleViolation(call)
        if violation == nil, let limit = stack.limits.maxToolCalls, state.counters.toolCalls + 1 > limit.value {
            violation = (
                limit.policy, PolicyLimits.Name.maxToolCalls.rawValue,
                "\(call.name) would be tool call \(state.counters.toolCalls + 1), over the limit of \(limit.value) set by \(limit.policy)"
            )
        }
        guard let (policy, rule, message) = violation else { return [.allowTool(callID: call.callID)] }
        return violate(policy: policy, rule: rule, message: message, canBlock: true, call: call, &state)
    }

    private func ruleViolation(_ call: ToolCallStarted) -> (policy: String, rule: String, message: String)? {
        switch stack.verdict(toolName: call.name, input: call.input) {
        case .allowed:
            return nil
        case .denied(let rule):
            return (
                rule.policy, rule.name,
                "\(call.name)\(Self.argumentText(call)) is denied by \(rule.pattern.text) (\(rule.policy))"
            )
        case .notAllowed(let policy):
            return (
                policy, "allow_list", "\(call.name)\(Self.argumentText(call)) is not in the allowed tools (\(policy))"
            )
        }
    }

    private static func argumentText(_ call: ToolCallStarted) -> String {
        guard let argument = ToolPattern.argument(of: call.input) else { return "" }
        let clipped = argument.count > 80 ? String(argument.prefix(79)) + "…" : argument
        return " `\(clipped)`"
    }

    // MARK: Limits

    private func checkLimits(_ state: inout PolicyState) -> [PolicyDecision] {
        guard state.cancellation == nil else { return [] }
        var decisions: [PolicyDecision] = []
        let counters = state.counters
        if let limit = stack.limits.maxTotalTokens, counters.totalTokens > limit.value {
            decisions += fireLimit(
                .maxTotalTokens,
                limit.policy,
                "the run used \(counters.totalTokens) tokens, over the limit of \(limit.value) set by \(limit.policy)",
                &state
            )
        }
        if let limit = stack.limits.maxCostUSD, counters.costNanoUSD > Int64((limit.value * 1e9).rounded()) {
            decisions += fireLimit(
                .maxCostUSD,
                limit.policy,
                "the run cost $\(Self.dollars(counters.costNanoUSD)), over the limit of $\(Self.dollars(Int64((limit.value * 1e9).rounded()))) set by \(limit.policy)",
                &state
            )
        }
        if let limit = stack.limits.maxDuration, counters.durationMilliseconds > limit.value.wholeMilliseconds {
            decisions += fireLimit(
                .maxDuration,
                limit.policy,
                "the run has taken \(counters.durationMilliseconds) ms, over the limit of \(limit.value.wholeMilliseconds) ms set by \(limit.policy)",
                &state
            )
        }
        if let limit = stack.limits.maxToolCalls, counters.toolCalls > limit.value {
            decisions += fireLimit(
                .maxToolCalls,
                limit.policy,
                "the run made \(counters.toolCalls) tool calls, over the limit of \(limit.value) set by \(limit.policy)",
                &state
            )
        }
        return decisions
    }

    private func fireLimit(
        _ name: PolicyLimits.Name,
        _ policy: String,
        _ message: String,
        _ state: inout PolicyState
    ) -> [PolicyDecision] {
        guard state.cancellation == nil, state.firedLimits.insert(name.rawValue).inserted else { return [] }
        return violate(policy: policy, rule: name.rawValue, message: message, canBlock: false, call: nil, &state)
    }

    // MARK: Actions

    private func violate(
        policy: String,
        rule: String,
        message: String,
        canBlock: Bool,
        call: ToolCallStarted?,
        _ state: inout PolicyState
    ) -> [PolicyDecision] {
        let violated = PolicyViolated(
            policy: policy,
            rule: rule,
            action: stack.action.rawValue,
            message: message,
            stackHash: stack.hash,
            counters: state.counters,
            canBlock: canBlock
        )
        state.violations.append(violated)
        var decisions: [PolicyDecision] = [.record(.policyViolated(violated))]
        let held = canBlock ? call?.callID : nil
        switch stack.action {
        case .warn:
            if let held { decisions.append(.allowTool(callID: held)) }
        case .cancel:
            if let held { decisions.append(.blockTool(callID: held, reason: message)) }
            let failure = RunFailure(kind: .policyViolation, message: "\(policy): \(message)")
            state.cancellation = failure
            decisions.append(.cancelRun(failure))
        case .requestApproval:
            state.nextApprovalNumber += 1
            let id = "\(runID)/\(state.nextApprovalNumber)"
            let approval = PolicyState.Approval(
                id: id,
                callID: call?.callID,
                policy: policy,
                rule: rule,
                canBlock: canBlock
            )
            state.approvals[id] = approval
            decisions.append(
                .record(
                    .toolApprovalRequested(
                        ToolApprovalRequested(
                            approvalID: id,
                            callID: call?.callID,
                            tool: call?.name ?? rule,
                            input: call?.input,
                            policy: policy,
                            rule: rule,
                            canBlock: canBlock
                        )
                    )
                )
            )
            if let held { decisions.append(.holdTool(callID: held, approvalID: id)) }
        }
        return decisions
    }

    private func resolve(_ resolved: ToolApprovalResolved, _ state: inout PolicyState) -> [PolicyDecision] {
        guard let approval = state.approvals.removeValue(forKey: resolved.approvalID) else { return [] }
        if resolved.approved {
            if approval.canBlock, let call = approval.callID { return [.allowTool(callID: call)] }
            return []
        }
        let reason = resolved.reason.map { ": \($0)" } ?? ""
        if approval.canBlock, let call = approval.callID {
            return [.blockTool(callID: call, reason: "approval \(approval.id) was denied\(reason)")]
        }
        guard state.cancellation == nil else { return [] }
        let failure = RunFailure(
            kind: .policyViolation,
            message: "\(approval.policy): \(approval.rule) was not approved\(reason)"
        )
        state.cancellation = failure
        return [.cancelRun(failure)]
    }

    /// Dollars with four decimals, rounded down: 11,000,000 nanodollars is `0.0110`.
    static func dollars(_ nano: Int64) -> String {
        let tenThousandths = nano / 100_000
        let whole = tenThousandths / 10_000
        let fraction = String(tenThousandths % 10_000)
        return "\(whole)." + String(repeating: "0", count: 4 - fraction.count) + fraction
    }
}

/// What the evaluator has counted and decided so far in one execution.
public struct PolicyState: Hashable, Sendable {
    public struct Approval: Hashable, Sendable {
        public var id: String
        public var callID: String?
        public var policy: String
        public var rule: String
        public var canBlock: Bool
    }

    public var startedAt: Timestamp
    public var counters = PolicyCounters()
    /// Our cost, summed from the price table's per-update costs.
    public var pricedCostNanoUSD: Int64?
    /// The provider's own cumulative cost, when it reports one.
    public var reportedCostNanoUSD: Int64?
    public var firedLimits: Set<String> = []
    /// Calls checked before they ran (`tool_call.requested`); their `tool_call.started` is not checked again.
    public var gatedCalls: Set<String> = []
    /// Approvals asked for and not yet answered, by id.
    public var approvals: [String: Approval] = [:]
    public var nextApprovalNumber = 0
    public var violations: [PolicyViolated] = []
    /// Set once the run is to be cancelled: how it ends.
    public var cancellation: RunFailure?

    public init(startedAt: Timestamp) {
        self.startedAt = startedAt
    }
}

/// One input of the evaluator.
public enum PolicyInput: Hashable, Sendable {
    /// An event of the run (a held tool's `tool_call.requested` included), at its recording time.
    case event(SessionEvent, at: Timestamp)
    /// Time passed with no event: the caller's timer at ``PolicyEngine/nextTick(_:)``.
    case tick(Timestamp)

    public var time: Timestamp {
        switch self {
        case .event(_, let time), .tick(let time): time
        }
    }
}

/// What the evaluator decided.
public enum PolicyDecision: Hashable, Sendable {
    /// Append this event (`policy.evaluated`, `policy.violated`, `tool_approval.requested`).
    case record(SessionEvent)
    /// Cancel the provider (once); the run ends with this failure whatever the provider reports.
    case cancelRun(RunFailure)
    /// A held tool may run.
    case allowTool(callID: String)
    /// A held tool must not run.
    case blockTool(callID: String, reason: String)
    /// A held tool waits for the approval's answer.
    case holdTool(callID: String, approvalID: String)
}
