import ASMHTTP
import ASMSystem
import AgentSessionManager
import Foundation
import Subprocess
internal import Synchronization
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// The log over HTTP on loopback: how long after a commit an event reaches clients of
/// `GET /v1/stream`, how many frames 100 such clients receive per second while runs append,
/// how much memory the serving process holds with 100 clients, and how many
/// `GET /v1/sessions/{id}` a keep-alive connection answers per second.
///
/// The stream clients are in this process, on one thread: non-blocking sockets under `poll`,
/// each response de-chunked and cut into frames by hand, so 100 of them cost one thread and
/// the receipt time is taken when the bytes come off the socket. The memory row serves from a
/// child process (`asm-bench http-server`), so it counts the server alone.
struct HTTPBench {
    let directory: String
    let quick: Bool

    static let token = "bench-token-0123456789abcdef"

    /// Runs each client count is measured with.
    static let runs = 4

    /// The options around the sub-command when `arguments` name `http` (the options may come
    /// before it or after it); `nil` otherwise.
    static func options(ofCommand arguments: [String]) -> [String]? {
        for (index, argument) in arguments.enumerated() where argument == "http" {
            if index > 0, ["--dir", "--anchor"].contains(arguments[index - 1]) { continue }
            var options = arguments
            options.remove(at: index)
            return options
        }
        return nil
    }

    /// `asm-bench [--dir DIR] [--quick] http`: the HTTP rows alone, one round.
    static func run(options: [String]) async throws {
        let suite = try Suite(arguments: options)
        try FileManager.default.createDirectory(atPath: suite.directory, withIntermediateDirectories: true)
        Report.print(
            try await HTTPBench(directory: suite.directory, quick: suite.quick).rows(rounds: 1),
            quick: suite.quick
        )
    }

    // MARK: Rows

    /// One round's figures.
    struct Figures {
        /// The latencies of each of `paces`, in µs, sorted.
        var latencies: [[Double]]
        var delivery: Delivery
        var requests: Double
        var parallelRequests: Double
    }

    /// A latency measurement: `clients` on the stream, one event every `interval`.
    struct Pace {
        var clients: Int
        var interval: Duration
        var events: Int
        var target: String
    }

    /// In order of clients.
    var paces: [Pace] {
        [
            Pace(clients: 1, interval: .milliseconds(1), events: quick ? 500 : 2_000, target: "≤ 2 ms"),
            Pace(clients: 100, interval: .milliseconds(5), events: quick ? 200 : 600, target: "≤ 10 ms"),
            // 50,000 frames a second: close to what the server delivers to 100 clients on two
            // cores (the frames/s row), so the queueing shows.
            Pace(clients: 100, interval: .milliseconds(2), events: quick ? 250 : 1_000, target: "—"),
        ]
    }
    var chunks: Int { quick ? 250 : 1_000 }
    var requestSeconds: Double { quick ? 0.5 : 1.5 }
    static let parallelConnections = 4

