import ASMCore
import ASMPostgres
import ASMStore
import AgentSessionManagerTesting
import Foundation
import Testing

/// What only the PostgreSQL store has to show: the same chain and projections as the SQLite file
/// for the same history, refusals on open, and recovery from dropped connections.
@Suite("PostgreSQL store", .enabled(if: PostgresTestServer.url != nil, "ASM_TEST_POSTGRES names no server"))
struct PostgresTests {
    private static func configuration(_ name: String = "asm") -> PostgresEventStore.Configuration {
        PostgresTestServer.configuration(name)
    }

    private static func withStore<T>(
        _ configuration: PostgresEventStore.Configuration = configuration(),
        _ body: (PostgresEventStore, String) async throws -> T
    ) async throws -> T {
        try await withPostgresStore(configuration: configuration, body)
    }

    /// Everything the projections answer, through the protocol.
    private static func projections(_ store: some EventStore) async throws -> [String] {
        var lines: [String] = []
        for session in try await store.sessions(status: nil, startedBefore: nil, limit: 1000) {
            var session = session
            lines.append(
                session.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
            )
            session.metadata = [:]
            lines.append("\(session)")
            for run in try await store.runs(in: session.id) { lines.append("\(run)") }
            for entry in try await store.transcript(of: session.id) { lines.append("\(entry)") }
        }
        for grouping in [UsageGrouping.run, .session, .provider, .model] {
            for summary in try await store.usage(by: grouping, session: nil) { lines.append("\(summary)") }
        }
        for approval in try await store.approvals(pendingOnly: false, session: nil, id: nil, limit: 1000) {
            lines.append("\(approval)")
        }
        for open in try await store.openRuns() { lines.append("\(open.runID) \(open.status)") }
        return lines
    }

