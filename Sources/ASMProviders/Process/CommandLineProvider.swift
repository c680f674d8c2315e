public import ASMCore
import ASMSystem

/// A provider CLI run as a subprocess: Claude Code, Codex or Amp, by its dialect.
///
/// ```swift
/// let codex = CommandLineProvider(dialect: Codex(sandbox: "workspace-write"))
/// let claude = CommandLineProvider(dialect: ClaudeCode(), configuration: .init(executable: "/opt/claude/bin/claude"))
/// ```
///
/// - Important: the request's environment reaches the CLI but never the log. Events are
///   emitted as the CLI wrote them; the engine redacts secrets before anything is appended
///   (see ``Redactor``).
public final class CommandLineProvider<Dialect: CommandLineDialect>: ProviderAdapter {
    /// Where the CLI is and how much output to accept.
    public struct Configuration: Sendable {
        /// A path, or a name looked up on `PATH` (the dialect's default name when `nil`).
        public var executable: String?
        /// The longest line of standard output accepted; a longer one fails the run as invalid output.
        public var lineLimit: Int
        /// How much of the end of standard error to keep for failures.
        public var stderrLimit: Int
        /// The watchdog's monotonic clock, in nanoseconds (tests drive their own).
        package var monotonicNow: @Sendable () -> UInt64 = MonotonicTime.nanoseconds

        public init(executable: String? = nil, lineLimit: Int = 64 << 20, stderrLimit: Int = 16 << 10) {
            self.executable = executable
            self.lineLimit = lineLimit
            self.stderrLimit = stderrLimit
        }
    }

    public let dialect: Dialect
    public let configuration: Configuration
    private let runs = RunRegistry<RunControl>()

    public init(dialect: Dialect, configuration: Configuration = Configuration()) {
        self.dialect = dialect
        self.configuration = configuration
    }

    public var name: String { dialect.name }
    public var capabilities: ProviderCapabilities { dialect.capabilities }

    public func execute(_ request: ProviderRequest) -> ProviderEventStream {
        var environment = ExecutableLocator.processEnvironment
        for (key, value) in request.environment { environment[key] = value }
        let executableName = configuration.executable ?? dialect.defaultExecutable
        guard let executable = ExecutableLocator.resolve(executableName, searchPath: environment["PATH"]) else {
            let location = executableName.contains("/") ? "at \(executableName)" : "\"\(executableName)\" on PATH"
            return .finished([.failure(.missingBinary, "\(name) is not installed: no executable \(location)")])
        }
        let spec = dialect.launch(for: request)
        let control = RunControl(
            input: spec.keepsInputOpen ? InputChannel() : nil,
            interruptInput: spec.interruptInput,
            now: configuration.monotonicNow
        )
        runs.insert(control, for: request.runID)
        let dialect = self.dialect
        let process = ProviderProcess(
            executable: executable,
            spec: spec,
            request: request,
            lineLimit: configuration.lineLimit,
            stderrLimit: configuration.stderrLimit,
            providerName: name,
            reply: { question, verdict in dialect.reply(to: question, verdict) }
        )
        let decoder = dialect.decoder(for: request)
        let (stream, continuation) = AsyncStream<ProviderEvent>.makeStream()
        let runs = self.runs
        let task = Task {
            await process.run(decoder: decoder, control: control) { continuation.yield($0) }
            runs.remove(request.runID)
            continuation.finish()
        }
        continuation.onTermination = { termination in
            // The consumer stopped listening: the run must not go on without it.
            if case .cancelled = termination { control.requestStop(.cancelled(.requested)) }
            _ = task
        }
        return ProviderEventStream(stream)
    }

    public func cancel(_ run: RunID, reason: CancelReason) async {
        runs[run]?.requestStop(.cancelled(reason))
    }

    /// Whether a run is still executing (its process not yet gone).
    public func isRunning(_ run: RunID) -> Bool {
        runs[run] != nil
    }

    /// Returns once the run's process is gone (at once for a run not executing).
    public func waitUntilStopped(_ run: RunID) async {
        await runs.waitUntilRemoved(run)
    }
}

/// Claude Code as a subprocess.
public typealias ClaudeCodeProvider = CommandLineProvider<ClaudeCode>
/// Codex as a subprocess.
public typealias CodexProvider = CommandLineProvider<Codex>
/// Amp as a subprocess.
public typealias AmpProvider = CommandLineProvider<Amp>