    func rows(rounds: Int) async throws -> [Row] {
        var figures: [Figures] = []
        for _ in 0..<rounds { figures.append(try await round()) }
        let memory = try await serverMemory(clients: 100)

        var rows: [Row] = []
        for (index, pace) in paces.enumerated() {
            let samples = figures.map { $0.latencies[index] }
            let who = pace.clients == 1 ? "1 client" : "\(pace.clients) clients"
            let milliseconds = pace.interval.components.attoseconds / 1_000_000_000_000_000
            let label = "\(who), \(milliseconds == 1 ? "1 ev/ms" : "1 ev/\(milliseconds) ms")"
            rows.append(
                Row(
                    name: "HTTP commit→SSE receipt p50, \(label)",
                    engine: median(samples.map { percentile($0, 0.5) }),
                    anchor: nil,
                    unit: "µs",
                    lowerIsBetter: true,
                    target: "—"
                )
            )
            rows.append(
                Row(
                    name: "HTTP commit→SSE receipt p99, \(label)",
                    engine: median(samples.map { percentile($0, 0.99) }),
                    anchor: nil,
                    unit: "µs",
                    lowerIsBetter: true,
                    target: pace.target
                )
            )
        }
        let events = figures.first?.delivery.events ?? 0
        rows.append(
            Row(
                name: "HTTP SSE frames/s received by 100 clients (\(Self.runs) runs, \(events) ev)",
                engine: median(figures.map(\.delivery.framesPerSecond)),
                anchor: nil,
                unit: "ev/s",
                target: "—"
            )
        )
        rows.append(
            Row(
                name: "HTTP events/s appended meanwhile, 100 SSE clients",
                engine: median(figures.map(\.delivery.appendsPerSecond)),
                anchor: nil,
                unit: "ev/s",
                target: "—"
            )
        )
        rows.append(
            Row(
                name: "HTTP server RSS, no client (child process)",
                engine: memory.idle,
                anchor: nil,
                unit: "MiB",
                lowerIsBetter: true,
                target: "—"
            )
        )
        rows.append(
            Row(
                name: "HTTP server RSS, 100 SSE clients connected",
                engine: memory.connected,
                anchor: nil,
                unit: "MiB",
                lowerIsBetter: true,
                target: "≤ 64 MiB"
            )
        )
        rows.append(
            Row(
                name: "HTTP server RSS, 100 SSE clients, after \(memory.events) ev",
                engine: memory.streamed,
                anchor: nil,
                unit: "MiB",
                lowerIsBetter: true,
                target: "≤ 64 MiB"
            )
        )
        rows.append(
            Row(
                name: "HTTP server peak RSS (VmHWM), 100 SSE clients",
                engine: memory.peak,
                anchor: nil,
                unit: "MiB",
                lowerIsBetter: true,
                target: "—"
            )
        )
        rows.append(
            Row(
                name: "HTTP GET /v1/sessions/{id}, 1 keep-alive connection",
                engine: median(figures.map(\.requests)),
                anchor: nil,
                unit: "req/s",
                target: "—"
            )
        )
        rows.append(
            Row(
                name: "HTTP GET /v1/sessions/{id}, \(Self.parallelConnections) keep-alive connections",
                engine: median(figures.map(\.parallelRequests)),
                anchor: nil,
                unit: "req/s",
                target: "—"
            )
        )
        return rows
    }

    /// One server on a fresh log: the latencies, the delivery rate to 100 clients, then
    /// session reads once the stream clients have gone.
    func round() async throws -> Figures {
        let path = directory + "/http.sqlite"
        removeDatabase(path)
        let serving = try await Serving.start(path: path, chunks: chunks)
        do {
            var latencies: [[Double]] = []
            for clients in Set(paces.map(\.clients)).sorted() {
                latencies += try await StreamClients.with(count: clients, serving) { streams in
                    var latencies: [[Double]] = []
                    for pace in paces where pace.clients == clients {
                        latencies.append(
                            try await latency(serving, streams, events: pace.events, interval: pace.interval)
                        )
                    }
                    return latencies
                }
            }
            let delivery = try await StreamClients.with(count: 100, serving) { streams in
                try await self.delivery(serving, streams)
            }
            let resource = "/v1/sessions/\(serving.server.session)"
            let requests = try await Self.requests(
                port: serving.port,
                path: resource,
                connections: 1,
                seconds: requestSeconds
            )
            let parallel = try await Self.requests(
                port: serving.port,
                path: resource,
                connections: Self.parallelConnections,
                seconds: requestSeconds
            )
            await serving.stop()
            removeDatabase(path)
            return Figures(
                latencies: latencies,
                delivery: delivery,
                requests: requests,
                parallelRequests: parallel
            )
        } catch {
            await serving.stop()
            throw error
        }
    }

    // MARK: Latency

