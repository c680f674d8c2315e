import ASMHTTP
import ASMTelemetry
import AgentSessionManager
import ArgumentParser
import Dispatch
import FoundationEssentials
internal import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ASM {
    /// `asm serve`: a session server fed run requests, one JSON object per line.
    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Run a session server: read run requests (one JSON object per line), run them concurrently, print their events.",
            discussion: """
                Each input line is a run request: {"messages": [{"role": "user", "content": "Add tests"}]}, optionally with \
                "options": {"model", "system_prompt", "continuation", "deadline_seconds", "idle_timeout_seconds", \
                "max_turns", "workspace", "metadata"} overriding this command's options for that run. Runs start at once up \
                to --max-concurrent; the rest wait in a first-in, first-out queue (recorded as run.queued). Runs on the same \
                workspace are serialized.

                Every event of the session is printed as it commits (--json: one object per line, as asm tail --json); \
                `asm tail --follow` in another process sees the same events. The server exits when the input ends and \
                every run has finished. A line that is not a valid request is reported (asm: input line N: ...) and \
                skipped. Ctrl-C shuts the server down: queued runs are recorded as cancelled, running ones are cancelled \
                the provider's way. Exit status: 0 every request was accepted and every run completed, 1 otherwise, \
                130 after Ctrl-C, 64 usage, 66 a missing session or input file.

                --http ADDR also serves the HTTP API and the web page (README: HTTP API) on ADDR (HOST:PORT; port 0 \
                picks one; `asm: listening on http://HOST:PORT` is printed to standard error). Every route but /healthz \
                and the page needs Authorization: Bearer TOKEN: the first line of --token-file, or a token generated \
                at first start, kept in DB.token (mode 0600) and printed once. A non-loopback address needs \
                --token-file. The server then takes runs for every session in the log, keeps running when the input \
                ends, and stops on Ctrl-C or SIGTERM; approval requests wait for an answer unless --approvals says \
                otherwise.
                """
        )

        @OptionGroup var store: StoreOptions

        @OptionGroup var execution: ExecutionOptions

        @Option(name: .customLong("max-concurrent"), help: "How many runs execute at once.")
        var maxConcurrent: Int = 2

        @Option(help: "Serve this session (an id or an unambiguous prefix) instead of starting one.")
        var session: String?

        @Option(help: "The agent name recorded with the new session.")
        var agent: String = "asm"

        @Option(help: "Read run requests from this file instead of standard input.")
        var input: String?

        @Option(
            help:
                "Answer policy approval requests: approve, deny, or wait for another process (asm approve or asm deny, or the HTTP API) to answer (default: deny; wait with --http)."
        )
        var approvals: ServeApproval?

        @Option(help: "Also serve the HTTP API and web page on this address, e.g. 127.0.0.1:8642 (port 0 picks one).")
        var http: String?

        @Option(
            name: .customLong("token-file"),
            help: "With --http: the bearer token is this file's first line (default: DB.token, created if missing)."
        )
        var tokenFile: String?

        @Option(
            name: .customLong("otel-endpoint"),
            help:
                "Send each run to this OpenTelemetry collector (OTLP/HTTP) as a trace when it ends, as asm otel export does."
        )
        var otelEndpoint: String?

        @Flag(help: "Print each event as one JSON object per line.")
        var json = false

        @Flag(help: "Print only the closing summary.")
        var quiet = false

        enum ServeApproval: String, ExpressibleByArgument, CaseIterable {
            case approve, deny, wait
        }

        func validate() throws {
            guard maxConcurrent >= 1 else { throw ValidationError("--max-concurrent must be at least 1") }
            if agent.isEmpty { throw ValidationError("--agent needs a name") }
            if session != nil, agent != "asm" {
                throw ValidationError("--agent names a new session; it does not apply with --session")
            }
            if json, quiet { throw ValidationError("--json and --quiet do not go together") }
            if tokenFile != nil, http == nil { throw ValidationError("--token-file goes with --http") }
        }

        func run() async throws {
            let address = try http.map { try HTTPAddress($0) }
            if let address, !address.isLoopback, tokenFile == nil {
                throw CommandFailure(
                    .invalidArgument,
                    "--http \(address) is not a loopback address: give the token with --token-file"
                )
            }
            let exporter = try otelEndpoint.map { try OTLPHTTPExporter(endpoint: $0) }
            let approvals = self.approvals ?? (http == nil ? .deny : .wait)
            let loaded = try execution.load(database: store.sideFileBase)
            if let workspace = loaded.options.workspace { try await ExecutionOptions.prepare(workspace) }
            let lines = try LineSource(path: input)
            let token = try address.map { _ in try HTTPToken.load(tokenFile: tokenFile, database: store.sideFileBase) }
            if let token, token.created {
                // Shown when it is made, whatever happens next (a port in use, say).
                Console.note("bearer token (kept in \(store.sideFileBase).token, shown only this once): \(token.token)")
            }

            // A request's workspace: checked, but not its lock (the server may be running another
            // request on it; it serializes them).
            let database = store.sideFileBase
            let workspaceResolver: @Sendable (String) async throws -> WorkspaceOptions = { [execution] path in
                let workspace = execution.workspaceOptions(path, database: database)
                try await ExecutionOptions.prepare(workspace, checkLock: false)
                return workspace
            }
            let outcome = try await withStore(try await store.openOrCreate()) { store in
                var configuration = SessionManager.Configuration()
                configuration.priceTable = loaded.priceTable
                let manager = loaded.manager(store: store, configuration: configuration)
                try await recoverAbandonedRuns(manager)
                var serverConfiguration = SessionServer.Configuration(
                    defaultOptions: loaded.options,
                    maxConcurrentRuns: maxConcurrent
                )
                serverConfiguration.retainedResults = .max
                serverConfiguration.servesEverySession = address != nil
                let server: SessionServer
                let from: SequenceNumber
                if let session {
                    let id = try await resolveSession(session, in: store)
                    from = try await store.lastSequence().next
                    server = try SessionServer(manager: manager, sessions: [id], configuration: serverConfiguration)
                } else {
                    // A new session's events are all there is to print, unless the server serves
                    // every session: then only what happens from now on.
                    let now = try await store.lastSequence().next
                    server = try await SessionServer.start(
                        manager: manager,
                        agentID: agent,
                        metadata: ["command": "asm serve"],
                        configuration: serverConfiguration
                    )
                    from = address == nil ? SequenceNumber(1) : now
                }
                if !json {
                    Console.note("serving session \(server.session) with up to \(maxConcurrent) concurrent runs")
                }

                // Ended runs go to the collector one after another, off the printing loop.
                let (traces, tracing) = AsyncStream<[TraceSpan]>.makeStream()
                let exporting = Task {
                    var failed = false
                    for await spans in traces {
                        do {
                            try await exporter?.export(spans)
                        } catch  where !failed {
                            failed = true
                            Console.error("otel: \(error) (later runs are still sent)")
                        } catch {}
                    }
                }
                let printing = Task { [json, quiet, agent] in
                    defer { tracing.finish() }
                    var running: [RunID: [EventEnvelope]] = [:]
                    // Each session's agent and parents, read when its first run ends: with --http,
                    // sessions (under parents, too) are created while the server runs.
                    var agents: [SessionID: String] = [:]
                    var parents: [SessionID: SessionParent] = [:]
                    var described: Set<SessionID> = []
                    var count = 0
                    var first: SequenceNumber?
                    var last: SequenceNumber?
                    var labels: [RunID: String] = [:]
                    for try await envelope in server.subscribe(from: from) {
                        count += 1
                        first = first ?? envelope.sequence
                        last = envelope.sequence
                        if json {
                            Console.line(Formatting.json(envelope))
                        } else if !quiet {
                            let label = envelope.runID.map { run in
                                if let label = labels[run] { return label }
                                labels[run] = "run \(labels.count + 1)"
                                return labels[run] ?? ""
                            }
                            Console.line(Formatting.serverLine(envelope, run: label))
                        }
                        // Live: a reader on a pipe sees each event as it commits.
                        Console.flush()
                        if exporter != nil, let run = envelope.runID {
                            running[run, default: []].append(envelope)
                            switch envelope.event {
                            case .runCompleted, .runFailed, .runCancelled:
                                let session = SessionID(uuid: envelope.stream.uuid)
                                if described.insert(session).inserted {
                                    agents[session] =
                                        (try? await store.session(session))?.agentID
                                        ?? (session == server.session ? agent : nil)
                                    let found = (try? await TraceSource.parents(of: [session], in: store)) ?? [:]
                                    parents.merge(found) { kept, _ in kept }
                                }
                                tracing.yield(
                                    RunTraces.spans(
                                        running.removeValue(forKey: run) ?? [],
                                        agents: agents,
                                        parents: parents
                                    )
                                )
                            default: break
                            }
                        }
                        if case .toolApprovalRequested(let requested) = envelope.event, approvals != .wait {
                            let approved = approvals == .approve
                            Task {
                                try? await manager.resolveApproval(
                                    requested.approvalID,
                                    approved: approved,
                                    by: "asm serve --approvals \(approvals.rawValue)"
                                )
                            }
                        }
                    }
                    return (count, first, last)
                }

                let interrupted = Latch()
                let interrupts = InterruptHandler(message: "shutting down: cancelling the runs…") { reason in
                    interrupted.set()
                    lines.stop()
                    Task { await server.shutdown(reason: reason) }
                }
                defer { interrupts.restore() }

                // The HTTP API beside standard input; a server that cannot listen shuts down.
                let listenFailure = Mutex<String?>(nil)
                var listening: Task<Void, Never>?
                if let address, let token {
                    var api = HTTPAPI(server: server, token: token.token)
                    api.workspace = workspaceResolver
                    listening = Task {
                        do {
                            try await api.listen(host: address.host, port: address.port) { port in
                                Console.note("listening on \(address.url(port: port))")
                                Console.flush()
                            }
                        } catch  where !Task.isCancelled {
                            listenFailure.withLock { $0 = "cannot listen on \(address): \(error)" }
                            interrupted.set()
                            lines.stop()
                            await server.shutdown()
                        } catch {}
                    }
                }

                var submitted: [RunID] = []
                var rejected = 0
                var number = 0
                for await line in lines.lines() {
                    number += 1
                    if line.allSatisfy(\.isWhitespace) { continue }
                    do {
                        let request = try await RunRequest(
                            line: line.utf8,
                            defaults: loaded.options,
                            workspace: workspaceResolver
                        )
                        submitted.append(
                            try await server.submitRun(
                                request.messages,
                                options: request.options,
                                metadata: request.metadata
                            )
                        )
                    } catch let error as SessionServerError where error.code == .notAccepting {
                        break
                    } catch {
                        rejected += 1
                        Console.error("input line \(number): \(ExitStatus.message(error) ?? "refused")")
                    }
                }
                if listening != nil {
                    // The end of the input does not stop an HTTP server: Ctrl-C or SIGTERM does.
                    await withCheckedContinuation { continuation in interrupted.onSet { continuation.resume() } }
                }
                if interrupted.isSet {
                    await server.shutdown()
                } else {
                    await server.drain()
                }
                listening?.cancel()
                await listening?.value
                if let failure = listenFailure.withLock({ $0 }) { throw CommandFailure(.refused, failure) }
                let (count, first, last) = try await printing.value
                await exporting.value
                var statuses: [RunStatus: Int] = [:]
                for run in submitted {
                    let status = (try? await server.result(of: run))?.status ?? .failed
                    statuses[status, default: 0] += 1
                }
                return ServeOutcome(
                    session: server.session,
                    runs: submitted.count,
                    statuses: statuses,
                    rejected: rejected,
                    events: count,
                    first: first,
                    last: last,
                    interrupted: interrupted.isSet
                )
            }
            Console.flush()
            if !json { Console.note(outcome.line) }
            Console.flush()
            if outcome.interrupted { throw CommandFailure.reported(.cancelled) }
            if outcome.rejected > 0 || outcome.statuses.contains(where: { $0.key != .completed && $0.value > 0 }) {
                throw CommandFailure.reported(.runFailed)
            }
        }

    }
}

