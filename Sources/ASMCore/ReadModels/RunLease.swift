/// A process, named so that it is never confused with another: host, boot, pid and the
/// process's start time (clock ticks after boot; 0 where the system does not say).
public struct ProcessOwner: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var bootID: String
    public var pid: Int32
    public var startTime: UInt64

    public init(host: String, bootID: String, pid: Int32, startTime: UInt64) {
        self.host = host
        self.bootID = bootID
        self.pid = pid
        self.startTime = startTime
    }

    public var description: String { "pid \(pid) on \(host)" }
}

/// An agent CLI's process group as its owner started it.
public struct AgentProcessGroup: Hashable, Sendable {
    /// The group id (the leader's pid).
    public var group: Int32
    /// The leader's start time, clock ticks after boot (0 where the system does not say).
    public var startTime: UInt64

    public init(group: Int32, startTime: UInt64) {
        self.group = group
        self.startTime = startTime
    }
}

/// A run that has not ended, with the lease of the process executing it.
public struct OpenRun: Hashable, Sendable {
    public var runID: RunID
    public var sessionID: SessionID
    public var status: RunStatus
    /// The process that recorded the run's request or start; `nil` for runs recorded before
    /// leases existed (or whose lease was never written).
    public var owner: ProcessOwner?
    /// The agent process group the owner started for it, if any.
    public var agent: AgentProcessGroup?

    public init(
        runID: RunID,
        sessionID: SessionID,
        status: RunStatus,
        owner: ProcessOwner?,
        agent: AgentProcessGroup?
    ) {
        self.runID = runID
        self.sessionID = sessionID
        self.status = status
        self.owner = owner
        self.agent = agent
    }
}

/// What is known of a lease holder from where the question is asked.
public enum OwnerState: Hashable, Sendable {
    /// The very process (same host, boot, pid and start time) is running.
    case alive
    /// It is not: no such pid, another process under that pid, or the machine rebooted.
    case gone
    /// It cannot be told from here (another host).
    case unknown
}

/// Whether an open run is abandoned, from its lease and what is known of the holder: a pure
/// decision, the process table is asked at the edge.
public enum AbandonedRuns {
    /// Why `run` is abandoned, or `nil` when it must be left alone.
    ///
    /// - Parameters:
    ///   - state: what is known of the lease holder.
    ///   - includingUnowned: treat a run without a lease (recorded before leases existed) as
    ///     abandoned; only an explicit `asm recover` does, as nothing says who runs it.
    public static func reason(
        for run: OpenRun,
        state: (ProcessOwner) -> OwnerState,
        includingUnowned: Bool
    ) -> String? {
        guard let owner = run.owner else {
            return includingUnowned
                ? "no process holds it: it was recorded without a lease, and was still \(run.status) when recovered"
                : nil
        }
        switch state(owner) {
        case .alive, .unknown: return nil
        case .gone: return "the process running it (\(owner)) ended without recording its end"
        }
    }
}

extension FailureKind {
    /// The process executing the run ended (killed, crashed, out of disk) without recording
    /// the run's end; a later process recorded it.
    public static let abandoned: FailureKind = "abandoned"
}