    @Test("the same history gives the same hash chain and projections as the SQLite file, and after a rebuild")
    func sameChainAsSQLite() async throws {
        let history = SampleHistory(seed: 11, sessions: 12, events: 1_200)
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var sqliteConfiguration = SQLiteEventStore.Configuration()
        sqliteConfiguration.clock = ManualClock()
        sqliteConfiguration.owner = nil
        let sqlite = try SQLiteEventStore(path: directory.file("asm.sqlite"), configuration: sqliteConfiguration)
        try await history.append(to: sqlite)
        var configuration = Self.configuration()
        configuration.owner = nil
        try await Self.withStore(configuration) { postgres, _ in
            try await history.append(to: postgres)
            let fromSQLite = try await sqlite.recordedEvents(from: .zero, limit: 5_000, filter: .all).events
            let fromPostgres = try await postgres.recordedEvents(from: .zero, limit: 5_000, filter: .all).events
            #expect(fromSQLite.count >= 1_200)
            #expect(fromPostgres == fromSQLite, "every event, payload byte and hash equal")
            let verified = try await postgres.verify()
            #expect(verified.isIntact && verified.eventsChecked == fromSQLite.count)
            #expect(verified.head == (try await sqlite.verify()).head)
            let expected = try await Self.projections(sqlite)
            #expect(expected.count > 100)
            let actual = try await Self.projections(postgres)
            let difference = zip(actual, expected).first { $0 != $1 }
            #expect(
                actual == expected,
                "first difference: \(String(describing: difference)) (\(actual.count) vs \(expected.count) lines)"
            )
            let report = try await postgres.rebuildProjections()
            #expect(report.events == fromSQLite.count)
            #expect(try await Self.projections(postgres) == expected, "a rebuild gives the tables kept inline")
        }
        await sqlite.close()
    }

    @Test("message and usage writes of one batch, around a run's change of provider, give the SQLite file's rows")
    func messageAndUsageWritesTogether() async throws {
        let session = SessionID.generate()
        let run = RunID.generate()
        func usage(_ provider: String?, input: Int64, reported: Double?, table: String?) -> NewEvent {
            NewEvent(
                TokenUsageUpdated(
                    provider: provider,
                    delta: TokenUsage(input: input, output: 1),
                    total: TokenUsage(input: input, output: 1),
                    costNanoUSD: input * 10,
                    priceTable: table,
                    reportedCostUSD: reported
                ),
                run: run
            )
        }
        let opening = [
            NewEvent(SessionCreated(agentID: "agent")), NewEvent(RunStarted(provider: "claude", model: "m1"), run: run),
        ]
        // Sequences 3 to 11: usage of claude/m1 at 4 and 5, codex/m1 at 6, amp/m2 at 9 and 11.
        let batch = [
            NewEvent(MessageReceived(role: .user, content: "hello"), run: run),
            usage(nil, input: 1, reported: 0.5, table: "t1"),
            usage(nil, input: 2, reported: nil, table: nil),
            usage("codex", input: 4, reported: nil, table: "t2"),
            NewEvent(MessageReceived(role: .assistant, content: "yes"), run: run),
            NewEvent(RunStarted(provider: "amp", model: "m2"), run: run),
            usage(nil, input: 8, reported: 0.25, table: nil),
            NewEvent(MessageReceived(role: .assistant, content: "again"), run: run),
            usage(nil, input: 16, reported: nil, table: "t3"),
        ]
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        var sqliteConfiguration = SQLiteEventStore.Configuration()
        sqliteConfiguration.clock = ManualClock()
        let sqlite = try SQLiteEventStore(path: directory.file("asm.sqlite"), configuration: sqliteConfiguration)
        for events in [opening, batch] { try await sqlite.append(events, to: session.stream, expectedVersion: .any) }
        try await Self.withStore { postgres, _ in
            for events in [opening, batch] {
                try await postgres.append(events, to: session.stream, expectedVersion: .any)
            }
            let expected = try await Self.projections(sqlite)
            let actual = try await Self.projections(postgres)
            #expect(actual == expected)
            let rows = try await postgres.queryForTesting(
                """
                SELECT concat_ws('|', provider, model, input_tokens, cost_nano_usd, reported_cost_nano_usd, price_table,
                                 updates, last_sequence)
                FROM usage ORDER BY provider, model
                """
            )
            #expect(
                rows == ["amp|m2|24|240|250000000|t3|2|11", "claude|m1|3|30|500000000|t1|2|5", "codex|m1|4|40|t2|1|6"]
            )
            #expect(
                try await postgres.queryForTesting("SELECT concat_ws('|', sequence, role, provider) FROM transcript")
                    .sorted() == ["10|assistant|amp", "3|user|claude", "7|assistant|claude"]
            )
        }
        await sqlite.close()
    }

    @Test(
        "a log copied SQLite → PostgreSQL → SQLite keeps its events, hashes and checkpoints; an interrupted copy resumes"
    )
    func copyBothWays() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let source = try SQLiteEventStore(path: directory.file("source.sqlite"))
        try await SampleHistory(seed: 5, sessions: 6, events: 900).append(to: source)
        let consumer = try await source.consumer(named: "indexer", startingAt: .beginning)
        try await consumer.acknowledge(through: SequenceNumber(300))
        let original = try await source.recordedEvents(from: .zero, limit: 5_000, filter: .all).events
        let head = try await source.verify().head
        try await Self.withStore { postgres, _ in
            // An interrupted copy: the first 400 events are there already.
            try await postgres.importRecorded(
                Array(original.prefix(400)),
                chainVersions: try await source.verify().chainVersions
            )
            let report = try await LogCopy.copy(from: source, to: postgres, pageSize: 128)
            #expect(report.alreadyThere == 400 && report.copied == original.count - 400 && report.head == head)
            #expect(try await postgres.recordedEvents(from: .zero, limit: 5_000, filter: .all).events == original)
            #expect(try await postgres.consumerPosition("indexer") == SequenceNumber(300))
            #expect(try await Self.projections(postgres) == (try await Self.projections(source)))
            // Appending after the copy continues the same chain.
            try await postgres.append(messages(2), to: SessionID.generate().stream, expectedVersion: .noStream)
            #expect(try await postgres.verify().isIntact)

            let back = try SQLiteEventStore(path: directory.file("back.sqlite"))
            let again = try await LogCopy.copy(from: postgres, to: back)
            #expect(again.copied == original.count + 2)
            #expect(try await back.verify().head == (try await postgres.verify()).head)
            #expect(try await back.consumerPosition("indexer") == SequenceNumber(300))
            await back.close()

            // A target holding another log is refused, and left as it was.
            let other = try SQLiteEventStore(path: directory.file("other.sqlite"))
            try await other.append(messages(1), to: SessionID.generate().stream, expectedVersion: .noStream)
            await #expect {
                _ = try await LogCopy.copy(from: source, to: other)
            } throws: { error in
                (error as? StoreError)?.code == .invalidArgument
            }
            #expect(try await other.lastSequence() == SequenceNumber(1))
            await other.close()
        }
        await source.close()
    }

    @Test("a log written by a newer build is refused, naming both versions")
    func newerSchema() async throws {
        try await Self.withStore { store, url in
            try await store.executeForTesting("INSERT INTO asm_schema_migrations (version, name) VALUES (99, 'future')")
            await #expect {
                _ = try await PostgresEventStore.open(url: url, configuration: Self.configuration())
            } throws: { error in
                guard let error = error as? StoreError else { return false }
                return error.code == .newerSchema && error.message.contains("99")
            }
        }
    }

    @Test("a schema holding another application's tables is refused and left as it was")
    func foreignSchema() async throws {
        try await Self.withStore { store, url in
            let foreign = url.replacingOccurrences(
                of: "schema=\(store.location.schema)",
                with: "schema=\(store.location.schema)x"
            )
            try await store.executeForTesting("CREATE SCHEMA \(store.location.schema)x")
            try await store.executeForTesting("CREATE TABLE \(store.location.schema)x.orders (id integer)")
            await #expect {
                _ = try await PostgresEventStore.open(url: foreign, configuration: Self.configuration())
            } throws: { error in
                (error as? StoreError)?.code == .foreignDatabase
            }
            #expect(try await store.queryForTesting("SELECT count(*) FROM \(store.location.schema)x.orders") == ["0"])
            try await store.executeForTesting("DROP SCHEMA \(store.location.schema)x CASCADE")
        }
    }

    @Test("a missing log is refused when creating is off")
    func missingLog() async throws {
        let url = try #require(PostgresTestServer.freshSchemaURL())
        var configuration = Self.configuration()
        configuration.createIfMissing = false
        await #expect {
            _ = try await PostgresEventStore.open(url: url, configuration: configuration)
        } throws: { error in
            (error as? StoreError)?.code == .missingDatabase
        }
    }

    @Test("a dropped connection is replaced: appends and followers go on, nothing lost or doubled")
    func droppedConnections() async throws {
        let name = "asm-drop-" + UUIDValue.generate().description.prefix(8)
        try await Self.withStore(Self.configuration(name)) { writer, url in
            let follower = try await PostgresEventStore.open(url: url, configuration: Self.configuration(name))
            let session = SessionID.generate()
            try await writer.append(messages(3), to: session.stream, expectedVersion: .noStream)
            // Every connection of both stores (writer, readers, the follower's LISTEN) is cut.
            let cut = try await writer.queryForTesting(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '\(name)' AND pid <> pg_backend_pid()"
            )
            #expect(cut != ["0"])
            let waiting = Task { await follower.waitForCommit(after: SequenceNumber(3)) }
            let result = try await writer.append(
                messages(2),
                to: session.stream,
                expectedVersion: .exact(StreamVersion(3))
            )
            #expect(result.firstSequence == SequenceNumber(4) && !result.wasAlreadyCommitted)
            #expect(await waiting.value, "the follower learns of the commit, by notification or by polling")
            let seen = try await follower.events(from: .zero, limit: 100, filter: .all).events
            #expect(seen.map(\.sequence.rawValue) == [1, 2, 3, 4, 5])
            #expect(try await follower.verify().isIntact)
            await follower.close()
        }
    }

    @Test("a consumer's holder whose connection dies (its host gone) lets another host take over")
    func consumerTakeover() async throws {
        try await Self.withStore { first, url in
            let second = try await PostgresEventStore.open(url: url, configuration: Self.configuration())
            let here = try await first.consumer(named: "audit", startingAt: .beginning)
            let there = try await second.consumer(named: "audit", startingAt: .beginning)
            try await here.claim()
            let refused = await #expect(throws: StoreError.self) { try await there.claim() }
            #expect(refused?.code == .consumerBusy)
            #expect(refused?.description.contains("pid \(getpid())") == true, "names the holder")
            // The holder's connection ends as it would with its host: the server drops the lock.
            let cut = try await first.queryForTesting(
                """
                SELECT count(pg_terminate_backend(pid, 10000)) FROM pg_locks WHERE locktype = 'advisory'
                AND objsubid = 2 AND classid = hashtext(current_schema() || ' consumer')::oid
                AND objid = hashtext('audit')::oid
                """
            )
            #expect(cut == ["1"])
            try await there.claim()
            let back = await #expect(throws: StoreError.self) { try await here.acknowledge(through: .zero) }
            #expect(back?.code == .consumerBusy)
            await second.close()
        }
    }

    @Test("a follower in another store sees concurrent appends exactly once, in order")
    func followerSeesEverything() async throws {
        try await Self.withStore { writer, url in
            let follower = try await PostgresEventStore.open(url: url, configuration: Self.configuration())
            let sessions = (0..<8).map { _ in SessionID.generate() }
            let reading = Task {
                var received: [Int64] = []
                for try await envelope in follower.subscribe(from: .zero) {
                    received.append(envelope.sequence.rawValue)
                    if received.count == 8 * 25 * 2 { break }
                }
                return received
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for session in sessions {
                    group.addTask {
                        for round in 0..<25 {
                            try await writer.append(
                                messages(2, prefix: "r\(round)"),
                                to: session.stream,
                                expectedVersion: .any
                            )
                        }
                    }
                }
                try await group.waitForAll()
            }
            let received = try await reading.value
            #expect(received == Array(1...400))
            await follower.close()
        }
    }

    @Test("a server that cannot be reached is a one-line error without the password")
    func unreachable() async throws {
        await #expect {
            _ = try await PostgresEventStore.open(url: "postgres://asm:s3cretpw@127.0.0.1:1/asm")
        } throws: { error in
            guard let error = error as? StoreError else { return false }
            return error.code == .unavailable && !error.description.contains("s3cretpw")
                && !error.detailedDescription().contains("s3cretpw") && !error.description.contains("\n")
        }
    }
}