    /// Appends one event every `interval` to the server's session while `clients` follow the
    /// stream; the time from each commit (taken by the store's first commit observer, on the
    /// writer's thread) to each client reading its frame off the socket, in µs, one value per
    /// (client, event), sorted.
    func latency(
        _ serving: Serving,
        _ clients: StreamClients,
        events: Int,
        interval: Duration
    ) async throws
        -> [Double]
    {
        // Every client at the live end before the first measured commit.
        let warmUp = try await serving.append("warm-up")
        try await clients.wait(through: warmUp, timeout: .seconds(20))
        clients.record(from: warmUp + 1)
        var sequences: [Int64] = []
        sequences.reserveCapacity(events)
        // The writer sleeps without holding a thread, as a run waiting for its provider does.
        var next = ContinuousClock.now
        for index in 0..<events {
            next += interval
            try await Task.sleep(until: next, clock: .continuous)
            sequences.append(try await serving.append("latency \(index)"))
        }
        try await clients.wait(through: sequences.last ?? warmUp, timeout: .seconds(30))
        let commits = serving.commits.times()
        var latencies: [Double] = []
        latencies.reserveCapacity(events * clients.count)
        for arrivals in clients.arrivals() {
            for sequence in sequences {
                guard let commit = commits[sequence], let arrival = arrivals[sequence] else {
                    throw BenchError("event \(sequence) has no commit or receipt time")
                }
                latencies.append(Double(arrival > commit ? arrival - commit : 0) / 1000)
            }
        }
        return latencies.sorted()
    }

    // MARK: Delivery

    struct Delivery {
        /// Frames all clients received per second, from the first run's submission to the
        /// last frame read.
        var framesPerSecond: Double
        /// Events appended per second, from the first submission until every run ended.
        var appendsPerSecond: Double
        var events: Int
    }

    /// `runs` scripted runs of `chunks` deltas each, 4 at a time, with `clients` on the stream;
    /// the runs are over when each has recorded its end.
    func delivery(_ serving: Serving, _ clients: StreamClients) async throws -> Delivery {
        let before = clients.totals().frames
        let from = try await serving.store.lastSequence()
        let start = MonotonicTime.nanoseconds()
        let last = try await serving.runs(Self.runs, named: "delivery")
        let ended = MonotonicTime.nanoseconds()
        try await clients.wait(through: last, timeout: .seconds(120))
        let totals = clients.totals()
        let appended = Int(last - from.rawValue)
        guard totals.frames - before == appended * clients.count else {
            throw BenchError("the clients read \(totals.frames - before) of \(appended * clients.count) frames")
        }
        return Delivery(
            framesPerSecond: Double(totals.frames - before) / (Double(totals.lastFrameAt - start) / 1e9),
            appendsPerSecond: Double(appended) / (Double(ended - start) / 1e9),
            events: appended
        )
    }

    // MARK: Requests

    /// `GET path` on `connections` keep-alive connections at once, each sending its next
    /// request when the last response is read, for `seconds`: responses per second, all.
    static func requests(port: Int, path: String, connections: Int, seconds: Double) async throws -> Double {
        let results = await withTaskGroup(of: Result<Tally, BenchError>.self) { group in
            for _ in 0..<connections {
                group.addTask {
                    await onOwnThread { keepAliveRequests(port: port, path: path, seconds: seconds) }
                }
            }
            var results: [Result<Tally, BenchError>] = []
            for await result in group { results.append(result) }
            return results
        }
        var total = 0.0
        for result in results {
            let tally = try result.get()
            total += Double(tally.responses) / tally.seconds
        }
        return total
    }

    /// One connection's responses and how long they took.
    struct Tally {
        var responses: Int
        var seconds: Double
    }

