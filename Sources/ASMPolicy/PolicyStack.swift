public import ASMCore
internal import Crypto

/// Policies merged for one execution, in stacking order (for example organisation, team, run).
///
/// The merge is deterministic:
/// - **limits**: for each limit, the last policy that sets it wins (a later policy can
///   loosen or tighten what an earlier one set);
/// - **tool rules** concatenate in order. A call is refused when any deny pattern matches
///   it; otherwise, when the stack has allow lists, it must match one of their patterns;
/// - **action**: the strictest wins, cancel > request approval > warn.
///
/// Creating a stack runs the preflight: each policy must be valid on its own, the names
/// must differ, and no tool may be both allowed and denied.
public struct PolicyStack: Hashable, Sendable {
    public let policies: [Policy]
    public let limits: MergedLimits
    /// Every tool pattern with its kind and the policy it came from, in stacking order.
    public let rules: [MergedRule]
    public let action: PolicyAction
    /// How long a held tool waits for an approval: the last policy that sets it wins.
    /// Not part of the merged JSON: each request records its own deadline.
    public let approvalTimeout: Sourced<Duration>?
    /// SHA-256 of the merged stack's canonical JSON, hex: decisions name the stack they used.
    public let hash: String

    /// A limit value and the policy it came from.
    public struct Sourced<Value: Hashable & Sendable>: Hashable, Sendable {
        public var value: Value
        public var policy: String

        public init(value: Value, policy: String) {
            self.value = value
            self.policy = policy
        }
    }

    public struct MergedLimits: Hashable, Sendable {
        public var maxTotalTokens: Sourced<Int64>?
        public var maxCostUSD: Sourced<Double>?
        public var maxDuration: Sourced<Duration>?
        public var maxToolCalls: Sourced<Int>?
    }

    public struct MergedRule: Hashable, Sendable {
        public var pattern: ToolPattern
        public var isAllow: Bool
        public var policy: String

        /// The rule's name in decisions: `deny:Bash(rm *)`, `allow:Read`.
        public var name: String { (isAllow ? "allow:" : "deny:") + pattern.text }
    }

    /// Merges and checks `policies`.
    /// - Throws: ``PolicyError`` naming the policy and key when the stack cannot be used.
    public init(_ policies: [Policy]) throws(PolicyError) {
        var names = Set<String>()
        for policy in policies {
            do {
                try policy.validate()
            } catch {
                var error = error
                error.key = policy.name + (error.key.map { ".\($0)" } ?? "")
                throw error
            }
            guard names.insert(policy.name).inserted else {
                throw PolicyError(.conflict, "two policies in the stack have this name", key: policy.name)
            }
        }
        if let conflict = Self.conflict(in: policies) {
            throw PolicyError(.conflict, conflict)
        }
        self.policies = policies
        var limits = MergedLimits()
        for policy in policies {
            if let value = policy.limits.maxTotalTokens {
                limits.maxTotalTokens = Sourced(value: value, policy: policy.name)
            }
            if let value = policy.limits.maxCostUSD { limits.maxCostUSD = Sourced(value: value, policy: policy.name) }
            if let value = policy.limits.maxDuration { limits.maxDuration = Sourced(value: value, policy: policy.name) }
            if let value = policy.limits.maxToolCalls {
                limits.maxToolCalls = Sourced(value: value, policy: policy.name)
            }
        }
        self.limits = limits
        approvalTimeout =
            policies.reversed().lazy.compactMap { policy in
                policy.approvalTimeout.map { Sourced(value: $0, policy: policy.name) }
            }.first
        rules = policies.flatMap { policy in
            policy.toolRules.flatMap { rule in
                rule.patterns.map { MergedRule(pattern: $0, isAllow: rule.isAllow, policy: policy.name) }
            }
        }
        action = policies.map(\.onViolation).max() ?? .warn
        hash = Self.sha256Hex(
            ((try? Self.json(policies: policies, limits: limits, rules: rules, action: action).jsonBytes()) ?? [])
        )
    }

    /// The merged stack a `policy.evaluated` event recorded, read back to re-derive the
    /// decisions made under it. The policies are known by name only; their merged limits,
    /// rules and action are as recorded.
    /// - Throws: ``PolicyError`` when the value is not a merged stack.
    public init(recorded merged: JSONValue) throws(PolicyError) {
        func bad(_ key: String) -> PolicyError { PolicyError(.invalidValue, "not a recorded policy stack", key: key) }
        guard let names = merged["policies"]?.arrayValue?.compactMap(\.stringValue),
            let actionText = merged["on_violation"]?.stringValue, let action = PolicyAction(rawValue: actionText),
            let ruleValues = merged["tool_rules"]?.arrayValue, let limitValues = merged["limits"]
        else { throw bad("merged") }
        var limits = MergedLimits()
        func source(_ name: PolicyLimits.Name) -> (JSONValue, String)? {
            guard let entry = limitValues[name.rawValue], let value = entry["value"],
                let policy = entry["policy"]?.stringValue
            else {
                return nil
            }
            return (value, policy)
        }
        if let (value, policy) = source(.maxTotalTokens), let tokens = value.integerValue {
            limits.maxTotalTokens = Sourced(value: tokens, policy: policy)
        }
        if let (value, policy) = source(.maxCostUSD), let cost = value.doubleValue {
            limits.maxCostUSD = Sourced(value: cost, policy: policy)
        }
        if let (value, policy) = source(.maxDuration), let ms = value.integerValue {
            limits.maxDuration = Sourced(value: .milliseconds(ms), policy: policy)
        }
        if let (value, policy) = source(.maxToolCalls), let calls = value.integerValue {
            limits.maxToolCalls = Sourced(value: Int(calls), policy: policy)
        }
        var rules: [MergedRule] = []
        for (index, value) in ruleValues.enumerated() {
            guard let policy = value["policy"]?.stringValue else { throw bad("tool_rules[\(index)]") }
            let isAllow = value["allow"] != nil
            guard let text = (value["allow"] ?? value["deny"])?.stringValue else { throw bad("tool_rules[\(index)]") }
            rules.append(MergedRule(pattern: try ToolPattern(text), isAllow: isAllow, policy: policy))
        }
        let policies = names.map { Policy(name: $0, onViolation: action) }
        self.policies = policies
        self.limits = limits
        self.rules = rules
        self.action = action
        approvalTimeout = nil
        hash = Self.sha256Hex(
            ((try? Self.json(policies: policies, limits: limits, rules: rules, action: action).jsonBytes()) ?? [])
        )
    }