/// Password authentication over TCP: `ASM_TEST_POSTGRES_TCP` is a URL with the right password
/// (Scripts/pg_cluster.sh `--listen`, SCRAM).
@Suite(
    "PostgreSQL credentials",
    .enabled(if: PostgresTestServer.passwordURL != nil, "ASM_TEST_POSTGRES_TCP names no password server")
)
struct PostgresCredentialTests {
    @Test("the right password (URL or PGPASSWORD) opens the log; a wrong one is a one-line refusal without it")
    func credentials() async throws {
        let url = try #require(PostgresTestServer.passwordURL)
        let location = try PostgresLocation(url: url)
        let password = try #require(location.password)
        let schema = "t_" + UUIDValue.generate().description.replacingOccurrences(of: "-", with: "").prefix(24)
        let withoutPassword = url.replacingOccurrences(of: ":\(password)@", with: "@") + "?schema=\(schema)"
        #expect(!withoutPassword.contains(password))

        let store = try await PostgresEventStore.open(url: withoutPassword, environment: ["PGPASSWORD": password])
        let session = SessionID.generate()
        let appended = try await store.append(messages(2), to: session.stream, expectedVersion: .noStream)
        #expect(appended.firstSequence == SequenceNumber(1))
        #expect(try await store.verify().isIntact)
        await PostgresTestServer.drop(store)
        await store.close()

        let wrong = "wrong-\(password)-wrong"
        for (attempt, environment) in [
            (url.replacingOccurrences(of: ":\(password)@", with: ":\(wrong)@"), [String: String]()),
            (withoutPassword, ["PGPASSWORD": wrong]),
            (withoutPassword, [:]),
        ] {
            await #expect("\(environment.keys.sorted())") {
                _ = try await PostgresEventStore.open(url: attempt, environment: environment)
            } throws: { error in
                guard let error = error as? StoreError else { return false }
                let text = error.description + error.detailedDescription()
                return error.code == .unavailable && !text.contains(wrong) && !text.contains(password)
                    && !error.description.contains("\n")
                    && (error.description.contains("credentials") || error.description.contains("no usable password"))
            }
        }
    }
}

