import ASMCore
import ASMPolicy
import AgentSessionManagerTesting
import Testing

/// The evaluator as a pure reducer: inputs in, decisions out.
struct PolicyEngineTests {
    static let run = RunID(uuid: UUIDValue(high: 0x0123_4567_89ab_7cde, low: 0x8000_0000_0000_0001))
    static let t0 = Timestamp(milliseconds: 1_000_000)

    static func at(_ milliseconds: Int64) -> Timestamp { t0.adding(microseconds: milliseconds * 1000) }

    /// A usage update adding `tokens` (half input, half output).
    static func usage(tokens: Int64, cost: Int64? = nil, reported: Double? = nil) -> PolicyInput {
        .event(
            .tokenUsageUpdated(
                TokenUsageUpdated(
                    provider: "claude",
                    model: "m",
                    delta: TokenUsage(input: tokens / 2, output: tokens - tokens / 2),
                    total: TokenUsage(input: tokens),
                    costNanoUSD: cost,
                    priceTable: cost == nil ? nil : "t",
                    reportedCostUSD: reported
                )
            ),
            at: at(10)
        )
    }

    static func request(_ call: ToolCallStarted, at time: Int64) -> PolicyInput {
        .event(.toolCallRequested(ToolCallRequested(call)), at: at(time))
    }

    static func tool(
        _ id: String,
        _ name: String = "Bash",
        _ command: String = "ls",
        at time: Int64 = 20
    ) -> ToolCallStarted {
        ToolCallStarted(callID: id, name: name, input: ["command": .string(command)])
    }

    /// Runs inputs through the engine; returns every decision and the final state.
    static func play(
        _ policies: [Policy],
        _ inputs: [PolicyInput]
    ) throws -> (decisions: [[PolicyDecision]], state: PolicyState) {
        let engine = PolicyEngine(stack: try PolicyStack(policies), runID: run)
        var (state, _) = engine.start(at: t0)
        var all: [[PolicyDecision]] = []
        for input in inputs {
            let (next, decisions) = engine.reduce(state, input)
            state = next
            all.append(decisions)
        }
        return (all, state)
    }

    static func violations(_ decisions: [PolicyDecision]) -> [PolicyViolated] {
        decisions.compactMap { decision in
            if case .record(.policyViolated(let violated)) = decision { return violated }
            return nil
        }
    }

    static func cancels(_ decisions: [PolicyDecision]) -> [RunFailure] {
        decisions.compactMap { decision in
            if case .cancelRun(let failure) = decision { return failure }
            return nil
        }
    }

    static func approvals(_ decisions: [PolicyDecision]) -> [ToolApprovalRequested] {
        decisions.compactMap { decision in
            if case .record(.toolApprovalRequested(let requested)) = decision { return requested }
            return nil
        }
    }

    // MARK: Each limit, each action

    struct LimitCase: CustomTestStringConvertible, Sendable {
        var name: String
        var limits: PolicyLimits
        var below: [PolicyInput]
        var over: PolicyInput
        var rule: String
        var message: String
        var testDescription: String { name }
    }

    static let limitCases: [LimitCase] = [
        LimitCase(
            name: "tokens",
            limits: PolicyLimits(maxTotalTokens: 1000),
            below: [usage(tokens: 1000)],
            over: usage(tokens: 2),
            rule: "max_total_tokens",
            message: "the run used 1002 tokens, over the limit of 1000 set by p"
        ),
        LimitCase(
            name: "cost from the price table",
            limits: PolicyLimits(maxCostUSD: 0.01),
            below: [usage(tokens: 10, cost: 6_000_000, reported: 99)],
            over: usage(tokens: 10, cost: 5_000_000),
            rule: "max_cost_usd",
            message: "the run cost $0.0110, over the limit of $0.0100 set by p"
        ),
        LimitCase(
            name: "cost the provider reported, when nothing is priced",
            limits: PolicyLimits(maxCostUSD: 0.01),
            below: [usage(tokens: 10, reported: 0.01)],
            over: usage(tokens: 10, reported: 0.0125),
            rule: "max_cost_usd",
            message: "the run cost $0.0125, over the limit of $0.0100 set by p"
        ),
        LimitCase(
            name: "duration",
            limits: PolicyLimits(maxDuration: .milliseconds(500)),
            below: [.tick(at(500))],
            over: .tick(at(501)),
            rule: "max_duration_ms",
            message: "the run has taken 501 ms, over the limit of 500 ms set by p"
        ),
        LimitCase(
            name: "tool calls",
            limits: PolicyLimits(maxToolCalls: 2),
            below: [.event(.toolCallStarted(tool("a")), at: at(1)), .event(.toolCallStarted(tool("b")), at: at(2))],
            over: .event(.toolCallStarted(tool("c")), at: at(3)),
            rule: "max_tool_calls",
            message: "the run made 3 tool calls, over the limit of 2 set by p"
        ),
    ]

