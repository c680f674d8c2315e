import ASMSystem
import AgentSessionManager
import Foundation
import Subprocess
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// `asm-bench`: the engine's public append and read API against the C anchor, in one run.
///
///     asm-bench [--anchor PATH-TO-evlog] [--dir DIR] [--quick]
///     asm-bench follow DB COUNT          (child: follows DB, prints when each event arrives)
///     asm-bench rss DB COUNT BATCH       (child: appends COUNT events, prints peak RSS)
///     asm-bench append COUNT BATCH       (one append workload, for profiling)
///     asm-bench tail polling|wakeup N    (one cross-process tail measurement)
///     asm-bench workspace [FILES]        (snapshot, diff and rollback times, both strategies)
///     asm-bench server                   (session server delivery rates and latency)
///     asm-bench latency [ROUNDS]         (session server commit → delivery latency, each round)
///     asm-bench approvals [COUNT]        (approval in another process → the held tool answered)
///     asm-bench approver DB COUNT FILE   (child: approves each request, notes when it committed)
///     asm-bench [--dir DIR] [--quick] http  (the HTTP API: stream latency and rate, memory, reads)
///     asm-bench http-server DB CHUNKS    (child: serves the HTTP API, runs on request)
///     asm-bench [--dir DIR] [--quick] [--anchor EVLOG] postgres --url URL  (PostgreSQL vs a plain insert loop)
///     asm-bench [--dir DIR] [--anchor EVLOG] reads [ROUNDS]  (the read rows, engine and C alternating)
///     asm-bench [--dir DIR] [--anchor EVLOG] appends [ROUNDS]  (the append rows, engine and C alternating)
///     asm-bench analysis                 (what-if events/s and OpenTelemetry spans/s over a generated history)
///     asm-bench [--dir DIR] [--quick] search  (search p50/p99 per query over 1M events with the index on)
@main
struct Bench {
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        let httpOptions = HTTPBench.options(ofCommand: arguments)
        let postgresOptions = PostgresBench.options(ofCommand: arguments)
        do {
            let command =
                postgresOptions != nil
                ? "postgres"
                : httpOptions != nil
                    ? "http"
                    : arguments.contains("reads")
                        ? "reads"
                        : arguments.contains("appends")
                            ? "appends" : arguments.contains("search") ? "search" : arguments.first
            switch command {
            case "postgres":
                try await PostgresBench.run(options: postgresOptions ?? [])
            case "http":
                try await HTTPBench.run(options: httpOptions ?? [])
            case "http-server":
                try await HTTPServerProcess.run(arguments: Array(arguments.dropFirst()))
            case "follow":
                try await Follower.run(arguments: Array(arguments.dropFirst()))
            case "approver":
                try await Approver.run(arguments: Array(arguments.dropFirst()))
            case "approvals":
                let count = Int(arguments.dropFirst().first ?? "") ?? 1000
                let suite = try Suite(arguments: [])
                try FileManager.default.createDirectory(atPath: suite.directory, withIntermediateDirectories: true)
                Report.print(try await ApprovalBench(directory: suite.directory, count: count).rows(), quick: true)
            case "rss":
                try await MemoryProbe.run(arguments: Array(arguments.dropFirst()))
            case "tail":
                // One cross-process tail measurement: asm-bench tail polling|wakeup COUNT
                let mode: Suite.TailMode = arguments.dropFirst().first == "polling" ? .polling : .wakeUp
                let count = Int(arguments.dropFirst(2).first ?? "") ?? 2000
                let latency = try await Suite(arguments: []).tail(count: count, mode: mode)
                print("tail \(mode.label): p50 \(Int(latency.p50)) µs, p99 \(Int(latency.p99)) µs")
            case "server":
                // The server rows alone: asm-bench server
                let suite = try Suite(arguments: ["--quick"])
                try FileManager.default.createDirectory(atPath: suite.directory, withIntermediateDirectories: true)
                Report.print(
                    try await ServerBench(directory: suite.directory, quick: false).rows(rounds: 1),
                    quick: true
                )
            case "latency":
                // The server's commit → delivery latency alone, each round printed:
                // asm-bench latency [ROUNDS]
                let rounds = Int(arguments.dropFirst().first ?? "") ?? 5
                let suite = try Suite(arguments: ["--quick"])
                try FileManager.default.createDirectory(atPath: suite.directory, withIntermediateDirectories: true)
                try await ServerBench(directory: suite.directory, quick: false).latencyRounds(rounds)
            case "workspace":
                let files = Int(arguments.dropFirst().first ?? "") ?? 10_000
                let suite = try Suite(arguments: [])
                try FileManager.default.createDirectory(atPath: suite.directory, withIntermediateDirectories: true)
                Report.print(
                    try await WorkspaceBench(directory: suite.directory, files: files).rows(rounds: 1),
                    quick: true
                )
            case "append":
                // For profiling one workload: asm-bench append COUNT BATCH [unredacted]
                let count = Int(arguments.dropFirst().first ?? "") ?? 200_000
                let batch = Int(arguments.dropFirst(2).first ?? "") ?? 1000
                let redacting = !arguments.dropFirst(3).contains("unredacted")
                let suite = try Suite(arguments: [])
                let figures = try await suite.appendRate(count: count, batch: batch, redacting: redacting)
                print("append \(batch)/commit: \(Int(figures.rate)) ev/s, \(Int(figures.bytesPerEvent)) B/ev")
            case "decode":
                // The read path's decoding alone, on one thread (countable with callgrind):
                // asm-bench decode COUNT PASSES
                let count = Int(arguments.dropFirst().first ?? "") ?? 20_000
                let passes = Int(arguments.dropFirst(2).first ?? "") ?? 5
                let workload = Workload()
                let codec = EventCodec()
                let stored = (0..<count).compactMap { try? codec.encode(workload.event($0).event) }
                var checksum = 0
                let start = MonotonicTime.nanoseconds()
                for _ in 0..<passes {
                    for event in stored {
                        let decoded = event.type.rawValue.withCString { type in
                            event.payload.withUnsafeBytes { payload in
                                codec.decode(
                                    type: UnsafeRawBufferPointer(start: type, count: strlen(type)),
                                    schemaVersion: event.schemaVersion,
                                    payload: payload
                                )
                            }
                        }
                        if case .opaque = decoded { checksum &+= 1 }
                    }
                }
                let elapsed = Double(MonotonicTime.nanoseconds() - start)
                print("decode: \(Int(elapsed / Double(count * passes))) ns/event (\(checksum) opaque)")
            case "redaction":
                Report.print(RedactionBench(quick: false).rows(), quick: true)
            case "recovery":
                let suite = try Suite(arguments: [])
                try FileManager.default.createDirectory(atPath: suite.directory, withIntermediateDirectories: true)
                Report.print(
                    try await RecoveryBench(directory: suite.directory, quick: false).rows(rounds: 3),
                    quick: true
                )
            case "read":
                // For profiling the read path: asm-bench read COUNT SECONDS
                let count = Int(arguments.dropFirst().first ?? "") ?? 200_000
                let seconds = Double(arguments.dropFirst(2).first ?? "") ?? 5
                let suite = try Suite(arguments: [])
                try FileManager.default.createDirectory(atPath: suite.directory, withIntermediateDirectories: true)
                let path = suite.directory + "/read-profile.sqlite"
                removeDatabase(path)
                let workload = try await suite.fill(path: path, count: count, batch: 1000)
                let global = try await suite.readGlobal(path: path, seconds: seconds)
                let perSession = try await suite.readSessions(path: path, workload: workload, seconds: seconds)
                print("paged global read: \(Int(global)) ev/s; per-session read: \(Int(perSession)) ev/s")
                removeDatabase(path)
            case "reads":
                // The read rows alone, engine and C alternating round by round:
                // asm-bench [--dir DIR] [--anchor EVLOG] reads ROUNDS
                let options = Array(arguments.prefix { $0 != "reads" })
                let rounds = Int(arguments.drop { $0 != "reads" }.dropFirst().first ?? "") ?? 5
                let suite = try Suite(arguments: options)
                try FileManager.default.createDirectory(atPath: suite.directory, withIntermediateDirectories: true)
                try await suite.readRounds(rounds)
            case "search":
                // The search rows alone: asm-bench [--dir DIR] [--quick] search
                let suite = try Suite(arguments: Array(arguments.prefix { $0 != "search" }))
                try FileManager.default.createDirectory(atPath: suite.directory, withIntermediateDirectories: true)
                Report.print(try await SearchBench(suite: suite).rows(rounds: 3), quick: true)
            case "analysis":
                // The what-if and OpenTelemetry rows alone: asm-bench analysis
                Report.print(try AnalysisBench(quick: false).rows(rounds: 3), quick: true)
            case "appends":
                // The append rows alone, engine and C alternating round by round:
                // asm-bench [--dir DIR] [--anchor EVLOG] appends ROUNDS
                let options = Array(arguments.prefix { $0 != "appends" })
                let rounds = Int(arguments.drop { $0 != "appends" }.dropFirst().first ?? "") ?? 5
                let suite = try Suite(arguments: options)
                try FileManager.default.createDirectory(atPath: suite.directory, withIntermediateDirectories: true)
                try await suite.appendRounds(rounds)
            default:
                try await Suite(arguments: arguments).run()
            }
        } catch {
            FileHandle.standardError.write(Data("asm-bench: \(error)\n".utf8))
            exit(1)
        }
    }
}

