internal import CASMSQLite

/// One SQLite connection with a cache of prepared statements.
///
/// A connection is used by one thread at a time (SQLite's multi-thread mode); the store
/// gives each its own queue or pool slot. Statements are prepared once per SQL text with
/// `SQLITE_PREPARE_PERSISTENT` and reused.
///
/// - Important: a connection and its statements never escape the closure that lent them.
package final class Connection {
    /// How to open the file.
    package struct OpenMode: Sendable, Equatable {
        fileprivate let flags: Int32
        /// Read and write; create the file if it does not exist.
        package static let readWriteCreate = OpenMode(flags: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        /// Read and write an existing file.
        package static let readWrite = OpenMode(flags: SQLITE_OPEN_READWRITE)
        /// Read an existing file only.
        package static let readOnly = OpenMode(flags: SQLITE_OPEN_READONLY)
        /// Read an existing file that nothing can change while it is open (a read-only
        /// mount): SQLite takes no locks and needs no `-shm` file, and ignores a `-wal` file.
        package static let immutable = OpenMode(flags: SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, query: "immutable=1")

        fileprivate var query: String?

        fileprivate init(flags: Int32, query: String? = nil) {
            self.flags = flags
            self.query = query
        }

        /// Whether connections in this mode can write.
        package var canWrite: Bool { flags & SQLITE_OPEN_READWRITE != 0 }
    }

    package let path: String
    let handle: OpaquePointer
    private var statements: [String: Statement] = [:]
    private var isClosed = false

    /// Opens a connection.
    /// - Throws: ``SQLiteError`` when the file cannot be opened.
    package init(path: String, mode: OpenMode) throws(SQLiteError) {
        self.path = path
        var pointer: OpaquePointer?
        let flags = mode.flags | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        var name = path
        if let query = mode.query {
            // A URI: the path with the characters URIs give a meaning escaped.
            var escaped = ""
            for character in path.unicodeScalars {
                switch character {
                case "%": escaped += "%25"
                case "?": escaped += "%3f"
                case "#": escaped += "%23"
                default: escaped.unicodeScalars.append(character)
                }
            }
            name = "file:" + (escaped.hasPrefix("/") ? "//" + escaped : escaped) + "?" + query
        }
        let result = sqlite3_open_v2(name, &pointer, flags, nil)
        guard result == SQLITE_OK, let pointer else {
            let message = pointer.map { String(cString: sqlite3_errmsg($0)) } ?? String(cString: sqlite3_errstr(result))
            sqlite3_close_v2(pointer)
            throw SQLiteError(code: result & 0xFF, extendedCode: result, message: message)
        }
        handle = pointer
        sqlite3_extended_result_codes(handle, 1)
    }

    deinit {
        close()
    }

    /// Finalizes every cached statement and closes the connection. Safe to call twice.
    package func close() {
        guard !isClosed else { return }
        isClosed = true
        statements.removeAll()
        sqlite3_close_v2(handle)
    }

    /// How long a statement waits for a lock held by another connection before failing busy.
    package func setBusyTimeout(milliseconds: Int32) {
        sqlite3_busy_timeout(handle, milliseconds)
    }

    func error(_ result: Int32, sql: String?) -> SQLiteError {
        SQLiteError(
            code: result & 0xFF,
            extendedCode: sqlite3_extended_errcode(handle),
            message: String(cString: sqlite3_errmsg(handle)),
            sql: sql
        )
    }

    /// The cached statement for `sql`, prepared on first use.
    /// - Throws: ``SQLiteError`` when the SQL does not compile.
    package func statement(_ sql: String) throws(SQLiteError) -> Statement {
        if let cached = statements[sql] { return cached }
        let statement = try prepare(sql, persistent: true)
        statements[sql] = statement
        return statement
    }

    /// A statement that is not cached (for one-off SQL).
    /// - Throws: ``SQLiteError`` when the SQL does not compile.
    package func prepare(_ sql: String, persistent: Bool = false) throws(SQLiteError) -> Statement {
        var pointer: OpaquePointer?
        let flags: UInt32 = persistent ? UInt32(SQLITE_PREPARE_PERSISTENT) : 0
        let result = sqlite3_prepare_v3(handle, sql, -1, flags, &pointer, nil)
        guard result == SQLITE_OK, let pointer else { throw error(result, sql: sql) }
        return Statement(sql: sql, handle: pointer, connection: self)
    }

    /// Runs one or more SQL statements with no arguments.
    /// - Throws: ``SQLiteError``.
    package func execute(_ sql: String) throws(SQLiteError) {
        let result = sqlite3_exec(handle, sql, nil, nil, nil)
        guard result == SQLITE_OK else { throw error(result, sql: sql) }
    }

    /// Runs one statement with arguments, ignoring any rows.
    /// - Throws: ``SQLiteError``.
    package func execute(_ sql: String, _ arguments: [DatabaseValue]) throws(SQLiteError) {
        let statement = try statement(sql)
        try statement.bind(arguments)
        try statement.execute()
    }

    /// Runs one statement with arguments and returns its rows.
    /// - Throws: ``SQLiteError``.
    package func query(_ sql: String, _ arguments: [DatabaseValue] = []) throws(SQLiteError) -> [[DatabaseValue]] {
        let statement = try statement(sql)
        defer { statement.reset() }
        try statement.bind(arguments)
        var rows: [[DatabaseValue]] = []
        while try statement.step() {
            rows.append((0..<statement.columnCount).map { statement.value(at: $0) })
        }
        return rows
    }

    /// The first column of the first row, or `nil` when there is no row.
    /// - Throws: ``SQLiteError``.
    package func scalar(_ sql: String, _ arguments: [DatabaseValue] = []) throws(SQLiteError) -> DatabaseValue? {
        let statement = try statement(sql)
        defer { statement.reset() }
        try statement.bind(arguments)
        guard try statement.step() else { return nil }
        return statement.value(at: 0)
    }

    /// The kinds of transaction.
    package enum TransactionKind: String, Sendable {
        /// Takes locks as statements need them.
        case deferred = "DEFERRED"
        /// Takes the write lock at once (waiting up to the busy timeout).
        case immediate = "IMMEDIATE"
    }

    /// Runs `body` in a transaction: committed when it returns, rolled back when it throws.
    /// - Throws: what `body` throws, or ``SQLiteError`` from BEGIN or COMMIT.
    package func transaction<T>(_ kind: TransactionKind = .immediate, _ body: () throws -> T) throws -> T {
        try statement("BEGIN \(kind.rawValue)").execute()
        do {
            let value = try body()
            try statement("COMMIT").execute()
            return value
        } catch {
            rollback()
            throw error
        }
    }

    /// Rolls back the open transaction, if any.
    package func rollback() {
        if !isAutocommit { _ = try? execute("ROLLBACK") }
    }

    /// Whether no transaction is open.
    package var isAutocommit: Bool { sqlite3_get_autocommit(handle) != 0 }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    package var changes: Int { Int(sqlite3_changes64(handle)) }

    /// The number of prepared statements that have not been reset (should be 0 between operations).
    package var busyStatementCount: Int {
        var count = 0
        var pointer = sqlite3_next_stmt(handle, nil)
        while let statement = pointer {
            if sqlite3_stmt_busy(statement) != 0 { count += 1 }
            pointer = sqlite3_next_stmt(handle, statement)
        }
        return count
    }

    /// The SQLite library version, e.g. `3.40.1`.
    package static var libraryVersion: String { String(cString: sqlite3_libversion()) }
}

@available(*, unavailable, message: "a connection is used by one thread at a time; lend it through a closure")
extension Connection: Sendable {}
