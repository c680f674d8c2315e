import ASMCore
import ASMSystem
internal import Subprocess
internal import Synchronization
internal import SystemPackage

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// Runs one provider CLI to the end and turns its output into events.
///
/// - The process gets its own process group; stopping signals the whole group, so the
///   agent's own children go with it.
/// - Standard output is split on `\n` only (JSON strings may hold U+2028) into lines of
///   up to `lineLimit` bytes; a longer line stops the run as invalid output.
/// - Standard error is drained as it arrives; its last `stderrLimit` bytes are kept.
/// - A watchdog enforces the total deadline (not extended by output) and the idle
///   timeout, and runs the dialect's stop sequence (signal, grace, next signal, …, SIGKILL)
///   when the run is cancelled or times out. The process never outlives the run.
/// - Events are emitted as the CLI wrote them: secrets are removed by the engine, before
///   anything is appended to the log (see ``Redactor``), whatever the provider.
struct ProviderProcess: Sendable {
    var executable: String
    var spec: LaunchSpec
    var request: ProviderRequest
    var lineLimit: Int
    var stderrLimit: Int
    var providerName: String
    /// The line answering a held tool on an open standard input.
    var reply: @Sendable (ToolPermissionRequest, ToolPermissionRequest.Verdict) -> [UInt8]? = { _, _ in nil }

    /// Runs the process; returns when it is gone and every event was emitted.
    func run<Decoder: ProviderStreamDecoder>(
        decoder: Decoder,
        control: RunControl,
        emit: @escaping @Sendable (ProviderEvent) -> Void
    ) async {
        let state = DecoderState(decoder: decoder, emit: emit, control: control, reply: reply)
        defer { control.input?.close() }
        if let stop = control.stop {
            // Cancelled before it started.
            state.finish(ProcessOutcome(termination: .notStarted("cancelled"), stop: stop))
            return
        }
        let directory: TemporaryFiles
        do {
            directory = try TemporaryFiles(spec.files)
        } catch {
            state.finish(
                ProcessOutcome(termination: .notStarted(error.message)),
                known: RunFailure(
                    kind: .processExited,
                    message: "could not write \(providerName)'s settings file: \(error.message)"
                )
            )
            return
        }
        defer { directory.remove() }
        let arguments = spec.arguments.map { directory.substitute($0) }

        let watchdog = Task.detached { [spec, request] in
            await Self.watch(
                control: control,
                stopSequence: spec.stopSequence,
                deadline: request.deadline,
                idleTimeout: request.idleTimeout
            )
        }
        defer { watchdog.cancel() }

        var options = PlatformOptions()
        options.processGroupID = 0  // a group of its own
        options.teardownSequence = spec.stopSequence.dropLast().map { step in
            .send(
                signal: Signal(rawValue: step.signal.rawValue),
                toProcessGroup: true,
                allowedDurationToNextStep: step.grace
            )
        }
        var environment: [Environment.Key: String?] = [:]
        for (key, value) in request.environment { environment[Environment.Key(stringLiteral: key)] = value }

        defer { AgentReaper.shared.forget(request.runID) }
        let outcome: ProcessOutcome
        do {
            let (termination, stderr) = try await withTaskCancellationHandler {
                if let channel = control.input {
                    Self.ignoreBrokenPipes
                    if let opening = spec.standardInput { channel.send(opening) }
                    return try await launch(
                        arguments,
                        environment,
                        options,
                        input: .inputWriter,
                        control: control,
                        state: state
                    )
                } else if let input = spec.standardInput {
                    return try await launch(
                        arguments,
                        environment,
                        options,
                        input: .array(input),
                        control: control,
                        state: state
                    )
                } else {
                    return try await launch(
                        arguments,
                        environment,
                        options,
                        input: .none,
                        control: control,
                        state: state
                    )
                }
            } onCancel: {
                control.requestStop(.cancelled(.requested))
            }
            control.markExited()
            let ended: ProcessOutcome.Termination =
                switch termination {
                case .exited(let code): .exited(code)
                case .signaled(let signal): .signaled(signal)
                }
            outcome = ProcessOutcome(termination: ended, stderr: stderr, stop: control.stop)
        } catch {
            control.markExited()
            await state.settleQuestions()
            let message: String
            if let subprocess = error as? SubprocessError, subprocess.code == .failedToChangeWorkingDirectory {
                message = "the working directory \(request.workingDirectory ?? ".") cannot be used"
                state.finish(
                    ProcessOutcome(termination: .notStarted(message)),
                    known: RunFailure(kind: .invalidRequest, message: message)
                )
            } else {
                message = "\(providerName) could not be run: \(error)"
                state.finish(
                    ProcessOutcome(termination: .notStarted(message), stop: control.stop),
                    known: RunFailure(kind: .processExited, message: message)
                )
            }
            await watchdog.value
            return
        }
        await state.settleQuestions()
        state.finish(outcome)
        await watchdog.value
    }

