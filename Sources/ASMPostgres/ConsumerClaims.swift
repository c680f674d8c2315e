internal import ASMStore
internal import ASMSystem
internal import PostgresNIO

/// The durable consumers a PostgreSQL store runs, each held as a session-level advisory lock
/// on a connection of its own. The server drops the lock when that connection ends — the
/// process exited or was killed, its host went away — so another instance, on any host, can
/// take over; while it is held, no other instance can claim the consumer or acknowledge for it.
actor ConsumerClaims {
    private struct Held {
        let link: Link
        let backend: Int64
    }

    /// The lock's two keys for the consumer named `$1`; the schema keeps logs apart.
    static let keys = "hashtext(current_schema() || ' consumer'), hashtext($1)"
    /// The session holding the lock of the consumer named `$1`, if any: backend pid, name, address.
    static let holder = """
        SELECT l.pid::bigint, coalesce(a.application_name, ''), coalesce(host(a.client_addr), 'a local socket')
        FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 AND l.pid <> pg_backend_pid()
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = hashtext(current_schema() || ' consumer')::oid AND l.objid = hashtext($1)::oid
        LIMIT 1
        """

    private let location: PostgresLocation
    private let timeout: Duration
    private var held: [String: Held] = [:]

    init(location: PostgresLocation, timeout: Duration) {
        self.location = location
        self.timeout = timeout
    }

    /// Claims `name` on a connection of its own (nothing to do while that connection holds it).
    func claim(_ name: String) async throws(StoreError) {
        if let current = held[name] {
            if !current.link.isClosed { return }
            held[name] = nil  // its connection ended, and the server dropped the lock with it
        }
        let note = "asm consumer, pid \(ProcessIdentity.pid) on \(ProcessIdentity.host)"
        let link = try await Link.connect(location, timeout: timeout, name: String(note.utf8.prefix(63)) ?? "asm")
        do throws(StoreError) {
            let rows = try await link.query(
                "SELECT pg_try_advisory_lock(\(Self.keys)), pg_backend_pid()::bigint",
                Self.bindings(name),
                doing: "claiming a consumer"
            ).map(Columns.init)
            guard let row = rows.first, row.bool(0) else {
                throw Self.busy(
                    name,
                    holder: try await link.query(Self.holder, Self.bindings(name), doing: "claiming a consumer").map(
                        Columns.init
                    ).first
                )
            }
            if let other = held[name], !other.link.isClosed {
                link.close()  // claimed twice at once in this store: keep the first
                return
            }
            held[name] = Held(link: link, backend: row.int64(1))
        } catch {
            link.close()
            throw error
        }
    }

    /// Gives the claim up: unlocked before this returns, so another instance can take it at once.
    func release(_ name: String) async {
        guard let current = held.removeValue(forKey: name) else { return }
        // A connection that ended took the lock with it (and takes no more queries).
        guard !current.link.isClosed else { return }
        // A connection the server has just dropped may not say so yet, and a query on it would
        // wait for ever: the unlock gets two seconds, then the connection is closed, which
        // drops the lock too.
        let link = current.link
        let bindings = Self.bindings(name)
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                _ = try? await link.query(
                    "SELECT pg_advisory_unlock(\(Self.keys))",
                    bindings,
                    doing: "releasing a consumer"
                )
            }
            group.addTask { try? await Task.sleep(for: .seconds(2)) }
            await group.next()
            link.close()  // ends a query still waiting, too
            group.cancelAll()
        }
    }

    func releaseAll() async {
        for name in held.keys { await release(name) }
    }

    /// The backend holding `name` for this store, if it does.
    func backend(of name: String) -> Int64? {
        held[name].flatMap { $0.link.isClosed ? nil : $0.backend }
    }

    /// In an acknowledgement's transaction on `link`: refuses when another instance holds
    /// `name`. When nobody does, takes the lock until the transaction ends, so nobody can
    /// claim the consumer while its checkpoint moves.
    static func checkExclusive(_ name: String, ours: Int64?, on link: Link) throws(StoreError) {
        let free =
            try link.blockingQuery(
                "SELECT pg_try_advisory_xact_lock(\(keys))",
                bindings(name),
                doing: "acknowledging"
            ).map(Columns.init).first?.bool(0) ?? false
        if free { return }
        let holder = try link.blockingQuery(holder, bindings(name), doing: "acknowledging").map(Columns.init).first
        if let holder, let ours, holder.int64(0) == ours { return }
        throw busy(name, holder: holder)
    }

    private static func busy(_ name: String, holder: Columns?) -> StoreError {
        let who = holder.map { "\($0.text(1)), server pid \($0.int64(0)), from \($0.text(2))" } ?? "another instance"
        return StoreError(.consumerBusy, "consumer \"\(name)\" is already running (\(who))")
    }

    private static func bindings(_ name: String) -> PostgresBindings {
        var binds = PostgresBindings()
        binds.append(name)
        return binds
    }
}
