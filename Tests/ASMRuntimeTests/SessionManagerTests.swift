import ASMCore
import ASMPolicy
import ASMProviders
import ASMRuntime
import ASMStore
import AgentSessionManagerTesting
import FoundationEssentials
import Testing

/// Sessions and runs through the manager: what is recorded, and what is refused.
struct SessionManagerTests {
    @Test("a run is recorded as request, user message, continuation, every provider event and one terminal event")
    func recordsRun() async throws {
        let provider = ScriptedProvider(
            script: ProviderScript(
                [
                    .text("Let me look.", chunks: 2),
                    .toolCall(name: "Bash", input: ["command": "ls"], output: "README.md"),
                    .usage(TokenUsage(input: 100, output: 20, cacheRead: 50), reportedCostUSD: 0.01),
                    .text("A README."),
                ],
                providerSessionID: "thread-9"
            )
        )
        try await withHarness([provider]) { h in
            let session = try await h.manager.startSession(agentID: "reviewer", tags: ["t"])
            let seen = Seen<SessionEvent>()
            let result = try await h.manager.run(
                "What is here?",
                in: session,
                options: RunOptions(
                    provider: "scripted",
                    model: "m1",
                    environment: ["SECRET_TOKEN": "hunter2-secret-value"]
                )
            ) { seen.add($0) }

            #expect(
                result.status == .completed && result.outputText == "A README."
                    && result.providerSessionID == "thread-9"
            )
            #expect(result.usage == TokenUsage(input: 100, output: 20, cacheRead: 50))
            #expect(result.reportedCostUSD == 0.01)
            #expect(
                try await h.types(of: result.runID) == [
                    // "Let me look." in two chunks is passed on a word at a time: "Let ", "me ",
                    // "look." (held until the message ends); "A README." as "A ", "README.".
                    "run.requested", "message.received", "continuation.applied", "run.started", "message.streamed",
                    "message.streamed", "message.streamed", "message.received", "tool_call.started",
                    "tool_call.completed", "token_usage.updated",
                    "message.streamed", "message.streamed", "message.received", "run.completed",
                ]
            )
            #expect(
                result.eventsWritten == 13 && seen.all.count == 13,
                "the callback sees each event the execution records"
            )
            // The environment reaches the provider, never the log.
            #expect(provider.receivedRequests.first?.environment["SECRET_TOKEN"] == "hunter2-secret-value")
            let page = try await h.store.recordedEvents(from: .zero, limit: 1000, filter: EventFilter())
            #expect(!page.events.contains { String(decoding: $0.payload, as: UTF8.self).contains("hunter2") })

            let row = try #require(try await h.manager.run(result.runID))
            #expect(row.status == .completed && row.provider == "scripted" && row.providerSessionID == "thread-9")
            #expect(
                try await h.manager.transcript(of: session).map(\.content) == [
                    "What is here?", "Let me look.", "A README.",
                ]
            )
        }
    }

    @Test(
        "usage is priced with the table, its version recorded, and the projection sums it; Claude's own cost kept beside"
    )
    func cost() async throws {
        let provider = ScriptedProvider(
            name: "claude",
            script: ProviderScript(
                [
                    .usage(
                        TokenUsage(input: 10, output: 79, cacheRead: 29_696, cacheWrite: 5300),
                        reportedCostUSD: 0.029999
                    ),
                    .usage(
                        TokenUsage(input: 1000, output: 500, cacheRead: 20_000, cacheWrite: 3000),
                        reportedCostUSD: 0.06
                    ),
                ],
                model: "claude-sonnet-4-5-20250929"
            )
        )
        try await withHarness([provider]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let result = try await h.manager.run("x", in: session, options: RunOptions(provider: "claude"))
            // $0.0299988 + $0.02775, by hand.
            let expected: Int64 = 29_998_800 + 27_750_000
            #expect(result.costNanoUSD == expected)
            #expect(result.priceTable == "standard-2026-11" && result.reportedCostUSD == 0.06)
            let updates = try await h.events(of: result.runID).compactMap { envelope -> TokenUsageUpdated? in
                if case .tokenUsageUpdated(let update) = envelope.event { return update }
                return nil
            }
            #expect(updates.map(\.costNanoUSD) == [29_998_800, 27_750_000])
            #expect(updates.allSatisfy { $0.priceTable == "standard-2026-11" })
            let row = try #require(try await h.manager.usage(by: .session, session: session).first)
            #expect(row.costNanoUSD == 57_748_800 && row.reportedCostNanoUSD == 60_000_000)
        }
    }

    @Test("a model the table has no price for records no cost rather than a wrong one")
    func unpriced() async throws {
        let provider = ScriptedProvider(
            name: "amp",
            script: ProviderScript([.usage(TokenUsage(input: 10))], model: "smart")
        )
        try await withHarness([provider]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let result = try await h.manager.run("x", in: session, options: RunOptions(provider: "amp"))
            #expect(result.costNanoUSD == nil && result.priceTable == nil && result.costUSD == nil)
        }
    }

    // MARK: State transitions

    @Test("illegal transitions are typed errors and append nothing")
    func illegalTransitions() async throws {
        let provider = ScriptedProvider(script: .reply("ok"))
        try await withHarness([provider]) { h in
            let manager = h.manager
            func refused(
                _ code: SessionManagerError.Code,
                _ session: SessionID?,
                _ action: () async throws -> Void
            ) async throws {
                let before = try await h.store.lastSequence()
                do {
                    try await action()
                    Issue.record("expected \(code)")
                } catch let error as SessionManagerError {
                    #expect(error.code == code, "\(error)")
                }
                #expect(try await h.store.lastSequence() == before, "a refused transition appended something")
            }
            let created = try await manager.createSession(agentID: "a")
            try await refused(.illegalTransition, created) {
                _ = try await manager.startRun(in: created, messages: [ChatMessage(role: .user, content: "hi")])
            }
            try await refused(.illegalTransition, created) { try await manager.completeSession(created) }
            try await manager.activateSession(created)
            try await refused(.illegalTransition, created) { try await manager.activateSession(created) }

            let run = try await manager.startRun(in: created, messages: [ChatMessage(role: .user, content: "hi")])
            _ = try await manager.execute(run, options: RunOptions(provider: "scripted"))
            try await refused(.illegalTransition, created) {
                _ = try await manager.execute(run, options: RunOptions(provider: "scripted"))
            }

            let waiting = try await manager.startRun(
                in: created,
                messages: [ChatMessage(role: .user, content: "later")]
            )
            try await manager.completeSession(created, summary: "done")
            try await refused(.illegalTransition, created) {
                _ = try await manager.startRun(in: created, messages: [ChatMessage(role: .user, content: "hi")])
            }
            try await refused(.illegalTransition, created) {
                _ = try await manager.execute(waiting, options: RunOptions(provider: "scripted"))
            }
            try await manager.archiveSession(created)
            try await refused(.illegalTransition, created) { try await manager.archiveSession(created) }
            try await refused(.illegalTransition, created) { try await manager.failSession(created, reason: "x") }

            try await refused(.sessionNotFound, nil) { try await manager.activateSession(.generate()) }
            try await refused(.runNotFound, nil) {
                _ = try await manager.execute(.generate(), options: RunOptions(provider: "scripted"))
            }
            let active = try await manager.startSession(agentID: "b")
            let another = try await manager.startRun(in: active, messages: [ChatMessage(role: .user, content: "x")])
            try await refused(.unknownProvider, active) {
                _ = try await manager.execute(another, options: RunOptions(provider: "gemini"))
            }
            try await refused(.invalidPolicy, active) {
                _ = try await manager.execute(
                    another,
                    options: RunOptions(
                        provider: "scripted",
                        policies: [Policy(name: "zero", limits: PolicyLimits(maxCostUSD: 0))]
                    )
                )
            }
            try await refused(.invalidArgument, active) { _ = try await manager.startRun(in: active, messages: []) }
            #expect(try await manager.session(created)?.status == .archived)
        }
    }

    @Test("a run executes once: a second execute while it runs is refused, and so is completing its session")
    func concurrentExecute() async throws {
        let provider = ScriptedProvider(script: ProviderScript([.text("thinking"), .hang]))
        try await withHarness([provider]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let run = try await h.manager.startRun(in: session, messages: [ChatMessage(role: .user, content: "x")])
            let started = Latch()
            let first = Task {
                try await h.manager.execute(run, options: RunOptions(provider: "scripted")) { event in
                    if case .runStarted = event { started.open() }
                }
            }
            await started.wait()
            await #expect(throws: SessionManagerError(.alreadyExecuting, "run \(run) is already executing")) {
                _ = try await h.manager.execute(run, options: RunOptions(provider: "scripted"))
            }
            await #expect(throws: SessionManagerError.self) { try await h.manager.completeSession(session) }
            try await h.manager.cancel(run)
            try await h.manager.cancel(run)
            let result = try await first.value
            #expect(result.status == .cancelled && result.cancelReason == .requested)
            try await h.manager.cancel(run)  // finished: left as it is
            #expect(
                try await h.types(of: run).filter { $0.hasPrefix("run.") } == [
                    "run.requested", "run.started", "run.cancelled",
                ]
            )
            try await h.manager.completeSession(session)
        }
    }

    @Test("a requested run cancelled before it executes is recorded as cancelled and cannot execute")
    func cancelBeforeExecute() async throws {
        try await withHarness([ScriptedProvider(script: .reply("ok"))]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let run = try await h.manager.startRun(in: session, messages: [ChatMessage(role: .user, content: "x")])
            try await h.manager.cancel(run, reason: .shutdown)
            try await h.manager.cancel(run, reason: .shutdown)
            #expect(try await h.manager.run(run)?.status == .cancelled)
            #expect(try await h.types(of: run) == ["run.requested", "message.received", "run.cancelled"])
            await #expect(throws: SessionManagerError.self) {
                _ = try await h.manager.execute(run, options: RunOptions(provider: "scripted"))
            }
            await #expect(throws: SessionManagerError(.runNotFound, "no run 01a20ff0-5540-7061-b2b1-94ba85f05a07")) {
                try await h.manager.cancel(RunID("01a20ff0-5540-7061-b2b1-94ba85f05a07")!)
            }
        }
    }

    @Test("the run's deadline ends a hung provider as a timeout, at the deadline and not before")
    func deadline() async throws {
        let clock = ManualClock()
        try await withHarness([ScriptedProvider(script: ProviderScript([.text("a"), .hang]))], clock: clock) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let running = Task {
                try await h.manager.run(
                    "x",
                    in: session,
                    options: RunOptions(provider: "scripted", deadline: .seconds(30))
                )
            }
            await clock.waitForSleepers(1)  // the deadline's timer
            clock.advance(by: .milliseconds(29_999))
            await clock.waitForSleepers(1)  // woken early, it waits again
            clock.advance(by: .milliseconds(1))
            let result = try await running.value
            #expect(
                result.status == .failed
                    && result.failure == RunFailure(kind: .timeout, message: "the run's deadline of 30 s passed")
            )
            #expect(try await h.types(of: result.runID).suffix(2) == ["message.received", "run.failed"])
        }
    }

    @Test("the idle timeout ends a provider that goes silent, counted from its last event")
    func idleTimeout() async throws {
        let clock = ManualClock()
        try await withHarness([ScriptedProvider(script: ProviderScript([.text("a"), .hang]))], clock: clock) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let spoke = Latch()
            let running = Task {
                try await h.manager.run(
                    "x",
                    in: session,
                    options: RunOptions(provider: "scripted", idleTimeout: .seconds(10))
                ) { event in
                    if case .messageReceived = event { spoke.open() }
                }
            }
            // Its last output is in (the timer counts from it), then silence.
            await spoke.wait()
            await clock.waitForSleepers(1)
            clock.advance(by: .seconds(10))
            let result = try await running.value
            #expect(
                result.status == .failed
                    && result.failure == RunFailure(kind: .timeout, message: "scripted wrote nothing for 10 s")
            )
        }
    }

    @Test("a provider whose events end without a terminal event still ends the run, as invalid output")
    func providerWithoutTerminal() async throws {
        try await withHarness([EndlessProvider()]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let result = try await h.manager.run("x", in: session, options: RunOptions(provider: "broken"))
            #expect(result.status == .failed && result.failure?.kind == .invalidOutput)
            #expect(try await h.manager.run(result.runID)?.status == .failed)
        }
    }

    @Test("a burst of deltas is written whole and in order, in fewer transactions than events")
    func burst() async throws {
        let text = String(repeating: "abcdefghi ", count: 200)
        try await withHarness([ScriptedProvider(script: ProviderScript([.text(text, chunks: 500)]))]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let before = h.store.committedTransactions
            let result = try await h.manager.run("x", in: session, options: RunOptions(provider: "scripted"))
            let deltas = try await h.events(of: result.runID).compactMap { envelope -> String? in
                if case .messageStreamed(let streamed) = envelope.event { return streamed.delta }
                return nil
            }
            // Passed on a whole word at a time: one delta per chunk that completes a word.
            #expect(deltas.count == 200 && deltas.joined() == text)
            #expect(h.store.committedTransactions - before < result.eventsWritten)
        }
    }

    @Test("when the log stops accepting writes, the provider is stopped and the error is thrown")
    func writeFailureStopsProvider() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(path: directory.file("asm.sqlite"))
        let provider = ScriptedProvider(script: ProviderScript([.text("a"), .hang]))
        let manager = SessionManager(store: store, providers: [provider])
        let session = try await manager.startSession(agentID: "a")
        await #expect(throws: StoreError.self) {
            _ = try await manager.run("x", in: session, options: RunOptions(provider: "scripted")) { event in
                if case .runStarted = event { await store.close() }
            }
        }
    }
}

/// A provider that breaks the contract: its events end without a terminal event.
struct EndlessProvider: ProviderAdapter {
    var name: String { "broken" }
    var capabilities: ProviderCapabilities {
        ProviderCapabilities(
            streamsText: false,
            reportsToolCalls: false,
            resumesNatively: false,
            interrupts: false,
            toolGate: .observeOnly
        )
    }
    func execute(_ request: ProviderRequest) -> ProviderEventStream {
        .finished([
            .started(RunStarted(provider: "broken")), .received(MessageReceived(role: .assistant, content: "hi")),
        ])
    }
    func cancel(_ run: RunID, reason: CancelReason) async {}
}
