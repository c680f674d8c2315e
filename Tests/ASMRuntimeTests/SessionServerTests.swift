import ASMCore
import ASMProviders
import ASMRuntime
import ASMStore
import ASMWorkspace
import AgentSessionManagerTesting
import FoundationEssentials
import Testing

/// The session server: the concurrency limit, the queue, cancel, drain and shutdown, and
/// subscriptions that resume from a cursor without a gap or a duplicate.
@Suite struct SessionServerTests {
    private func server(
        _ h: Harness,
        provider: String = "gate",
        limit: Int,
        window: Int? = nil
    ) async throws -> SessionServer {
        var configuration = SessionServer.Configuration(
            defaultOptions: RunOptions(provider: provider),
            maxConcurrentRuns: limit
        )
        if let window { configuration.subscriberWindow = window }
        return try await SessionServer.start(manager: h.manager, agentID: "server-tests", configuration: configuration)
    }

    private func queued(_ h: Harness, _ run: RunID) async throws -> RunQueued? {
        for envelope in try await h.events(of: run) {
            if case .runQueued(let queued) = envelope.event { return queued }
        }
        return nil
    }

    /// Everything a subscription yields until it ends.
    private func collect(_ subscription: ServerSubscription) async throws -> [EventEnvelope] {
        var events: [EventEnvelope] = []
        for try await envelope in subscription { events.append(envelope) }
        return events
    }

    @Test("no more runs execute at once than the limit; the rest wait in FIFO order with run.queued recorded")
    func concurrencyLimitAndQueueOrder() async throws {
        let gate = GateProvider()
        try await withHarness([gate]) { h in
            let server = try await server(h, limit: 2)
            var runs: [RunID] = []
            for index in 1...5 { runs.append(try await server.submitRun("r\(index)")) }
            await gate.waitUntilStarted(2)
            #expect(Set(gate.started) == ["r1", "r2"])
            let status = await server.status
            #expect(status.running == Array(runs[0..<2]) && status.queued == Array(runs[2...]))
            #expect(try await queued(h, runs[0]) == nil)
            for (offset, run) in runs[2...].enumerated() {
                let event = try #require(try await queued(h, run))
                #expect(event.position == offset + 1 && event.reason == "concurrency limit of 2 reached")
                #expect(try await h.store.run(run)?.status == .queued)
            }

            gate.release("r2")
            await gate.waitUntilStarted(3)
            #expect(gate.started.dropFirst(2) == ["r3"])
            gate.release("r1")
            await gate.waitUntilStarted(4)
            #expect(gate.started.dropFirst(2) == ["r3", "r4"])
            for prompt in ["r3", "r4", "r5"] { gate.release(prompt) }
            await server.drain()

            #expect(gate.started.dropFirst(2) == ["r3", "r4", "r5"])
            #expect(gate.maximumRunning == 2)
            for run in runs {
                #expect(try await server.result(of: run).status == .completed)
                #expect(try await h.store.run(run)?.status == .completed)
            }
            let after = await server.status
            #expect(after.state == .stopped && after.running.isEmpty && after.queued.isEmpty && after.finished == 5)
        }
    }

    @Test(
        "cancelling a queued run records it as cancelled and it never starts; cancelling a running one frees its slot"
    )
    func cancelQueuedAndRunning() async throws {
        let gate = GateProvider()
        try await withHarness([gate]) { h in
            let server = try await server(h, limit: 1)
            let a = try await server.submitRun("a")
            let b = try await server.submitRun("b")
            let c = try await server.submitRun("c")
            await gate.waitUntilStarted(1)

            try await server.cancel(b)
            #expect(try await h.store.run(b)?.status == .cancelled)
            #expect(try await h.types(of: b) == ["run.requested", "message.received", "run.queued", "run.cancelled"])
            let queuedResult = try await server.result(of: b)
            #expect(queuedResult.status == .cancelled && queuedResult.cancelReason == .requested)

            try await server.cancel(a)
            #expect(try await server.result(of: a).status == .cancelled)
            await gate.waitUntilStarted(2)
            #expect(gate.started == ["a", "c"], "the cancelled queued run never reached the provider")
            gate.release("c")
            #expect(try await server.result(of: c).status == .completed)
            try await server.cancel(c)
            #expect(try await h.store.run(c)?.status == .completed, "a finished run is left as it is")
            await server.drain()
        }
    }

