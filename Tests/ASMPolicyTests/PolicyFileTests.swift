import ASMCore
import ASMPolicy
import Testing

/// Policies from JSON files, tool patterns, stacking and the preflight.
struct PolicyFileTests {
    private func policy(_ text: String) throws(PolicyError) -> Policy { try Policy(json: Array(text.utf8)) }

    @Test("the documented example reads as written")
    func example() throws {
        let org = try policy(
            #"{"name": "org", "limits": {"max_total_tokens": 100000, "max_cost_usd": 0.5, "max_duration_ms": 60000, "max_tool_calls": 10}, "tool_rules": [{"deny": ["bash", "shell"]}, {"allow": ["Read"]}], "on_violation": "cancel"}"#
        )
        #expect(org.name == "org")
        #expect(
            org.limits
                == PolicyLimits(
                    maxTotalTokens: 100_000,
                    maxCostUSD: 0.5,
                    maxDuration: .milliseconds(60_000),
                    maxToolCalls: 10
                )
        )
        #expect(
            org.toolRules == [
                .deny([try ToolPattern("bash"), try ToolPattern("shell")]), .allow([try ToolPattern("Read")]),
            ]
        )
        #expect(org.onViolation == .cancel)
        #expect(org.approvalTimeout == nil)
        #expect(try policy(#"{"name": "minimal"}"#).onViolation == .cancel)
        let asking = try policy(#"{"name": "ask", "on_violation": "request_approval", "approval_timeout_ms": 300000}"#)
        #expect(asking.approvalTimeout == .seconds(300))
    }

    @Test(
        "malformed and impossible policies are refused, naming the key",
        arguments: [
            (#"{"limits": {}}"#, "invalid value: name: a policy needs a non-empty name"),
            (
                #"{"name": "a", "limits": {"max_cost": 1}}"#,
                "unknown key: limits.max_cost: expected one of max_total_tokens, max_cost_usd, max_duration_ms, max_tool_calls"
            ),
            (
                #"{"name": "a", "limit": {}}"#,
                "unknown key: limit: expected one of name, limits, tool_rules, on_violation, approval_timeout_ms"
            ),
            (
                #"{"name": "a", "approval_timeout_ms": 0}"#,
                "invalid value: approval_timeout_ms: must be more than zero milliseconds"
            ),
            (
                #"{"name": "a", "approval_timeout_ms": "soon"}"#,
                "invalid value: approval_timeout_ms: must be a whole number"
            ),
            (
                #"{"name": "a", "limits": {"max_cost_usd": "lots"}}"#,
                "invalid value: limits.max_cost_usd: must be a number of US dollars"
            ),
            (
                #"{"name": "a", "limits": {"max_cost_usd": 0}}"#,
                "invalid value: limits.max_cost_usd: must be more than zero dollars"
            ),
            (
                #"{"name": "a", "limits": {"max_total_tokens": 0}}"#,
                "invalid value: limits.max_total_tokens: must be more than zero (no run uses no tokens)"
            ),
            (
                #"{"name": "a", "limits": {"max_total_tokens": 1.5}}"#,
                "invalid value: limits.max_total_tokens: must be a whole number"
            ),
            (
                #"{"name": "a", "limits": {"max_duration_ms": -5}}"#,
                "invalid value: limits.max_duration_ms: must be more than zero milliseconds"
            ),
            (
                #"{"name": "a", "limits": {"max_tool_calls": -1}}"#,
                "invalid value: limits.max_tool_calls: must be zero or more"
            ),
            (
                #"{"name": "a", "tool_rules": [{"allow": []}]}"#,
                "invalid value: tool_rules[0].allow: an empty allow list allows nothing; deny the tools instead"
            ),
            (
                #"{"name": "a", "tool_rules": [{"deny": ["bash"]}, {"allow": ["Bash"]}]}"#,
                "conflict: tool_rules: bash is both denied and allowed (policy a)"
            ),
            (
                #"{"name": "a", "tool_rules": [{"permit": ["Read"]}]}"#,
                #"invalid value: tool_rules[0]: must be {"allow": [...]} or {"deny": [...]}"#
            ),
            (
                #"{"name": "a", "tool_rules": [{"deny": ["Bash(rm *"]}]}"#,
                #"invalid tool pattern: tool_rules[0].deny[0]: the tool pattern "Bash(rm *" must be Name or Name(argument glob)"#
            ),
            (
                #"{"name": "a", "tool_rules": [{"deny": [""]}]}"#,
                "invalid tool pattern: tool_rules[0].deny[0]: a tool pattern is empty"
            ),
            (
                #"{"name": "a", "on_violation": "explode"}"#,
                #"invalid value: on_violation: must be "cancel", "warn" or "request_approval""#
            ),
            (#"[1, 2]"#, "invalid value: a policy must be a JSON object"),
        ]
    )
    func refused(text: String, message: String) {
        #expect(throws: PolicyError.self) { try policy(text) }
        do {
            _ = try policy(text)
        } catch {
            #expect(error.description == message)
        }
    }

    @Test(
        "patterns match across providers' names and on the call's argument",
        arguments: [
            ("bash", "Bash", #"{"command": "ls"}"#, true),
            ("shell", "command_execution", #"{"command": "/bin/bash -lc ls"}"#, true),
            ("Bash", "Read", #"{"file_path": "/x"}"#, false),
            ("Bash(rm *)", "Bash", #"{"command": "rm -rf build"}"#, true),
            ("Bash(rm *)", "Bash", #"{"command": "ls -la"}"#, false),
            ("Bash(rm *)", "command_execution", #"{"command": "/bin/bash -lc 'rm -rf build'"}"#, true),
            ("Bash(rm *)", "Bash", #"{"cmd": "rm x"}"#, true),
            ("Bash(git *)", "Bash", #"{"command": "git status"}"#, true),
            ("Read(/etc/*)", "Read", #"{"file_path": "/etc/passwd"}"#, true),
            ("read", "read_file", #"{"path": "a.txt"}"#, true),
            ("edit", "file_change", #"{"changes": []}"#, true),
            ("web_fetch", "WebFetch", #"{"url": "https://example.com"}"#, true),
            ("mcp__github__*", "mcp__github__create_issue", "{}", true),
            ("mcp__github__*", "mcp__slack__post", "{}", false),
            ("Bash(rm *)", "Bash", "{}", false),
        ]
    )
    func patterns(pattern: String, tool: String, input: String, matches: Bool) throws {
        let value = try JSONValue(parsing: Array(input.utf8))
        #expect(try ToolPattern(pattern).matches(toolName: tool, input: value) == matches)
    }

    @Test("stacking: later limits override, rules concatenate, the strictest action wins, and the hash is stable")
    func stacking() throws {
        let org = Policy(
            name: "org",
            limits: PolicyLimits(maxTotalTokens: 100_000, maxCostUSD: 1),
            toolRules: [.deny([try ToolPattern("Bash(rm *)")])],
            onViolation: .warn
        )
        let team = Policy(
            name: "team",
            limits: PolicyLimits(maxCostUSD: 0.25, maxToolCalls: 5),
            toolRules: [.allow([try ToolPattern("Read"), try ToolPattern("Bash")])],
            onViolation: .requestApproval
        )
        let run = Policy(name: "run", limits: PolicyLimits(maxDuration: .seconds(30)), onViolation: .warn)
        let stack = try PolicyStack([org, team, run])

        #expect(stack.limits.maxTotalTokens == .init(value: 100_000, policy: "org"))
        #expect(stack.limits.maxCostUSD == .init(value: 0.25, policy: "team"))
        #expect(stack.limits.maxToolCalls == .init(value: 5, policy: "team"))
        #expect(stack.limits.maxDuration == .init(value: .seconds(30), policy: "run"))
        #expect(stack.rules.map(\.name) == ["deny:Bash(rm *)", "allow:Read", "allow:Bash"])
        #expect(stack.action == .requestApproval)
        #expect(try PolicyStack([org, team, run, Policy(name: "strict", onViolation: .cancel)]).action == .cancel)
        #expect(stack.approvalTimeout == nil)
        var patient = team
        patient.approvalTimeout = .seconds(3600)
        var hurried = run
        hurried.approvalTimeout = .seconds(60)
        #expect(try PolicyStack([org, patient, hurried]).approvalTimeout == .init(value: .seconds(60), policy: "run"))
        #expect(try PolicyStack([org, patient, run]).approvalTimeout == .init(value: .seconds(3600), policy: "team"))

        #expect(stack.verdict(toolName: "Bash", input: ["command": "rm -rf /"]) == .denied(stack.rules[0]))
        #expect(stack.verdict(toolName: "Bash", input: ["command": "ls"]) == .allowed)
        #expect(stack.verdict(toolName: "WebFetch", input: ["url": "x"]) == .notAllowed(policy: "team"))
        #expect(PolicyStack.empty.verdict(toolName: "WebFetch", input: .emptyObject) == .allowed)

        // The hash depends on the merged content and order, and nothing else.
        #expect(stack.hash.count == 64)
        #expect(try PolicyStack([org, team, run]).hash == stack.hash)
        #expect(try PolicyStack([team, org, run]).hash != stack.hash)
    }

    @Test("the preflight refuses a stack that contradicts itself or repeats a name")
    func stackPreflight() throws {
        let denies = Policy(name: "org", toolRules: [.deny([try ToolPattern("shell")])])
        let allows = Policy(name: "team", toolRules: [.allow([try ToolPattern("Bash")])])
        #expect(throws: PolicyError(.conflict, "shell is both denied and allowed (policies org and team)")) {
            try PolicyStack([denies, allows])
        }
        #expect(throws: PolicyError(.conflict, "two policies in the stack have this name", key: "org")) {
            try PolicyStack([denies, Policy(name: "org")])
        }
        #expect(throws: PolicyError(.invalidValue, "must be more than zero dollars", key: "zero.limits.max_cost_usd")) {
            try PolicyStack([Policy(name: "zero", limits: PolicyLimits(maxCostUSD: 0))])
        }
        // A narrower deny inside a broader allow is not a contradiction.
        _ = try PolicyStack([
            Policy(name: "a", toolRules: [.allow([try ToolPattern("Bash")]), .deny([try ToolPattern("Bash(rm *)")])])
        ])
    }
}