    /// One connection's requests, blocking: how many 200 responses in how many seconds.
    static func keepAliveRequests(port: Int, path: String, seconds: Double) -> Result<Tally, BenchError> {
        let descriptor: Int32
        switch Socket.connect(port: port) {
        case .success(let connected): descriptor = connected
        case .failure(let error): return .failure(error)
        }
        defer { close(descriptor) }
        let request = Array(
            "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(token)\r\n\r\n".utf8
        )
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var count = 0
        let start = MonotonicTime.nanoseconds()
        let end = start + UInt64(seconds * 1e9)
        while MonotonicTime.nanoseconds() < end {
            guard Socket.send(descriptor, request) else { return .failure(BenchError("a request could not be sent")) }
            var length: Int?
            while true {
                if length == nil, let head = Socket.find(Socket.headEnd, in: pending, from: 0) {
                    let lines = String(decoding: pending[..<head], as: UTF8.self).split(separator: "\r\n")
                    guard let status = lines.first, status.split(separator: " ").dropFirst().first == "200" else {
                        return .failure(BenchError("GET \(path): \(lines.first ?? "no status line")"))
                    }
                    let field = lines.first { $0.lowercased().hasPrefix("content-length:") }
                    guard let size = field.flatMap({ Int($0.dropFirst(15).trimmingCharacters(in: .whitespaces)) })
                    else { return .failure(BenchError("GET \(path): no Content-Length")) }
                    length = head + 4 + size
                }
                if let length, pending.count >= length {
                    pending.removeSubrange(0..<length)
                    break
                }
                let received = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
                guard received > 0 else { return .failure(BenchError("GET \(path): the connection closed")) }
                pending += buffer[..<received]
            }
            count += 1
        }
        return .success(Tally(responses: count, seconds: Double(MonotonicTime.nanoseconds() - start) / 1e9))
    }

    // MARK: Memory

    struct Memory {
        /// MiB resident once the server listens, before any client.
        var idle: Double
        /// MiB resident with the clients connected, before the runs.
        var connected: Double
        /// MiB resident with the clients connected, after the runs' events reached them all.
        var streamed: Double
        /// The process's peak MiB resident.
        var peak: Double
        var events: Int
    }

    /// The server in a child process: its resident memory before any client, then with
    /// `clients` on the stream after `runs` runs' events reached them all.
    func serverMemory(clients count: Int) async throws -> Memory {
        let path = directory + "/http-rss.sqlite"
        removeDatabase(path)
        let result = try await Subprocess.run(
            .path(FilePath(CommandLine.arguments[0])),
            arguments: ["http-server", path, String(chunks)],
            input: .inputWriter,
            output: .sequence,
            error: .string(limit: 65536)
        ) { execution in
            let pid = execution.processIdentifier.value
            var lines = execution.standardOutput.strings().makeAsyncIterator()
            // "port N SEQ": where it listens, and the last sequence of its log.
            guard let line = try await lines.next() else { throw BenchError("the HTTP server did not start") }
            let words = line.split(separator: " ")
            guard words.count == 3, words[0] == "port", let port = Int(words[1]), let started = Int64(words[2]) else {
                throw BenchError("the HTTP server said \(line)")
            }
            // A moment for the server to settle before the first reading.
            try await Task.sleep(for: .milliseconds(200))
            let idle = try Self.memory(of: pid).resident
            let (connected, streamed, events) = try await StreamClients.with(count: count, port: port, after: 0) {
                clients in
                // Every client has read the log so far: all are connected and at its end.
                try await clients.wait(through: started, timeout: .seconds(20))
                let connected = try Self.memory(of: pid).resident
                _ = try await execution.standardInputWriter.write("runs \(Self.runs)\n")
                guard let line = try await lines.next(), line.hasPrefix("drained "),
                    let last = Int64(line.dropFirst(8).trimmingCharacters(in: .whitespaces))
                else { throw BenchError("the HTTP server did not finish its runs") }
                try await clients.wait(through: last, timeout: .seconds(120))
                return (connected, try Self.memory(of: pid), Int(last - started))
            }
            try await execution.standardInputWriter.finish()
            return Memory(
                idle: idle,
                connected: connected,
                streamed: streamed.resident,
                peak: streamed.peak,
                events: events
            )
        }
        removeDatabase(path)
        guard case .exited(0) = result.terminationStatus else {
            throw BenchError("the HTTP server failed: \(result.standardError)")
        }
        return result.closureResult
    }

    /// `VmRSS` and `VmHWM` of process `pid`, in MiB.
    static func memory(of pid: pid_t) throws -> (resident: Double, peak: Double) {
        guard let resident = processStatusKiB("VmRSS", of: "\(pid)"), let peak = processStatusKiB("VmHWM", of: "\(pid)")
        else { throw BenchError("no VmRSS or VmHWM in /proc/\(pid)/status") }
        return (Double(resident) / 1024, Double(peak) / 1024)
    }
}