    @Test(
        "shutdown cancels running runs the provider's way and records queued ones as cancelled; then nothing is accepted"
    )
    func shutdownWithRunsInFlight() async throws {
        let gate = GateProvider()
        try await withHarness([gate]) { h in
            let server = try await server(h, limit: 2)
            let subscription = server.subscribe()
            let everything = Task { try await collect(subscription) }
            var runs: [RunID] = []
            for index in 1...4 { runs.append(try await server.submitRun("s\(index)")) }
            await gate.waitUntilStarted(2)

            await server.shutdown()
            for run in runs {
                let summary = try #require(try await h.store.run(run))
                #expect(summary.status == .cancelled && summary.cancelReason == .shutdown)
            }
            #expect(Set(gate.started) == ["s1", "s2"])
            #expect(try await h.types(of: runs[3]).last == "run.cancelled")
            await #expect(throws: SessionServerError.self) { _ = try await server.submitRun("late") }

            // The live subscription ends after the server's last event, having seen every one.
            let seen = try await everything.value
            let logged = try await h.events(server.session)
            #expect(seen.map(\.sequence) == logged.map(\.sequence))
            #expect(seen.filter { $0.type == .runCancelled }.count == 4)
        }
    }

    @Test("drain refuses new runs and returns once the queued and running ones have ended")
    func drainFinishesWork() async throws {
        let gate = GateProvider()
        try await withHarness([gate]) { h in
            let server = try await server(h, limit: 1)
            let first = try await server.submitRun("d1")
            let second = try await server.submitRun("d2")
            let draining = Task { await server.drain() }
            while await server.status.state == .accepting { await Task.yield() }
            await #expect(throws: SessionServerError.self) { _ = try await server.submitRun("d3") }
            gate.release("d1")
            gate.release("d2")
            await draining.value
            #expect(try await h.store.run(first)?.status == .completed)
            #expect(try await h.store.run(second)?.status == .completed)
            #expect(try await h.store.runs(in: server.session).count == 2, "the refused run was not recorded")
        }
    }

    @Test("runs on the same workspace are serialized; a run on another workspace passes them")
    func workspaceSerialization() async throws {
        let repository = try await ScratchRepository.make()
        defer { repository.directory.remove() }
        let gate = GateProvider()
        try await withHarness([gate]) { h in
            let server = try await server(h, limit: 3)
            let shared = RunOptions(provider: "gate", workspace: WorkspaceOptions(path: repository.path))
            let first = try await server.submitRun([ChatMessage(role: .user, content: "w1")], options: shared)
            let second = try await server.submitRun([ChatMessage(role: .user, content: "w2")], options: shared)
            let other = try await server.submitRun("elsewhere")
            await gate.waitUntilStarted(2)
            #expect(Set(gate.started) == ["w1", "elsewhere"])
            let event = try #require(try await queued(h, second))
            #expect(event.reason.hasPrefix("workspace ") && event.reason.hasSuffix(" is in use"))

            gate.release("w1")
            await gate.waitUntilStarted(3)
            #expect(gate.started.last == "w2" && gate.started.count == 3)
            gate.release("w2")
            gate.release("elsewhere")
            await server.drain()

            // The second run's pre snapshot comes after the first run's post snapshot.
            let firstEvents = try await h.events(of: first).filter { $0.type == .workspaceSnapshotTaken }
            let secondEvents = try await h.events(of: second).filter { $0.type == .workspaceSnapshotTaken }
            #expect(firstEvents.count == 2 && secondEvents.count == 2)
            let firstPost = try #require(firstEvents.last).sequence
            let secondPre = try #require(secondEvents.first).sequence
            #expect(firstPost < secondPre)
            #expect(try await h.store.run(other)?.status == .completed)
        }
    }

    @Test("a run whose workspace cannot be used is recorded as failed, and the queue moves on")
    func startFailureIsRecorded() async throws {
        let gate = GateProvider()
        try await withHarness([gate]) { h in
            let server = try await server(h, limit: 1)
            let missing = RunOptions(provider: "gate", workspace: WorkspaceOptions(path: "/nonexistent/asm-workspace"))
            let broken = try await server.submitRun([ChatMessage(role: .user, content: "broken")], options: missing)
            let next = try await server.submitRun("next")
            let result = try await server.result(of: broken)
            #expect(result.status == .failed && result.failure?.kind == .invalidRequest)
            #expect(result.failure?.message.hasPrefix("the run could not start:") == true)
            #expect(try await h.store.run(broken)?.status == .failed)
            gate.release("next")
            #expect(try await server.result(of: next).status == .completed)
            await server.drain()
        }
    }