    /// A write to the standard input of a CLI that has exited must fail with `EPIPE`, not
    /// end this process: SIGPIPE is ignored once a CLI runs with an open standard input.
    private static let ignoreBrokenPipes: Void = {
        _ = signal(SIGPIPE, SIG_IGN)
    }()

    private func launch<Input: InputProtocol>(
        _ arguments: [String],
        _ environment: [Environment.Key: String?],
        _ options: PlatformOptions,
        input: Input,
        control: RunControl,
        state: DecoderState<some ProviderStreamDecoder>
    ) async throws -> (TerminationStatus, String) {
        let lineLimit = self.lineLimit
        let stderrLimit = self.stderrLimit
        let result = try await Subprocess.run(
            .path(FilePath(executable)),
            arguments: Arguments(arguments),
            environment: .inherit.updating(environment),
            workingDirectory: request.workingDirectory.map { FilePath($0) },
            platformOptions: options,
            input: input,
            output: .sequence,
            error: .sequence
        ) { execution in
            control.started(processGroup: execution.processIdentifier.value)
            AgentReaper.shared.watch(execution.processIdentifier.value, for: request.runID)
            async let stderr = Self.drain(execution.standardError, keeping: stderrLimit)
            async let written: Void = Self.feed(execution, control.input)
            try await Self.readLines(execution.standardOutput, limit: lineLimit, control: control, state: state)
            // Standard output ended: the process is going; nothing more can be answered.
            control.input?.close()
            await written
            return await stderr
        }
        return (result.terminationStatus, result.closureResult)
    }

    /// Writes the queued lines to an open standard input, in order, and closes it when the
    /// channel closes. A CLI that stopped reading makes the write fail; the rest is dropped.
    private static func feed<Input: InputProtocol>(
        _ execution: Execution<Input, SequenceOutput, SequenceOutput>,
        _ channel: InputChannel?
    ) async {
        guard let channel,
            let writer = (execution as? Execution<CustomWriteInput, SequenceOutput, SequenceOutput>)?
                .standardInputWriter
        else { return }
        var failed = false
        for await line in channel.lines where !failed {
            do {
                _ = try await writer.write(line)
            } catch {
                // The CLI stopped reading: nothing more reaches it.
                failed = true
                channel.close()
            }
        }
        try? await writer.finish()
    }

    // MARK: Output

    /// Splits standard output into lines and decodes each as it arrives.
    private static func readLines(
        _ output: SubprocessOutputSequence,
        limit: Int,
        control: RunControl,
        state: DecoderState<some ProviderStreamDecoder>
    ) async throws {
        var pending: [UInt8] = []
        var discarding = false
        for try await buffer in output {
            control.touch()
            var lines: [[UInt8]] = []
            buffer.withUnsafeBytes { bytes in
                var start = 0
                for index in 0..<bytes.count where bytes[index] == 0x0A {
                    if !discarding {
                        pending.append(contentsOf: bytes[start..<index])
                        lines.append(pending)
                    }
                    pending.removeAll(keepingCapacity: true)
                    discarding = false
                    start = index + 1
                }
                if !discarding { pending.append(contentsOf: bytes[start..<bytes.count]) }
            }
            for line in lines where line.count <= limit { state.decode(line) }
            if lines.contains(where: { $0.count > limit }) || pending.count > limit {
                // Keep draining so the process is not blocked, but decode nothing more.
                control.requestStop(.lineTooLong(limit: limit))
                discarding = true
                pending.removeAll()
                state.stopDecoding()
            }
        }
        if !pending.isEmpty, !discarding { state.decode(pending) }
    }

