import ASMCore

/// A signal, by its POSIX number (the same on Linux and macOS for these).
public struct ProcessSignal: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    public static let interrupt = ProcessSignal(rawValue: 2)
    public static let kill = ProcessSignal(rawValue: 9)
    public static let terminate = ProcessSignal(rawValue: 15)

    public var description: String {
        switch rawValue {
        case 2: "SIGINT"
        case 9: "SIGKILL"
        case 15: "SIGTERM"
        default: "signal \(rawValue)"
        }
    }
}

/// One step of stopping a process: send a signal, then give it time to exit.
public struct SignalStep: Hashable, Sendable {
    public var signal: ProcessSignal
    /// How long to wait for the process to exit before the next step.
    public var grace: Duration

    public init(_ signal: ProcessSignal, grace: Duration) {
        self.signal = signal
        self.grace = grace
    }
}

/// A file a launch needs (such as Amp's settings), written with mode 0600 before the
/// process starts and removed after it ends. `placeholder` in the arguments is replaced by
/// the file's path.
public struct LaunchFile: Hashable, Sendable {
    public var placeholder: String
    public var contents: [UInt8]

    public init(placeholder: String, contents: [UInt8]) {
        self.placeholder = placeholder
        self.contents = contents
    }
}

/// How to start a provider CLI for one request: pure data, built by a dialect.
public struct LaunchSpec: Hashable, Sendable {
    public var arguments: [String]
    /// Written to standard input, which is then closed (unless ``keepsInputOpen``); `nil`
    /// for a closed standard input.
    public var standardInput: [UInt8]?
    public var files: [LaunchFile]
    /// How to stop the process when the run is cancelled or times out; ends with SIGKILL.
    public var stopSequence: [SignalStep]
    /// Standard input stays open after ``standardInput`` for the host's answers (a held
    /// tool's verdict) until the decoder says the turn ended or the process is gone.
    public var keepsInputOpen: Bool
    /// Written to an open standard input instead of the stop sequence's SIGINT: the CLI's
    /// own interrupt request.
    public var interruptInput: [UInt8]?

    public init(
        arguments: [String],
        standardInput: [UInt8]?,
        files: [LaunchFile] = [],
        stopSequence: [SignalStep],
        keepsInputOpen: Bool = false,
        interruptInput: [UInt8]? = nil
    ) {
        self.arguments = arguments
        self.standardInput = standardInput
        self.files = files
        self.stopSequence = stopSequence
        self.keepsInputOpen = keepsInputOpen
        self.interruptInput = interruptInput
    }
}

/// What one CLI speaks: its flags, its output and how it stops. Pure; the process runner
/// does the rest.
public protocol CommandLineDialect: Sendable {
    associatedtype Decoder: ProviderStreamDecoder
    /// The provider's name in events (`claude`, `codex`, `amp`).
    var name: String { get }
    /// The executable looked up on `PATH` when none is configured.
    var defaultExecutable: String { get }
    var capabilities: ProviderCapabilities { get }
    /// The launch for a request.
    func launch(for request: ProviderRequest) -> LaunchSpec
    /// A decoder for one run of the request.
    func decoder(for request: ProviderRequest) -> Decoder
    /// The line that answers a held tool on the CLI's standard input (`nil`: the dialect
    /// holds no tools).
    func reply(to request: ToolPermissionRequest, _ verdict: ToolPermissionRequest.Verdict) -> [UInt8]?
}

extension CommandLineDialect {
    public func reply(to request: ToolPermissionRequest, _ verdict: ToolPermissionRequest.Verdict) -> [UInt8]? {
        nil
    }
}

/// Provider-neutral tool names and their spellings in each CLI.
public enum ToolNames {
    /// Translates a neutral name (`bash`, `read`, `web_search`...) through `table`;
    /// unknown names and patterns (`Bash(git *)`) pass through unchanged.
    static func translate(_ names: [String], _ table: [String: String]) -> [String] {
        var seen = Set<String>()
        return names.compactMap { name in
            let translated = table[name.lowercased()] ?? name
            return seen.insert(translated).inserted ? translated : nil
        }
    }

    static let claude: [String: String] = [
        "bash": "Bash", "shell": "Bash", "sh": "Bash", "read": "Read", "edit": "Edit", "write": "Write",
        "web_search": "WebSearch", "websearch": "WebSearch", "web_fetch": "WebFetch", "webfetch": "WebFetch",
        "glob": "Glob", "grep": "Grep", "task": "Task", "notebook": "NotebookEdit",
    ]

    static let amp: [String: String] = [
        "bash": "Bash", "shell": "Bash", "sh": "Bash", "read": "Read", "edit": "edit_file", "write": "create_file",
        "web_search": "web_search", "websearch": "web_search", "web_fetch": "read_web_page",
        "webfetch": "read_web_page",
        "glob": "glob", "grep": "Grep", "task": "Task",
    ]
}
