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
                "Answer policy approval requests: approve, deny, or wait for another process (asm approve or asm deny) to answer (default: deny)."
        )
        var approvals: ServeApproval = .deny

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
        }

        func run() async throws {
            let loaded = try execution.load(database: store.path)
            if let workspace = loaded.options.workspace { try await ExecutionOptions.prepare(workspace) }
            let lines = try LineSource(path: input)

            let outcome = try await withStore(try store.openOrCreate()) { store in
                var configuration = SessionManager.Configuration()
                configuration.priceTable = loaded.priceTable
                let manager = loaded.manager(store: store, configuration: configuration)
                try await recoverAbandonedRuns(manager)
                var serverConfiguration = SessionServer.Configuration(
                    defaultOptions: loaded.options,
                    maxConcurrentRuns: maxConcurrent
                )
                serverConfiguration.retainedResults = .max
                let server: SessionServer
                let from: SequenceNumber
                if let session {
                    let id = try await resolveSession(session, in: store)
                    from = try await store.lastSequence().next
                    server = try SessionServer(manager: manager, sessions: [id], configuration: serverConfiguration)
                } else {
                    server = try await SessionServer.start(
                        manager: manager,
                        agentID: agent,
                        metadata: ["command": "asm serve"],
                        configuration: serverConfiguration
                    )
                    from = SequenceNumber(1)
                }
                if !json {
                    Console.note("serving session \(server.session) with up to \(maxConcurrent) concurrent runs")
                }

                let printing = Task { [json, quiet] in
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

                var submitted: [RunID] = []
                var rejected = 0
                var number = 0
                for await line in lines.lines() {
                    number += 1
                    if line.allSatisfy(\.isWhitespace) { continue }
                    do {
                        let request = try await ServeRequest(
                            line: line,
                            defaults: loaded.options,
                            execution: execution,
                            database: store.path
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
                if interrupted.isSet {
                    await server.shutdown()
                } else {
                    await server.drain()
                }
                let (count, first, last) = try await printing.value
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

/// One input line of `asm serve`: the messages and per-run options.
struct ServeRequest {
    /// A line that is not a valid request; `asm serve` reports it and reads on.
    struct Invalid: Error, CustomStringConvertible {
        /// What is wrong with the line.
        struct Code: Hashable, Sendable, CustomStringConvertible {
            private enum Wrapped: String, Hashable, Sendable {
                case invalidJSON = "invalid JSON"
                case unknownKey = "unknown key"
                case unknownOption = "unknown option"
                case invalidValue = "invalid value"
            }
            private let wrapped: Wrapped
            private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

            /// The line is not JSON.
            static let invalidJSON = Code(.invalidJSON)
            /// A key beside "messages" and "options".
            static let unknownKey = Code(.unknownKey)
            /// An option a request cannot set.
            static let unknownOption = Code(.unknownOption)
            /// A message or option of the wrong shape or out of range.
            static let invalidValue = Code(.invalidValue)

            var description: String { wrapped.rawValue }
        }

        var code: Code
        /// One line, naming the key.
        var message: String
        /// The cause, when another error led to this one.
        var underlying: (any Error)?

        init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
            self.code = code
            self.message = message
            self.underlying = underlying
        }

        var description: String { "\(code): \(message)" }

        /// The description followed by the chain of causes, one per line.
        func detailedDescription() -> String { ErrorDetail.text(description, underlying: underlying) }
    }

    var messages: [ChatMessage]
    var options: RunOptions
    var metadata: [String: String]?

    static let optionKeys: Set<String> = [
        "model", "system_prompt", "continuation", "deadline_seconds", "idle_timeout_seconds", "max_turns", "workspace",
        "metadata",
    ]

    init(line: String, defaults: RunOptions, execution: ExecutionOptions, database: String) async throws {
        let root: JSONValue
        do {
            root = try JSONValue(parsing: Array(line.utf8))
        } catch {
            throw Invalid(.invalidJSON, "\(error)", underlying: error)
        }
        guard let members = root.objectValue else { throw Invalid(.invalidValue, "a request must be a JSON object") }
        for member in members where member.key != "messages" && member.key != "options" {
            throw Invalid(.unknownKey, "\"\(member.key)\" (a request has \"messages\" and \"options\")")
        }
        guard let list = root["messages"]?.arrayValue, !list.isEmpty else {
            throw Invalid(.invalidValue, "\"messages\" must be a non-empty array of {\"role\", \"content\"}")
        }
        messages = try list.enumerated().map { index, value in
            guard let role = value["role"]?.stringValue, let content = value["content"]?.stringValue,
                value.objectValue?.count == 2
            else {
                throw Invalid(.invalidValue, "messages[\(index)] must be {\"role\": ..., \"content\": ...}")
            }
            guard ["user", "assistant", "system"].contains(role) else {
                throw Invalid(.invalidValue, "messages[\(index)].role must be user, assistant or system")
            }
            return ChatMessage(role: MessageRole(rawValue: role), content: content)
        }
        guard let last = messages.last, last.role == .user, !last.content.allSatisfy(\.isWhitespace) else {
            throw Invalid(.invalidValue, "the last message must be a non-empty user message")
        }

        options = defaults
        guard let overrides = root["options"] else { return }
        guard let given = overrides.objectValue else { throw Invalid(.invalidValue, "\"options\" must be an object") }
        for member in given where !Self.optionKeys.contains(member.key) {
            throw Invalid(
                .unknownOption,
                "\"\(member.key)\" (known: \(Self.optionKeys.sorted().joined(separator: ", ")))"
            )
        }
        func string(_ key: String) throws -> String? {
            guard let value = overrides[key] else { return nil }
            guard let text = value.stringValue else { throw Invalid(.invalidValue, "options.\(key) must be a string") }
            return text
        }
        func seconds(_ key: String) throws -> Duration? {
            guard let value = overrides[key] else { return nil }
            guard let number = value.doubleValue, number > 0, number.isFinite else {
                throw Invalid(.invalidValue, "options.\(key) must be a number of seconds above zero")
            }
            return .seconds(roundedToMilliseconds: number)
        }
        if let model = try string("model") { options.model = model }
        if let prompt = try string("system_prompt") { options.systemPrompt = prompt }
        if let text = try string("continuation") {
            guard let mode = ContinuationMode(rawValue: text) else {
                throw Invalid(.invalidValue, "options.continuation must be off, replay, native or auto")
            }
            options.continuation = mode
        }
        if let deadline = try seconds("deadline_seconds") { options.deadline = deadline }
        if let idle = try seconds("idle_timeout_seconds") { options.idleTimeout = idle }
        if let value = overrides["max_turns"] {
            guard let number = value.doubleValue, number >= 1, number == number.rounded(), number < 1e6 else {
                throw Invalid(.invalidValue, "options.max_turns must be a whole number of at least 1")
            }
            options.maxTurns = Int(number)
        }
        if let path = try string("workspace") {
            let workspace = execution.workspaceOptions(path, database: database)
            // Not the lock: the server itself may be running another request on it (it serializes them).
            try await ExecutionOptions.prepare(workspace, checkLock: false)
            options.workspace = workspace
            options.workingDirectory = nil
        }
        if let value = overrides["metadata"] {
            guard let entries = value.objectValue else {
                throw Invalid(.invalidValue, "options.metadata must be an object of strings")
            }
            var metadata: [String: String] = [:]
            for entry in entries {
                guard let text = entry.value.stringValue else {
                    throw Invalid(.invalidValue, "options.metadata.\(entry.key) must be a string")
                }
                metadata[entry.key] = text
            }
            self.metadata = metadata
        }
    }
}

extension ServeRequest.Invalid: DetailedError {}

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
