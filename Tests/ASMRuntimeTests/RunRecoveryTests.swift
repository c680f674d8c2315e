import ASMCore
import ASMProviders
import ASMStore
import AgentSessionManagerTesting
import Synchronization
import Testing

@testable import ASMRuntime

/// Runs whose executing process died are closed by the next process to look; runs of a
/// live process are never touched.
struct RunRecoveryTests {
    /// A process that is not this one, whose liveness each test decides.
    static let other = ProcessOwner(host: ProcessOwner.current.host, bootID: "boot", pid: 4_000_000, startTime: 7)

    /// A store whose appends hold runs for `owner`, opened on `path`.
    private func store(_ path: String, owner: ProcessOwner?) throws -> SQLiteEventStore {
        var configuration = SQLiteEventStore.Configuration()
        configuration.owner = owner
        return try SQLiteEventStore(path: path, configuration: configuration)
    }

    /// Records a session and one run in it, requested (and started when asked) by `owner`.
    private func openRun(_ path: String, owner: ProcessOwner?, started: Bool) async throws -> (SessionID, RunID) {
        let store = try store(path, owner: owner)
        defer { Task { await store.close() } }
        let session = SessionID.generate()
        let run = RunID.generate()
        try await store.append(
            [NewEvent(SessionCreated(agentID: "a")), NewEvent(SessionActivated())],
            to: session.stream,
            expectedVersion: .noStream
        )
        var events = [NewEvent(RunRequested(messages: [ChatMessage(role: .user, content: "hi")]), run: run)]
        if started { events.append(NewEvent(RunStarted(provider: "claude"), run: run)) }
        try await store.append(events, to: session.stream, expectedVersion: .any)
        return (session, run)
    }

    @Test("a run's request and start lease it to the appending process; its end removes the lease")
    func leases() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        let (session, run) = try await openRun(path, owner: Self.other, started: false)
        let store = try store(path, owner: .current)
        let open = try await store.openRuns()
        #expect(open.map(\.runID) == [run] && open.first?.owner == Self.other && open.first?.status == .requested)
        // Starting it here moves the lease to this process; the agent's group is recorded.
        try await store.append(
            [NewEvent(RunStarted(provider: "claude"), run: run)],
            to: session.stream,
            expectedVersion: .any
        )
        try await store.recordAgentProcess(AgentProcessGroup(group: 1234, startTime: 99), for: run)
        let started = try #require(try await store.openRuns().first)
        #expect(started.owner == .current && started.status == .running)
        #expect(started.agent == AgentProcessGroup(group: 1234, startTime: 99))
        try await store.append(
            [NewEvent(RunCompleted(outputText: "done"), run: run)],
            to: session.stream,
            expectedVersion: .any
        )
        #expect(try await store.openRuns().isEmpty)
        await store.close()
    }

    @Test(
        "a gone holder's runs are recorded abandoned, its agent stopped; a live or remote holder's are untouched",
        arguments: [OwnerState.gone, .alive, .unknown]
    )
    func decides(state: OwnerState) async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        let (session, run) = try await openRun(path, owner: Self.other, started: true)
        let store = try store(path, owner: .current)
        try await store.recordAgentProcess(AgentProcessGroup(group: 4242, startTime: 1), for: run)
        let stopped = Mutex<[AgentProcessGroup]>([])
        let recovery = RunRecovery(
            store: store,
            ownerState: { $0 == Self.other ? state : .alive },
            stopAgent: { group in
                stopped.withLock { $0.append(group) }
                return true
            }
        )
        let report = try await recovery.recover()
        let summary = try #require(try await store.run(run))
        if state == .gone {
            #expect(report.abandoned.map(\.runID) == [run] && report.leftOpen == 0)
            #expect(report.abandoned.first?.owner == Self.other && report.abandoned.first?.stoppedAgent == true)
            #expect(stopped.withLock { $0 } == [AgentProcessGroup(group: 4242, startTime: 1)])
            #expect(summary.status == .failed && summary.failureKind == .abandoned)
            #expect(
                summary.failureMessage
                    == "the process running it (pid 4000000 on \(Self.other.host)) ended without recording its end"
            )
            let last = try #require(
                try await store.stream(session.stream, fromVersion: StreamVersion(1), limit: 100).last
            )
            #expect(last.event.type == .runFailed && last.runID == run)
            #expect(try await store.openRuns().isEmpty)
            #expect(try await store.verify(progress: nil).isIntact)
        } else {
            #expect(report.abandoned.isEmpty && report.leftOpen == 1)
            #expect(stopped.withLock { $0 }.isEmpty)
            #expect(summary.status == .running)
        }
        await store.close()
    }

    @Test("runs recorded without a lease are closed only when asked to include them")
    func unowned() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        let (_, run) = try await openRun(path, owner: nil, started: false)
        let store = try store(path, owner: .current)
        let recovery = RunRecovery(store: store)
        #expect(try await recovery.recover().leftOpen == 1)
        #expect(try await store.run(run)?.status == .requested)
        let report = try await recovery.recover(includingUnowned: true)
        #expect(report.abandoned.map(\.runID) == [run])
        #expect(try await store.run(run)?.failureKind == .abandoned)
        await store.close()
    }

    @Test("two processes recovering at once record one end per run")
    func concurrent() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        var runs: [RunID] = []
        for _ in 0..<3 { runs.append(try await openRun(path, owner: Self.other, started: true).1) }
        let first = try store(path, owner: .current)
        let second = try store(path, owner: .current)
        let gone: @Sendable (ProcessOwner) -> OwnerState = { $0 == Self.other ? .gone : .alive }
        async let a = RunRecovery(store: first, ownerState: gone, stopAgent: { _ in false }).recover()
        async let b = RunRecovery(store: second, ownerState: gone, stopAgent: { _ in false }).recover()
        let (left, right) = try await (a, b)
        #expect(left.abandoned.count + right.abandoned.count == 3)
        let failed = try await first.events(from: .zero, limit: 1000, filter: EventFilter(types: [.runFailed]))
        #expect(failed.events.count == 3)
        #expect(Set(failed.events.compactMap(\.runID)) == Set(runs))
        await first.close()
        await second.close()
    }

    @Test("the process-table check: this process is alive, a pid that never started is gone, another host unknown")
    func ownerStates() {
        #expect(ProcessOwner.current.state == .alive)
        var reused = ProcessOwner.current
        reused.startTime &+= 1
        #expect(reused.state == .gone, "the same pid with another start time is another process")
        var remote = ProcessOwner.current
        remote.host += ".elsewhere"
        #expect(remote.state == .unknown)
        var rebooted = ProcessOwner.current
        rebooted.bootID = "another-boot"
        #expect(rebooted.state == (ProcessOwner.current.bootID.isEmpty ? .alive : .gone))
    }
}