/// Decoded pages of 500 over the whole log of `store`, again and again for `seconds`; events/s.
func globalReadRate(_ store: some EventStore, seconds: Double) async throws -> Double {
    var events = 0
    var checksum = 0
    let start = MonotonicTime.nanoseconds()
    repeat {
        var cursor = SequenceNumber(1)
        while true {
            let page = try await store.events(from: cursor, limit: 500, filter: .all)
            for envelope in page.events { checksum &+= envelope.streamVersion.hashValue & 1 }
            events += page.events.count
            if page.events.count < 500 { break }
            cursor = page.scannedThrough.next
        }
    } while Double(MonotonicTime.nanoseconds() - start) / 1e9 < seconds
    let elapsed = Double(MonotonicTime.nanoseconds() - start) / 1e9
    if checksum == -1 { print(checksum) }
    return Double(events) / elapsed
}

func removeDatabase(_ path: String) {
    for suffix in ["", "-wal", "-shm"] { unlink(path + suffix) }
}

func fileSize(_ path: String) -> Int64 {
    var info = stat()
    return stat(path, &info) == 0 ? Int64(info.st_size) : 0
}

func median(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    guard !sorted.isEmpty else { return .nan }
    return sorted.count % 2 == 1
        ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// A field of `/proc/PID/status` given in kB (`VmRSS`, `VmHWM`), for this process or another.
func processStatusKiB(_ field: String, of pid: String = "self") -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix(field + ":") })
    else { return nil }
    // "VmRSS:\t   1234 kB": a tab, then spaces, before the number.
    return Int(line.dropFirst(field.count + 1).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
}

