import ASMCore
internal import ASMMigrations

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// Opening, checking and migrating the database file.
///
/// Checks run before anything is written: a file that is not SQLite, is damaged, belongs to
/// another application or was written by a newer schema is refused and left exactly as it was.
enum DatabaseFile {
    /// `PRAGMA application_id` of our files: "ASM1".
    static let applicationID: Int64 = 0x4153_4D31

    /// The table recording applied migrations.
    static let migrationsTable = "asm_schema_migrations"

    /// What the checks found.
    enum SchemaState: Equatable {
        /// No tables at all: a new file.
        case empty
        /// Our schema at this version.
        case version(Int)
    }

    /// Refuses a file whose first bytes are not SQLite's header, without opening it with SQLite.
    static func checkHeader(path: String) throws(StoreError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return }  // Missing or unreadable: SQLite reports it precisely.
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: 16)
        let count = header.withUnsafeMutableBytes { read(fd, $0.baseAddress, 16) }
        guard count > 0 else { return }  // An empty file is a new database.
        let magic = Array("SQLite format 3\u{0}".utf8)
        guard count == 16, header == magic else {
            throw StoreError(.notADatabase, "\(path) is not an SQLite database", path: path)
        }
    }

    /// Whether a file exists at `path`.
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return stat(path, &info) == 0
    }

    /// The schema version of a file every migration of this build was applied to.
    static var latestVersion: Int { Migrations.latestVersion }

    /// Whether this process may write the file at `path` and create files beside it (the
    /// write-ahead log and its index).
    static func isWritable(_ path: String) -> Bool {
        let slash = path.lastIndex(of: "/")
        let directory = slash.map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? "."
        return access(path, W_OK) == 0 && access(directory, W_OK) == 0
    }

    /// The size of the file at `path`, or `nil` when there is none.
    static func size(_ path: String) -> Int64? {
        var info = stat()
        return stat(path, &info) == 0 ? Int64(info.st_size) : nil
    }

    /// Creates the parent directory of `path` if it is missing.
    static func createParentDirectory(of path: String) throws(StoreError) {
        guard let slash = path.lastIndex(of: "/") else { return }
        let parent = String(path[..<slash])
        guard !parent.isEmpty, !exists(parent) else { return }
        var prefix = parent.hasPrefix("/") ? "" : "."
        for component in parent.split(separator: "/") {
            prefix += "/" + component
            if !exists(prefix), mkdir(prefix, 0o755) != 0, errno != EEXIST {
                throw StoreError(.cannotOpen, "cannot create directory \(prefix)", path: path)
            }
        }
    }

    /// Reads the schema state, refusing foreign, newer and damaged files. Writes nothing.
    static func inspect(_ connection: Connection, path: String) throws(StoreError) -> SchemaState {
        do {
            let applicationID = try connection.scalar("PRAGMA application_id")?.integerValue ?? 0
            let tables = try connection.query("SELECT name FROM sqlite_master WHERE type = 'table'")
                .compactMap { $0.first?.textValue }
            if tables.isEmpty && applicationID == 0 { return .empty }
            guard applicationID == Self.applicationID, tables.contains(migrationsTable) else {
                throw StoreError(
                    .foreignDatabase,
                    "\(path) is an SQLite database of another application",
                    path: path
                )
            }
            let applied = try connection.scalar("SELECT max(version) FROM \(migrationsTable)")?.integerValue ?? 0
            let supported = Migrations.latestVersion
            if applied > supported {
                throw StoreError(
                    .newerSchema,
                    "\(path) has schema version \(applied), newer than this build supports (\(supported)); "
                        + "upgrade asm to open it",
                    path: path
                )
            }
            return .version(Int(applied))
        } catch let error as StoreError {
            throw error
        } catch let error as SQLiteError {
            throw StoreError.from(error, path: path, doing: "reading the schema")
        } catch {
            throw StoreError(.sqlite, "reading the schema: \(error)", underlying: error, path: path)
        }
    }

    /// How durable a commit is.
    static func configure(_ connection: Connection, synchronous: SQLiteEventStore.Synchronous) throws(SQLiteError) {
        let mode = try connection.scalar("PRAGMA journal_mode = WAL")?.textValue
        guard mode?.lowercased() == "wal" else {
            throw SQLiteError(code: 1, message: "the file cannot use write-ahead logging (journal mode \(mode ?? "?"))")
        }
        try connection.execute("PRAGMA synchronous = \(synchronous.pragmaValue)")
        try connection.execute("PRAGMA foreign_keys = ON")
    }

    /// Applies the migrations this file lacks, each in its own transaction, and records them.
    /// - Returns: the versions applied.
    static func migrate(
        _ connection: Connection,
        from state: SchemaState,
        clock: any WallClock
    ) throws(SQLiteError)
        -> [Int]
    {
        var current = 0
        if case .version(let version) = state { current = version }
        var applied: [Int] = []
        for migration in Migrations.all where migration.version > current {
            do {
                try connection.transaction(.immediate) {
                    // Another process may have applied it while this one waited for the lock.
                    if try isApplied(migration.version, connection) { return }
                    try connection.execute(
                        """
                        CREATE TABLE IF NOT EXISTS \(migrationsTable) (
                            version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)
                        """
                    )
                    try connection.execute("PRAGMA application_id = \(applicationID)")
                    try connection.execute(migration.sql)
                    let statement = try connection.statement(
                        "INSERT INTO \(migrationsTable) (version, name, applied_at) VALUES (?, ?, ?)"
                    )
                    statement.bind(Int64(migration.version), at: 1)
                    statement.bind(migration.name, at: 2)
                    statement.bind(clock.now().microseconds, at: 3)
                    try statement.execute()
                    applied.append(migration.version)
                }
            } catch let error as SQLiteError {
                throw error
            } catch {
                throw SQLiteError(code: 1, message: "migration \(migration.version): \(error)")
            }
        }
        return applied
    }

    private static func isApplied(_ version: Int, _ connection: Connection) throws(SQLiteError) -> Bool {
        let hasTable =
            try connection.scalar(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                [.text(migrationsTable)]
            ) != nil
        guard hasTable else { return false }
        return try connection.scalar(
            "SELECT 1 FROM \(migrationsTable) WHERE version = ?",
            [.integer(Int64(version))]
        ) != nil
    }
}
