import AgentSessionManager
import ArgumentParser
import FoundationEssentials

/// `--db` and `--busy-timeout`, shared by every command.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: "The database file (default: $ASM_DB, else .asm/asm.sqlite).")
    var db: String?

    @Option(name: .customLong("busy-timeout"), help: "Milliseconds to wait for another process's lock.")
    var busyTimeout: Int = 5000

    static let defaultPath = ".asm/asm.sqlite"

    var path: String {
        if let db { return db }
        if let environment = ProcessInfo.processInfo.environment["ASM_DB"], !environment.isEmpty { return environment }
        return Self.defaultPath
    }

    func validate() throws {
        guard busyTimeout >= 0 else { throw ValidationError("--busy-timeout must be zero or more milliseconds") }
        if let db, db.isEmpty { throw ValidationError("--db needs a path") }
    }

    private func configuration(create: Bool) -> SQLiteEventStore.Configuration {
        var configuration = SQLiteEventStore.Configuration()
        configuration.createIfMissing = create
        configuration.busyTimeout = .milliseconds(busyTimeout)
        return configuration
    }

    /// Opens a database that must exist.
    func openExisting() throws -> SQLiteEventStore {
        try SQLiteEventStore(path: path, configuration: configuration(create: false))
    }

    /// Opens a database that must exist, for a command that only reads: as usual where the
    /// file can be written (so an older file is upgraded as any open does), read-only where
    /// it cannot (a file or directory this user may not write, a read-only mount).
    func openForReading() throws -> SQLiteEventStore {
        do {
            return try openExisting()
        } catch let error as StoreError where error.code == .readOnly || error.code == .cannotOpen {
            var configuration = configuration(create: false)
            configuration.readOnly = true
            return try SQLiteEventStore(path: path, configuration: configuration)
        }
    }

    /// Opens the database, creating it if needed.
    func openOrCreate() throws -> SQLiteEventStore {
        try SQLiteEventStore(path: path, configuration: configuration(create: true))
    }
}

/// `--json`.
struct OutputOptions: ParsableArguments {
    @Flag(name: .long, help: "One JSON object per line, with \"schema_version\" first.")
    var json = false
}

/// Runs `body` with the store and closes it afterwards, whatever happens.
func withStore<T>(_ store: SQLiteEventStore, _ body: (SQLiteEventStore) async throws -> T) async throws -> T {
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
func resolveSession(_ text: String, in store: SQLiteEventStore) async throws -> SessionID {
    if let id = SessionID(text) { return id }
    let matches = try await store.sessionIDs(withPrefix: text, limit: 2)
    switch matches.count {
    case 0: throw CommandFailure(.notFound, "no session matches \(text)")
    case 1: return matches[0]
    default: throw CommandFailure(.ambiguous, "\(text) matches several sessions; give more of the id")
    }
}

/// Resolves a full run id or an unambiguous prefix of one.
func resolveRun(_ text: String, in store: SQLiteEventStore) async throws -> RunID {
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
