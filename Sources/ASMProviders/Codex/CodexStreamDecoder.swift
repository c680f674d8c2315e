public import ASMCore

/// Codex's `exec --json` output, normalized.
///
/// - `thread.started` starts the run (the thread id is the provider session).
/// - `agent_message` items arrive whole (exec mode has no deltas): streamed and received.
/// - `command_execution`, `mcp_tool_call`, `file_change` and `web_search` items are tool
///   calls; `failed` and `declined` statuses are failed calls.
/// - `turn.completed` usage is cumulative for the thread: the run's usage is that total
///   minus the request's baseline (the thread's total before this run).
/// - `error` lines saying "Reconnecting..." are retries, not failures; `turn.failed` is.
/// - An `error` item is a non-fatal warning.
public struct CodexStreamDecoder: ProviderStreamDecoder {
    public static let provider = "codex"

    private let tape = JSONTape()
    private let model: String?
    private let baseline: TokenUsage
    private var threadID: String?
    private var started = false
    private var openCalls: Set<String> = []
    private var lastMessage: String?
    private var emitted = TokenUsage.zero
    private var completed = false
    private var failure: String?
    private var lastError: String?

    /// - Parameters:
    ///   - model: the model the request named (exec's output does not report it).
    ///   - baseline: the thread's cumulative usage before this run, when resuming.
    public init(model: String? = nil, baseline: TokenUsage? = nil) {
        self.model = model
        self.baseline = baseline ?? .zero
    }

    public mutating func decode(line: [UInt8]) -> [ProviderEvent] {
        StreamLine.classify(line, tape: tape).events(provider: Self.provider) { decode(frame: $0) }
    }

    private mutating func decode(frame: JSONValue) -> [ProviderEvent] {
        switch frame["type"]?.stringValue {
        case "thread.started", "session.created":
            return start(threadID: frame["thread_id"]?.stringValue ?? frame["session_id"]?.stringValue)
        case "item.started":
            return itemStarted(frame["item"])
        case "item.completed":
            return itemCompleted(frame["item"])
        case "turn.completed":
            completed = true
            return usage(frame["usage"])
        case "turn.failed":
            failure = frame[path: "error", "message"]?.stringValue ?? lastError ?? "the turn failed"
            return []
        case "error":
            let message = frame["message"]?.stringValue ?? "error"
            if message.hasPrefix("Reconnecting...") { return [] }
            lastError = message
            return []
        default:
            return []
        }
    }

    private mutating func start(threadID: String?) -> [ProviderEvent] {
        guard !started else { return [] }
        started = true
        self.threadID = threadID
        return [.started(RunStarted(provider: Self.provider, model: model, providerSessionID: threadID))]
    }

    private static func itemType(_ item: JSONValue) -> String? {
        item["type"]?.stringValue ?? item["item_type"]?.stringValue
    }

    private mutating func itemStarted(_ item: JSONValue?) -> [ProviderEvent] {
        guard let item, let id = item["id"]?.stringValue, let call = Self.toolCall(item) else { return [] }
        guard openCalls.insert(id).inserted else { return [] }
        return [.toolStarted(ToolCallStarted(callID: id, name: call.name, input: call.input))]
    }

    private mutating func itemCompleted(_ item: JSONValue?) -> [ProviderEvent] {
        guard let item else { return [] }
        let id = item["id"]?.stringValue ?? ""
        switch Self.itemType(item) {
        case "agent_message", "assistant_message":
            guard let text = item["text"]?.stringValue else { return [] }
            lastMessage = text
            return [
                .streamed(MessageStreamed(messageID: id, role: .assistant, delta: text)),
                .received(MessageReceived(messageID: id, role: .assistant, content: text)),
            ]
        case "error":
            return [
                .warning(ProviderWarning(provider: Self.provider, message: item["message"]?.stringValue ?? "warning"))
            ]
        default:
            guard let call = Self.toolCall(item) else { return [] }
            var events: [ProviderEvent] = []
            if openCalls.insert(id).inserted {
                events.append(.toolStarted(ToolCallStarted(callID: id, name: call.name, input: call.input)))
            }
            let status = item["status"]?.stringValue
            let isError = status == "failed" || status == "declined" || item["error"].map { $0 != .null } == true
            events.append(
                .toolCompleted(
                    ToolCallCompleted(
                        callID: id,
                        name: call.name,
                        output: Self.output(item),
                        isError: isError,
                        exitCode: item["exit_code"]?.integerValue.map(Int.init)
                    )
                )
            )
            return events
        }
    }

    /// The tool call an item describes, if it is one.
    private static func toolCall(_ item: JSONValue) -> (name: String, input: JSONValue)? {
        switch itemType(item) {
        case "command_execution": ("command_execution", ["command": item["command"] ?? .null])
        case "mcp_tool_call":
            (
                "mcp:\(item["server"]?.stringValue ?? "?")/\(item["tool"]?.stringValue ?? "?")",
                item["arguments"] ?? .emptyObject
            )
        case "file_change": ("file_change", ["changes": item["changes"] ?? .array([])])
        case "web_search": ("web_search", ["query": item["query"] ?? .null])
        default: nil
        }
    }

