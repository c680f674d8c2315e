import ASMCore
import ASMMigrations
import ASMStore
import AgentSessionManagerTesting
import CASMSQLite
import FoundationEssentials
import Testing

/// Opening files: migrations, and every kind of file that must be refused without being touched.
@Suite struct DatabaseFileTests {
    private func bytes(_ path: String) -> Data? { FileManager.default.contents(atPath: path) }

    private func files(in directory: TemporaryDirectory) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []).sorted()
    }

    /// Opens `path` expecting `code`, and checks the directory and the file are exactly as before.
    private func expectRefused(_ path: String, in directory: TemporaryDirectory, code: StoreError.Code) {
        let before = bytes(path)
        let listing = files(in: directory)
        let error = #expect(throws: StoreError.self) { _ = try SQLiteEventStore(path: path) }
        #expect(error?.code == code, "\(String(describing: error))")
        #expect(error?.description.contains(path) == true, "the message names the file")
        #expect(bytes(path) == before, "the file was modified")
        #expect(files(in: directory) == listing, "files were created next to it")
    }

    @Test("a new file gets every migration, in order, each recorded once")
    func migrations() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("nested/dir/asm.sqlite")
        let store = try SQLiteEventStore(path: path)
        #expect(try await store.schemaVersion() == Migrations.latestVersion)
        await store.close()
        let connection = try Connection(path: path, mode: .readWrite)
        defer { connection.close() }
        let rows = try connection.query("SELECT version, name FROM asm_schema_migrations ORDER BY version")
        #expect(rows.map { $0[0].integerValue } == Migrations.all.map { Int64($0.version) })
        #expect(rows.map { $0[1].textValue } == Migrations.all.map(\.name))
        #expect(try connection.scalar("PRAGMA journal_mode")?.textValue == "wal")
        // Reopening applies nothing again.
        let again = try SQLiteEventStore(path: path)
        #expect(try await again.schemaVersion() == Migrations.latestVersion)
        await again.close()
    }

    @Test("every Migrations/*.sql file is registered, numbered from 1 without gaps")
    func migrationFilesRegistered() throws {
        let directory = PackageFiles.path("Migrations")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".sql") }
            .sorted()
        let expected = Migrations.all.map { migration in
            let number = String(migration.version)
            return String(repeating: "0", count: 4 - number.count) + number + "_" + migration.name + ".sql"
        }
        #expect(files == expected)
        #expect(Migrations.all.map(\.version) == Array(1...Migrations.all.count))
        for migration in Migrations.all { #expect(!migration.sql.isEmpty) }
    }

    @Test("the file is configured as documented: WAL, synchronous as asked, foreign keys on")
    func pragmas() async throws {
        for synchronous in SQLiteEventStore.Synchronous.allCases {
            let directory = TemporaryDirectory()
            defer { directory.remove() }
            let store = try SQLiteEventStore(path: directory.file("x.sqlite"), synchronous: synchronous)
            await store.close()
            let connection = try Connection(path: directory.file("x.sqlite"), mode: .readWrite)
            #expect(try connection.scalar("PRAGMA journal_mode")?.textValue == "wal")
            #expect(try connection.scalar("PRAGMA application_id")?.integerValue == 0x4153_4D31)
            connection.close()
        }
    }

    @Test("a file written by a newer schema is refused, naming both versions, and left as it was")
    func newerSchema() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        let store = try SQLiteEventStore(path: path)
        try await store.append(messages(2), to: .generate(), expectedVersion: .any)
        await store.close()
        let connection = try Connection(path: path, mode: .readWrite)
        try connection.execute("INSERT INTO asm_schema_migrations VALUES (99, 'future', 0)")
        try connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.close()
        let before = bytes(path)
        let error = #expect(throws: StoreError.self) { _ = try SQLiteEventStore(path: path) }
        #expect(error?.code == .newerSchema)
        #expect(error?.description.contains("99") == true)
        #expect(error?.description.contains("(\(Migrations.latestVersion))") == true)
        #expect(bytes(path) == before)
    }

    @Test(
        "a file that is not SQLite is refused and left as it was",
        arguments: [
            Array("hello, this is not a database at all".utf8), [UInt8](repeating: 0xFF, count: 8192),
            Array("SQLite format 2\0".utf8),
        ]
    )
    func notSQLite(content: [UInt8]) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        _ = FileManager.default.createFile(atPath: path, contents: Data(content))
        expectRefused(path, in: directory, code: .notADatabase)
    }

    @Test("a damaged SQLite file is refused as corrupt and left as it was")
    func corrupt() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        let store = try SQLiteEventStore(path: path)
        try await store.append(messages(50), to: .generate(), expectedVersion: .any)
        await store.close()
        var data = try #require(bytes(path))
        // Keep the 100-byte header, scramble the schema page that follows.
        for index in 100..<min(4096, data.count) { data[index] = UInt8(truncatingIfNeeded: index &* 31) }
        _ = FileManager.default.createFile(atPath: path, contents: data)
        expectRefused(path, in: directory, code: .corrupt)
    }

    @Test("a truncated database is refused, not half-read")
    func truncated() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        let store = try SQLiteEventStore(path: path)
        try await store.append(messages(400), to: .generate(), expectedVersion: .any)
        await store.close()
        let data = try #require(bytes(path))
        _ = FileManager.default.createFile(atPath: path, contents: data.prefix(4096 + 100))
        let error = #expect(throws: StoreError.self) {
            let store = try SQLiteEventStore(path: path)
            _ = store
        }
        #expect(error?.code == .corrupt)
    }

    @Test("another application's SQLite database is refused and left as it was")
    func foreign() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("other.sqlite")
        let connection = try Connection(path: path, mode: .readWriteCreate)
        try connection.execute(
            "CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT); INSERT INTO notes VALUES (1, 'x');"
        )
        connection.close()
        expectRefused(path, in: directory, code: .foreignDatabase)
    }

    @Test("a missing file is created by default, and refused when creating is off")
    func missing() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var configuration = SQLiteEventStore.Configuration()
        configuration.createIfMissing = false
        let error = #expect(throws: StoreError.self) {
            _ = try SQLiteEventStore(path: directory.file("absent.sqlite"), configuration: configuration)
        }
        #expect(error?.code == .missingDatabase)
        #expect(files(in: directory).isEmpty)
    }

    @Test("an empty file is a new database")
    func emptyFile() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        _ = FileManager.default.createFile(atPath: path, contents: Data())
        let store = try SQLiteEventStore(path: path)
        #expect(try await store.lastSequence() == .zero)
        await store.close()
    }

    @Test("a directory where the file should be is a clear error")
    func directoryInTheWay() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        try FileManager.default.createDirectory(
            atPath: directory.file("asm.sqlite"),
            withIntermediateDirectories: false
        )
        let error = #expect(throws: StoreError.self) { _ = try SQLiteEventStore(path: directory.file("asm.sqlite")) }
        #expect(error?.code == .cannotOpen)
    }

    @Test("a database locked by another writer past the busy timeout fails with busy")
    func busy() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        var configuration = SQLiteEventStore.Configuration()
        configuration.busyTimeout = .milliseconds(100)
        let store = try SQLiteEventStore(path: path, configuration: configuration)
        let blocker = try Connection(path: path, mode: .readWrite)
        try blocker.execute("BEGIN IMMEDIATE")
        let error = await #expect(throws: StoreError.self) {
            try await store.append(messages(1), to: .generate(), expectedVersion: .any)
        }
        #expect(error?.code == .busy)
        try blocker.execute("ROLLBACK")
        blocker.close()
        // Once the lock is gone, the same store appends normally.
        try await store.append(messages(1), to: .generate(), expectedVersion: .any)
        #expect(try await store.verify().isIntact)
        await store.close()
    }

    @Test("events cannot be updated or deleted, even with raw SQL")
    func appendOnly() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        let store = try SQLiteEventStore(path: path)
        try await store.append(messages(1), to: .generate(), expectedVersion: .any)
        await store.close()
        let connection = try Connection(path: path, mode: .readWrite)
        defer { connection.close() }
        #expect(throws: SQLiteError.self) { try connection.execute("UPDATE events SET payload = '{}'") }
        #expect(throws: SQLiteError.self) { try connection.execute("DELETE FROM events") }
    }

    @Test("appends keep the projections in their transaction and record no checkpoint; a stale checkpoint is rebuilt")
    func checkpoints() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        let store = try SQLiteEventStore(path: path)
        let session = SessionID.generate()
        try await store.append(
            [NewEvent(SessionCreated(agentID: "a")), NewEvent(SessionActivated())] + messages(3),
            to: session.stream,
            expectedVersion: .noStream
        )
        await store.close()
        let connection = try Connection(path: path, mode: .readWrite)
        defer { connection.close() }
        let checkpoints = try connection.query("SELECT DISTINCT sequence FROM projection_checkpoints")
        #expect(checkpoints.map { $0[0].integerValue } == [-1], "kept in every append's transaction")

        // A file whose checkpoints reached its end (as appends recorded them before) is current
        // and kept inline from there; one whose checkpoints lag is rebuilt.
        try connection.execute("UPDATE projection_checkpoints SET sequence = 5")
        let opened = try SQLiteEventStore(path: path)
        await opened.close()
        #expect(
            try connection.query("SELECT DISTINCT sequence FROM projection_checkpoints").map { $0[0].integerValue } == [
                -1
            ]
        )
        try connection.execute("UPDATE projection_checkpoints SET sequence = 4; DELETE FROM sessions")
        let reopened = try SQLiteEventStore(path: path)
        #expect(try await reopened.session(session)?.status == .active, "rebuilt when a writer opened it")
        await reopened.close()
    }

    @Test("a copy cut short leaves the projections stale, and the next writer rebuilds them")
    func copyCutShort() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let source = try SQLiteEventStore(path: directory.file("source.sqlite"))
        let session = SessionID.generate()
        try await source.append(
            [NewEvent(SessionCreated(agentID: "a")), NewEvent(SessionActivated())],
            to: session.stream,
            expectedVersion: .noStream
        )
        let recorded = try await source.recordedEvents(from: 1, limit: 10, filter: .all)
        let chainVersions = try await source.verify().chainVersions
        await source.close()

        let target = try SQLiteEventStore(path: directory.file("copy.sqlite"))
        // The copy's pages go in, and it stops before its closing rebuild.
        try await target.importRecorded(recorded.events, chainVersions: chainVersions)
        #expect(try await target.session(session) == nil, "copied events are not projected")
        await target.close()

        let reopened = try SQLiteEventStore(path: directory.file("copy.sqlite"))
        #expect(try await reopened.session(session)?.status == .active, "rebuilt when a writer opened it")
        #expect(try await reopened.verify().isIntact)
        await reopened.close()
    }
}
