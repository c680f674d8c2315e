public import ASMCore

/// Everything a provider needs to execute one run.
public struct ProviderRequest: Hashable, Sendable {
    /// The run this execution belongs to (``ProviderAdapter/cancel(_:reason:)`` takes it).
    public var runID: RunID
    /// The conversation to send, oldest first; the last message is the prompt.
    public var messages: [ChatMessage]
    public var systemPrompt: String?
    public var model: String?
    /// The directory the agent works in; the current directory when `nil`.
    public var workingDirectory: String?
    /// Variables added to (or, with `nil`, removed from) the inherited environment.
    /// Values are never written to the log.
    public var environment: [String: String?]
    /// The provider's own session to continue (Claude session, Codex thread, Amp thread).
    public var resumeSessionID: String?
    /// The provider session's cumulative usage before this run, for providers that report
    /// usage per thread (Codex), so the run's own usage can be told apart.
    public var resumeUsageBaseline: TokenUsage?
    /// The total time the run may take, from start; not extended by output.
    public var deadline: Duration?
    /// How long the provider may write nothing before the run is stopped.
    public var idleTimeout: Duration?
    /// Tool rules and limits compiled into the CLI's flags.
    public var controls: ProviderControls
    /// Ask before each tool runs (``ProviderEvent/toolPermission(_:)``), on providers that can
    /// hold a tool (``ProviderCapabilities/holdsTools``); others ignore it.
    public var asksBeforeTools = false

    public init(
        runID: RunID,
        messages: [ChatMessage],
        systemPrompt: String? = nil,
        model: String? = nil,
        workingDirectory: String? = nil,
        environment: [String: String?] = [:],
        resumeSessionID: String? = nil,
        resumeUsageBaseline: TokenUsage? = nil,
        deadline: Duration? = nil,
        idleTimeout: Duration? = nil,
        controls: ProviderControls = ProviderControls()
    ) {
        self.runID = runID
        self.messages = messages
        self.systemPrompt = systemPrompt
        self.model = model
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.resumeSessionID = resumeSessionID
        self.resumeUsageBaseline = resumeUsageBaseline
        self.deadline = deadline
        self.idleTimeout = idleTimeout
        self.controls = controls
    }

    /// A one-message request.
    public init(runID: RunID, prompt: String) {
        self.init(runID: runID, messages: [ChatMessage(role: .user, content: prompt)])
    }

    /// The text a CLI receives as its prompt.
    ///
    /// One user message is sent as it is. Several messages (a replayed conversation) are
    /// laid out as a transcript ending with the new request.
    public var promptText: String {
        guard messages.count > 1 else { return messages.first?.content ?? "" }
        var lines = ["Conversation so far:"]
        for message in messages.dropLast() {
            lines.append("")
            lines.append("[\(message.role)]")
            lines.append(message.content)
        }
        lines.append("")
        lines.append("Now respond to this \(messages.last?.role.rawValue ?? "user") message:")
        lines.append(messages.last?.content ?? "")
        return lines.joined(separator: "\n")
    }
}

/// Tool rules and limits a run's policies compile to, in the provider's terms where it has them.
///
/// Tool names are given in a provider-neutral form (`bash`, `shell`, `read`, `edit`,
/// `write`, `web_search`, `web_fetch`) or as the provider's own names and patterns
/// (`Bash(git *)`, `mcp__server__tool`); each adapter translates what it can.
public struct ProviderControls: Hashable, Sendable {
    /// Tools the provider must not run.
    public var deniedTools: [String]
    /// Tools pre-approved to run without asking (needed for non-interactive runs).
    public var allowedTools: [String]
    /// A hard whitelist: the only tools the agent has (empty: none), or every tool when `nil`.
    public var availableTools: [String]?
    /// At most this many model turns, where the CLI can enforce it.
    public var maxTurns: Int?
    /// At most this many US dollars, where the CLI can enforce it.
    public var maxBudgetUSD: Double?

    public init(
        deniedTools: [String] = [],
        allowedTools: [String] = [],
        availableTools: [String]? = nil,
        maxTurns: Int? = nil,
        maxBudgetUSD: Double? = nil
    ) {
        self.deniedTools = deniedTools
        self.allowedTools = allowedTools
        self.availableTools = availableTools
        self.maxTurns = maxTurns
        self.maxBudgetUSD = maxBudgetUSD
    }

    /// Whether the shell is denied, or left out of the whitelist.
    public var deniesShell: Bool { denies(Self.shellNames) }

    /// Whether web search is denied, or left out of the whitelist.
    public var deniesWebSearch: Bool { denies(["web_search", "websearch"]) }

    private static let shellNames: Set<String> = ["bash", "shell", "sh", "exec_command"]

    /// Whether any of `names` (lowercased) is denied, or none of them is in the whitelist.
    private func denies(_ names: Set<String>) -> Bool {
        if deniedTools.contains(where: { names.contains($0.lowercased()) }) { return true }
        guard let availableTools else { return false }
        return !availableTools.contains { names.contains($0.lowercased()) }
    }
}
