import ASMCore
import ASMPolicy
import ASMProviders
import ASMStore
import AgentSessionManagerTesting
import Testing

@testable import ASMRuntime

/// Approvals as records anyone can answer: the approvals projection, the first answer
/// winning in the append, and a held tool answered from another process through the log.
struct ApprovalTests {
    static let team = Policy(
        name: "team",
        toolRules: [.deny([PolicyExecutionTests.pattern("Bash(make deploy*)")])],
        onViolation: .requestApproval
    )

    static func holdingProvider() -> ScriptedProvider {
        PolicyExecutionTests.provider([
            .toolCall(name: "Bash", input: ["command": "make deploy"], output: "ok"), .text("done"),
        ])
    }

    /// A second manager on its own store of the same file: another process, as far as the
    /// log goes.
    private func elsewhere(_ path: String) throws -> (SQLiteEventStore, SessionManager) {
        let store = try SQLiteEventStore(path: path)
        return (store, SessionManager(store: store, providers: []))
    }

    @Test(
        "a held tool is answered from another process: approved it runs, denied it does not; both see the answer",
        arguments: [true, false]
    )
    func answeredElsewhere(approve: Bool) async throws {
        try await withHarness([Self.holdingProvider()]) { h in
            let (otherStore, other) = try elsewhere(h.store.path)
            let session = try await h.manager.startSession(agentID: "a")
            let answering = Task {
                let requested = try await otherStore.nextApprovalRequest()
                #expect(try await otherStore.approvals(pendingOnly: true).map(\.approvalID) == [requested.approvalID])
                try await other.resolveApproval(requested.approvalID, approved: approve, by: "bo", reason: "on call")
                return requested
            }
            let result = try await h.manager.run(
                "x",
                in: session,
                options: RunOptions(provider: "claude", policies: [Self.team])
            )
            let requested = try await answering.value
            #expect(result.status == .completed)
            let types = try await h.types(of: result.runID)
            #expect(types.filter { $0 == "tool_approval.resolved" }.count == 1, "recorded once, by the other process")
            #expect(types.contains("tool_call.started") == approve)
            // Replay checks each held tool's fate against its recorded answer.
            #expect(try await ReplayVerifier(store: h.store).verify().isConsistent)
            if !approve {
                // A log claiming the denied tool ran anyway does not replay.
                try await h.store.append(
                    [
                        NewEvent(
                            ToolCallStarted(
                                callID: requested.callID ?? "",
                                name: "Bash",
                                input: ["command": "make deploy"]
                            ),
                            run: result.runID
                        )
                    ],
                    to: session.stream,
                    expectedVersion: .any
                )
                let report = try await ReplayVerifier(store: h.store).verify()
                #expect(
                    report.mismatches.map(\.message)
                        == ["held tool \(requested.callID ?? "") started although its approval was denied"]
                )
            }
            for store in [h.store, otherStore] {
                let approval = try #require(try await store.approvals(id: requested.approvalID).first)
                #expect(approval.status == (approve ? .approved : .denied) && approval.resolvedBy == "bo")
                #expect(approval.reason == "on call" && approval.tool == "Bash" && approval.canBlock)
            }
            await otherStore.close()
        }
    }

    @Test("two processes answering one approval at once: exactly one answer is recorded, the other is refused")
    func racingAnswers() async throws {
        try await withHarness([Self.holdingProvider()]) { h in
            let (firstStore, first) = try elsewhere(h.store.path)
            let (secondStore, second) = try elsewhere(h.store.path)
            let session = try await h.manager.startSession(agentID: "a")
            let answering = Task { () -> [Bool] in
                let requested = try await firstStore.nextApprovalRequest()
                func answer(_ manager: SessionManager, _ approved: Bool) async -> Result<Void, any Error> {
                    do {
                        try await manager.resolveApproval(requested.approvalID, approved: approved, by: "\(approved)")
                        return .success(())
                    } catch {
                        return .failure(error)
                    }
                }
                async let yes = answer(first, true)
                async let no = answer(second, false)
                let outcomes = await [yes, no]
                for case .failure(let error) in outcomes {
                    #expect((error as? SessionManagerError)?.code == .alreadyResolved)
                }
                return outcomes.map { if case .success = $0 { true } else { false } }
            }
            let result = try await h.manager.run(
                "x",
                in: session,
                options: RunOptions(provider: "claude", policies: [Self.team])
            )
            let recorded = try await answering.value
            #expect(recorded.filter { $0 }.count == 1, "one answer wins")
            let resolutions = try await h.events(of: result.runID).compactMap { envelope -> ToolApprovalResolved? in
                if case .toolApprovalResolved(let resolved) = envelope.event { return resolved }
                return nil
            }
            #expect(resolutions.count == 1)
            let approved = try #require(resolutions.first).approved
            #expect(approved == recorded[0], "the recorded answer is the winner's")
            #expect(try await h.types(of: result.runID).contains("tool_call.started") == approved)
            await firstStore.close()
            await secondStore.close()
        }
    }

    @Test(
        "an approval nobody answers is denied at its deadline, by the clock alone, and recorded once; the timeout comes from the run's options or the policy's approval_timeout_ms",
        arguments: [false, true]
    )
    func deadline(fromPolicy: Bool) async throws {
        let clock = ManualClock()
        try await withHarness([Self.holdingProvider()], clock: clock) { h in
            let session = try await h.manager.startSession(agentID: "a")
            var team = Self.team
            if fromPolicy { team.approvalTimeout = .milliseconds(30_000) }
            var options = RunOptions(provider: "claude", policies: [team])
            if !fromPolicy { options.approvalTimeout = .seconds(30) }
            let expiring = Task {
                _ = try await h.store.nextApprovalRequest()
                // The run's timers wait on the clock (its approval deadline) before it moves.
                await clock.waitForSleepers(1)
                clock.advance(by: .seconds(29))
                // Not yet: an answer could still come. Then the deadline passes.
                #expect(try await h.store.approvals(pendingOnly: true).count == 1)
                clock.advance(by: .seconds(1))
            }
            let result = try await h.manager.run("x", in: session, options: options)
            try await expiring.value
            #expect(result.status == .completed)
            let resolutions = try await h.events(of: result.runID).compactMap { envelope -> ToolApprovalResolved? in
                if case .toolApprovalResolved(let resolved) = envelope.event { return resolved }
                return nil
            }
            #expect(
                resolutions
                    == [
                        ToolApprovalResolved(
                            approvalID: resolutions.first?.approvalID ?? "",
                            approved: false,
                            resolvedBy: "timeout",
                            reason: "no answer within 30 s"
                        )
                    ]
            )
            #expect(!(try await h.types(of: result.runID)).contains("tool_call.started"), "fail closed: it never ran")
            let approval = try #require(try await h.store.approvals(pendingOnly: false).first)
            #expect(approval.status == .denied)
            #expect(
                approval.deadline == Timestamp(microseconds: approval.requestedAt.microseconds + 30_000_000),
                "the deadline is on record"
            )
        }
    }

    @Test("an approval waiting when its run ends is closed with it; a later answer is refused")
    func closedWithRun() async throws {
        try await withTemporaryStore { store in
            let session = SessionID.generate()
            let run = RunID.generate()
            try await store.append(
                [
                    NewEvent(SessionCreated(agentID: "a")), NewEvent(SessionActivated()),
                    NewEvent(RunRequested(messages: [ChatMessage(role: .user, content: "x")]), run: run),
                    NewEvent(
                        ToolApprovalRequested(
                            approvalID: "\(run)/1",
                            callID: "call_1",
                            tool: "Bash",
                            input: ["command": "make deploy"],
                            policy: "team",
                            rule: "deny:Bash(make deploy*)",
                            canBlock: true
                        ),
                        run: run
                    ),
                ],
                to: session.stream,
                expectedVersion: .noStream
            )
            #expect(try await store.approvals(pendingOnly: true).map(\.approvalID) == ["\(run)/1"])
            #expect(try await store.approvals(id: String("\(run)".prefix(8))).count == 1, "an id prefix finds it")
            try await store.append(
                [NewEvent(RunFailed(failure: RunFailure(kind: .abandoned, message: "gone")), run: run)],
                to: session.stream,
                expectedVersion: .any
            )
            let closed = try #require(try await store.approvals(id: "\(run)/1").first)
            #expect(closed.status == .closed && closed.reason == "the run ended: failed (abandoned)")
            #expect(try await store.approvals(pendingOnly: true).isEmpty)
            var refused: StoreError?
            do {
                try await store.append(
                    [NewEvent(ToolApprovalResolved(approvalID: "\(run)/1", approved: true), run: run)],
                    to: session.stream,
                    expectedVersion: .any
                )
            } catch let error as StoreError {
                refused = error
            }
            #expect(refused?.code == .alreadyResolved)
            #expect(refused?.description.contains("is closed with its run") == true)
            // Rebuilt from the log alone, the projection is the same.
            _ = try await store.rebuildProjections(progress: nil)
            #expect(try await store.approvals(id: "\(run)/1").first == closed)
        }
    }
}
