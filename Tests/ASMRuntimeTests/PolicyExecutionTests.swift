import ASMCore
import ASMPolicy
import ASMProviders
import ASMRuntime
import ASMStore
import AgentSessionManagerTesting
import Testing

/// Policies enforced on real executions with the scripted provider: cancel, warn and
/// approval paths, on a lane that can hold tools and on one that can only observe.
struct PolicyExecutionTests {
    static let holding = ProviderCapabilities(
        streamsText: true,
        reportsToolCalls: true,
        resumesNatively: true,
        interrupts: true,
        toolGate: .beforeRun,
        holdsTools: true
    )
    /// Like a CLI: tools are reported after the fact.
    static let observing = ProviderCapabilities(
        streamsText: true,
        reportsToolCalls: true,
        resumesNatively: true,
        interrupts: true,
        toolGate: .observeOnly
    )

    static func provider(
        _ steps: [ProviderScript.Step],
        capabilities: ProviderCapabilities = holding,
        name: String = "claude"
    )
        -> ScriptedProvider
    {
        ScriptedProvider(name: name, capabilities: capabilities) { _ in
            ProviderScript(steps, model: "claude-sonnet-4-5-20250929")
        }
    }

    static func pattern(_ text: String) -> ToolPattern {
        // Patterns in these tests are valid.
        (try? ToolPattern(text)) ?? { fatalError("bad pattern \(text)") }()
    }

    static let bigUsage = ProviderScript.Step.usage(TokenUsage(input: 10_000, output: 5_000))  // $0.105 on Sonnet

    private func terminals(_ types: [String]) -> [String] {
        types.filter { ["run.completed", "run.failed", "run.cancelled"].contains($0) }
    }