    /// Reads standard error to the end, keeping its last `limit` bytes.
    private static func drain(_ output: SubprocessOutputSequence, keeping limit: Int) async -> String {
        var tail: [UInt8] = []
        do {
            for try await buffer in output {
                buffer.withUnsafeBytes { tail.append(contentsOf: $0) }
                if tail.count > 2 * limit { tail.removeFirst(tail.count - limit) }
            }
        } catch {}
        if tail.count > limit { tail.removeFirst(tail.count - limit) }
        return String(decoding: tail, as: UTF8.self).trimmingTrailingNewlines()
    }

    // MARK: Watchdog

    /// Enforces the deadline and idle timeout, and stops the process step by step once asked.
    /// It checks every 5 ms until the process has exited.
    private static func watch(
        control: RunControl,
        stopSequence: [SignalStep],
        deadline: Duration?,
        idleTimeout: Duration?
    )
        async
    {
        var step = -1
        var stepStarted: UInt64 = 0
        while !control.hasExited {
            let now = control.now()
            if let deadline, now - control.startedAt >= deadline.clampedNanoseconds {
                control.requestStop(.deadline(deadline))
            }
            // Read once: the output reader moves it on concurrently.
            let lastActivity = control.lastActivity
            if let idleTimeout, !control.isHolding, now > lastActivity,
                now - lastActivity >= idleTimeout.clampedNanoseconds
            {
                control.requestStop(.idleTimeout(idleTimeout))
            }
            if control.stop != nil, control.processGroup != nil {
                let grace = step >= 0 ? stopSequence[step].grace.clampedNanoseconds : 0
                if step < 0 || (now - stepStarted >= grace && step + 1 < stopSequence.count) {
                    step += 1
                    stepStarted = now
                    control.stopStep(stopSequence[step].signal)
                }
            }
            // Suspends rather than blocks: a watchdog per run must not hold a thread of the pool.
            try? await Task.sleep(for: .milliseconds(5))
        }
    }
}

/// The decoder of one run and where its events go; used by the standard-output reader, then
/// by the runner once the process is gone, never at the same time.
///
/// On an open standard input it also answers the CLI's questions: each held tool waits for
/// its verdict in a task of its own, which records the tool's start when it is allowed and
/// then writes the answer, so the start is on the stream before anything the tool does.
final class DecoderState<Decoder: ProviderStreamDecoder>: @unchecked Sendable {
    private var decoder: Decoder
    private let emit: @Sendable (ProviderEvent) -> Void
    private let control: RunControl?
    private var input: InputChannel? { control?.input }
    private let reply: @Sendable (ToolPermissionRequest, ToolPermissionRequest.Verdict) -> [UInt8]?
    private var decoding = true
    private var finished = false
    private let questions = Mutex<[(ToolPermissionRequest, Task<Void, Never>)]>([])

    init(
        decoder: Decoder,
        emit: @escaping @Sendable (ProviderEvent) -> Void,
        control: RunControl? = nil,
        reply: @escaping @Sendable (ToolPermissionRequest, ToolPermissionRequest.Verdict) -> [UInt8]? = { _, _ in nil }
    ) {
        self.decoder = decoder
        self.emit = emit
        self.control = control
        self.reply = reply
    }

    func decode(_ line: [UInt8]) {
        guard decoding else { return }
        for event in decoder.decode(line: line) where !event.isTerminal {
            emit(event)
            if case .toolPermission(let question) = event, let input { answerWhenDecided(question, input) }
        }
        guard let input else { return }
        for line in decoder.takeReplies() { input.send(line) }
        if decoder.turnEnded { input.close() }
    }