    private static func output(_ item: JSONValue) -> String {
        if let error = item[path: "error", "message"]?.stringValue { return error }
        switch itemType(item) {
        case "command_execution":
            return item["aggregated_output"]?.stringValue ?? ""
        case "mcp_tool_call":
            return item[path: "result", "content"]?.textContent ?? ""
        case "file_change":
            return (item["changes"]?.arrayValue ?? []).compactMap { change in
                guard let path = change["path"]?.stringValue else { return nil }
                return "\(change["kind"]?.stringValue ?? "update") \(path)"
            }.joined(separator: "\n")
        default:
            return item["status"]?.stringValue ?? ""
        }
    }

    /// Normalizes the thread's cumulative usage and emits what this run added.
    private mutating func usage(_ value: JSONValue?) -> [ProviderEvent] {
        guard let value else { return [] }
        let input = value["input_tokens"]?.integerValue ?? 0
        let cached = value["cached_input_tokens"]?.integerValue ?? 0
        let thread = TokenUsage(
            input: max(0, input - cached),
            output: value["output_tokens"]?.integerValue ?? 0,
            cacheRead: cached,
            cacheWrite: value["cache_write_input_tokens"]?.integerValue ?? 0,
            reasoning: value["reasoning_output_tokens"]?.integerValue ?? 0
        )
        let runTotal = Self.clampedDifference(thread, baseline)
        let delta = Self.clampedDifference(runTotal, emitted)
        guard delta != .zero else { return [] }
        emitted = runTotal
        return [.usage(TokenUsageUpdated(provider: Self.provider, model: model, delta: delta, total: runTotal))]
    }

    private static func clampedDifference(_ a: TokenUsage, _ b: TokenUsage) -> TokenUsage {
        TokenUsage(
            input: max(0, a.input - b.input),
            output: max(0, a.output - b.output),
            cacheRead: max(0, a.cacheRead - b.cacheRead),
            cacheWrite: max(0, a.cacheWrite - b.cacheWrite),
            reasoning: max(0, a.reasoning - b.reasoning)
        )
    }

    public mutating func finish(_ outcome: ProcessOutcome) -> [ProviderEvent] {
        if completed, outcome.stop == nil || outcome.exitCode == 0 {
            return [.completed(RunCompleted(outputText: lastMessage, providerSessionID: threadID))]
        }
        if let failure, outcome.stop == nil {
            var classified = Self.classify(failure)
            classified.exitCode = outcome.exitCode.map(Int.init)
            return [.failed(RunFailed(failure: classified))]
        }
        var known: RunFailure?
        if outcome.stop == nil {
            if outcome.stderr.contains("no rollout found") {
                known = RunFailure(
                    kind: .sessionNotFound,
                    message: outcome.stderrSummary ?? "codex could not resume the thread"
                )
            } else if outcome.stderr.contains("Not inside a trusted directory") {
                known = RunFailure(
                    kind: .invalidRequest,
                    message: outcome.stderrSummary ?? "not inside a trusted directory"
                )
            } else if outcome.exitCode == 0 {
                known = RunFailure(kind: .processExited, message: "codex exited without finishing the turn")
            } else if let lastError {
                known = Self.classify(lastError)
            }
        }
        return [outcome.terminalWithoutResult(provider: Self.provider, known: known)]
    }

    /// The failure class of a `turn.failed` message, which may be an API error as JSON text.
    static func classify(_ message: String) -> RunFailure {
        var text = message
        var code = ""
        var type = ""
        let tape = JSONTape()
        var bytes = Array(message.utf8)
        if bytes.first == UInt8(ascii: "{"),
            let value = try? bytes.withUnsafeMutableBytes({ buffer -> JSONValue in
                try tape.parse(UnsafeRawBufferPointer(buffer), validateUTF8: true)
                return try tape.rootValue()
            })
        {
            let error = value["error"] ?? value
            text = error["message"]?.stringValue ?? message
            code = error["code"]?.stringValue ?? ""
            type = error["type"]?.stringValue ?? ""
        }
        let lower = (text + " " + code + " " + type).lowercased()
        let kind: FailureKind
        if lower.contains("unauthorized") || lower.contains("invalid_api_key") || lower.contains("401")
            || lower.contains("authentication")
        {
            kind = .authentication
        } else if lower.contains("rate limit") || lower.contains("rate_limit") || lower.contains("usage limit")
            || lower.contains("429")
        {
            kind = .rateLimited
        } else if lower.contains("capacity") || lower.contains("overloaded") || lower.contains("server_error")
            || lower.contains("server had an error") || lower.contains("stream disconnected") || lower.contains("503")
            || lower.contains("502") || lower.contains("500")
        {
            kind = .overloaded
        } else if lower.contains("not_found") || lower.contains("invalid_request") || lower.contains("not supported") {
            kind = .invalidRequest
        } else {
            kind = .apiError
        }
        return RunFailure(kind: kind, message: text)
    }
}
