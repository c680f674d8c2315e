internal import Dispatch
internal import Synchronization

/// Reader connections, each lent to one caller at a time.
///
/// Readers are separate WAL connections: they never wait for the writer and see every
/// commit that finished before their read began.
final class ReaderPool: Sendable {
    private final class Slot: @unchecked Sendable {
        let connection: Connection
        init(_ connection: Connection) { self.connection = connection }
    }

    private let path: String
    private let busyTimeoutMilliseconds: Int32
    private let idleLimit: Int
    private let idle = Mutex<(slots: [Slot], closed: Bool)>(([], false))
    /// Where async reads run: concurrent, one thread per read in flight, like a
    /// dispatch-queue-per-reader pool.
    private let queue = DispatchQueue(label: "asm.store.readers", qos: .userInitiated, attributes: .concurrent)

    private let mode: Connection.OpenMode

    init(path: String, busyTimeoutMilliseconds: Int32, idleLimit: Int, mode: Connection.OpenMode = .readWrite) {
        self.mode = mode
        self.path = path
        self.busyTimeoutMilliseconds = busyTimeoutMilliseconds
        self.idleLimit = max(1, idleLimit)
    }

    /// Lends a reader connection to `body`.
    /// - Throws: what `body` throws, or ``StoreError`` when no connection can be opened.
    func withConnection<T>(_ body: (Connection) throws -> T) throws -> T {
        let taken = idle.withLock { state -> (Slot?, Bool) in (state.slots.popLast(), state.closed) }
        if taken.1 { throw StoreError(.closed, "the store is closed", path: path) }
        let slot: Slot
        if let reused = taken.0 {
            slot = reused
        } else {
            do {
                let connection = try Connection(path: path, mode: mode)
                connection.setBusyTimeout(milliseconds: busyTimeoutMilliseconds)
                try connection.execute("PRAGMA query_only = 1")
                slot = Slot(connection)
            } catch {
                throw StoreError.from(error, path: path, doing: "opening a reader")
            }
        }
        defer {
            slot.connection.rollback()
            let kept = idle.withLock { state -> Bool in
                guard !state.closed, state.slots.count < idleLimit else { return false }
                state.slots.append(slot)
                return true
            }
            if !kept { slot.connection.close() }
        }
        do {
            return try body(slot.connection)
        } catch let error as SQLiteError {
            throw StoreError.from(error, path: path, doing: "reading")
        }
    }

    /// Runs `body` in one read transaction, so every statement sees the same snapshot.
    func readNow<T>(_ body: (Connection) throws -> T) throws -> T {
        try withConnection { connection in
            try connection.transaction(.deferred) { try body(connection) }
        }
    }

    /// Runs `body` in one read transaction on the readers' queue, off Swift's cooperative
    /// threads: SQLite's reads block on I/O and a long walk would hold a pool thread.
    func read<T: Sendable>(_ body: @escaping @Sendable (Connection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try self.readNow(body) })
            }
        }
    }

    /// Statements or transactions found open on idle readers at close.
    let leftOpenAtClose = Mutex(0)

    func close() {
        let slots = idle.withLock { state -> [Slot] in
            state.closed = true
            defer { state.slots.removeAll() }
            return state.slots
        }
        for slot in slots {
            let open = slot.connection.busyStatementCount + (slot.connection.isAutocommit ? 0 : 1)
            leftOpenAtClose.withLock { $0 += open }
            slot.connection.close()
        }
    }
}