    @Test("a submission the server cannot run is refused before anything is recorded")
    func refusedSubmissions() async throws {
        let gate = GateProvider()
        try await withHarness([gate]) { h in
            let server = try await server(h, limit: 1)
            await #expect(throws: SessionManagerError.self) {
                _ = try await server.submitRun(
                    [ChatMessage(role: .user, content: "x")],
                    options: RunOptions(provider: "nope")
                )
            }
            await #expect(throws: SessionManagerError.self) { _ = try await server.submitRun([]) }
            await #expect(throws: SessionServerError.self) {
                _ = try await server.submitRun([ChatMessage(role: .user, content: "x")], in: SessionID.generate())
            }
            #expect(try await h.store.runs(in: server.session).isEmpty)
            #expect(throws: SessionServerError.self) {
                _ = try SessionServer(
                    manager: h.manager,
                    sessions: [server.session],
                    configuration: .init(defaultOptions: RunOptions(provider: "gate"), maxConcurrentRuns: 0)
                )
            }
            await server.drain()
        }
    }

    @Test("a run continues from the runs that had ended when it started, not from runs still executing beside it")
    func continuationSkipsUnfinishedRuns() async throws {
        let gate = GateProvider()
        try await withHarness([gate]) { h in
            let server = try await server(h, limit: 2)
            gate.release("first question")
            _ = try await server.result(of: try await server.submitRun("first question"))
            _ = try await server.submitRun("still running")
            await gate.waitUntilStarted(2)
            gate.release("third")
            _ = try await server.result(of: try await server.submitRun("third"))
            #expect(gate.messages(of: "third") == ["first question", "done: first question", "third"])
            gate.release("still running")
            await server.drain()
        }
    }

    @Test(
        "resubscribing from the last seen sequence + 1 yields exactly the missed events, under load from concurrent runs"
    )
    func resumeFromCursorUnderLoad() async throws {
        let provider = ScriptedProvider(
            script: ProviderScript([.text(String(repeating: "token ", count: 300), chunks: 300)])
        )
        try await withHarness([provider]) { h in
            let server = try await server(h, provider: "scripted", limit: 4)
            let whole = Task { try await collect(server.subscribe()) }
            // A subscriber that disconnects every 97 events and resumes from its cursor.
            let resuming = Task {
                var events: [EventEnvelope] = []
                var cursor = SequenceNumber(1)
                var reconnects = 0
                while true {
                    var taken = 0
                    var ended = true
                    for try await envelope in server.subscribe(from: cursor) {
                        events.append(envelope)
                        cursor = envelope.sequence.next
                        taken += 1
                        if taken == 97 {
                            ended = false
                            break
                        }
                    }
                    if ended { return (events, reconnects) }
                    reconnects += 1
                }
            }
            for index in 1...8 { _ = try await server.submitRun("load \(index)") }
            await server.drain()

            let logged = try await h.events(server.session)
            #expect(logged.count > 2_400, "eight runs of 300 deltas each")
            let all = try await whole.value
            let (resumed, reconnects) = try await resuming.value
            #expect(all.map(\.sequence) == logged.map(\.sequence))
            #expect(resumed.map(\.sequence) == logged.map(\.sequence))
            #expect(resumed.map(\.id) == logged.map(\.id))
            #expect(reconnects >= 20)
            // The runs interleaved: some run's events are not contiguous.
            let order = logged.compactMap(\.runID)
            let switches = zip(order, order.dropFirst()).filter { $0 != $1 }.count
            #expect(switches > 7)
        }
    }

    @Test("a slow subscriber falls behind the in-memory window, reads the log, and still gets every event once")
    func slowSubscriber() async throws {
        let provider = ScriptedProvider(
            script: ProviderScript([.text(String(repeating: "x ", count: 100), chunks: 100)])
        )
        try await withHarness([provider]) { h in
            let server = try await server(h, provider: "scripted", limit: 2, window: 16)
            var iterator = server.subscribe().makeAsyncIterator()
            let first = try await server.submitRun("one")
            let head = try #require(try await iterator.next())
            #expect(head.type == .sessionCreated)
            _ = first
            for index in 2...6 { _ = try await server.submitRun("run \(index)") }
            await server.drain()

            var events = [head]
            while let envelope = try await iterator.next() { events.append(envelope) }
            let logged = try await h.events(server.session)
            #expect(events.map(\.sequence) == logged.map(\.sequence))
            #expect(iterator.logReads > 0, "the subscriber read what it missed from the log")
        }
    }

    @Test("subscriptions filter by run and by type, in sequence order")
    func filteredSubscriptions() async throws {
        let gate = GateProvider(chunks: 3)
        try await withHarness([gate]) { h in
            let server = try await server(h, limit: 2)
            let one = try await server.submitRun("one")
            let two = try await server.submitRun("two")
            gate.release("two")
            gate.release("one")
            await server.drain()
            let ofTwo = try await collect(server.subscribe(filter: EventFilter(run: two)))
            #expect(ofTwo.map(\.sequence) == (try await h.events(of: two)).map(\.sequence))
            #expect(ofTwo.allSatisfy { $0.runID == two })
            let ends = try await collect(server.subscribe(filter: EventFilter(types: [.runCompleted])))
            #expect(ends.map(\.type) == [.runCompleted, .runCompleted] && Set(ends.compactMap(\.runID)) == [one, two])
            #expect(ends[0].sequence < ends[1].sequence)
        }
    }

    @Test("a durable consumer keeps its position through the server, across a new server on the same store")
    func durableConsumer() async throws {
        let gate = GateProvider()
        try await withHarness([gate]) { h in
            let server = try await server(h, limit: 2)
            gate.release("a")
            _ = try await server.result(of: try await server.submitRun("a"))
            var taken: [EventEnvelope] = []
            for try await envelope in try await server.subscribe(consumer: "ui") {
                taken.append(envelope)
                if taken.count == 4 { break }
            }
            try await server.acknowledge(consumer: "ui", through: taken[3].sequence)
            await server.drain()

            let restarted = try SessionServer(
                manager: h.manager,
                sessions: [server.session],
                configuration: .init(defaultOptions: RunOptions(provider: "gate"), maxConcurrentRuns: 1)
            )
            gate.release("b")
            _ = try await restarted.result(of: try await restarted.submitRun("b"))
            await restarted.drain()
            let rest = try await collect(try await restarted.subscribe(consumer: "ui"))
            let logged = try await h.events(server.session)
            #expect(rest.map(\.sequence) == logged.dropFirst(taken.count).map(\.sequence))
            #expect(try await h.store.consumerPosition("ui") == taken[3].sequence)
        }
    }
}

