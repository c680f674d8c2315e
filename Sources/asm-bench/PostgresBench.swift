import ASMPostgres
import ASMSystem
import AgentSessionManager
import Foundation
internal import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// `asm-bench [--dir DIR] [--quick] [--anchor EVLOG] postgres --url URL`: the PostgreSQL store
/// against a plain insert loop of the same row shape on the same server, in the same run, with
/// the SQLite store's figures for the same workloads beside it.
///
/// - Appends: `PostgresEventStore.append` of N workload events (about 300-byte payloads, 16
///   sessions in turn) against one `INSERT … SELECT FROM unnest(arrays)` of N rows of the
///   `events` shape into a bare table (no chain, no head row, no projections, no NOTIFY), both
///   in autocommit over the same driver (postgres-nio) from this process. The plain loop sends
///   its arrays as literals (the store's hook for raw SQL takes no binds); the rows' values are
///   made and escaped outside the timing, the statement is built inside it.
/// - Follower: a second store on the same log subscribes; one event is appended every 2 ms; the
///   latency runs from the writer's commit (its `observeCommits` callback) to the follower's
///   receipt, both on this process's monotonic clock.
/// - Reads: decoded pages of 500 over the whole log, against the SQLite store on the same events.
struct PostgresBench {
    var url: String
    var suite: Suite
    var anchor: Anchor?
    /// Schemas made by this run start with it (dropped at the end of each cell).
    let tag = "asmbench_\(getpid())"

    var quick: Bool { suite.quick }
    var rounds: Int { suite.rounds }
    /// How long each append cell runs.
    var cellSeconds: Double { quick ? 1 : 3 }

    /// The options of `postgres` given anywhere in the command line, or nil when it is not that command.
    static func options(ofCommand arguments: [String]) -> [String]? {
        for (index, argument) in arguments.enumerated() where argument == "postgres" {
            if index > 0, ["--dir", "--anchor", "--url"].contains(arguments[index - 1]) { continue }
            var options = arguments
            options.remove(at: index)
            return options
        }
        return nil
    }

    static func run(options: [String]) async throws {
        var url = ProcessInfo.processInfo.environment["ASM_TEST_POSTGRES"]
        var rest: [String] = []
        var iterator = options.makeIterator()
        while let option = iterator.next() {
            if option == "--url" { url = iterator.next() } else { rest.append(option) }
        }
        guard let url, !url.isEmpty else {
            throw BenchError("usage: asm-bench [--dir DIR] [--quick] [--anchor EVLOG] postgres --url URL")
        }
        let suite = try Suite(arguments: rest)
        try FileManager.default.createDirectory(atPath: suite.directory, withIntermediateDirectories: true)
        let bench = PostgresBench(
            url: url,
            suite: suite,
            anchor: suite.anchorPath.map { Anchor(executable: $0, directory: suite.directory) }
        )
        try await bench.run()
    }

    // MARK: The run