    /// Waits for the verdict on `question` and writes the answer.
    private func answerWhenDecided(_ question: ToolPermissionRequest, _ input: InputChannel) {
        let emit = self.emit
        let reply = self.reply
        let control = self.control
        // Waiting for the answer is not silence: the idle timeout counts from the answer.
        control?.holding(1)
        let task = Task {
            let verdict = await question.verdict()
            control?.holding(-1)
            // The start goes on record before the CLI can act on the answer; with its input
            // closed, the CLI never gets the answer and the tool never starts.
            if case .allow = verdict, input.isOpen { emit(.toolStarted(question.call)) }
            if let line = reply(question, verdict) { input.send(line) }
        }
        questions.withLock { $0.append((question, task)) }
    }

    /// Once the process is gone: questions still open are denied, and every answer task has
    /// ended before the last events.
    func settleQuestions() async {
        let open = questions.withLock { questions in
            defer { questions.removeAll() }
            return questions
        }
        for (question, task) in open {
            question.answer(.deny("the provider exited before the tool was answered"))
            await task.value
        }
    }

    /// Nothing more is read: nothing more is answered either.
    func stopDecoding() {
        decoding = false
        input?.close()
    }

    /// Emits the run's last events; `known` is a failure found before the process ran.
    func finish(_ outcome: ProcessOutcome, known: RunFailure? = nil) {
        guard !finished else { return }
        finished = true
        let events = known.map { [outcome.terminalWithoutResult(provider: "", known: $0)] } ?? decoder.finish(outcome)
        for event in events { emit(event) }
    }
}

/// The files a launch needs, in a private temporary directory.
struct TemporaryFiles {
    private var directory: String?
    private var paths: [String: String] = [:]

    init(_ files: [LaunchFile]) throws(ProviderSetupError) {
        guard !files.isEmpty else { return }
        var template = Array("\(SystemPaths.temporaryDirectory)/asm-provider-XXXXXX".utf8CString)
        let created: String? = template.withUnsafeMutableBufferPointer { buffer in
            guard let base = buffer.baseAddress, mkdtemp(base) != nil else { return nil }
            return String(cString: base)
        }
        guard let directory = created else {
            throw ProviderSetupError(
                .launchFiles,
                "cannot create a temporary directory in \(SystemPaths.temporaryDirectory): \(String(cString: strerror(errno)))"
            )
        }
        self.directory = directory
        for (index, file) in files.enumerated() {
            let path = "\(directory)/file-\(index).json"
            let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            guard fd >= 0 else {
                throw ProviderSetupError(.launchFiles, "cannot create \(path): \(String(cString: strerror(errno)))")
            }
            let written = file.contents.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            close(fd)
            guard written == file.contents.count else { throw ProviderSetupError(.launchFiles, "cannot write \(path)") }
            paths[file.placeholder] = path
        }
    }

    func substitute(_ argument: String) -> String { paths[argument] ?? argument }

    /// The path written for a placeholder.
    func path(for placeholder: String) -> String? { paths[placeholder] }

    func remove() {
        for path in paths.values { unlink(path) }
        if let directory { rmdir(directory) }
    }
}

/// A launch could not be set up before the provider's process started; the run fails as
/// `process_exited` with the message.
struct ProviderSetupError: Error, CustomStringConvertible {
    /// What could not be set up.
    struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: String, Hashable, Sendable {
            case launchFiles = "launch files"
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The files the command line names (a settings file) could not be written.
        static let launchFiles = Code(.launchFiles)

        var description: String { wrapped.rawValue }
    }

    var code: Code
    /// One line, naming the file.
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

extension ProviderSetupError: DetailedError {}

extension String {
    func trimmingTrailingNewlines() -> String {
        var text = self
        while text.last == "\n" || text.last == "\r" { text.removeLast() }
        return text
    }
}