@Suite("PostgreSQL URLs")
struct PostgresLocationTests {
    @Test("URL forms: TCP, IPv6, unix socket, parameters, schema; the password never printed")
    func forms() throws {
        let tcp = try PostgresLocation(url: "postgres://alice:pa%40ss@db.internal:6543/agents?schema=team_a")
        #expect(tcp.host == "db.internal" && tcp.port == 6543 && tcp.user == "alice" && tcp.password == "pa@ss")
        #expect(tcp.database == "agents" && tcp.schema == "team_a")
        #expect(tcp.description == "postgres://alice@db.internal:6543/agents?schema=team_a")
        let socket = try PostgresLocation(url: "postgresql:///asm_test?host=/tmp/pg&port=54329&user=asm")
        #expect(socket.isUnixSocket && socket.socketPath == "/tmp/pg/.s.PGSQL.54329" && socket.user == "asm")
        let ipv6 = try PostgresLocation(url: "postgresql://bob@[::1]/x")
        #expect(ipv6.host == "::1" && ipv6.port == 5432)
        let fromEnvironment = try PostgresLocation(url: "postgres://bob@h/x", environment: ["PGPASSWORD": "pw"])
        #expect(fromEnvironment.password == "pw" && !fromEnvironment.description.contains("pw"))
        for bad in ["mysql://x", "postgres://h:0/x", "postgres://h/x?schema=Bad-Name", "postgres://h/x?colour=blue"] {
            #expect(throws: StoreError.self, "\(bad)") { try PostgresLocation(url: bad) }
        }
    }

    @Test(".pgpass lines match host, port, database and user, with * and escapes")
    func pgpass() {
        let file = """
            # comment
            other:5432:*:bob:nope
            db.internal:*:agents:alice:se\\:cret
            *:*:*:*:fallback
            """
        #expect(PostgresLocation.password(in: file, for: "db.internal:6543:agents:alice") == "se:cret")
        #expect(PostgresLocation.password(in: file, for: "x:1:y:z") == "fallback")
    }
}
