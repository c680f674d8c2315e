import ASMCore

/// Claude Code: `claude -p --output-format stream-json --verbose`, the prompt on standard input.
public struct ClaudeCode: CommandLineDialect {
    public var name: String { ClaudeStreamDecoder.provider }
    public var defaultExecutable: String { "claude" }

    /// Stream text deltas (`--include-partial-messages`).
    public var includePartialMessages: Bool
    /// `--permission-mode`, when set (`acceptEdits`, `dontAsk`, `bypassPermissions`...).
    public var permissionMode: String?
    /// How long an interrupted run gets to write its result before SIGTERM, and SIGTERM before SIGKILL.
    public var gracePeriod: Duration

    public init(includePartialMessages: Bool = true, permissionMode: String? = nil, gracePeriod: Duration = .seconds(5))
    {
        self.includePartialMessages = includePartialMessages
        self.permissionMode = permissionMode
        self.gracePeriod = gracePeriod
    }

    public var capabilities: ProviderCapabilities {
        ProviderCapabilities(
            streamsText: includePartialMessages,
            reportsToolCalls: true,
            resumesNatively: true,
            interrupts: true,
            toolGate: .beforeRun,
            tools: ["Bash", "Read", "Edit", "Write", "Glob", "Grep", "WebFetch", "WebSearch", "Task", "NotebookEdit"]
        )
    }

    public func launch(for request: ProviderRequest) -> LaunchSpec {
        var arguments = ["-p", "--output-format", "stream-json", "--verbose"]
        if includePartialMessages { arguments.append("--include-partial-messages") }
        if let model = request.model { arguments += ["--model", model] }
        if let systemPrompt = request.systemPrompt { arguments += ["--system-prompt", systemPrompt] }
        if let session = request.resumeSessionID { arguments.append("--resume=\(session)") }
        let controls = request.controls
        if let maxTurns = controls.maxTurns { arguments += ["--max-turns", String(maxTurns)] }
        if let budget = controls.maxBudgetUSD { arguments += ["--max-budget-usd", String(budget)] }
        if let available = controls.availableTools {
            arguments += ["--tools", ToolNames.translate(available, ToolNames.claude).joined(separator: ",")]
        }
        let denied = ToolNames.translate(controls.deniedTools, ToolNames.claude)
        if !denied.isEmpty { arguments += ["--disallowedTools", denied.joined(separator: ",")] }
        let allowed = ToolNames.translate(controls.allowedTools, ToolNames.claude)
        if !allowed.isEmpty { arguments += ["--allowedTools", allowed.joined(separator: ",")] }
        if let permissionMode { arguments += ["--permission-mode", permissionMode] }
        return LaunchSpec(
            arguments: arguments,
            standardInput: Array(request.promptText.utf8),
            stopSequence: [
                SignalStep(.interrupt, grace: gracePeriod), SignalStep(.terminate, grace: gracePeriod),
                SignalStep(.kill, grace: gracePeriod),
            ]
        )
    }

    public func decoder(for request: ProviderRequest) -> ClaudeStreamDecoder { ClaudeStreamDecoder() }
}
