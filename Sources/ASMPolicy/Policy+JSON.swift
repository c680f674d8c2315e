public import ASMCore

extension Policy {
    /// Reads a policy written as JSON with snake_case keys:
    ///
    /// ```json
    /// {"name": "org",
    ///  "limits": {"max_total_tokens": 100000, "max_cost_usd": 0.5, "max_duration_ms": 60000, "max_tool_calls": 10},
    ///  "tool_rules": [{"deny": ["bash", "shell"]}, {"allow": ["Read", "Bash(git *)"]}],
    ///  "on_violation": "cancel",
    ///  "approval_timeout_ms": 300000}
    /// ```
    ///
    /// Every key is optional but `name`; unknown keys are refused, so a misspelt limit is
    /// not silently ignored. The policy is checked on its own (``Policy/validate()``).
    /// - Throws: ``PolicyError`` naming the key.
    public init(json bytes: [UInt8]) throws(PolicyError) {
        let root: JSONValue
        do {
            root = try JSONValue(parsing: bytes)
        } catch {
            throw PolicyError(.invalidJSON, "\(error)", underlying: error)
        }
        try self.init(value: root)
    }

    /// Reads a policy from a parsed JSON value (see ``init(json:)``).
    public init(value root: JSONValue) throws(PolicyError) {
        guard let members = root.objectValue else { throw PolicyError(.invalidValue, "a policy must be a JSON object") }
        try Self.refuseUnknown(
            members,
            known: ["name", "limits", "tool_rules", "on_violation", "approval_timeout_ms"],
            at: nil
        )
        guard let name = root["name"]?.stringValue, !name.trimmed.isEmpty else {
            throw PolicyError(.invalidValue, "a policy needs a non-empty name", key: "name")
        }
        var limits = PolicyLimits()
        if let value = root["limits"] {
            guard let limitMembers = value.objectValue else {
                throw PolicyError(.invalidValue, "must be an object", key: "limits")
            }
            try Self.refuseUnknown(limitMembers, known: PolicyLimits.Name.allCases.map(\.rawValue), at: "limits")
            limits.maxTotalTokens = try Self.wholeNumber(value, "max_total_tokens")
            if let cost = value["max_cost_usd"] {
                guard let number = cost.doubleValue, number.isFinite else {
                    throw PolicyError(.invalidValue, "must be a number of US dollars", key: "limits.max_cost_usd")
                }
                limits.maxCostUSD = number
            }
            limits.maxDuration = try Self.wholeNumber(value, "max_duration_ms").map { .milliseconds($0) }
            limits.maxToolCalls = try Self.wholeNumber(value, "max_tool_calls").map { Int($0) }
        }
        var rules: [ToolRule] = []
        if let value = root["tool_rules"] {
            guard let list = value.arrayValue else {
                throw PolicyError(
                    .invalidValue,
                    "must be an array of {\"allow\": [...]} or {\"deny\": [...]}",
                    key: "tool_rules"
                )
            }
            for (index, rule) in list.enumerated() {
                let key = "tool_rules[\(index)]"
                guard let ruleMembers = rule.objectValue, ruleMembers.count == 1, let member = ruleMembers.first,
                    member.key == "allow" || member.key == "deny"
                else {
                    throw PolicyError(.invalidValue, "must be {\"allow\": [...]} or {\"deny\": [...]}", key: key)
                }
                guard let names = member.value.arrayValue else {
                    throw PolicyError(.invalidValue, "must be an array of tool names", key: "\(key).\(member.key)")
                }
                var patterns: [ToolPattern] = []
                for (position, entry) in names.enumerated() {
                    guard let text = entry.stringValue else {
                        throw PolicyError(
                            .invalidValue,
                            "must be a tool name",
                            key: "\(key).\(member.key)[\(position)]"
                        )
                    }
                    do {
                        patterns.append(try ToolPattern(text))
                    } catch {
                        var error = error
                        error.key = "\(key).\(member.key)[\(position)]"
                        throw error
                    }
                }
                rules.append(member.key == "allow" ? .allow(patterns) : .deny(patterns))
            }
        }
        var action = PolicyAction.cancel
        if let value = root["on_violation"] {
            guard let text = value.stringValue, let parsed = PolicyAction(rawValue: text) else {
                throw PolicyError(
                    .invalidValue,
                    "must be \"cancel\", \"warn\" or \"request_approval\"",
                    key: "on_violation"
                )
            }
            action = parsed
        }
        let approvalTimeout = try Self.wholeNumber(root, "approval_timeout_ms", in: nil).map {
            Duration.milliseconds($0)
        }
        self.init(
            name: name.trimmed,
            limits: limits,
            toolRules: rules,
            onViolation: action,
            approvalTimeout: approvalTimeout
        )
        try validate()
    }

    /// Refuses what no run could satisfy: a zero or negative budget, token limit or
    /// duration, a negative tool-call limit, an empty allow list, and a tool both allowed
    /// and denied.
    public func validate() throws(PolicyError) {
        if let tokens = limits.maxTotalTokens, tokens <= 0 {
            throw PolicyError(
                .invalidValue,
                "must be more than zero (no run uses no tokens)",
                key: "limits.max_total_tokens"
            )
        }
        if let cost = limits.maxCostUSD, !(cost > 0) {
            throw PolicyError(.invalidValue, "must be more than zero dollars", key: "limits.max_cost_usd")
        }
        if let duration = limits.maxDuration, duration <= .zero {
            throw PolicyError(.invalidValue, "must be more than zero milliseconds", key: "limits.max_duration_ms")
        }
        if let timeout = approvalTimeout, timeout <= .zero {
            throw PolicyError(.invalidValue, "must be more than zero milliseconds", key: "approval_timeout_ms")
        }
        if let calls = limits.maxToolCalls, calls < 0 {
            throw PolicyError(.invalidValue, "must be zero or more", key: "limits.max_tool_calls")
        }
        for (index, rule) in toolRules.enumerated() where rule.isAllow && rule.patterns.isEmpty {
            throw PolicyError(
                .invalidValue,
                "an empty allow list allows nothing; deny the tools instead",
                key: "tool_rules[\(index)].allow"
            )
        }
        if let conflict = PolicyStack.conflict(in: [self]) {
            throw PolicyError(.conflict, conflict, key: "tool_rules")
        }
    }

    private static func refuseUnknown(_ members: [JSONMember], known: [String], at path: String?) throws(PolicyError) {
        for member in members where !known.contains(member.key) {
            let key = path.map { "\($0).\(member.key)" } ?? member.key
            throw PolicyError(.unknownKey, "expected one of \(known.joined(separator: ", "))", key: key)
        }
    }

    private static func wholeNumber(
        _ object: JSONValue,
        _ key: String,
        in parent: String? = "limits"
    ) throws(PolicyError) -> Int64? {
        guard let value = object[key] else { return nil }
        guard case .integer(let number) = value else {
            throw PolicyError(.invalidValue, "must be a whole number", key: parent.map { "\($0).\(key)" } ?? key)
        }
        return number
    }
}