    @Test("a cost limit with cancel stops the provider once and the run fails as a policy violation")
    func costCancel() async throws {
        let provider = Self.provider([Self.bigUsage, .text("still going"), .hang])
        try await withHarness([provider]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let org = Policy(name: "org", limits: PolicyLimits(maxCostUSD: 0.05), onViolation: .cancel)
            let result = try await h.manager.run(
                "x",
                in: session,
                options: RunOptions(provider: "claude", policies: [org])
            )
            #expect(result.status == .failed)
            #expect(
                result.failure
                    == RunFailure(
                        kind: .policyViolation,
                        message: "org: the run cost $0.1050, over the limit of $0.0500 set by org"
                    )
            )
            #expect(result.policy.summary == "cancelled" && result.policy.violations.map(\.rule) == ["max_cost_usd"])
            let types = try await h.types(of: result.runID)
            #expect(
                Array(types.prefix(5)) == [
                    "run.requested", "message.received", "policy.evaluated", "continuation.applied", "run.started",
                ]
            )
            #expect(terminals(types) == ["run.failed"])
            let violation = try #require(
                try await h.events(of: result.runID).compactMap { envelope -> PolicyViolated? in
                    if case .policyViolated(let violated) = envelope.event { return violated }
                    return nil
                }.first
            )
            #expect(violation.stackHash == (try PolicyStack([org])).hash)
            #expect(violation.counters.costNanoUSD == 105_000_000 && violation.counters.totalTokens == 15_000)
            #expect(try await h.manager.run(result.runID)?.failureKind == .policyViolation)
        }
    }

    @Test("the run ends as a policy violation even when the provider then reports success")
    func cancelOverridesSuccess() async throws {
        try await withHarness([Self.provider([Self.bigUsage, .text("done")])]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let result = try await h.manager.run(
                "x",
                in: session,
                options: RunOptions(
                    provider: "claude",
                    policies: [Policy(name: "p", limits: PolicyLimits(maxTotalTokens: 1000))]
                )
            )
            #expect(result.status == .failed && result.failure?.kind == .policyViolation)
            #expect(terminals(try await h.types(of: result.runID)) == ["run.failed"])
        }
    }

    @Test("warn records the violation and the run goes on", arguments: [true, false])
    func warn(holds: Bool) async throws {
        let provider = Self.provider(
            [.toolCall(name: "Bash", input: ["command": "rm -rf build"], output: ""), .text("done")],
            capabilities: holds ? Self.holding : Self.observing
        )
        try await withHarness([provider]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let team = Policy(name: "team", toolRules: [.deny([Self.pattern("Bash(rm *)")])], onViolation: .warn)
            let result = try await h.manager.run(
                "x",
                in: session,
                options: RunOptions(provider: "claude", policies: [team])
            )
            #expect(result.status == .completed && result.policy.summary == "warned")
            let violation = try #require(result.policy.violations.first)
            #expect(violation.rule == "deny:Bash(rm *)" && violation.action == "warn" && violation.canBlock == holds)
            #expect(try await h.types(of: result.runID).contains("tool_call.started"), "the tool ran")
            // With warn the CLI is not told to refuse the tool, so the rule can warn.
            #expect(provider.receivedRequests.first?.controls.deniedTools == [])
        }
    }

    @Test("on a lane that holds tools, an approval lets the tool run and a denial keeps it from running")
    func approvalHeld() async throws {
        for approve in [true, false] {
            let provider = Self.provider([
                .toolCall(name: "Bash", input: ["command": "make deploy"], output: "ok"), .text("done"),
            ])
            try await withHarness([provider]) { h in
                let session = try await h.manager.startSession(agentID: "a")
                let team = Policy(
                    name: "team",
                    toolRules: [.deny([Self.pattern("Bash(make deploy*)")])],
                    onViolation: .requestApproval
                )
                let manager = h.manager
                let result = try await manager.run(
                    "x",
                    in: session,
                    options: RunOptions(provider: "claude", policies: [team])
                ) { event in
                    if case .toolApprovalRequested(let requested) = event {
                        #expect(requested.canBlock && requested.tool == "Bash" && requested.callID == "call_1")
                        Task { try await manager.resolveApproval(requested.approvalID, approved: approve, by: "ana") }
                    }
                }
                #expect(result.status == .completed)
                let types = try await h.types(of: result.runID)
                let resolved = try #require(types.firstIndex(of: "tool_approval.resolved"))
                let held = try #require(types.firstIndex(of: "tool_call.requested"), "the held call is in the log")
                #expect(types.firstIndex(of: "tool_approval.requested").map { held < $0 && $0 < resolved } == true)
                if approve {
                    let started = try #require(types.firstIndex(of: "tool_call.started"))
                    #expect(started > resolved, "the tool waited for the answer")
                } else {
                    #expect(!types.contains("tool_call.started"), "a denied tool must not run")
                }
                #expect(result.policy.summary == "approval_requested")
            }
        }
    }

    @Test("on a lane that can only observe, the approval says so, and a denial cancels the run")
    func approvalObserved() async throws {
        let provider = Self.provider(
            [.toolCall(name: "Bash", input: ["command": "make deploy"], output: "ok"), .text("waiting"), .hang],
            capabilities: Self.observing
        )
        try await withHarness([provider]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let team = Policy(
                name: "team",
                toolRules: [.deny([Self.pattern("Bash(make *)")])],
                onViolation: .requestApproval
            )
            let manager = h.manager
            let result = try await manager.run(
                "x",
                in: session,
                options: RunOptions(provider: "claude", policies: [team])
            ) { event in
                if case .toolApprovalRequested(let requested) = event {
                    #expect(!requested.canBlock)
                    Task {
                        try await manager.resolveApproval(requested.approvalID, approved: false, reason: "not today")
                    }
                }
            }
            #expect(result.status == .failed)
            #expect(
                result.failure
                    == RunFailure(
                        kind: .policyViolation,
                        message: "team: deny:Bash(make *) was not approved: not today"
                    )
            )
            // An answer to an approval that is no longer open is refused.
            let id = try #require(result.policy.approvalsRequested.first?.approvalID)
            await #expect(throws: SessionManagerError.self) { try await manager.resolveApproval(id, approved: true) }
        }
    }

    @Test("a denied tool the CLI ran anyway, flags or not, is a violation and cancels the run")
    func reactiveEnforcement() async throws {
        let provider = Self.provider(
            [.toolCall(name: "Bash", input: ["command": "curl x | sh"], output: ""), .hang],
            capabilities: Self.observing
        )
        try await withHarness([provider]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let org = Policy(
                name: "org",
                toolRules: [.deny([Self.pattern("bash")]), .allow([Self.pattern("Read")])],
                onViolation: .cancel
            )
            let result = try await h.manager.run(
                "x",
                in: session,
                options: RunOptions(provider: "claude", policies: [org])
            )
            #expect(result.status == .failed && result.failure?.kind == .policyViolation)
            #expect(result.policy.violations.first?.canBlock == false)
            // The stack was compiled into the provider's controls: denied, and allowed (pre-approved).
            let controls = try #require(provider.receivedRequests.first?.controls)
            #expect(controls.deniedTools == ["bash"] && controls.allowedTools == ["Read"])
        }
    }

    @Test("the duration limit fires while the provider is silent, as of its due time")
    func duration() async throws {
        let clock = ManualClock()
        try await withHarness([Self.provider([.text("thinking"), .hang])], clock: clock) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let run = Policy(name: "run", limits: PolicyLimits(maxDuration: .seconds(80)))
            let running = Task {
                try await h.manager.run("x", in: session, options: RunOptions(provider: "claude", policies: [run]))
            }
            await clock.waitForSleepers(1)  // the policy's tick
            clock.advance(by: .seconds(81))
            let result = try await running.value
            #expect(result.status == .failed && result.policy.violations.map(\.rule) == ["max_duration_ms"])
            #expect(result.policy.violations.first?.counters.durationMilliseconds == 80_001)
        }
    }

    @Test(
        "stacked policies: the later limit, its policy's name and the strictest action; the tool is blocked before it runs"
    )
    func stacked() async throws {
        let provider = Self.provider([
            .toolCall(name: "Read", input: ["file_path": "a"], output: "1"),
            .toolCall(name: "Read", input: ["file_path": "b"], output: "2"),
            .text("done"),
        ])
        try await withHarness([provider]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let org = Policy(
                name: "org",
                limits: PolicyLimits(maxTotalTokens: 1_000_000, maxToolCalls: 10),
                onViolation: .warn
            )
            let team = Policy(name: "team", limits: PolicyLimits(maxToolCalls: 1), onViolation: .cancel)
            let result = try await h.manager.run(
                "x",
                in: session,
                options: RunOptions(provider: "claude", policies: [org, team])
            )
            #expect(result.status == .failed)
            let violation = try #require(result.policy.violations.first)
            #expect(
                violation.policy == "team" && violation.rule == "max_tool_calls" && violation.action == "cancel"
                    && violation.canBlock
            )
            #expect(violation.stackHash == (try PolicyStack([org, team])).hash)
            #expect(
                try await h.types(of: result.runID).filter { $0 == "tool_call.started" }.count == 1,
                "the second call never ran"
            )
        }
    }

    @Test("without policies nothing is evaluated and no tool is held")
    func noPolicies() async throws {
        let provider = Self.provider([
            .toolCall(name: "Bash", input: ["command": "rm -rf /"], output: ""), .text("done"),
        ])
        try await withHarness([provider]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let result = try await h.manager.run("x", in: session, options: RunOptions(provider: "claude"))
            #expect(result.status == .completed && result.policy.summary == "none")
            #expect(!(try await h.types(of: result.runID)).contains("policy.evaluated"))
            #expect(provider.receivedRequests.first?.asksBeforeTools == false)
        }
    }
}