/// What a server did, for the closing line.
struct ServeOutcome: Sendable {
    var session: SessionID
    var runs: Int
    var statuses: [RunStatus: Int]
    var rejected: Int
    var events: Int
    var first: SequenceNumber?
    var last: SequenceNumber?
    var interrupted: Bool

    var line: String {
        let order: [RunStatus] = [.completed, .failed, .cancelled]
        let counts = order.compactMap { status in statuses[status].map { "\($0) \(status)" } }
        var text =
            "served \(Formatting.count(runs, "run"))" + (counts.isEmpty ? "" : " (\(counts.joined(separator: ", ")))")
        if rejected > 0 { text += ", \(Formatting.count(rejected, "request")) rejected" }
        text += "; \(Formatting.count(events, "event"))"
        if let first, let last { text += " (sequence \(first)–\(last))" }
        return text + " in session \(Formatting.short(session.uuid))"
    }
}

/// Input lines from standard input or a file, read on their own thread.
final class LineSource: Sendable {
    private let descriptor: Int32
    private let stopped = Latch()

    init(path: String?) throws {
        guard let path, path != "-" else {
            descriptor = 0
            return
        }
        let opened = open(path, O_RDONLY)
        guard opened >= 0 else {
            throw CommandFailure(.missingFile, "cannot read the input \(path): \(String(cString: strerror(errno)))")
        }
        descriptor = opened
    }