extension SessionServerTests {
    @Test("events another connection (or process) appends to the server's session reach subscribers in sequence order")
    func otherWriters() async throws {
        let gate = GateProvider()
        try await withHarness([gate]) { h in
            let server = try await server(h, limit: 1)
            let subscription = Task { try await collect(server.subscribe()) }
            let other = try SQLiteEventStore(path: h.store.path)
            let run = try await server.submitRun("mine")
            for index in 0..<20 {
                try await other.append(
                    NewEvent(MessageReceived(role: .user, content: "note \(index)")),
                    to: server.session.stream,
                    expectedVersion: .any
                )
            }
            gate.release("mine")
            _ = try await server.result(of: run)
            await other.close()
            await server.drain()
            let seen = try await subscription.value
            let logged = try await h.events(server.session)
            #expect(seen.map(\.sequence) == logged.map(\.sequence))
            #expect(seen.filter { $0.runID == nil && $0.type == .messageReceived }.count == 20)
        }
    }
}

extension SessionServerTests {
    @Test("the server's log reader sleeps through its own process's commits and wakes for another writer's")
    func readerWakesOnlyForOtherWriters() async throws {
        try await withHarness([GateProvider()]) { h in
            let server = try await server(h, limit: 1)
            var live = server.subscribe(filter: EventFilter(types: [.messageReceived])).makeAsyncIterator()
            func note(_ text: String, by store: SQLiteEventStore) async throws {
                try await store.append(
                    NewEvent(MessageReceived(role: .user, content: text)),
                    to: server.session.stream,
                    expectedVersion: .any
                )
            }
            // Once the first note is delivered the reader is live: later commits of this
            // process reach the subscriber from the writer, without waking it.
            try await note("first", by: h.store)
            #expect(try await live.next()?.sequence != nil)
            let wakeUps = server.readerWakeUps
            for index in 0..<30 { try await note("own \(index)", by: h.store) }
            for _ in 0..<30 { _ = try await live.next() }
            #expect(server.readerWakeUps == wakeUps)
            let other = try SQLiteEventStore(path: h.store.path)
            try await note("from another writer", by: other)
            guard case .messageReceived(let message)? = try await live.next()?.event else {
                Issue.record("the other writer's event did not arrive")
                return
            }
            #expect(message.content == "from another writer")
            #expect(server.readerWakeUps > wakeUps)
            await other.close()
            await server.shutdown()
        }
    }
}