// MARK: - The server

/// A session server that serves every session over HTTP on 127.0.0.1 (a free port), with a
/// scripted provider streaming `chunks` deltas per run, four runs at a time.
struct Serving {
    let store: SQLiteEventStore
    let server: SessionServer
    let port: Int
    let listening: Task<Void, any Error>
    let commits: CommitTimes
    let observation: CommitObservation

    /// When each event committed, by sequence.
    final class CommitTimes: Sendable {
        private let bySequence = Mutex<[Int64: UInt64]>([:])

        func note(_ envelopes: [EventEnvelope]) {
            let now = MonotonicTime.nanoseconds()
            bySequence.withLock { times in
                for envelope in envelopes { times[envelope.sequence.rawValue] = now }
            }
        }

        func times() -> [Int64: UInt64] { bySequence.withLock { $0 } }
    }

    static func start(path: String, chunks: Int) async throws -> Serving {
        let store = try SQLiteEventStore(path: path)
        // Observed before the server observes them: observers are called in the order they
        // registered, so the time is taken right after the commit, before anyone is handed
        // the events.
        let commits = CommitTimes()
        guard let observation = store.observeCommits({ commits.note($0) }) else {
            await store.close()
            throw BenchError("the store cannot observe its commits")
        }
        let provider = ScriptedProvider(
            // Whole words, so each delta is passed on as it comes.
            script: ProviderScript([.text(String(repeating: "word ", count: chunks), chunks: chunks)])
        )
        let manager = SessionManager(store: store, providers: [provider])
        var configuration = SessionServer.Configuration(
            defaultOptions: RunOptions(provider: "scripted", continuation: .off),
            maxConcurrentRuns: 4
        )
        configuration.servesEverySession = true
        let server = try await SessionServer.start(
            manager: manager,
            agentID: "http-bench",
            configuration: configuration
        )
        let api = HTTPAPI(server: server, token: HTTPBench.token)
        let (ports, continuation) = AsyncStream<Int>.makeStream()
        let listening = Task {
            defer { continuation.finish() }
            try await api.listen(host: "127.0.0.1", port: 0) { port in continuation.yield(port) }
        }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else {
            observation.cancel()
            await server.shutdown()
            await store.close()
            if case .failure(let error) = await listening.result { throw error }
            throw BenchError("the HTTP server did not start")
        }
        return Serving(
            store: store,
            server: server,
            port: port,
            listening: listening,
            commits: commits,
            observation: observation
        )
    }

    /// Appends a user message to the server's session; its sequence.
    func append(_ content: String) async throws -> Int64 {
        try await store.append(
            [NewEvent(MessageReceived(role: .user, content: content))],
            to: server.session.stream,
            expectedVersion: .any
        ).lastSequence.rawValue
    }

    /// Submits `count` runs and waits for them all to end; the log's last sequence then.
    func runs(_ count: Int, named name: String) async throws -> Int64 {
        var runs: [RunID] = []
        for index in 0..<count { runs.append(try await server.submitRun("\(name) \(index)")) }
        for run in runs {
            let result = try await server.result(of: run)
            guard result.status == .completed else { throw BenchError("run \(run) ended \(result.status)") }
        }
        return try await store.lastSequence().rawValue
    }

    func stop() async {
        listening.cancel()
        _ = await listening.result
        observation.cancel()
        await server.shutdown()
        await store.close()
    }
}

