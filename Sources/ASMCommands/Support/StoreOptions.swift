import ASMPostgres
import AgentSessionManager
import ArgumentParser
import FoundationEssentials

/// `--db` and `--busy-timeout`, shared by every command.
///
/// `--db` (else `$ASM_DB`) is an SQLite file, or a PostgreSQL URL: `postgres://user@host/db`,
/// `postgresql://…`, or the unix-socket form `postgresql:///db?host=/socket/dir&port=N&user=U`
/// (`schema=NAME` picks the schema that holds the log). A URL is never printed as given: it
/// may hold a password; ``location`` is what is shown.
struct StoreOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp(
            "The SQLite database file, or a PostgreSQL URL (default: $ASM_DB, else .asm/asm.sqlite).",
            discussion: """
                A URL is postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE (or postgresql://), or \
                postgresql:///DATABASE?host=/SOCKET/DIR&port=N&user=U for a unix socket; schema=NAME \
                picks the schema holding the log. The password may also come from PGPASSWORD or ~/.pgpass.
                """,
            valueName: "path-or-url"
        )
    )
    var db: String?

    @Option(
        name: .customLong("busy-timeout"),
        help: "Milliseconds to wait for another process's lock (SQLite)."
    )
    var busyTimeout: Int = 5000

    static let defaultPath = ".asm/asm.sqlite"

    /// `--db`, else `$ASM_DB`, else ``defaultPath``: a file path or a PostgreSQL URL. Never
    /// print it (a URL may hold a password): print ``location``.
    var path: String {
        if let db { return db }
        if let environment = ProcessInfo.processInfo.environment["ASM_DB"], !environment.isEmpty { return environment }
        return Self.defaultPath
    }

    /// Whether the log is on a PostgreSQL server rather than in an SQLite file.
    var isPostgres: Bool { PostgresLocation.isURL(path) }

    /// Where the log is, fit to print: the file path, or the URL without its password.
    var location: String { Self.location(of: path) }

    /// The printable form of a `--db` value: a URL without its password, or the path.
    static func location(of path: String) -> String {
        guard PostgresLocation.isURL(path) else { return path }
        return (try? PostgresLocation(url: path, environment: ProcessInfo.processInfo.environment))?.description
            ?? "a PostgreSQL server (the URL is not valid)"
    }

    /// The file that side files are named after (`artifacts/` and `demo-workspaces/` beside
    /// it, `<file>.token`): the database file, or for a PostgreSQL log `.asm/asm.sqlite`
    /// in the current directory, so they go to `.asm/`.
    var sideFileBase: String { Self.sideFileBase(for: path) }

    /// ``sideFileBase`` for a `--db` value.
    static func sideFileBase(for path: String) -> String {
        PostgresLocation.isURL(path) ? defaultPath : path
    }

    func validate() throws {
        guard busyTimeout >= 0 else { throw ValidationError("--busy-timeout must be zero or more milliseconds") }
        if let db, db.isEmpty { throw ValidationError("--db needs a path or a PostgreSQL URL") }
        if isPostgres {
            do {
                _ = try PostgresLocation(url: path, environment: ProcessInfo.processInfo.environment)
            } catch {
                // The parser names what is wrong, never the password.
                throw ValidationError("--db: \(error.description)")
            }
        }
    }

    private func configuration(create: Bool) -> SQLiteEventStore.Configuration {
        var configuration = SQLiteEventStore.Configuration()
        configuration.createIfMissing = create
        configuration.busyTimeout = .milliseconds(busyTimeout)
        return configuration
    }

    /// Connects to the PostgreSQL log; `create` makes (or migrates) its schema, else a
    /// missing log is refused as a missing file is.
    private func openPostgres(create: Bool) async throws -> PostgresEventStore {
        var configuration = PostgresEventStore.Configuration()
        configuration.createIfMissing = create
        return try await PostgresEventStore.open(url: path, configuration: configuration)
    }

    /// Opens a database that must exist.
    func openExisting() async throws -> any EventStore {
        if isPostgres { return try await openPostgres(create: false) }
        return try openExistingSQLite()
    }

    /// The SQLite file, which must exist, for a command that needs what only SQLite has;
    /// a PostgreSQL URL is refused, naming `command`.
    func openExistingSQLite(for command: String) throws -> SQLiteEventStore {
        try refusePostgres(command)
        return try openExistingSQLite()
    }

    private func openExistingSQLite() throws -> SQLiteEventStore {
        try SQLiteEventStore(path: path, configuration: configuration(create: false))
    }

    /// Throws the one-line refusal of a command that works on SQLite files only.
    func refusePostgres(_ command: String) throws(CommandFailure) {
        guard isPostgres else { return }
        throw CommandFailure(
            .invalidArgument,
            "\(command) works on an SQLite file only; \(location) is a PostgreSQL log"
        )
    }

    /// Opens a database that must exist, for a command that only reads: as usual where the
    /// file can be written (so an older file is upgraded as any open does), read-only where
    /// it cannot (a file or directory this user may not write, a read-only mount). A
    /// PostgreSQL log is opened as usual.
    func openForReading() async throws -> any EventStore {
        if isPostgres { return try await openPostgres(create: false) }
        do {
            return try openExistingSQLite()
        } catch let error as StoreError where error.code == .readOnly || error.code == .cannotOpen {
            var configuration = configuration(create: false)
            configuration.readOnly = true
            return try SQLiteEventStore(path: path, configuration: configuration)
        }
    }

    /// Opens the database, creating it if needed (for PostgreSQL: the log's schema and tables).
    func openOrCreate() async throws -> any EventStore {
        if isPostgres { return try await openPostgres(create: true) }
        return try SQLiteEventStore(path: path, configuration: configuration(create: true))
    }
}

