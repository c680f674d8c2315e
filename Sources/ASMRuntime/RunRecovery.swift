public import ASMCore
public import ASMStore
internal import ASMSystem

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// Closes the runs whose executing process is gone: a run the log shows `requested`,
/// `queued` or `running` whose lease holder has died (killed, crashed, out of disk) gets its
/// end recorded — `run.failed` with kind ``FailureKind/abandoned`` and the holder in the
/// message — after what is left of its agent's process group is stopped. Runs of a live
/// holder, or of a holder on another host, are never touched.
///
/// `asm run`, `asm serve`, `asm recover` and a ``SessionManager`` before its first run do
/// this on the file they write. The pass reads one index of open runs, so on a clean file it
/// costs one query.
public struct RunRecovery: Sendable {
    /// A run this pass closed.
    public struct Abandoned: Hashable, Sendable {
        public var runID: RunID
        public var sessionID: SessionID
        /// Where it stood when its holder died.
        public var status: RunStatus
        /// Why it was closed, as the `run.failed` event says.
        public var reason: String
        /// The process that held it, when a lease named one.
        public var owner: ProcessOwner?
        /// Whether an agent process group of it was still there and was stopped.
        public var stoppedAgent: Bool
    }

    /// What a pass found and did.
    public struct Report: Hashable, Sendable {
        /// The runs closed, oldest first.
        public var abandoned: [Abandoned] = []
        /// Open runs left alone: their holder is alive or on another host.
        public var leftOpen: Int = 0
    }

    public let store: any EventStore
    /// What is known of a lease holder; the process table by default.
    let ownerState: @Sendable (ProcessOwner) -> OwnerState
    /// Stops an agent process group that is still the one recorded; the process table by
    /// default.
    let stopAgent: @Sendable (AgentProcessGroup) -> Bool

    public init(store: any EventStore) {
        self.init(store: store, ownerState: { $0.state }, stopAgent: Self.stop)
    }

    init(
        store: any EventStore,
        ownerState: @escaping @Sendable (ProcessOwner) -> OwnerState,
        stopAgent: @escaping @Sendable (AgentProcessGroup) -> Bool
    ) {
        self.store = store
        self.ownerState = ownerState
        self.stopAgent = stopAgent
    }

    /// Closes every abandoned run.
    /// - Parameter includingUnowned: also close open runs without a lease (recorded before
    ///   leases existed): nothing says a process still runs them, nor that none does.
    /// - Throws: ``StoreError`` when the log cannot be read or written.
    public func recover(includingUnowned: Bool = false) async throws -> Report {
        var report = Report()
        var candidates: [OpenRun] = []
        for run in try await store.openRuns() {
            if AbandonedRuns.reason(for: run, state: ownerState, includingUnowned: includingUnowned) != nil {
                candidates.append(run)
            } else {
                report.leftOpen += 1
            }
        }
        guard !candidates.isEmpty else { return report }
        // Closed concurrently, so the store commits many of the appends together (one
        // `fsync` per group), each still conditional on its own session.
        var closed: [Int: Abandoned] = [:]
        try await withThrowingTaskGroup(of: (Int, Abandoned?).self) { group in
            var next = 0
            func add() {
                let index = next
                let run = candidates[index]
                group.addTask { (index, try await close(run, includingUnowned: includingUnowned)) }
                next += 1
            }
            while next < min(candidates.count, Self.concurrentCloses) { add() }
            while let (index, outcome) = try await group.next() {
                if let outcome { closed[index] = outcome } else { report.leftOpen += 1 }
                if next < candidates.count { add() }
            }
        }
        report.abandoned = candidates.indices.compactMap { closed[$0] }
        return report
    }

    /// How many closes are in flight at once.
    static let concurrentCloses = 64

    /// Records `run`'s end, conditional on nothing having requested, started or ended a run
    /// of its session since the run was seen open (two recovering processes record one end).
    private func close(_ run: OpenRun, includingUnowned: Bool) async throws -> Abandoned? {
        for _ in 0..<16 {
            // The run and its session's version from one snapshot: the append below is
            // refused if anything that could change the verdict came after it.
            let (seen, version) = try await store.read { snapshot in
                (
                    try snapshot.openRun(run.runID),
                    try snapshot.session(run.sessionID)?.version
                )
            }
            guard let current = seen, let version,
                let reason = AbandonedRuns.reason(for: current, state: ownerState, includingUnowned: includingUnowned)
            else { return nil }
            let stopped = current.agent.map(stopAgent) ?? false
            do {
                try await store.append(
                    [
                        NewEvent(
                            id: .generate(),
                            runID: current.runID,
                            event: .runFailed(RunFailed(failure: RunFailure(kind: .abandoned, message: reason)))
                        )
                    ],
                    to: current.sessionID.stream,
                    expectedVersion: .noneSince(
                        version,
                        types: [.runRequested, .runStarted, .runCompleted, .runFailed, .runCancelled]
                    )
                )
                return Abandoned(
                    runID: current.runID,
                    sessionID: current.sessionID,
                    status: current.status,
                    reason: reason,
                    owner: current.owner,
                    stoppedAgent: stopped
                )
            } catch let error as StoreError where error.code == .versionConflict {
                continue  // something requested, started or ended a run of the session: look again
            }
        }
        return nil
    }

    /// Sends SIGKILL to `agent`'s group if it is still the one recorded: its leader is the
    /// same process (same start time), or gone (a group id is not reused while a member
    /// lives). Returns whether a signal was delivered.
    static func stop(_ agent: AgentProcessGroup) -> Bool {
        guard agent.group > 1 else { return false }
        if let started = ProcessIdentity.startTime(of: agent.group), agent.startTime != 0, started != agent.startTime {
            return false
        }
        return kill(-agent.group, SIGKILL) == 0
    }
}
