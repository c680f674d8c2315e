import ASMCore
import ASMPolicy
import ASMProviders
import ASMRouting
import ASMRuntime
import Testing

/// The run machine step by step: one input per line, the exact actions it returns.
struct RunMachineTests {
    static let run = RunID(uuid: UUIDValue(high: 0x01a2_0ff0_5540_7061, low: 0xb2b1_94ba_85f0_5a07))
    static let session = SessionID(uuid: UUIDValue(high: 0x01a2_0ff0_5540_7061, low: 0xb2b1_94ba_85f0_5a08))
    static let t0 = Timestamp(microseconds: 1_767_225_600_000_000)
    static let opening = SessionEvent.continuationApplied(
        ContinuationApplied(requested: "auto", applied: "off", reason: "first run")
    )

    static func at(_ milliseconds: Int64) -> Timestamp { t0.adding(microseconds: milliseconds * 1000) }

    static func machine(
        lane: RunMachine.Lane = .provider("p", asksBeforeTools: false),
        policies: [Policy] = [],
        deadline: Duration? = nil,
        idleTimeout: Duration? = nil,
        hasWorkspace: Bool = false
    ) throws -> RunMachine {
        RunMachine(
            RunMachine.Configuration(
                runID: run,
                sessionID: session,
                engine: PolicyEngine(stack: try PolicyStack(policies), runID: run),
                lane: lane,
                priceTable: .standard,
                deadline: deadline,
                idleTimeout: idleTimeout,
                opening: [opening],
                hasWorkspace: hasWorkspace
            )
        )
    }

    static func event(_ event: ProviderEvent, at milliseconds: Int64 = 0, attempt: Int = 1) -> RunMachine.Input {
        .providerEvent(event, attempt: attempt, at: at(milliseconds))
    }

    static func committed(_ first: Int64, _ last: Int64, at milliseconds: Int64 = 0) -> RunMachine.Input {
        .committed(first: SequenceNumber(first), last: SequenceNumber(last), at: at(milliseconds))
    }

    static let started = ProviderEvent.started(RunStarted(provider: "p", model: "m"))

    /// The types of the one batch `actions` append.
    static func appended(_ actions: [RunMachine.Action]) -> [String] {
        guard actions.count == 1, case .append(let events) = actions[0] else { return ["not one append: \(actions)"] }
        return events.map(\.type.rawValue)
    }

