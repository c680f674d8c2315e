import ASMCore
import ASMPostgres
import ASMStore
import AgentSessionManagerTesting
import Testing

/// The store configurations every conformance test runs against: SQLite in three modes, and
/// PostgreSQL when `ASM_TEST_POSTGRES` names a server (a URL; each test gets a schema of its
/// own, dropped afterwards). Without it the PostgreSQL cases are left out, and say so.
enum Backend: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqliteFull = "SQLite, synchronous FULL"
    case sqliteNormal = "SQLite, synchronous NORMAL"
    case sqliteQueued = "SQLite, every commit on the writer queue"
    case postgres = "PostgreSQL"

    var testDescription: String { rawValue }

    var configuration: SQLiteEventStore.Configuration {
        var configuration = SQLiteEventStore.Configuration()
        configuration.clock = ManualClock()
        switch self {
        case .sqliteFull, .postgres: configuration.synchronous = .full
        case .sqliteNormal: configuration.synchronous = .normal
        case .sqliteQueued: configuration.inlineCommits = false
        }
        return configuration
    }

    /// Runs `body` with a fresh store, and checks afterwards that no statement was left open.
    func withStore<T>(_ body: (any EventStore) async throws -> T) async throws -> T {
        if self == .postgres { return try await withPostgresStore { store, _ in try await body(store) } }
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(path: directory.file("asm.sqlite"), configuration: configuration)
        do {
            let value = try await body(store)
            await store.close()
            #expect(store.openHandlesAtClose == 0, "statements or transactions left open")
            return value
        } catch {
            await store.close()
            throw error
        }
    }
}

extension Backend {
    /// Runs `body` with two stores on one fresh log, as two processes (or hosts) would open it.
    func withTwoStores<T>(_ body: (any EventStore, any EventStore) async throws -> T) async throws -> T {
        if self == .postgres { return try await withTwoPostgresStores(body) }
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let first = try SQLiteEventStore(path: directory.file("asm.sqlite"), configuration: configuration)
        let second = try SQLiteEventStore(path: directory.file("asm.sqlite"), configuration: configuration)
        do {
            let value = try await body(first, second)
            await first.close()
            await second.close()
            return value
        } catch {
            await first.close()
            await second.close()
            throw error
        }
    }

    /// Every backend this machine can run.
    static let all: [Backend] = allCases.filter { $0 != .postgres || PostgresTestServer.url != nil }
    /// The SQLite configurations (for tests of what only a file has).
    static let sqlite: [Backend] = [.sqliteFull, .sqliteNormal, .sqliteQueued]
}

/// `count` events of one simple kind, for tests that only care about positions.
func messages(_ count: Int, run: RunID? = nil, prefix: String = "m") -> [NewEvent] {
    (0..<count).map { NewEvent(MessageReceived(role: .assistant, content: "\(prefix)\($0)"), run: run) }
}

/// Every event of the log, oldest first.
func allEvents(_ store: some EventStore, filter: EventFilter = .all) async throws -> [EventEnvelope] {
    var result: [EventEnvelope] = []
    var cursor = SequenceNumber(1)
    while true {
        let page = try await store.events(from: cursor, limit: 200, filter: filter)
        result.append(contentsOf: page.events)
        if page.events.count < 200 { return result }
        cursor = page.scannedThrough.next
    }
}

/// The path of the `asm-test-child` executable, built beside the test bundle.
func childExecutable() -> String {
    let bundle =
        CommandLine.arguments.first { $0.contains(".xctest") || $0.contains("PackageTests") }
        ?? CommandLine.arguments[0]
    var directory = bundle
    while let slash = directory.lastIndex(of: "/") {
        directory = String(directory[..<slash])
        if directory.hasSuffix("/debug") || directory.hasSuffix("/release") { break }
    }
    return directory + "/asm-test-child"
}