    /// Makes ``lines()`` end after the line it is on.
    func stop() { stopped.set() }

    /// The lines, split on `\n` only, until the end of the input.
    func lines() -> AsyncStream<String> {
        let (stream, continuation) = AsyncStream<String>.makeStream()
        let descriptor = self.descriptor
        let stopped = self.stopped
        stopped.onSet { continuation.finish() }
        DispatchQueue(label: "asm.serve.input").async {
            var pending: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while !stopped.isSet {
                let count = chunk.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                pending += chunk[..<count]
                while let newline = pending.firstIndex(of: 0x0A) {
                    continuation.yield(String(decoding: pending[..<newline], as: UTF8.self))
                    pending.removeSubrange(...newline)
                }
            }
            if !pending.isEmpty, !stopped.isSet { continuation.yield(String(decoding: pending, as: UTF8.self)) }
            if descriptor != 0 { close(descriptor) }
            continuation.finish()
        }
        return stream
    }
}

/// A one-way switch that can be read from any thread, with actions run when it is set.
final class Latch: Sendable {
    private struct State {
        var isSet = false
        var actions: [@Sendable () -> Void] = []
    }

    private let state = Mutex(State())

    var isSet: Bool { state.withLock { $0.isSet } }

    func set() {
        let actions = state.withLock { state -> [@Sendable () -> Void] in
            guard !state.isSet else { return [] }
            state.isSet = true
            defer { state.actions = [] }
            return state.actions
        }
        for action in actions { action() }
    }

    /// Runs `action` when the flag is set (now, if it already is).
    func onSet(_ action: @escaping @Sendable () -> Void) {
        let now = state.withLock { state -> Bool in
            if state.isSet { return true }
            state.actions.append(action)
            return false
        }
        if now { action() }
    }
}