/// `--json`.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "One JSON object per line, with \"schema_version\" first.")
    var json = false
}

/// Runs `body` with the store and closes it afterwards, whatever happens.
func withStore<Store: EventStore, T>(_ store: Store, _ body: (Store) async throws -> T) async throws -> T {
    do {
        let value = try await body(store)
        await store.close()
        return value
    } catch {
        await store.close()
        throw error
    }
}

/// Resolves a full session id or an unambiguous prefix of one.
func resolveSession(_ text: String, in store: any EventStore) async throws -> SessionID {
    if let id = SessionID(text) { return id }
    let matches = try await store.sessionIDs(withPrefix: text, limit: 2)
    switch matches.count {
    case 0: throw CommandFailure(.notFound, "no session matches \(text)")
    case 1: return matches[0]
    default: throw CommandFailure(.ambiguous, "\(text) matches several sessions; give more of the id")
    }
}

/// Resolves a full run id or an unambiguous prefix of one.
func resolveRun(_ text: String, in store: any EventStore) async throws -> RunID {
    if let id = RunID(text) { return id }
    let matches = try await store.runIDs(withPrefix: text, limit: 2)
    switch matches.count {
    case 0: throw CommandFailure(.notFound, "no run matches \(text)")
    case 1: return matches[0]
    default: throw CommandFailure(.ambiguous, "\(text) matches several runs; give more of the id")
    }
}

/// The artifact store: `--artifacts`, else `artifacts/` beside the database.
func artifactRoot(_ explicit: String?, database: String) -> String {
    explicit ?? besideDatabase("artifacts", database: database)
}

/// A path in the database's directory.
func besideDatabase(_ name: String, database: String) -> String {
    guard let slash = database.lastIndex(of: "/") else { return name }
    return String(database[..<slash]) + "/" + name
}

/// Parses `--type` values.
func eventTypes(_ values: [String]) throws -> Set<EventType>? {
    guard !values.isEmpty else { return nil }
    var types = Set<EventType>()
    for value in values {
        let type = EventType(value)
        guard type.isWellFormed else { throw ValidationError("\"\(value)\" is not an event type name") }
        types.insert(type)
    }
    return types
}