func percentile(_ sorted: [Double], _ p: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    return sorted[Int((p * Double(sorted.count - 1)).rounded())]
}

/// One row of the report.
struct Row {
    var name: String
    var engine: Double
    var anchor: Double?
    var unit: String
    /// Whether a smaller number is better (bytes, latency, memory).
    var lowerIsBetter = false
    var target: String

    var ratio: Double? {
        guard let anchor, anchor > 0, engine > 0 else { return nil }
        return lowerIsBetter ? engine / anchor : engine / anchor
    }
}

struct Suite {
    var anchorPath: String?
    var directory = "/tmp/asm-bench"
    var quick = false

    init(arguments: [String]) throws {
        var iterator = arguments.makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--anchor": anchorPath = iterator.next()
            case "--dir": directory = iterator.next() ?? directory
            case "--quick": quick = true
            default: throw BenchError("unknown argument \(argument)")
            }
        }
    }

    /// Rounds per workload: engine and anchor alternate, and the medians are compared.
    var rounds: Int { quick ? 1 : 3 }

    func run() async throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let anchor = anchorPath.map { Anchor(executable: $0, directory: directory) }
        if anchor == nil { print("note: no C anchor given (--anchor); ratios are left out") }
        var rows: [Row] = []
        var spreads: [String] = []
        let bulk = quick ? 50_000 : 200_000

        /// Runs `engine` and `c` alternately, `rounds` times; returns the medians.
        func measure(
            _ name: String,
            engine: () async throws -> Double,
            c: () async throws -> Double?
        ) async throws
            -> (Double, Double?)
        {
            var engineValues: [Double] = []
            var anchorValues: [Double] = []
            for _ in 0..<rounds {
                if let value = try await c() { anchorValues.append(value) }
                engineValues.append(try await engine())
            }
            spreads.append(
                "\(name): engine \(engineValues.map { String(format: "%.0f", $0) }.joined(separator: ", "))"
                    + (anchorValues.isEmpty
                        ? "" : "; C \(anchorValues.map { String(format: "%.0f", $0) }.joined(separator: ", "))")
            )
            return (median(engineValues), anchorValues.isEmpty ? nil : median(anchorValues))
        }

        // Append at 1, 100 and 1000 events per commit, synchronous FULL.
        var bytes: (Double, Double?) = (0, nil)
        for (batch, count) in [(1, quick ? 1_000 : 5_000), (100, bulk), (1000, bulk)] {
            var engineBytes: [Double] = []
            var anchorBytes: [Double] = []
            let (engine, c) = try await measure(
                "append \(batch)/commit (ev/s)",
                engine: {
                    let figures = try await appendRate(count: count, batch: batch)
                    engineBytes.append(figures.bytesPerEvent)
                    return figures.rate
                },
                c: {
                    guard let figures = try await anchor?.append(count: count, batch: batch) else { return nil }
                    anchorBytes.append(figures.bytesPerEvent)
                    return figures.rate
                }
            )
            rows.append(
                Row(
                    name: "append \(batch)/commit (FULL)",
                    engine: engine,
                    anchor: c,
                    unit: "ev/s",
                    target: Self.appendTargets[batch] ?? "—"
                )
            )
            if batch == 1000 { bytes = (median(engineBytes), anchorBytes.isEmpty ? nil : median(anchorBytes)) }
        }
        rows.append(
            Row(
                name: "database bytes per event",
                engine: bytes.0,
                anchor: bytes.1,
                unit: "B/ev",
                lowerIsBetter: true,
                target: "≤ 1.25x"
            )
        )

        // What the redaction step costs an append: the same appends with it and without it,
        // alternating round by round (the "C anchor" column is the engine without it).
        for batch in [1, 100, 1000] {
            let count = batch == 1 ? (quick ? 1_000 : 5_000) : bulk
            let (with, without) = try await measure(
                "append \(batch)/commit with / without redaction (ev/s)",
                engine: { try await appendRate(count: count, batch: batch).rate },
                c: { try await appendRate(count: count, batch: batch, redacting: false).rate }
            )
            rows.append(
                Row(
                    name: "append \(batch)/commit, redaction on / off",
                    engine: with,
                    anchor: without,
                    unit: "ev/s",
                    target: "≥ 0.95x"
                )
            )
        }

        // Reads on a log of `bulk` events.
        let readPath = directory + "/read.sqlite"
        removeDatabase(readPath)
        let workload = try await fill(path: readPath, count: bulk, batch: 1000)
        let seconds = quick ? 0.5 : 1.0
        // The C program reads in every round, alternating with the engine like the appends.
        let (global, cGlobal) = try await measure(
            "paged global read (ev/s)",
            engine: { try await readGlobal(path: readPath, seconds: seconds) },
            c: { try await anchor?.read(count: bulk, seconds: seconds).page }
        )
        let (perSession, cSession) = try await measure(
            "per-session read (ev/s)",
            engine: { try await readSessions(path: readPath, workload: workload, seconds: seconds) },
            c: { try await anchor?.read(count: bulk, seconds: seconds).session }
        )
        removeDatabase(readPath)
        rows.append(
            Row(name: "paged global read, decoded", engine: global, anchor: cGlobal, unit: "ev/s", target: "≥ 0.15x")
        )
        rows.append(
            Row(name: "per-session read, decoded", engine: perSession, anchor: cSession, unit: "ev/s", target: "—")
        )

        // Cross-process tail: one commit every millisecond, a second process follows.
        let tailCount = quick ? 500 : 2_000
        for mode in [TailMode.polling, .wakeUp] {
            var engineP99: [Double] = []
            var anchorP99: [Double] = []
            let (p50, c50) = try await measure(
                "tail p50, \(mode.label) (µs)",
                engine: {
                    let latency = try await tail(count: tailCount, mode: mode)
                    engineP99.append(latency.p99)
                    return latency.p50
                },
                c: {
                    guard
                        let latency = try await anchor?.tail(
                            count: tailCount,
                            mode: mode == .polling ? "dv1ms" : "inotify"
                        )
                    else { return nil }
                    anchorP99.append(latency.p99)
                    return latency.p50
                }
            )
            spreads.append(
                "tail p99, \(mode.label) (µs): engine \(engineP99.map { String(format: "%.0f", $0) }.joined(separator: ", "))"
                    + "; C \(anchorP99.map { String(format: "%.0f", $0) }.joined(separator: ", "))"
            )
            rows.append(
                Row(
                    name: "tail p50, \(mode.label)",
                    engine: p50,
                    anchor: c50,
                    unit: "µs",
                    lowerIsBetter: true,
                    target: "—"
                )
            )
            rows.append(
                Row(
                    name: "tail p99, \(mode.label)",
                    engine: median(engineP99),
                    anchor: anchorP99.isEmpty ? nil : median(anchorP99),
                    unit: "µs",
                    lowerIsBetter: true,
                    target: "≤ 2000 µs"
                )
            )
        }

        // Peak memory of a process appending a million events.
        let rssCount = quick ? 100_000 : 1_000_000
        let rss = try await peakMemory(count: rssCount, batch: 1000)
        rows.append(
            Row(
                name: "peak RSS, \(rssCount / 1000)k appends",
                engine: rss,
                anchor: nil,
                unit: "MiB",
                lowerIsBetter: true,
                target: "≤ 32 MiB"
            )
        )

        // The session server: delivery to in-process subscribers (no C counterpart; the tail
        // rows above are the delivery to another process).
        rows += try await ServerBench(directory: directory, quick: quick).rows(rounds: rounds)
        // Analyses of a recorded history (no C counterpart).
        rows += try AnalysisBench(quick: quick).rows(rounds: rounds)
        // Full-text search over a large log, and what its index costs an append (no C counterpart).
        rows += try await SearchBench(suite: self).rows(rounds: rounds)

        // Workspace snapshots of a 10,000-file tree (no C counterpart).
        rows += try await WorkspaceBench(directory: directory, files: quick ? 2_000 : 10_000).rows(rounds: rounds)

        // Redaction: the store's step per payload and the streamed-text hold-back.
        rows += RedactionBench(quick: quick).rows()

        // The recovery pass on open (no C counterpart).
        rows += try await RecoveryBench(directory: directory, quick: quick).rows(rounds: rounds)

        // A held tool answered from another process (no C counterpart).
        rows += try await ApprovalBench(directory: directory, count: quick ? 200 : 1000).rows()

        // The log over HTTP: the event stream, the server's memory, session reads (no C counterpart).
        rows += try await HTTPBench(directory: directory, quick: quick).rows(rounds: rounds)

        Report.print(rows, quick: quick)
        print("")
        print("rounds (engine and C alternate; the table shows medians):")
        for line in spreads { print("  " + line) }
    }

    // MARK: Append

    /// What each append row must reach, as a ratio to the C anchor.
    static let appendTargets = [1: "≥ 0.87x", 100: "≥ 0.75x", 1000: "≥ 0.6x"]

    /// The three append rows alone: `rounds` rounds, C and engine alternating, each round's
    /// figures and ratios printed, then the median ratios.
    func appendRounds(_ rounds: Int) async throws {
        let anchor = anchorPath.map { Anchor(executable: $0, directory: directory) }
        let bulk = quick ? 50_000 : 200_000
        for (batch, count) in [(1, quick ? 1_000 : 5_000), (100, bulk), (1000, bulk)] {
            var ratios: [Double] = []
            for round in 1...rounds {
                let c = try await anchor?.append(count: count, batch: batch).rate
                let engine = try await appendRate(count: count, batch: batch).rate
                var line = "append \(batch)/commit, round \(round): \(Int(engine)) ev/s"
                if let c, c > 0 {
                    ratios.append(engine / c)
                    line += String(format: "; C %.0f; ratio %.2fx", c, engine / c)
                }
                print(line)
            }
            if !ratios.isEmpty {
                print(
                    String(
                        format: "append %d/commit: median ratio %.2fx (target %@)",
                        batch,
                        median(ratios),
                        Self.appendTargets[batch] ?? "—"
                    )
                )
            }
        }
    }

    struct AppendFigures {
        var rate: Double
        var bytesPerEvent: Double
    }

    func appendRate(
        count: Int,
        batch: Int,
        redacting: Bool = true,
        searchIndex: Bool = false
    ) async throws -> AppendFigures {
        let path = directory + "/append-\(batch).sqlite"
        removeDatabase(path)
        var configuration = SQLiteEventStore.Configuration()
        configuration.synchronous = .full
        if !redacting { configuration.redactor = .measuringOnlyDisabled }
        let store = try SQLiteEventStore(path: path, configuration: configuration)
        let workload = Workload()
        try await workload.setUp(store)
        if searchIndex { _ = try await store.setSearchIndex(true) }
        let events = (0..<count).map { workload.event($0) }
        let start = MonotonicTime.nanoseconds()
        try await workload.append(to: store, count: count, batch: batch, events: events)
        let elapsed = Double(MonotonicTime.nanoseconds() - start) / 1e9
        // Closing the last connection checkpoints the write-ahead log into the file and removes it.
        await store.close()
        let bytes = fileSize(path)
        return AppendFigures(rate: Double(count) / elapsed, bytesPerEvent: Double(bytes) / Double(count))
    }

    func fill(path: String, count: Int, batch: Int) async throws -> Workload {
        let store = try SQLiteEventStore(path: path, synchronous: .normal)
        let workload = Workload()
        try await workload.setUp(store)
        try await workload.append(to: store, count: count, batch: batch)
        await store.close()
        return workload
    }

    // MARK: Read

    /// The two read rows alone: `rounds` rounds, engine and C alternating, each round's
    /// figures and ratios printed, then the medians.
    func readRounds(_ rounds: Int) async throws {
        let anchor = anchorPath.map { Anchor(executable: $0, directory: directory) }
        let count = quick ? 50_000 : 200_000
        let seconds = quick ? 0.5 : 1.0
        let path = directory + "/read.sqlite"
        removeDatabase(path)
        let workload = try await fill(path: path, count: count, batch: 1000)
        var globalRatios: [Double] = []
        var sessionRatios: [Double] = []
        for round in 1...rounds {
            let c = try await anchor?.read(count: count, seconds: seconds)
            let global = try await readGlobal(path: path, seconds: seconds)
            let perSession = try await readSessions(path: path, workload: workload, seconds: seconds)
            var line = "round \(round): global \(Int(global)) ev/s, per-session \(Int(perSession)) ev/s"
            if let c, c.page > 0, c.session > 0 {
                globalRatios.append(global / c.page)
                sessionRatios.append(perSession / c.session)
                line += String(
                    format: "; C %.0f / %.0f; ratios %.2fx / %.2fx",
                    c.page,
                    c.session,
                    global / c.page,
                    perSession / c.session
                )
            }
            print(line)
        }
        removeDatabase(path)
        if !globalRatios.isEmpty {
            print(
                String(
                    format: "median ratios: global %.2fx, per-session %.2fx",
                    median(globalRatios),
                    median(sessionRatios)
                )
            )
        }
    }

    func readGlobal(path: String, seconds: Double) async throws -> Double {
        let store = try SQLiteEventStore(path: path)
        defer { Task { await store.close() } }
        return try await globalReadRate(store, seconds: seconds)
    }

    func readSessions(path: String, workload: Workload, seconds: Double) async throws -> Double {
        let store = try SQLiteEventStore(path: path)
        defer { Task { await store.close() } }
        var events = 0
        let start = MonotonicTime.nanoseconds()
        repeat {
            for session in workload.sessions {
                var version = StreamVersion(1)
                while true {
                    let page = try await store.stream(session.stream, fromVersion: version, limit: 500)
                    events += page.count
                    guard page.count == 500, let last = page.last else { break }
                    version = StreamVersion(last.streamVersion.rawValue + 1)
                }
            }
        } while Double(MonotonicTime.nanoseconds() - start) / 1e9 < seconds
        return Double(events) / (Double(MonotonicTime.nanoseconds() - start) / 1e9)
    }

    // MARK: Tail

    enum TailMode {
        case polling, wakeUp
        var label: String { self == .polling ? "polling 1 ms" : "wake-up" }
    }

    struct Latency {
        var p50: Double
        var p99: Double
    }

    func tail(count: Int, mode: TailMode) async throws -> Latency {
        let path = directory + "/tail.sqlite"
        removeDatabase(path)
        let store = try SQLiteEventStore(path: path, synchronous: .full)
        let session = SessionID.generate()
        try await store.append(
            NewEvent(SessionCreated(agentID: "tail")),
            to: session.stream,
            expectedVersion: .noStream
        )
        let executable = CommandLine.arguments[0]
        let followMode = mode == .polling ? "polling" : "wakeup"
        let result = try await Subprocess.run(
            .path(FilePath(executable)),
            arguments: ["follow", path, String(count), followMode],
            input: .none,
            output: .sequence,
            error: .string(limit: 65536)
        ) { execution in
            var lines = execution.standardOutput.strings().makeAsyncIterator()
            guard try await lines.next() == "ready" else { throw BenchError("the follower did not start") }
            var commits: [UInt64] = []
            commits.reserveCapacity(count)
            let workload = Workload()
            var next = MonotonicTime.nanoseconds()
            for index in 0..<count {
                next += 1_000_000
                let now = MonotonicTime.nanoseconds()
                if now < next {
                    var request = timespec(tv_sec: 0, tv_nsec: Int(next - now))
                    nanosleep(&request, nil)
                }
                _ = try await store.append([workload.event(index)], to: session.stream, expectedVersion: .any)
                commits.append(MonotonicTime.nanoseconds())
            }
            var seen: [UInt64] = []
            while let line = try await lines.next() {
                if let value = UInt64(line.trimmingCharacters(in: .whitespaces)) { seen.append(value) }
            }
            guard seen.count == count else { throw BenchError("the follower saw \(seen.count) of \(count) events") }
            return zip(seen, commits).map { Double($0 > $1 ? $0 - $1 : 0) / 1000 }.sorted()
        }
        await store.close()
        guard case .exited(0) = result.terminationStatus else {
            throw BenchError("follower failed: \(result.standardError)")
        }
        let latencies = result.closureResult
        return Latency(p50: percentile(latencies, 0.5), p99: percentile(latencies, 0.99))
    }

    // MARK: Memory

    func peakMemory(count: Int, batch: Int) async throws -> Double {
        let path = directory + "/rss.sqlite"
        removeDatabase(path)
        let result = try await Subprocess.run(
            .path(FilePath(CommandLine.arguments[0])),
            arguments: ["rss", path, String(count), String(batch)],
            input: .none,
            output: .string(limit: 4096),
            error: .string(limit: 65536)
        )
        guard case .exited(0) = result.terminationStatus,
            let kib = Double(result.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines))
        else { throw BenchError("memory probe failed: \(result.standardError)") }
        removeDatabase(path)
        return kib / 1024
    }
}

struct BenchError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