    func run() async throws {
        var rows: [Line] = []
        var spreads: [String] = []
        func format(_ values: [Double]) -> String { values.map { String(format: "%.0f", $0) }.joined(separator: ", ") }

        // Appends at 1, 100 and 1000 per commit: plain loop, store, SQLite store, C anchor, in turn.
        let bulk = quick ? 50_000 : 200_000
        var bytes: (engine: [Double], plain: [Double]) = ([], [])
        var sqliteRows: [Line] = []
        for batch in [1, 100, 1000] {
            var plain: [Double] = []
            var engine: [Double] = []
            var sqlite: [Double] = []
            var c: [Double] = []
            for round in 0..<rounds {
                let baseline = try await plainInsert(batch: batch, clients: 1, cell: "p\(batch)_\(round)")
                plain.append(baseline.rate)
                let figures = try await engineAppend(batch: batch, appenders: 1, cell: "e\(batch)_\(round)")
                engine.append(figures.rate)
                if batch == 1000 {
                    bytes.engine.append(figures.bytesPerEvent)
                    bytes.plain.append(baseline.bytesPerEvent)
                }
                let count = batch == 1 ? (quick ? 1_000 : 5_000) : bulk
                sqlite.append(try await suite.appendRate(count: count, batch: batch).rate)
                if let figures = try await anchor?.append(count: count, batch: batch) { c.append(figures.rate) }
            }
            spreads.append("append \(batch)/commit (ev/s): PostgreSQL \(format(engine)); plain \(format(plain))")
            spreads.append(
                "append \(batch)/commit (ev/s): SQLite \(format(sqlite))" + (c.isEmpty ? "" : "; C \(format(c))")
            )
            rows.append(
                Line(
                    name: "PostgreSQL append \(batch)/commit",
                    engine: median(engine),
                    baseline: median(plain),
                    baselineName: "plain INSERT",
                    unit: "ev/s",
                    target: batch == 1 ? "≥ 0.4x" : batch == 100 ? "≥ 0.6x" : "—"
                )
            )
            sqliteRows.append(
                Line(
                    name: "SQLite append \(batch)/commit (FULL)",
                    engine: median(sqlite),
                    baseline: c.isEmpty ? nil : median(c),
                    baselineName: "C evlog",
                    unit: "ev/s",
                    target: batch == 1 ? "≥ 0.8x" : batch == 100 ? "≥ 0.6x" : "≥ 0.5x"
                )
            )
        }

        // What the search index (a GIN index kept by every insert) costs an append while a log
        // has it on: the same appends with it and without it, alternating.
        for batch in [1, 100, 1000] {
            var with: [Double] = []
            var without: [Double] = []
            for round in 0..<rounds {
                without.append(try await engineAppend(batch: batch, appenders: 1, cell: "s\(batch)_\(round)").rate)
                with.append(
                    try await engineAppend(batch: batch, appenders: 1, cell: "t\(batch)_\(round)", searchIndex: true)
                        .rate
                )
            }
            spreads.append("append \(batch)/commit, search index on / off (ev/s): \(format(with)) / \(format(without))")
            rows.append(
                Line(
                    name: "PostgreSQL append \(batch)/commit, search index on",
                    engine: median(with),
                    baseline: median(without),
                    baselineName: "index off",
                    unit: "ev/s",
                    target: "—"
                )
            )
        }

        // Eight appenders at 1 per commit: the store groups what queues into one call and commit.
        var plain8: [Double] = []
        var engine8: [Double] = []
        for round in 0..<rounds {
            plain8.append(try await plainInsert(batch: 1, clients: 8, cell: "p8_\(round)").rate)
            engine8.append(try await engineAppend(batch: 1, appenders: 8, cell: "e8_\(round)").rate)
        }
        spreads.append("append 1/commit, 8 appenders (ev/s): PostgreSQL \(format(engine8)); plain \(format(plain8))")
        rows.append(
            Line(
                name: "PostgreSQL append 1/commit, 8 appenders",
                engine: median(engine8),
                baseline: median(plain8),
                baselineName: "8 plain clients",
                unit: "ev/s",
                target: "—"
            )
        )
        rows.append(
            Line(
                name: "PostgreSQL bytes per event (events + indexes)",
                engine: median(bytes.engine),
                baseline: median(bytes.plain),
                baselineName: "plain table",
                unit: "B/ev",
                lowerIsBetter: true,
                target: "—"
            )
        )

        // The follower: PostgreSQL (LISTEN, a second store in this process) and SQLite (another
        // process woken by the file's change).
        let followCount = quick ? 500 : 1_500
        var p50: [Double] = []
        var p99: [Double] = []
        var sqlite50: [Double] = []
        var sqlite99: [Double] = []
        for round in 0..<rounds {
            let latency = try await follower(count: followCount, cell: "f\(round)")
            p50.append(latency.p50)
            p99.append(latency.p99)
            let tail = try await suite.tail(count: followCount, mode: .wakeUp)
            sqlite50.append(tail.p50)
            sqlite99.append(tail.p99)
        }
        spreads.append("follower p50 (µs): PostgreSQL \(format(p50)); SQLite \(format(sqlite50))")
        spreads.append("follower p99 (µs): PostgreSQL \(format(p99)); SQLite \(format(sqlite99))")
        rows.append(
            Line(
                name: "PostgreSQL follower p50, LISTEN (commit → follower)",
                engine: median(p50),
                baseline: median(sqlite50),
                baselineName: "SQLite wake-up",
                unit: "µs",
                lowerIsBetter: true,
                target: "—"
            )
        )
        rows.append(
            Line(
                name: "PostgreSQL follower p99, LISTEN (commit → follower)",
                engine: median(p99),
                baseline: median(sqlite99),
                baselineName: "SQLite wake-up",
                unit: "µs",
                lowerIsBetter: true,
                target: "≤ 5000 µs"
            )
        )

        // Decoded paged reads over the whole log, on the same events in both stores.
        let readSeconds = quick ? 0.5 : 1.0
        let readPath = suite.directory + "/postgres-read.sqlite"
        removeDatabase(readPath)
        let workload = try await suite.fill(path: readPath, count: bulk, batch: 1000)
        let read = try await open(cell: "read")
        var postgresReads: [Double] = []
        var sqliteReads: [Double] = []
        do {
            try await setUp(workload, in: read)
            var index = 0
            var round = 0
            while index < bulk {
                let end = min(bulk, index + 1000)
                try await read.append(
                    (index..<end).map(workload.event),
                    to: workload.sessions[round % Workload.sessionCount].stream,
                    expectedVersion: .any
                )
                index = end
                round += 1
            }
            for _ in 0..<rounds {
                postgresReads.append(try await globalReadRate(read, seconds: readSeconds))
                sqliteReads.append(try await suite.readGlobal(path: readPath, seconds: readSeconds))
            }
        } catch {
            await drop(read)
            removeDatabase(readPath)
            throw error
        }
        await drop(read)
        removeDatabase(readPath)
        spreads.append(
            "paged global read, decoded (ev/s): PostgreSQL \(format(postgresReads)); SQLite \(format(sqliteReads))"
        )
        rows.append(
            Line(
                name: "PostgreSQL paged global read, decoded",
                engine: median(postgresReads),
                baseline: median(sqliteReads),
                baselineName: "SQLite store",
                unit: "ev/s",
                target: "—"
            )
        )

        Self.print(rows + sqliteRows, quick: quick)
        Swift.print("")
        Swift.print("rounds (the table shows medians):")
        for line in spreads { Swift.print("  " + line) }
    }