    @Test("a limit with warn records one violation and goes on", arguments: limitCases)
    func warn(_ limit: LimitCase) throws {
        let (decisions, state) = try Self.play(
            [Policy(name: "p", limits: limit.limits, onViolation: .warn)],
            limit.below + [limit.over, limit.over]
        )
        let quiet = decisions.dropLast(2).allSatisfy { $0.isEmpty }
        #expect(quiet, "nothing below the limit")
        let fired = try #require(decisions.dropLast().last)
        #expect(fired.count == 1)
        let violated = try #require(Self.violations(fired).first)
        #expect(
            violated.policy == "p" && violated.rule == limit.rule && violated.action == "warn" && !violated.canBlock
        )
        #expect(violated.message == limit.message)
        #expect(
            violated.stackHash == (try PolicyStack([Policy(name: "p", limits: limit.limits, onViolation: .warn)])).hash
        )
        #expect(decisions.last == [], "a limit fires once")
        #expect(state.cancellation == nil)
    }

    @Test(
        "a limit with cancel records the violation and cancels the run once, as a policy violation",
        arguments: limitCases
    )
    func cancel(_ limit: LimitCase) throws {
        let (decisions, state) = try Self.play(
            [Policy(name: "p", limits: limit.limits, onViolation: .cancel)],
            limit.below + [limit.over, limit.over]
        )
        let fired = try #require(decisions.dropLast().last)
        #expect(Self.violations(fired).map(\.action) == ["cancel"])
        #expect(Self.cancels(fired) == [RunFailure(kind: .policyViolation, message: "p: \(limit.message)")])
        #expect(decisions.last == [])
        #expect(state.cancellation?.kind == .policyViolation)
    }

    @Test(
        "a limit with request_approval asks; the run goes on, a denial cancels it and an approval does not",
        arguments: limitCases
    )
    func approval(_ limit: LimitCase) throws {
        let policy = Policy(name: "p", limits: limit.limits, onViolation: .requestApproval)
        let (decisions, _) = try Self.play([policy], limit.below + [limit.over])
        let requested = try #require(Self.approvals(decisions.last ?? []).first)
        #expect(
            requested.approvalID == "\(Self.run)/1" && requested.tool == limit.rule && requested.rule == limit.rule
                && !requested.canBlock
        )
        #expect(Self.cancels(decisions.last ?? []).isEmpty)

        let denied = try Self.play(
            [policy],
            limit.below + [
                limit.over,
                .event(
                    .toolApprovalResolved(
                        ToolApprovalResolved(approvalID: requested.approvalID, approved: false, reason: "too much")
                    ),
                    at: Self.at(900)
                ),
            ]
        )
        #expect(
            Self.cancels(denied.decisions.last ?? []) == [
                RunFailure(kind: .policyViolation, message: "p: \(limit.rule) was not approved: too much")
            ]
        )

        let approved = try Self.play(
            [policy],
            limit.below + [
                limit.over,
                .event(
                    .toolApprovalResolved(ToolApprovalResolved(approvalID: requested.approvalID, approved: true)),
                    at: Self.at(900)
                ),
            ]
        )
        #expect(approved.decisions.last == [])
        #expect(approved.state.approvals.isEmpty && approved.state.cancellation == nil)
    }

    @Test("the duration limit tells the caller when to tick")
    func nextTick() throws {
        let engine = PolicyEngine(
            stack: try PolicyStack([Policy(name: "p", limits: PolicyLimits(maxDuration: .seconds(2)))]),
            runID: Self.run
        )
        let (state, _) = engine.start(at: Self.t0)
        #expect(engine.nextTick(state) == Self.at(2001))
        let (after, decisions) = engine.reduce(state, .tick(Self.at(2001)))
        #expect(Self.cancels(decisions).count == 1)
        #expect(engine.nextTick(after) == nil)
        #expect(PolicyEngine(stack: .empty, runID: Self.run).nextTick(state) == nil)
    }

    @Test("a duration limit fires as of the moment it fell due, whichever input comes later")
    func durationAsOfDue() throws {
        let policy = Policy(name: "p", limits: PolicyLimits(maxDuration: .milliseconds(500)), onViolation: .warn)
        let late = try Self.play([policy], [.event(.messageStreamed(MessageStreamed(delta: "x")), at: Self.at(9000))])
        let ticked = try Self.play([policy], [.tick(Self.at(501))])
        let violated = try #require(Self.violations(late.decisions[0]).first)
        #expect(
            violated.counters.durationMilliseconds == 501,
            "the counters are those at the due moment, not at the late input"
        )
        #expect(late.decisions[0] == ticked.decisions[0])
    }

    // MARK: Tools

    @Test("a denied tool the provider ran anyway is a violation that could only observe")
    func observedDeny() throws {
        let policy = Policy(name: "team", toolRules: [.deny([try ToolPattern("Bash(rm *)")])], onViolation: .cancel)
        let (decisions, _) = try Self.play(
            [policy],
            [
                .event(.toolCallStarted(Self.tool("ok", "Bash", "ls")), at: Self.at(1)),
                .event(.toolCallStarted(Self.tool("bad", "Bash", "rm -rf build")), at: Self.at(2)),
            ]
        )
        #expect(decisions[0] == [])
        let violated = try #require(Self.violations(decisions[1]).first)
        #expect(violated.rule == "deny:Bash(rm *)" && !violated.canBlock && violated.counters.toolCalls == 2)
        #expect(violated.message == "Bash `rm -rf build` is denied by Bash(rm *) (team)")
        #expect(Self.cancels(decisions[1]).count == 1)
    }

    @Test("a tool outside the allow lists is a violation of the first policy with one")
    func allowList() throws {
        let (decisions, _) = try Self.play(
            [Policy(name: "org", toolRules: [.allow([try ToolPattern("Read")])], onViolation: .warn)],
            [
                .event(
                    .toolCallStarted(ToolCallStarted(callID: "w", name: "WebFetch", input: ["url": "https://x"])),
                    at: Self.at(1)
                )
            ]
        )
        let violated = try #require(Self.violations(decisions[0]).first)
        #expect(violated.rule == "allow_list" && violated.policy == "org")
        #expect(violated.message == "WebFetch `https://x` is not in the allowed tools (org)")
    }

    struct GateCase: CustomTestStringConvertible, Sendable {
        var action: PolicyAction
        var expected: [String]
        var testDescription: String { action.rawValue }
    }

    @Test(
        "a lane that can hold tools asks first: warn lets it run, cancel blocks it and cancels, approval holds it",
        arguments: [
            GateCase(action: .warn, expected: ["violated", "allow"]),
            GateCase(action: .cancel, expected: ["violated", "block", "cancel"]),
            GateCase(action: .requestApproval, expected: ["violated", "approval", "hold"]),
        ]
    )
    func gate(_ gate: GateCase) throws {
        let policy = Policy(name: "p", toolRules: [.deny([try ToolPattern("bash")])], onViolation: gate.action)
        let (decisions, state) = try Self.play(
            [policy],
            [Self.request(Self.tool("ok", "Read", "x"), at: 1), Self.request(Self.tool("c1"), at: 2)]
        )
        #expect(decisions[0] == [.allowTool(callID: "ok")])
        let kinds = decisions[1].map { decision -> String in
            switch decision {
            case .record(.policyViolated): "violated"
            case .record(.toolApprovalRequested): "approval"
            case .record: "record"
            case .allowTool: "allow"
            case .blockTool: "block"
            case .holdTool: "hold"
            case .cancelRun: "cancel"
            }
        }
        #expect(kinds == gate.expected)
        #expect(Self.violations(decisions[1]).first?.canBlock == true)
        #expect(state.gatedCalls == ["ok", "c1"])
    }

    @Test("a held tool is released by an approval and blocked by a denial; the run goes on either way")
    func heldTool() throws {
        let policy = Policy(name: "p", toolRules: [.deny([try ToolPattern("bash")])], onViolation: .requestApproval)
        let id = "\(Self.run)/1"
        let approved = try Self.play(
            [policy],
            [
                Self.request(Self.tool("c1"), at: 1),
                .event(
                    .toolApprovalResolved(ToolApprovalResolved(approvalID: id, approved: true, resolvedBy: "ana")),
                    at: Self.at(2)
                ),
                .event(.toolCallStarted(Self.tool("c1")), at: Self.at(3)),
            ]
        )
        #expect(Self.approvals(approved.decisions[0]).first?.callID == "c1")
        #expect(approved.decisions[1] == [.allowTool(callID: "c1")])
        #expect(approved.decisions[2] == [], "a call decided at the gate is not judged again when it runs")
        #expect(approved.state.counters.toolCalls == 1)

        let denied = try Self.play(
            [policy],
            [
                Self.request(Self.tool("c1"), at: 1),
                .event(.toolApprovalResolved(ToolApprovalResolved(approvalID: id, approved: false)), at: Self.at(2)),
            ]
        )
        #expect(denied.decisions[1] == [.blockTool(callID: "c1", reason: "approval \(id) was denied")])
        #expect(denied.state.cancellation == nil)
        // An answer to an unknown or already answered approval changes nothing.
        let again = PolicyEngine(stack: try PolicyStack([policy]), runID: Self.run).reduce(
            denied.state,
            .event(.toolApprovalResolved(ToolApprovalResolved(approvalID: id, approved: true)), at: Self.at(3))
        )
        #expect(again.1 == [])
    }

    @Test("the tool-call limit is checked at the gate before the call runs")
    func gateToolLimit() throws {
        let policy = Policy(name: "p", limits: PolicyLimits(maxToolCalls: 1), onViolation: .cancel)
        let (decisions, _) = try Self.play(
            [policy],
            [
                Self.request(Self.tool("a"), at: 1), .event(.toolCallStarted(Self.tool("a")), at: Self.at(2)),
                Self.request(Self.tool("b"), at: 3),
            ]
        )
        #expect(decisions[0] == [.allowTool(callID: "a")] && decisions[1] == [])
        #expect(Self.violations(decisions[2]).first?.rule == "max_tool_calls")
        #expect(
            decisions[2].contains(
                .blockTool(callID: "b", reason: "Bash would be tool call 2, over the limit of 1 set by p")
            )
        )
    }

    @Test("after a cancel, nothing more is decided and held tools are blocked")
    func afterCancel() throws {
        let policy = Policy(name: "p", limits: PolicyLimits(maxTotalTokens: 10, maxToolCalls: 0), onViolation: .cancel)
        let (decisions, _) = try Self.play(
            [policy],
            [
                Self.usage(tokens: 20), .event(.toolCallStarted(Self.tool("a")), at: Self.at(30)),
                Self.request(Self.tool("b"), at: 31),
            ]
        )
        #expect(Self.cancels(decisions[0]).count == 1)
        #expect(decisions[1] == [])
        #expect(decisions[2] == [.blockTool(callID: "b", reason: "the run is being cancelled")])
    }

    // MARK: Start, stacking, determinism

    @Test("the start records the evaluated stack; no policies record nothing")
    func start() throws {
        let stack = try PolicyStack([Policy(name: "org"), Policy(name: "run", onViolation: .warn)])
        let (_, decisions) = PolicyEngine(stack: stack, runID: Self.run).start(at: Self.t0)
        #expect(
            decisions == [
                .record(
                    .policyEvaluated(
                        PolicyEvaluated(
                            policies: ["org", "run"],
                            stackHash: stack.hash,
                            outcome: "accepted",
                            merged: stack.json
                        )
                    )
                )
            ]
        )
        #expect(PolicyEngine(stack: .empty, runID: Self.run).start(at: Self.t0).1 == [])
    }

    @Test("stacked policies fire with the policy that set the limit and the strictest action")
    func stackedDecisions() throws {
        let org = Policy(name: "org", limits: PolicyLimits(maxTotalTokens: 1_000_000), onViolation: .warn)
        let team = Policy(name: "team", limits: PolicyLimits(maxTotalTokens: 100), onViolation: .cancel)
        let (decisions, _) = try Self.play([org, team], [Self.usage(tokens: 150)])
        let violated = try #require(Self.violations(decisions[0]).first)
        #expect(violated.policy == "team" && violated.action == "cancel")
    }

    @Test("the same inputs always give the same decisions")
    func deterministic() throws {
        var generator = SeededGenerator(seed: 7)
        let policies = [
            Policy(
                name: "org",
                limits: PolicyLimits(maxTotalTokens: 5000, maxToolCalls: 8),
                toolRules: [.deny([try ToolPattern("Bash(rm *)")])],
                onViolation: .warn
            ),
            Policy(
                name: "run",
                limits: PolicyLimits(maxCostUSD: 0.02, maxDuration: .seconds(3)),
                onViolation: .requestApproval
            ),
        ]
        var inputs: [PolicyInput] = []
        var tokens: Int64 = 0
        for step in 0..<300 {
            let time = Self.at(Int64(step) * 15)
            switch generator.next() % 4 {
            case 0:
                tokens += Int64(generator.next() % 100)
                let added = Int64(generator.next() % 100)
                inputs.append(
                    .event(
                        .tokenUsageUpdated(
                            TokenUsageUpdated(
                                delta: TokenUsage(input: added),
                                total: TokenUsage(input: tokens),
                                costNanoUSD: Int64(generator.next() % 200_000)
                            )
                        ),
                        at: time
                    )
                )
            case 1:
                inputs.append(
                    .event(
                        .toolCallStarted(Self.tool("c\(step)", "Bash", generator.next() % 3 == 0 ? "rm x" : "ls")),
                        at: time
                    )
                )
            case 2:
                inputs.append(
                    .event(.toolCallRequested(ToolCallRequested(Self.tool("g\(step)", "Bash", "rm y"))), at: time)
                )
            default: inputs.append(.tick(time))
            }
        }
        let first = try Self.play(policies, inputs)
        let second = try Self.play(policies, inputs)
        #expect(first.decisions == second.decisions && first.state == second.state)
        #expect(first.decisions.joined().count > 10)
    }
}