/// The child of the memory row: `asm-bench http-server DB CHUNKS` serves the HTTP API
/// on a fresh log, prints `port N SEQ` (SEQ: the log's last sequence), and for each `runs K` line on its standard input runs K
/// scripted runs and prints `drained SEQ` (the last sequence) once they finished; it stops
/// at the end of its input.
enum HTTPServerProcess {
    static func run(arguments: [String]) async throws {
        guard arguments.count == 2, let chunks = Int(arguments[1]) else {
            throw BenchError("usage: asm-bench http-server DB CHUNKS")
        }
        let serving = try await Serving.start(path: arguments[0], chunks: chunks)
        let last = try await serving.store.lastSequence()
        FileHandle.standardOutput.write(Data("port \(serving.port) \(last.rawValue)\n".utf8))
        while let line = await onOwnThread({ readLine() }) {
            guard line.hasPrefix("runs "), let runs = Int(line.dropFirst(5)) else { continue }
            let last = try await serving.runs(runs, named: "memory")
            FileHandle.standardOutput.write(Data("drained \(last)\n".utf8))
        }
        await serving.stop()
    }
}

// MARK: - Stream clients

/// Clients of `GET /v1/stream`, all read by one thread: non-blocking sockets under `poll`,
/// each response parsed as it comes, each frame noted by its `id:` with the time its last
/// bytes came off the socket.
final class StreamClients: Sendable {
    private struct Client {
        /// Frames with an id read.
        var frames = 0
        var lastID: Int64 = -1
        var lastFrameAt: UInt64 = 0
        /// Receipt times by sequence, from `State.recordingFrom` on.
        var arrivals: [Int64: UInt64] = [:]
    }

    private struct State {
        var clients: [Client]
        var recordingFrom = Int64.max
        var failure: String?
    }

    private let descriptors: [Int32]
    private let state: Mutex<State>
    private let stopping = Atomic<Bool>(false)

    var count: Int { descriptors.count }

    private init(descriptors: [Int32]) {
        self.descriptors = descriptors
        self.state = Mutex(State(clients: Array(repeating: Client(), count: descriptors.count)))
    }

    /// `count` clients on `serving`'s stream from its current end, for the time of `body`.
    static func with<T>(
        count: Int,
        _ serving: Serving,
        _ body: (StreamClients) async throws -> T
    ) async throws -> T {
        let after = try await serving.store.lastSequence().rawValue
        return try await with(count: count, port: serving.port, after: after, body)
    }

    /// `count` clients on the stream at `port` after sequence `after`, for the time of `body`.
    static func with<T>(
        count: Int,
        port: Int,
        after: Int64,
        _ body: (StreamClients) async throws -> T
    ) async throws -> T {
        var descriptors: [Int32] = []
        let request = Array(
            ("GET /v1/stream HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer \(HTTPBench.token)\r\n"
                + "Accept: text/event-stream\r\nLast-Event-ID: \(after)\r\n\r\n").utf8
        )
        for _ in 0..<count {
            switch Socket.connect(port: port) {
            case .success(let descriptor):
                descriptors.append(descriptor)
                guard Socket.send(descriptor, request) else {
                    for descriptor in descriptors { close(descriptor) }
                    throw BenchError("a stream request could not be sent")
                }
                _ = fcntl(descriptor, F_SETFL, fcntl(descriptor, F_GETFL) | O_NONBLOCK)
            case .failure(let error):
                for descriptor in descriptors { close(descriptor) }
                throw error
            }
        }
        let clients = StreamClients(descriptors: descriptors)
        let reading = Task { await onOwnThread { clients.read() } }
        defer { for descriptor in descriptors { close(descriptor) } }
        do {
            let result = try await body(clients)
            clients.stopping.store(true, ordering: .releasing)
            await reading.value
            return result
        } catch {
            clients.stopping.store(true, ordering: .releasing)
            await reading.value
            throw error
        }
    }

    /// Receipt times are kept for sequences from `first` on.
    func record(from first: Int64) {
        state.withLock { $0.recordingFrom = first }
    }

    /// Each client's receipt times by sequence.
    func arrivals() -> [[Int64: UInt64]] {
        state.withLock { $0.clients.map(\.arrivals) }
    }

    /// Frames read by all clients, and when the last one was read.
    func totals() -> (frames: Int, lastFrameAt: UInt64) {
        state.withLock { state in
            (state.clients.reduce(0) { $0 + $1.frames }, state.clients.map(\.lastFrameAt).max() ?? 0)
        }
    }