    // MARK: Stores

    /// The URL of a schema of its own on the server.
    func url(schema: String) -> String { url + (url.contains("?") ? "&" : "?") + "schema=\(schema)" }

    func open(cell: String) async throws -> PostgresEventStore {
        var configuration = PostgresEventStore.Configuration()
        configuration.readerConnections = 8
        configuration.applicationName = "asm-bench"
        return try await PostgresEventStore.open(url: url(schema: "\(tag)_\(cell)"), configuration: configuration)
    }

    /// Drops the store's schema and closes it.
    func drop(_ store: PostgresEventStore) async {
        try? await store.dropSchemaForTesting()
        await store.close()
    }

    /// Opens the workload's sessions (not timed).
    func setUp(_ workload: Workload, in store: PostgresEventStore) async throws {
        for (index, session) in workload.sessions.enumerated() {
            try await store.append(workload.setupEvents(session: index), to: session.stream, expectedVersion: .noStream)
        }
    }

    /// The size of `table` with its indexes, per row.
    func bytesPerEvent(_ store: PostgresEventStore, table: String) async throws -> Double {
        let size = try await store.queryForTesting("SELECT pg_total_relation_size('\(table)')").first
        let rows = try await store.queryForTesting("SELECT count(*) FROM \(table)").first
        guard let size = size.flatMap({ Double($0) }), let rows = rows.flatMap({ Double($0) }), rows > 0 else {
            return .nan
        }
        return size / rows
    }

    // MARK: Appends

    struct AppendFigures {
        var rate: Double
        var bytesPerEvent: Double
    }