    @Test("a run: opening, attempt, provider events batched while a write is in flight, the terminal alone and last")
    func plainRun() throws {
        var m = try Self.machine()
        #expect(m.start(at: Self.t0) == [])
        #expect(m.flush() == [.append([Self.opening])])
        #expect(m.flush() == [])  // one batch in flight at a time
        #expect(m.receive(Self.committed(3, 3)) == [.startAttempt(provider: "p", attempt: 1, asksBeforeTools: false)])
        #expect(m.receive(Self.event(Self.started)) == [])
        #expect(m.receive(Self.event(.streamed(MessageStreamed(delta: "hello ")))) == [])
        #expect(
            m.flush() == [
                .append([
                    .runStarted(RunStarted(provider: "p", model: "m")),
                    .messageStreamed(MessageStreamed(delta: "hello ")),
                ])
            ]
        )
        // Arriving during the write: it waits for the next batch.
        #expect(m.receive(Self.event(.streamed(MessageStreamed(delta: "world ")))) == [])
        #expect(m.flush() == [])
        #expect(m.receive(Self.committed(4, 5)) == [])
        #expect(m.flush() == [.append([.messageStreamed(MessageStreamed(delta: "world "))])])
        #expect(m.receive(Self.committed(6, 6)) == [])
        // The terminal goes alone, after everything else.
        #expect(m.receive(Self.event(.completed(RunCompleted(outputText: "hello world")))) == [])
        #expect(m.flush() == [.append([.runCompleted(RunCompleted(outputText: "hello world"))])])
        let actions = m.receive(Self.committed(7, 7))
        guard case .finish(let result)? = actions.first, actions.count == 1 else {
            Issue.record("expected the result, got \(actions)")
            return
        }
        #expect(
            result.status == .completed && result.outputText == "hello world" && result.provider == "p"
                && result.model == "m"
        )
        #expect(
            result.eventsWritten == 5 && result.firstSequence == SequenceNumber(3)
                && result.lastSequence == SequenceNumber(7)
        )
        #expect(result.attempts == 1 && result.continuation?.applied == "off")
        #expect(m.isFinished && m.receive(Self.event(.streamed(MessageStreamed(delta: "late")))) == [])
    }

    @Test("streamed text is held until no secret can be cut in two; the rest is recorded before what follows")
    func heldStreamedText() throws {
        var m = try Self.machine()
        _ = m.start(at: Self.t0)
        _ = m.flush()
        _ = m.receive(Self.committed(3, 3))
        _ = m.receive(Self.event(Self.started))
        let token = "ghp_" + String(repeating: "aB3dE5fG7h", count: 4)
        // A partial word waits; a token cut in two is never passed on in pieces.
        #expect(m.receive(Self.event(.streamed(MessageStreamed(delta: "use " + token.prefix(10))))) == [])
        #expect(
            m.flush() == [
                .append([
                    .runStarted(RunStarted(provider: "p", model: "m")),
                    .messageStreamed(MessageStreamed(delta: "use ")),
                ])
            ]
        )
        _ = m.receive(Self.committed(4, 5))
        #expect(m.receive(Self.event(.streamed(MessageStreamed(delta: String(token.dropFirst(10)))))) == [])
        #expect(m.flush() == [])
        // The next event flushes the held text, redacted whole, before itself.
        _ = m.receive(Self.event(.received(MessageReceived(role: .assistant, content: "use \(token)"))))
        #expect(
            m.flush() == [
                .append([
                    .messageStreamed(MessageStreamed(delta: "[REDACTED:github-token]")),
                    .messageReceived(MessageReceived(role: .assistant, content: "use [REDACTED:github-token]")),
                ])
            ]
        )
    }

    @Test("the deadline fires at its time only: the provider is cancelled once and the run fails as a timeout")
    func deadline() throws {
        var m = try Self.machine(deadline: .milliseconds(50))
        #expect(m.start(at: Self.t0) == [.armTimer(.deadline, at: Self.at(50))])
        _ = m.flush()
        #expect(m.receive(Self.committed(1, 1)) == [.startAttempt(provider: "p", attempt: 1, asksBeforeTools: false)])
        #expect(m.receive(.timerFired(.deadline, at: Self.at(49))) == [])  // early: not yet
        #expect(m.receive(.timerFired(.deadline, at: Self.at(50))) == [.cancelProvider(.deadline)])
        #expect(m.receive(.cancelRequested(.requested)) == [])  // already being stopped
        #expect(m.receive(Self.event(.cancelled(RunCancelled(reason: .deadline)), at: 51)) == [])
        let failure = RunFailure(kind: .timeout, message: "the run's deadline of 50 ms passed")
        #expect(m.flush() == [.append([.runFailed(RunFailed(failure: failure))])])
        guard case .finish(let result)? = m.receive(Self.committed(2, 2)).first else {
            Issue.record("no result")
            return
        }
        #expect(result.status == .failed && result.failure == failure)
    }

    @Test("the idle timeout moves with each event, pauses while a tool waits, and ends a silent attempt")
    func idleTimeout() throws {
        let held = Policy(name: "team", toolRules: [.deny([try ToolPattern("Bash")])], onViolation: .requestApproval)
        var m = try Self.machine(
            lane: .provider("p", asksBeforeTools: true),
            policies: [held],
            idleTimeout: .seconds(1)
        )
        #expect(m.start(at: Self.t0) == [])
        #expect(Self.appended(m.flush()) == ["policy.evaluated", "continuation.applied"])
        #expect(
            m.receive(Self.committed(1, 2)) == [
                .startAttempt(provider: "p", attempt: 1, asksBeforeTools: true), .armTimer(.idle, at: Self.at(1000)),
            ]
        )
        #expect(m.receive(Self.event(Self.started, at: 400)) == [.armTimer(.idle, at: Self.at(1400))])
        _ = m.flush()
        #expect(m.receive(Self.committed(3, 3, at: 400)) == [])
        // A tool waits for an answer: no idle timer meanwhile.
        let call = ToolCallStarted(callID: "c1", name: "Bash", input: ["command": "ls"])
        #expect(m.receive(.toolPermissionRequested(call, attempt: 1, at: Self.at(500))) == [.disarmTimer(.idle)])
        #expect(Self.appended(m.flush()) == ["tool_call.requested"])
        #expect(m.receive(Self.committed(4, 4, at: 500)) == [])  // held for approval
        #expect(Self.appended(m.flush()) == ["policy.violated", "tool_approval.requested"])
        // The approval waits ten minutes at most (the default), then it is denied.
        #expect(m.receive(Self.committed(5, 6, at: 500)) == [.armTimer(.approvals, at: Self.at(600_500))])
        let approval = "\(Self.run)/1"
        let resolved = ToolApprovalResolved(approvalID: approval, approved: false, resolvedBy: "ana")
        #expect(m.receive(.approvalResolved(resolved)) == [.approvalAnswered(approvalID: approval, accepted: true)])
        #expect(m.receive(.approvalResolved(resolved)) == [.approvalAnswered(approvalID: approval, accepted: false)])
        #expect(m.flush() == [.append([.toolApprovalResolved(resolved)])])
        // The denial is answered once it is in the log, and the idle timer starts again.
        #expect(
            m.receive(Self.committed(7, 7, at: 2000)) == [
                .answerTool(callID: "c1", .deny("approval \(approval) was denied")),
                .armTimer(.idle, at: Self.at(3000)), .disarmTimer(.approvals),
            ]
        )
        #expect(m.receive(.timerFired(.idle, at: Self.at(3000))) == [.cancelProvider(.idleTimeout)])
        #expect(m.receive(Self.event(.cancelled(RunCancelled(reason: .idleTimeout)), at: 3001)) == [])
        let failure = RunFailure(kind: .timeout, message: "p wrote nothing for 1 s")
        #expect(m.flush() == [.append([.runFailed(RunFailed(failure: failure))])])
    }

    @Test(
        "the duration limit fires on its tick with nothing else arriving, and a cancel action stops the provider once"
    )
    func durationTick() throws {
        let run = Policy(name: "run", limits: PolicyLimits(maxDuration: .milliseconds(80)), onViolation: .cancel)
        var m = try Self.machine(policies: [run])
        #expect(m.start(at: Self.t0) == [])
        _ = m.flush()
        #expect(
            m.receive(Self.committed(1, 2)) == [
                .armTimer(.policyTick, at: Self.at(81)),
                .startAttempt(provider: "p", attempt: 1, asksBeforeTools: false),
            ]
        )
        #expect(m.receive(.timerFired(.policyTick, at: Self.at(81))) == [.cancelProvider(.policy)])
        #expect(Self.appended(m.flush()) == ["policy.violated"])
        #expect(m.receive(Self.committed(3, 3, at: 82)) == [])
        // The provider reports success; the policy's cancellation is the run's end.
        #expect(m.receive(Self.event(.completed(RunCompleted(outputText: "done")), at: 90)) == [])
        guard case .append(let events)? = m.flush().first, case .runFailed(let failed)? = events.first else {
            Issue.record("the terminal is not a failure")
            return
        }
        #expect(failed.failure.kind == .policyViolation && events.count == 1)
    }

    @Test("a cancel before the attempt starts ends the run without starting the provider")
    func cancelBeforeStart() throws {
        var m = try Self.machine()
        _ = m.start(at: Self.t0)
        _ = m.flush()
        #expect(m.receive(.cancelRequested(.shutdown)) == [])
        #expect(m.receive(Self.committed(1, 1)) == [])
        #expect(
            m.flush() == [
                .append([.runCancelled(RunCancelled(reason: .shutdown, message: "cancelled before p started"))])
            ]
        )
    }

    @Test("a refused write stops the provider and ends the run without a result")
    func appendFailure() throws {
        let held = Policy(name: "team", toolRules: [.deny([try ToolPattern("Bash")])], onViolation: .requestApproval)
        var m = try Self.machine(lane: .provider("p", asksBeforeTools: true), policies: [held])
        _ = m.start(at: Self.t0)
        _ = m.flush()
        _ = m.receive(Self.committed(1, 2))
        let call = ToolCallStarted(callID: "c1", name: "Read", input: [:])
        #expect(m.receive(.toolPermissionRequested(call, attempt: 1, at: Self.at(1))) == [])
        _ = m.flush()
        #expect(
            m.receive(.appendFailed) == [
                .cancelProvider(.shutdown), .answerTool(callID: "c1", .deny("the run has ended")), .abort,
            ]
        )
        #expect(m.isFinished)
    }

    @Test("a provider's stream that ends without a terminal event ends the run as invalid output")
    func streamWithoutTerminal() throws {
        var m = try Self.machine()
        _ = m.start(at: Self.t0)
        _ = m.flush()
        _ = m.receive(Self.committed(1, 1))
        #expect(m.receive(.providerStreamEnded(attempt: 1)) == [])
        let failure = RunFailure(kind: .invalidOutput, message: "p ended the run without a result")
        #expect(m.flush() == [.append([.runFailed(RunFailed(failure: failure))])])
    }

    @Test("a workspace's post-run events come after the provider's and before the terminal")
    func workspace() throws {
        var m = try Self.machine(hasWorkspace: true)
        _ = m.start(at: Self.t0)
        _ = m.flush()
        _ = m.receive(Self.committed(1, 1))
        let failed = SessionEvent.runFailed(RunFailed(failure: RunFailure(kind: .apiError, message: "boom")))
        #expect(
            m.receive(Self.event(.failed(RunFailed(failure: RunFailure(kind: .apiError, message: "boom"))))) == [
                .finishWorkspace(terminal: failed)
            ]
        )
        let diff = SessionEvent.workspaceDiffComputed(
            WorkspaceDiffComputed(
                fromSnapshot: "a",
                toSnapshot: "b",
                filesChanged: 1,
                insertions: 1,
                deletions: 0,
                hasPatch: false,
                patchBytes: 0
            )
        )
        #expect(m.receive(.workspaceFinished([diff])) == [])
        #expect(m.flush() == [.append([diff])])
        #expect(m.receive(Self.committed(2, 2)) == [])
        #expect(m.flush() == [.append([failed])])
        guard case .finish(let result)? = m.receive(Self.committed(3, 3)).first else {
            Issue.record("no result")
            return
        }
        #expect(result.workspaceDiff?.filesChanged == 1 && result.status == .failed)
    }

    @Test(
        "routed: each attempt is decided from the folded log; a retryable failure fails over and counts against the provider"
    )
    func failover() throws {
        let config = RouterConfig(prefer: ["a", "b"])
        let candidates = [CandidateProfile(name: "a", capabilities: []), CandidateProfile(name: "b", capabilities: [])]
        let router = Router(config: config)
        let lane = RunMachine.RoutedLane(
            router: router,
            folding: router,
            candidates: candidates,
            recordedConfig: config.json,
            stickyKey: "s"
        )
        var m = try Self.machine(lane: .routed(lane))
        _ = m.start(at: Self.t0)
        _ = m.flush()
        #expect(m.receive(Self.committed(1, 1)) == [.loadRouterState(forDecision: true)])
        var state = RouterState()
        state.position = SequenceNumber(1)
        #expect(
            m.receive(.routerState(state, now: Self.at(1), seed: 7)) == [
                .startAttempt(provider: "a", attempt: 1, asksBeforeTools: false)
            ]
        )
        var first = router.decide(
            state,
            RouteRequest(runID: Self.run, attempt: 1, stickyKey: "s"),
            candidates: candidates,
            now: Self.at(1),
            seed: 7
        )
        first.event.router = config.json
        #expect(m.flush() == [.append([.routingDecided(first.event)])])
        #expect(m.receive(Self.committed(2, 2)) == [])
        // a fails before any output: judged once everything is in the log.
        let limited = RunFailure(kind: .rateLimited, message: "429")
        #expect(m.receive(Self.event(.failed(RunFailed(failure: limited)))) == [.loadRouterState(forDecision: true)])
        state.position = SequenceNumber(2)
        #expect(
            m.receive(.routerState(state, now: Self.at(5), seed: 8)) == [
                .startAttempt(provider: "b", attempt: 2, asksBeforeTools: false)
            ]
        )
        #expect(Self.appended(m.flush()) == ["routing.failed_over", "routing.decided"])
        #expect(m.receive(Self.committed(3, 4)) == [])
        #expect(m.receive(Self.event(.started(RunStarted(provider: "b")), attempt: 2)) == [])
        guard case .append(let events)? = m.flush().first, case .runStarted(let started)? = events.first else {
            Issue.record("the attempt's start is not recorded")
            return
        }
        #expect(started.attempt == 2)
        _ = m.receive(Self.committed(5, 5))
        // A late event of the first attempt is ignored.
        #expect(m.receive(Self.event(.streamed(MessageStreamed(delta: "stale")), attempt: 1)) == [])
        #expect(m.receive(Self.event(.completed(RunCompleted()), attempt: 2)) == [.loadRouterState(forDecision: false)])
        #expect(m.receive(.routerState(state, now: Self.at(9), seed: nil)) == [])
        #expect(m.flush() == [.append([.runCompleted(RunCompleted())])])
        guard case .finish(let result)? = m.receive(Self.committed(6, 6)).first else {
            Issue.record("no result")
            return
        }
        #expect(result.attempts == 2 && result.provider == "b" && result.status == .completed)
    }

    @Test(
        "routed: a cancel before the decided attempt starts records it cancelled, and nothing fails over after a cancel"
    )
    func routedCancel() throws {
        let config = RouterConfig(prefer: ["a", "b"])
        let candidates = [CandidateProfile(name: "a", capabilities: []), CandidateProfile(name: "b", capabilities: [])]
        let router = Router(config: config)
        let lane = RunMachine.RoutedLane(
            router: router,
            folding: router,
            candidates: candidates,
            recordedConfig: config.json,
            stickyKey: nil
        )
        var m = try Self.machine(lane: .routed(lane))
        _ = m.start(at: Self.t0)
        _ = m.flush()
        #expect(m.receive(Self.committed(1, 1)) == [.loadRouterState(forDecision: true)])
        #expect(m.receive(.cancelRequested(.requested)) == [])
        #expect(m.receive(.routerState(RouterState(), now: Self.at(1), seed: 1)) == [])
        #expect(Self.appended(m.flush()) == ["routing.decided"])
        #expect(m.receive(Self.committed(2, 2)) == [])
        #expect(
            m.flush() == [
                .append([.runCancelled(RunCancelled(reason: .requested, message: "cancelled before a started"))])
            ]
        )
    }
}
