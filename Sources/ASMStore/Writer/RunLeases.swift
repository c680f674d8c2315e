public import ASMCore
internal import ASMSystem

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

extension ProcessOwner {
    /// This process.
    public static let current = ProcessOwner(
        host: ProcessIdentity.host,
        bootID: ProcessIdentity.bootID,
        pid: ProcessIdentity.pid,
        startTime: ProcessIdentity.startTime
    )

    /// What is known of this owner from this process: `alive` only when its pid still
    /// names the same process (same start time) on this host and boot.
    public var state: OwnerState {
        guard host == ProcessIdentity.host else { return .unknown }
        if self == .current { return .alive }
        if !bootID.isEmpty, !ProcessIdentity.bootID.isEmpty {
            guard bootID == ProcessIdentity.bootID else { return .gone }
        }
        if ProcessIdentity.hasProcessTable {
            guard let started = ProcessIdentity.startTime(of: pid) else { return .gone }
            return started == startTime ? .alive : .gone
        }
        // Without a process table a live pid may be another process: never close its runs.
        switch ProcessIdentity.exists(pid) {
        case false?: return .gone
        case true?, nil: return .alive
        }
    }
}

/// Keeps `run_leases` in step with the events of one append, in its transaction: a run's
/// request or start makes the appending process its holder, its end removes the lease.
enum RunLeases {
    static func apply(
        _ event: SessionEvent,
        run: UUIDValue,
        session: UUIDValue,
        owner: ProcessOwner,
        connection: Connection
    ) throws(SQLiteError) {
        switch event {
        case .runRequested, .runStarted:
            let statement = try connection.statement(
                """
                INSERT INTO run_leases (run_id, session_id, host, boot_id, pid, started)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                ON CONFLICT (run_id) DO UPDATE SET host = ?3, boot_id = ?4, pid = ?5, started = ?6
                """
            )
            statement.bind(run, at: 1)
            statement.bind(session, at: 2)
            statement.bind(owner.host, at: 3)
            statement.bind(owner.bootID, at: 4)
            statement.bind(Int64(owner.pid), at: 5)
            statement.bind(Int64(bitPattern: owner.startTime), at: 6)
            try statement.execute()
        case .runCompleted, .runFailed, .runCancelled:
            let statement = try connection.statement("DELETE FROM run_leases WHERE run_id = ?1")
            statement.bind(run, at: 1)
            try statement.execute()
        default:
            return
        }
    }
}