    /// The store's appends, `batch` events per call, for `cellSeconds`. One appender times its
    /// calls alone (the events are made between them); several run against the wall clock.
    func engineAppend(
        batch: Int,
        appenders: Int,
        cell: String,
        searchIndex: Bool = false
    ) async throws -> AppendFigures {
        let store = try await open(cell: cell)
        do {
            let workload = Workload()
            try await setUp(workload, in: store)
            if searchIndex { _ = try await store.setSearchIndex(true) }
            let seconds = cellSeconds
            let rate: Double
            if appenders == 1 {
                var elapsed: UInt64 = 0
                var index = 0
                var round = 0
                while Double(elapsed) / 1e9 < seconds {
                    let events = (index..<(index + batch)).map(workload.event)
                    let stream = workload.sessions[round % Workload.sessionCount].stream
                    let start = MonotonicTime.nanoseconds()
                    try await store.append(events, to: stream, expectedVersion: .any)
                    elapsed += MonotonicTime.nanoseconds() - start
                    index += batch
                    round += 1
                }
                rate = Double(index) / (Double(elapsed) / 1e9)
            } else {
                let start = MonotonicTime.nanoseconds()
                let deadline = start + UInt64(seconds * 1e9)
                let total = try await withThrowingTaskGroup(of: Int.self) { group in
                    for appender in 0..<appenders {
                        group.addTask {
                            var count = 0
                            var round = appender
                            while MonotonicTime.nanoseconds() < deadline {
                                let first = round * batch
                                try await store.append(
                                    (first..<(first + batch)).map(workload.event),
                                    to: workload.sessions[round % Workload.sessionCount].stream,
                                    expectedVersion: .any
                                )
                                count += batch
                                round += appenders
                            }
                            return count
                        }
                    }
                    return try await group.reduce(0, +)
                }
                rate = Double(total) / (Double(MonotonicTime.nanoseconds() - start) / 1e9)
            }
            let bytes = batch == 1000 ? try await bytesPerEvent(store, table: "events") : .nan
            await drop(store)
            return AppendFigures(rate: rate, bytesPerEvent: bytes)
        } catch {
            await drop(store)
            throw error
        }
    }

    static let plainTable = """
        CREATE TABLE plain_events (
            sequence        bigint  PRIMARY KEY,
            event_id        uuid    NOT NULL UNIQUE,
            stream_id       uuid    NOT NULL,
            stream_version  bigint  NOT NULL,
            run_id          uuid,
            type            text    NOT NULL,
            schema_version  integer NOT NULL,
            payload         text    NOT NULL,
            recorded_at     bigint  NOT NULL,
            hash            bytea   NOT NULL,
            UNIQUE (stream_id, stream_version)
        )
        """

    /// One row's values as array-literal elements (quoted and escaped where needed).
    struct PlainRow {
        var eventID: String
        var runID: String
        var type: String
        var payload: String
        var hash: String
    }