    /// The empty stack: no limits, every tool allowed.
    public static let empty: PolicyStack = {
        do { return try PolicyStack([]) } catch { fatalError("the empty policy stack is valid") }
    }()

    public var isEmpty: Bool { policies.isEmpty }
    public var names: [String] { policies.map(\.name) }

    /// What the stack says about a tool call.
    public enum ToolVerdict: Hashable, Sendable {
        case allowed
        /// A deny pattern matched.
        case denied(MergedRule)
        /// The stack has allow lists and none matched; `policy` is the first with one.
        case notAllowed(policy: String)
    }

    public func verdict(toolName: String, input: JSONValue) -> ToolVerdict {
        if let rule = rules.first(where: { !$0.isAllow && $0.pattern.matches(toolName: toolName, input: input) }) {
            return .denied(rule)
        }
        let allows = rules.filter(\.isAllow)
        guard let first = allows.first else { return .allowed }
        return allows.contains { $0.pattern.matches(toolName: toolName, input: input) }
            ? .allowed : .notAllowed(policy: first.policy)
    }

    /// The merged stack as JSON, as `policy.evaluated` records it.
    public var json: JSONValue { Self.json(policies: policies, limits: limits, rules: rules, action: action) }

    private static func json(
        policies: [Policy],
        limits: MergedLimits,
        rules: [MergedRule],
        action: PolicyAction
    ) -> JSONValue {
        var limitMembers: [JSONMember] = []
        func add(_ name: PolicyLimits.Name, _ value: JSONValue?, _ policy: String?) {
            guard let value, let policy else { return }
            limitMembers.append(
                JSONMember(name.rawValue, .object([JSONMember("value", value), JSONMember("policy", .string(policy))]))
            )
        }
        add(.maxTotalTokens, limits.maxTotalTokens.map { .integer($0.value) }, limits.maxTotalTokens?.policy)
        add(.maxCostUSD, limits.maxCostUSD.map { .double($0.value) }, limits.maxCostUSD?.policy)
        add(.maxDuration, limits.maxDuration.map { .integer($0.value.wholeMilliseconds) }, limits.maxDuration?.policy)
        add(.maxToolCalls, limits.maxToolCalls.map { .integer(Int64($0.value)) }, limits.maxToolCalls?.policy)
        return .object([
            JSONMember("policies", .array(policies.map { .string($0.name) })),
            JSONMember("limits", .object(limitMembers)),
            JSONMember(
                "tool_rules",
                .array(
                    rules.map {
                        .object([
                            JSONMember($0.isAllow ? "allow" : "deny", .string($0.pattern.text)),
                            JSONMember("policy", .string($0.policy)),
                        ])
                    }
                )
            ),
            JSONMember("on_violation", .string(action.rawValue)),
        ])
    }

    /// A tool both allowed and denied within `policies`, described; `nil` when there is none.
    static func conflict(in policies: [Policy]) -> String? {
        let rules = policies.flatMap { policy in
            policy.toolRules.flatMap { rule in
                rule.patterns.map { (pattern: $0, allow: rule.isAllow, policy: policy.name) }
            }
        }
        for allowed in rules where allowed.allow {
            for denied in rules where !denied.allow && equivalent(allowed.pattern, denied.pattern) {
                let location =
                    allowed.policy == denied.policy
                    ? "policy \(allowed.policy)" : "policies \(denied.policy) and \(allowed.policy)"
                return "\(denied.pattern.text) is both denied and allowed (\(location))"
            }
        }
        return nil
    }

    private static func equivalent(_ a: ToolPattern, _ b: ToolPattern) -> Bool {
        guard a.argument == b.argument else { return false }
        if let family = ToolPattern.family(of: a.name) { return family == ToolPattern.family(of: b.name) }
        return a.name.lowercased() == b.name.lowercased()
    }

    private static func sha256Hex(_ bytes: [UInt8]) -> String {
        let digest = SHA256.hash(data: bytes)
        let hex = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        text.reserveCapacity(64)
        for byte in digest {
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
