public import ASMCore

/// Claude Code: `claude -p --output-format stream-json --verbose`.
///
/// By default the prompt goes in as a user frame on a standard input that stays open
/// (`--input-format stream-json`, ``InputMode/streamJSON``): the host answers the CLI there.
/// When the run's policies want to see tools before they run (``ProviderRequest/asksBeforeTools``)
/// the CLI asks for each tool its own rules do not settle (`--permission-prompt-tool stdio`)
/// and waits for the answer; a cancel is the CLI's own interrupt request. ``InputMode/print``
/// keeps the plain `-p` launch with the prompt on a closed standard input, for CLIs older
/// than 2.0.
public struct ClaudeCode: CommandLineDialect {
    /// How the prompt reaches the CLI.
    public enum InputMode: String, Hashable, Sendable, CaseIterable {
        /// `--input-format stream-json`: tools can be held before they run.
        case streamJSON = "stream-json"
        /// The prompt as text on standard input, then closed; tool rules only observe.
        case print
    }

    public var name: String { ClaudeStreamDecoder.provider }
    public var defaultExecutable: String { "claude" }

    /// Stream text deltas (`--include-partial-messages`).
    public var includePartialMessages: Bool
    /// `--permission-mode`, when set (`acceptEdits`, `dontAsk`, `bypassPermissions`...).
    public var permissionMode: String?
    /// How long an interrupted run gets to write its result before SIGTERM, and SIGTERM before SIGKILL.
    public var gracePeriod: Duration
    public var inputMode: InputMode

    public init(
        includePartialMessages: Bool = true,
        permissionMode: String? = nil,
        gracePeriod: Duration = .seconds(5),
        inputMode: InputMode = .streamJSON
    ) {
        self.includePartialMessages = includePartialMessages
        self.permissionMode = permissionMode
        self.gracePeriod = gracePeriod
        self.inputMode = inputMode
    }

    public var capabilities: ProviderCapabilities {
        ProviderCapabilities(
            streamsText: includePartialMessages,
            reportsToolCalls: true,
            resumesNatively: true,
            interrupts: true,
            toolGate: .beforeRun,
            holdsTools: inputMode == .streamJSON,
            tools: ["Bash", "Read", "Edit", "Write", "Glob", "Grep", "WebFetch", "WebSearch", "Task", "NotebookEdit"]
        )
    }

    /// Whether a run of `request` asks before its tools run.
    private func asks(_ request: ProviderRequest) -> Bool {
        inputMode == .streamJSON && request.asksBeforeTools
    }

    public func launch(for request: ProviderRequest) -> LaunchSpec {
        var arguments = ["-p", "--output-format", "stream-json", "--verbose"]
        if inputMode == .streamJSON { arguments += ["--input-format", "stream-json"] }
        if includePartialMessages { arguments.append("--include-partial-messages") }
        if asks(request) { arguments += ["--permission-prompt-tool", "stdio"] }
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
        let stopSequence = [
            SignalStep(.interrupt, grace: gracePeriod), SignalStep(.terminate, grace: gracePeriod),
            SignalStep(.kill, grace: gracePeriod),
        ]
        guard inputMode == .streamJSON else {
            return LaunchSpec(
                arguments: arguments,
                standardInput: Array(request.promptText.utf8),
                stopSequence: stopSequence
            )
        }
        return LaunchSpec(
            arguments: arguments,
            standardInput: Self.controlRequest("asm_initialize", subtype: "initialize", hooksNull: true)
                + Self.userFrame(request.promptText),
            stopSequence: stopSequence,
            keepsInputOpen: true,
            interruptInput: Self.controlRequest("asm_interrupt", subtype: "interrupt", hooksNull: false)
        )
    }

    public func decoder(for request: ProviderRequest) -> ClaudeStreamDecoder {
        ClaudeStreamDecoder(asksBeforeTools: asks(request))
    }

    /// `control_response` to `can_use_tool`: allow with the input as asked, or deny with the reason.
    public func reply(to request: ToolPermissionRequest, _ verdict: ToolPermissionRequest.Verdict) -> [UInt8]? {
        guard let requestID = request.providerRequestID else { return nil }
        var writer = Self.writer()
        var frame = writer.beginObject()
        writer.field("type", "control_response", in: &frame)
        writer.key("response", in: &frame)
        var response = writer.beginObject()
        writer.field("subtype", "success", in: &response)
        writer.field("request_id", requestID, in: &response)
        writer.key("response", in: &response)
        var body = writer.beginObject()
        switch verdict {
        case .allow:
            writer.field("behavior", "allow", in: &body)
            writer.key("updatedInput", in: &body)
            do {
                try writer.write(request.call.input)
            } catch {
                // A number JSON cannot spell: the CLI keeps the input it asked with.
                writer.raw(Array("{}".utf8))
            }
        case .deny(let message):
            writer.field("behavior", "deny", in: &body)
            writer.field("message", message, in: &body)
        }
        writer.endObject(body)
        writer.endObject(response)
        writer.endObject(frame)
        return writer.bytes + [0x0A]
    }

    /// `control_response` refusing a request the host does not take.
    static func errorReply(requestID: String, _ message: String) -> [UInt8] {
        var writer = writer()
        var frame = writer.beginObject()
        writer.field("type", "control_response", in: &frame)
        writer.key("response", in: &frame)
        var response = writer.beginObject()
        writer.field("subtype", "error", in: &response)
        writer.field("request_id", requestID, in: &response)
        writer.field("error", message, in: &response)
        writer.endObject(response)
        writer.endObject(frame)
        return writer.bytes + [0x0A]
    }

    private static func controlRequest(_ id: String, subtype: String, hooksNull: Bool) -> [UInt8] {
        var writer = writer()
        var frame = writer.beginObject()
        writer.field("type", "control_request", in: &frame)
        writer.field("request_id", id, in: &frame)
        writer.key("request", in: &frame)
        var request = writer.beginObject()
        writer.field("subtype", subtype, in: &request)
        if hooksNull {
            writer.key("hooks", in: &request)
            writer.null()
        }
        writer.endObject(request)
        writer.endObject(frame)
        return writer.bytes + [0x0A]
    }

    private static func userFrame(_ prompt: String) -> [UInt8] {
        var writer = writer()
        var frame = writer.beginObject()
        writer.field("type", "user", in: &frame)
        writer.key("message", in: &frame)
        var message = writer.beginObject()
        writer.field("role", "user", in: &message)
        writer.field("content", prompt, in: &message)
        writer.endObject(message)
        writer.key("parent_tool_use_id", in: &frame)
        writer.null()
        writer.field("session_id", "", in: &frame)
        writer.endObject(frame)
        return writer.bytes + [0x0A]
    }

    /// Keys in the order written, as the CLI's own frames have them.
    private static func writer() -> JSONWriter {
        var writer = JSONWriter()
        writer.sortsKeys = false
        return writer
    }
}