    /// A plain insert loop: `batch` rows of the `events` shape per statement, autocommit, from
    /// `clients` connections at once, for `cellSeconds`.
    func plainInsert(batch: Int, clients: Int, cell: String) async throws -> AppendFigures {
        let store = try await open(cell: cell)
        do {
            try await store.executeForTesting(Self.plainTable)
            // One connection per client, connected before the timing starts.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<clients { group.addTask { try await store.executeForTesting("SELECT pg_sleep(0.05)") } }
                try await group.waitForAll()
            }
            let workload = Workload()
            let seconds = cellSeconds
            let start = MonotonicTime.nanoseconds()
            let deadline = start + UInt64(seconds * 1e9)
            let timed = try await withThrowingTaskGroup(of: (count: Int, elapsed: UInt64).self) { group in
                for client in 0..<clients {
                    group.addTask {
                        let codec = EventCodec()
                        let streams = (0..<Workload.sessionCount).map { _ in UUID().uuidString.lowercased() }
                        var versions = Array(repeating: 1, count: Workload.sessionCount)
                        var elapsed: UInt64 = 0
                        var count = 0
                        var round = 0
                        while clients == 1 ? Double(elapsed) / 1e9 < seconds : MonotonicTime.nanoseconds() < deadline {
                            let made = try Self.plainRows(
                                workload,
                                codec: codec,
                                first: client * 1_000_000_000 + count,
                                batch: batch
                            )
                            let session = round % Workload.sessionCount
                            let begin = MonotonicTime.nanoseconds()
                            let sql = Self.plainStatement(
                                made,
                                client: client,
                                sequence: count,
                                stream: streams[session],
                                version: versions[session]
                            )
                            try await store.executeForTesting(sql)
                            elapsed += MonotonicTime.nanoseconds() - begin
                            versions[session] += batch
                            count += batch
                            round += 1
                        }
                        return (count, elapsed)
                    }
                }
                return try await group.reduce(into: [(count: Int, elapsed: UInt64)]()) { $0.append($1) }
            }
            let total = timed.reduce(0) { $0 + $1.count }
            let rate =
                clients == 1
                ? Double(total) / (Double(timed[0].elapsed) / 1e9)
                : Double(total) / (Double(MonotonicTime.nanoseconds() - start) / 1e9)
            let bytes = batch == 1000 ? try await bytesPerEvent(store, table: "plain_events") : .nan
            await drop(store)
            return AppendFigures(rate: rate, bytesPerEvent: bytes)
        } catch {
            await drop(store)
            throw error
        }
    }

    /// A client's rows: made (payload encoded, escaped) outside the timing.
    static func plainRows(_ workload: Workload, codec: EventCodec, first: Int, batch: Int) throws -> [PlainRow] {
        try (first..<(first + batch)).map { index in
            let event = workload.event(index)
            let encoded = try codec.encode(event.event)
            var hash = "\"\\\\x"
            for _ in 0..<4 { hash += String(format: "%016llx", UInt64.random(in: 0...UInt64.max)) }
            hash += "\""
            return PlainRow(
                eventID: event.id.description,
                runID: event.runID?.description ?? "NULL",
                type: "\"" + encoded.type.rawValue + "\"",
                payload: arrayElement(String(decoding: encoded.payload, as: UTF8.self)),
                hash: hash
            )
        }
    }

    /// One statement of the plain loop. Each client writes its own 16 streams, versions counted
    /// by the caller; sequences are the client's own range.
    static func plainStatement(_ rows: [PlainRow], client: Int, sequence: Int, stream: String, version: Int) -> String {
        let recordedAt = Int64(Date().timeIntervalSince1970 * 1e6)
        var sequences = "'{"
        var versions = "'{"
        var streams = "'{"
        var schemas = "'{"
        var times = "'{"
        for offset in 0..<rows.count {
            let separator = offset == 0 ? "" : ","
            sequences += separator + String(client * 1_000_000_000 + sequence + offset)
            versions += separator + String(version + offset)
            streams += separator + stream
            schemas += separator + "1"
            times += separator + String(recordedAt)
        }
        return "INSERT INTO plain_events (sequence, event_id, stream_id, stream_version, run_id, type, "
            + "schema_version, payload, recorded_at, hash) SELECT * FROM unnest("
            + sequences + "}'::bigint[], '{" + rows.map(\.eventID).joined(separator: ",") + "}'::uuid[], "
            + streams + "}'::uuid[], " + versions + "}'::bigint[], '{"
            + rows.map(\.runID).joined(separator: ",") + "}'::uuid[], '{"
            + rows.map(\.type).joined(separator: ",") + "}'::text[], " + schemas + "}'::integer[], '{"
            + rows.map(\.payload).joined(separator: ",") + "}'::text[], " + times + "}'::bigint[], '{"
            + rows.map(\.hash).joined(separator: ",") + "}'::bytea[])"
    }

    /// `text` as a double-quoted element of an array literal inside a single-quoted SQL string.
    static func arrayElement(_ text: String) -> String {
        var element = "\""
        for character in text.unicodeScalars {
            switch character {
            case "\\": element += "\\\\"
            case "\"": element += "\\\""
            case "'": element += "''"
            default: element.unicodeScalars.append(character)
            }
        }
        return element + "\""
    }

    // MARK: Follower

    /// One event every 2 ms to one session; a second store on the same log follows it. The time
    /// from each commit (the writer's observer) to the follower receiving the event, in µs.
    func follower(count: Int, cell: String) async throws -> Suite.Latency {
        let writer = try await open(cell: cell)
        var configuration = PostgresEventStore.Configuration()
        configuration.applicationName = "asm-bench-follower"
        let reader: PostgresEventStore
        do {
            reader = try await PostgresEventStore.open(url: url(schema: "\(tag)_\(cell)"), configuration: configuration)
        } catch {
            await drop(writer)
            throw error
        }
        do {
            let session = SessionID.generate()
            try await writer.append(
                [NewEvent(SessionCreated(agentID: "follow"))],
                to: session.stream,
                expectedVersion: .noStream
            )
            let committedAt = Mutex<[UInt64]>([])
            let probe = writer.observeCommits { envelopes in
                let now = MonotonicTime.nanoseconds()
                let received = envelopes.filter { $0.type == .messageReceived }.count
                if received > 0 { committedAt.withLock { $0 += Array(repeating: now, count: received) } }
            }
            let from = try await writer.lastSequence().next
            let arrivals = Task {
                var times: [UInt64] = []
                times.reserveCapacity(count)
                for try await _ in reader.subscribe(from: from, filter: EventFilter(types: [.messageReceived])) {
                    times.append(MonotonicTime.nanoseconds())
                    if times.count == count { break }
                }
                return times
            }
            // Let the follower reach the live end (and its LISTEN start) before the first commit.
            try await Task.sleep(for: .milliseconds(200))
            let content = String(Workload.filler.prefix(280))
            var next = ContinuousClock.now
            for index in 0..<count {
                next += .milliseconds(2)
                try await Task.sleep(until: next, clock: .continuous)
                try await writer.append(
                    [NewEvent(MessageReceived(messageID: "msg_\(index)", role: .user, content: content))],
                    to: session.stream,
                    expectedVersion: .any
                )
            }
            let times = try await arrivals.value
            probe?.cancel()
            let commits = committedAt.withLock { $0 }
            guard times.count == count, commits.count == count else {
                throw BenchError("the follower saw \(times.count) and the writer observed \(commits.count) of \(count)")
            }
            let latencies = zip(times, commits).map { Double($0 > $1 ? $0 - $1 : 0) / 1000 }.sorted()
            await reader.close()
            await drop(writer)
            return Suite.Latency(p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99))
        } catch {
            await reader.close()
            await drop(writer)
            throw error
        }
    }

    // MARK: Report

    /// One row: the measured figure, what it is compared with in the same run, and the ratio.
    struct Line {
        var name: String
        var engine: Double
        var baseline: Double?
        var baselineName: String
        var unit: String
        var lowerIsBetter = false
        var target: String

        var ratio: Double? {
            guard let baseline, baseline > 0, engine > 0, engine.isFinite, baseline.isFinite else { return nil }
            return engine / baseline
        }
    }

    static func print(_ rows: [Line], quick: Bool) {
        func format(_ value: Double?) -> String {
            guard let value, value.isFinite else { return "—" }
            if value >= 100 { return String(Int(value.rounded())) }
            if value >= 10 { return String(format: "%.1f", value) }
            return String(format: "%.2f", value)
        }
        let header = ["workload", "engine", "baseline", "compared with", "unit", "ratio", "target"]
        var table = [header]
        for row in rows {
            table.append([
                row.name, format(row.engine), format(row.baseline), row.baseline == nil ? "—" : row.baselineName,
                row.unit, row.ratio.map { String(format: "%.2fx", $0) } ?? "—", row.target,
            ])
        }
        let widths = (0..<header.count).map { column in table.map { $0[column].count }.max() ?? 0 }
        Swift.print("")
        Swift.print(
            "AgentSessionManager PostgreSQL benchmark\(quick ? " (quick)" : "")"
                + " — ratios are engine / baseline in the same run"
        )
        for (index, line) in table.enumerated() {
            let cells = line.enumerated().map { column, cell in
                column == 0 || column == 3
                    ? cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[column] - cell.count) + cell
            }
            Swift.print("| " + cells.joined(separator: " | ") + " |")
            if index == 0 {
                Swift.print(
                    "|"
                        + widths.enumerated().map {
                            String(repeating: "-", count: $1 + 1) + ($0 == 0 || $0 == 3 ? "-" : ":")
                        }
                        .joined(separator: "|") + "|"
                )
            }
        }
    }
}
