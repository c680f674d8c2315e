import ASMCore
import ASMProviders
import ASMRuntime
import ASMStore
import AgentSessionManagerTesting
import Testing

/// Session trees: sessions started under another (sub-agents, a tool call's work) and forks,
/// with runs, failures, tokens and cost rolled up.
struct SessionTreeTests {
    @Test("sub-agents, a tool call's session and a fork of a sub-agent roll up into the lead session's tree")
    func rollUp() async throws {
        let provider = Flaky("claude") { n in
            switch n {
            case 1: [.text("Plan made."), .usage(TokenUsage(input: 1000, output: 100))]
            case 2: [.text("Found it."), .usage(TokenUsage(input: 500, output: 50))]
            case 3: [.fail(RunFailure(kind: .overloaded, message: "API Error: 529 overloaded", httpStatus: 529))]
            default: [.text("Again."), .usage(TokenUsage(input: 200, output: 20))]
            }
        }
        try await withHarness([provider]) { h in
            let options = RunOptions(provider: "claude", continuation: .replay)
            let lead = try await h.manager.startSession(agentID: "lead")
            let plan = try await h.manager.run("Plan the work.", in: lead, options: options)
            let researcher = try await h.manager.startSession(
                agentID: "researcher",
                parent: ParentLink(session: lead, run: plan.runID)
            )
            _ = try await h.manager.run("Find the bug.", in: researcher, options: options)
            let coder = try await h.manager.startSession(
                agentID: "coder",
                parent: ParentLink(session: lead, run: plan.runID, toolCall: "toolu_1")
            )
            _ = try await h.manager.run("Fix the bug.", in: coder, options: options)
            let (retry, _, _) = try await h.manager.fork(researcher)
            _ = try await h.manager.run("Look again.", in: retry, options: options)

            // The child's first event names its parent.
            guard case .sessionCreated(let created)? = try await h.events(coder).first?.event else {
                Issue.record("the session's first event is not session.created")
                return
            }
            #expect(created.parentSessionID == lead && created.parentRunID == plan.runID)
            #expect(created.parentCallID == "toolu_1" && created.agentID == "coder")

            let tree = try await SessionTree.read(lead, from: h.store)
            #expect(tree.flattened.map(\.tree.session.id) == [lead, researcher, retry, coder])
            #expect(tree.flattened.map(\.depth) == [0, 1, 2, 1])
            #expect(tree.flattened.map(\.tree.relation) == [nil, .subAgent, .fork, .toolCall])
            #expect(tree.runs == 1 && tree.treeRuns == 4 && tree.treeFailedRuns == 1)
            #expect(tree.treeTokens == TokenUsage(input: 1700, output: 170))
            let costs = tree.flattened.map(\.tree.costNanoUSD)
            #expect(costs[0] > 0 && costs[1] > 0 && costs[2] > 0, "the lead, the researcher and its fork paid")
            #expect(costs[3] == 0, "the failed run used nothing")
            #expect(tree.treeCostNanoUSD == costs.reduce(0, +) && tree.treeCostNanoUSD > tree.costNanoUSD)

            // A subtree alone, and the child's own place in it.
            let sub = try await SessionTree.read(researcher, from: h.store)
            #expect(sub.parentSessionID == lead && sub.relation == .subAgent && sub.treeRuns == 2)
            #expect(sub.parent?.parentRunID == plan.runID && sub.parent?.parentCallID == nil)
        }
    }

    @Test("a parent that is not in the log, a run of another session, or a tool call without its run is refused")
    func refusals() async throws {
        try await withHarness([]) { h in
            let lead = try await h.manager.startSession(agentID: "lead")
            let other = try await h.manager.startSession(agentID: "other")
            let otherRun = try await h.manager.startRun(in: other, messages: [ChatMessage(role: .user, content: "x")])
            let before = try await h.store.lastSequence()
            for (parent, code) in [
                (ParentLink(session: SessionID.generate()), SessionManagerError.Code.sessionNotFound),
                (ParentLink(session: lead, run: otherRun), .runNotFound),
                (ParentLink(session: lead, run: RunID.generate()), .runNotFound),
                (ParentLink(session: lead, toolCall: "toolu_1"), .invalidArgument),
            ] {
                let error = await #expect(throws: SessionManagerError.self) {
                    try await h.manager.startSession(agentID: "child", parent: parent)
                }
                #expect(error?.code == code, "\(parent)")
                await #expect(throws: SessionManagerError.self) {
                    try await h.manager.createSession(agentID: "child", parent: parent)
                }
            }
            #expect(try await h.store.lastSequence() == before, "nothing was written")
        }
    }
}