    /// Waits until every client read the frame of `sequence`.
    func wait(through sequence: Int64, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        while true {
            let (done, failure, behind) = state.withLock { state in
                (
                    state.clients.allSatisfy { $0.lastID >= sequence }, state.failure,
                    state.clients.filter { $0.lastID < sequence }.count
                )
            }
            if let failure { throw BenchError(failure) }
            if done { return }
            guard ContinuousClock.now < deadline else {
                throw BenchError("\(behind) of \(count) stream clients did not read event \(sequence) in time")
            }
            try await Task.sleep(for: .milliseconds(1))
        }
    }

    /// The reading loop, on a thread of its own until `stopping`.
    private func read() {
        var polls = descriptors.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        var parsers = Array(repeating: StreamParser(), count: descriptors.count)
        var buffer = [UInt8](repeating: 0, count: 1 << 16)
        var ids: [Int64] = []
        while !stopping.load(ordering: .acquiring) {
            guard poll(&polls, nfds_t(polls.count), 10) > 0 else { continue }
            for index in polls.indices where polls[index].revents != 0 {
                polls[index].revents = 0
                let received = buffer.withUnsafeMutableBytes { recv(polls[index].fd, $0.baseAddress, $0.count, 0) }
                if received < 0, errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR { continue }
                guard received > 0 else {
                    if !stopping.load(ordering: .acquiring) {
                        state.withLock { $0.failure = $0.failure ?? "a stream closed (client \(index))" }
                    }
                    // `poll` skips negative descriptors.
                    polls[index].fd = -1
                    continue
                }
                let now = MonotonicTime.nanoseconds()
                ids.removeAll(keepingCapacity: true)
                let failure = buffer.withUnsafeBytes { bytes -> String? in
                    do {
                        try parsers[index].feed(UnsafeRawBufferPointer(rebasing: bytes[..<received]), ids: &ids)
                        return nil
                    } catch {
                        return "\(error)"
                    }
                }
                state.withLock { state in
                    if let failure { state.failure = state.failure ?? failure }
                    guard let last = ids.last else { return }
                    let recordingFrom = state.recordingFrom
                    state.clients[index].frames += ids.count
                    state.clients[index].lastID = last
                    state.clients[index].lastFrameAt = now
                    for id in ids where id >= recordingFrom { state.clients[index].arrivals[id] = now }
                }
            }
        }
    }
}

/// One `GET /v1/stream` response read as its bytes come: the status line and headers, the
/// chunked transfer coding taken off, the event stream cut into frames at blank lines and
/// each frame's `id:` read (comments and `retry:` have none).
struct StreamParser {
    private enum Phase {
        case head
        case chunkSize
        case chunkData(remaining: Int)
        case chunkEnd
        /// No transfer coding: the body runs to the end of the connection.
        case identity
        case ended
    }

    private var phase = Phase.head
    /// Bytes not yet taken out of the transfer coding.
    private var framing: [UInt8] = []
    /// Event-stream text not yet cut into frames.
    private var text: [UInt8] = []
    /// How far `text` holds no blank line.
    private var scanned = 0