extension SessionServerTests {
    @Test("a server of several sessions runs runs in each and its subscriptions carry exactly their events")
    func severalSessions() async throws {
        let gate = GateProvider()
        try await withHarness([gate]) { h in
            let first = try await h.manager.startSession(agentID: "a")
            let second = try await h.manager.startSession(agentID: "b")
            let outside = try await h.manager.startSession(agentID: "not served")
            let server = try SessionServer(
                manager: h.manager,
                sessions: [first, second],
                configuration: .init(defaultOptions: RunOptions(provider: "gate"), maxConcurrentRuns: 2)
            )
            let live = Task { try await collect(server.subscribe()) }
            gate.release("in a")
            gate.release("in b")
            let a = try await server.submitRun("in a")
            let b = try await server.submitRun([ChatMessage(role: .user, content: "in b")], in: second)
            try await h.store.append(
                NewEvent(MessageReceived(role: .user, content: "elsewhere")),
                to: outside.stream,
                expectedVersion: .any
            )
            #expect(try await server.result(of: a).sessionID == first)
            #expect(try await server.result(of: b).sessionID == second)
            await server.drain()

            let served = (try await h.events(first) + (try await h.events(second))).map(\.sequence).sorted()
            #expect(try await live.value.map(\.sequence) == served, "live: both sessions, nothing of the third")
            let backfill = try await collect(server.subscribe())
            #expect(backfill.map(\.sequence) == served, "from the log: the same")
            let onlySecond = try await collect(server.subscribe(filter: .session(second)))
            #expect(onlySecond.map(\.sequence) == (try await h.events(second)).map(\.sequence))
        }
    }

    @Test("results of older runs are let go beyond the retained count; the log still has them")
    func retainedResults() async throws {
        let gate = GateProvider()
        try await withHarness([gate]) { h in
            var configuration = SessionServer.Configuration(
                defaultOptions: RunOptions(provider: "gate"),
                maxConcurrentRuns: 1
            )
            configuration.retainedResults = 1
            let server = try await SessionServer.start(manager: h.manager, agentID: "a", configuration: configuration)
            gate.release("old")
            gate.release("new")
            let old = try await server.submitRun("old")
            _ = try await server.result(of: old)
            let new = try await server.submitRun("new")
            #expect(try await server.result(of: new).status == .completed)
            await #expect(throws: SessionServerError.self) { _ = try await server.result(of: old) }
            #expect(try await h.store.run(old)?.status == .completed)
            await server.drain()
        }
    }
}

extension SessionServerTests {
    @Test("runs are requested and sessions completed while other events keep landing in the session")
    func contendedSession() async throws {
        try await withTemporaryStore { base in
            let manager = SessionManager(store: BusyStore(base), providers: [ScriptedProvider(script: .reply("ok"))])
            let session = try await manager.startSession(agentID: "busy")
            for index in 0..<3 {
                _ = try await manager.startRun(in: session, messages: [ChatMessage(role: .user, content: "r\(index)")])
            }
            try await manager.completeSession(session)
            #expect(try await base.session(session)?.status == .completed)
            #expect(try await base.runs(in: session).count == 3)
            await #expect(throws: SessionManagerError.self) {
                _ = try await manager.startRun(in: session, messages: [ChatMessage(role: .user, content: "late")])
            }
        }
    }

    @Test("a session completed by another writer refuses new runs, even while its runs append")
    func completedElsewhere() async throws {
        let gate = GateProvider()
        try await withHarness([gate]) { h in
            let server = try await server(h, limit: 2)
            _ = try await server.submitRun("first")
            await gate.waitUntilStarted(1)
            try await h.store.append(
                NewEvent(SessionCompleted(summary: "done elsewhere")),
                to: server.session.stream,
                expectedVersion: .any
            )
            let error = await #expect(throws: SessionManagerError.self) { _ = try await server.submitRun("late") }
            #expect(error?.code == .illegalTransition)
            gate.release("first")
            await server.drain()
        }
    }
}