    /// Takes `bytes` in; appends the ids of the frames they complete to `ids`.
    mutating func feed(_ bytes: UnsafeRawBufferPointer, ids: inout [Int64]) throws(BenchError) {
        framing.append(contentsOf: bytes)
        var index = 0
        decoding: while index < framing.count {
            switch phase {
            case .head:
                guard let end = Socket.find(Socket.headEnd, in: framing, from: index) else { break decoding }
                let lines = String(decoding: framing[index..<end], as: UTF8.self).split(separator: "\r\n")
                guard let status = lines.first, status.split(separator: " ").dropFirst().first == "200" else {
                    throw BenchError("GET /v1/stream: \(lines.first ?? "no status line")")
                }
                let chunked = lines.contains {
                    let line = $0.lowercased()
                    return line.hasPrefix("transfer-encoding:") && line.contains("chunked")
                }
                phase = chunked ? .chunkSize : .identity
                index = end + 4
            case .chunkSize:
                guard let end = Socket.find([0x0D, 0x0A], in: framing, from: index) else { break decoding }
                let digits = framing[index..<end].prefix { $0 != UInt8(ascii: ";") }
                guard
                    let size = Int(
                        String(decoding: digits, as: UTF8.self).trimmingCharacters(in: .whitespaces),
                        radix: 16
                    )
                else { throw BenchError("GET /v1/stream: a bad chunk size") }
                phase = size == 0 ? .ended : .chunkData(remaining: size)
                index = end + 2
            case .chunkData(let remaining):
                let take = min(remaining, framing.count - index)
                text.append(contentsOf: framing[index..<index + take])
                index += take
                phase = take == remaining ? .chunkEnd : .chunkData(remaining: remaining - take)
            case .chunkEnd:
                guard framing.count - index >= 2 else { break decoding }
                guard framing[index] == 0x0D, framing[index + 1] == 0x0A else {
                    throw BenchError("GET /v1/stream: a chunk does not end with CRLF")
                }
                phase = .chunkSize
                index += 2
            case .identity:
                text.append(contentsOf: framing[index...])
                index = framing.count
            case .ended:
                index = framing.count
            }
        }
        framing.removeSubrange(0..<index)

        // Frames end at a blank line: "\n\n".
        var start = 0
        var position = max(scanned, 1)
        while position < text.count {
            if text[position] == 0x0A, text[position - 1] == 0x0A {
                if let id = Self.id(in: text[start..<position]) { ids.append(id) }
                start = position + 1
                position = start + 1
            } else {
                position += 1
            }
        }
        text.removeSubrange(0..<start)
        scanned = text.count
    }

    /// The value of the frame's `id:` line.
    static func id(in frame: ArraySlice<UInt8>) -> Int64? {
        var lineStart = frame.startIndex
        while lineStart < frame.endIndex {
            let lineEnd = frame[lineStart...].firstIndex(of: 0x0A) ?? frame.endIndex
            var line = frame[lineStart..<lineEnd]
            if line.starts(with: "id:".utf8) {
                line = line.dropFirst(3)
                if line.first == UInt8(ascii: " ") { line = line.dropFirst() }
                if line.last == 0x0D { line = line.dropLast() }
                guard !line.isEmpty, line.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
                return line.reduce(Int64(0)) { $0 * 10 + Int64($1 - 0x30) }
            }
            lineStart = lineEnd + 1
        }
        return nil
    }
}

// MARK: - Sockets

/// The few blocking socket calls the clients share.
enum Socket {
    static let headEnd: [UInt8] = [0x0D, 0x0A, 0x0D, 0x0A]

    /// A TCP connection to 127.0.0.1:`port`, Nagle off.
    static func connect(port: Int) -> Result<Int32, BenchError> {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return .failure(BenchError("socket: \(String(cString: strerror(errno)))")) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            let message = String(cString: strerror(errno))
            close(descriptor)
            return .failure(BenchError("connect to 127.0.0.1:\(port): \(message)"))
        }
        var on: Int32 = 1
        _ = setsockopt(descriptor, Int32(IPPROTO_TCP), TCP_NODELAY, &on, socklen_t(MemoryLayout<Int32>.size))
        return .success(descriptor)
    }

    /// Sends all of `bytes` on a blocking socket.
    static func send(_ descriptor: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let sent = bytes.withUnsafeBytes {
                Glibc.send(descriptor, $0.baseAddress.map { $0 + offset }, bytes.count - offset, Int32(MSG_NOSIGNAL))
            }
            if sent < 0, errno == EINTR { continue }
            guard sent > 0 else { return false }
            offset += sent
        }
        return true
    }

    /// Where `needle` first occurs in `bytes` from `start`.
    static func find(_ needle: [UInt8], in bytes: [UInt8], from start: Int) -> Int? {
        guard bytes.count - start >= needle.count else { return nil }
        for index in start...(bytes.count - needle.count) where bytes[index] == needle[0] {
            if bytes[index..<index + needle.count].elementsEqual(needle) { return index }
        }
        return nil
    }
}

/// Runs blocking work on a thread of its own, off the cooperative pool.
func onOwnThread<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: work()) }.start()
    }
}
