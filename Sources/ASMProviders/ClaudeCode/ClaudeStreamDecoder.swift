import ASMCore

/// Claude Code's `--output-format stream-json --verbose` output, normalized.
///
/// - `system/init` starts the run (session id, model, tools).
/// - With `--include-partial-messages`, `text_delta`s stream; otherwise each assistant
///   text block is streamed whole. Every text block is then received once.
/// - Assistant frames of one API message share its id and repeat its usage: each message's
///   usage is counted once, its output tokens corrected by `message_delta`, and the
///   `result`'s run totals reconcile the sum, so deltas never count twice.
/// - A synthetic assistant frame (`model: "<synthetic>"`) is an API error, not a message.
/// - The `result` decides the outcome; `is_error` with `subtype: "success"` is a failure,
///   and `terminal_reason: aborted_*` after our interrupt is a cancel.
/// - A call to a tool the CLI did not offer (absent from `system/init`'s `tools`) waits for
///   its result: "No such tool available" is the CLI's own refusal (`tool_call.refused`),
///   anything else a call that ran.
/// - When the CLI asks before tools (`asksBeforeTools`: `--permission-prompt-tool stdio`),
///   a `tool_use` waits for the CLI's `can_use_tool` question, which becomes
///   ``ProviderEvent/toolPermission(_:)`` (its start follows once allowed); a call the CLI
///   settled itself without asking is reported when its result arrives, and a denied
///   call's result is not a run of the tool. Other questions are refused at once.
public struct ClaudeStreamDecoder: ProviderStreamDecoder {
    public static let provider = "claude"

    private let tape = JSONTape()
    private let asksBeforeTools: Bool
    private var sessionID: String?
    private var model: String?
    private var started = false
    private var toolNames: [String: String] = [:]
    /// The tools the CLI offered the model, from `system/init`.
    private var offeredTools: Set<String>?
    /// Calls seen in the model's message that have neither started nor been asked about.
    private var unsettledCalls: [String: ToolCallStarted] = [:]
    /// The CLI's questions, by call id.
    private var questions: [String: ToolPermissionRequest] = [:]
    private var replies: [[UInt8]] = []
    public private(set) var turnEnded = false
    private var streamedMessages: Set<String> = []
    /// Usage of API messages not yet emitted, by message id, in arrival order.
    private var pendingUsage: [(id: String, usage: TokenUsage)] = []
    private var countedMessages: Set<String> = []
    private var emitted = TokenUsage.zero
    private var result: JSONValue?
    private var apiError: (code: String?, status: Int?, text: String?)?

    /// `asksBeforeTools`: the CLI was started with `--permission-prompt-tool stdio`.
    public init(asksBeforeTools: Bool = false) {
        self.asksBeforeTools = asksBeforeTools
    }

    public mutating func decode(line: [UInt8]) -> [ProviderEvent] {
        StreamLine.classify(line, tape: tape).events(provider: Self.provider) { decode(frame: $0) }
    }

    private mutating func decode(frame: JSONValue) -> [ProviderEvent] {
        if sessionID == nil, let id = frame["session_id"]?.stringValue, !id.isEmpty { sessionID = id }
        switch frame["type"]?.stringValue {
        case "system": return system(frame)
        case "stream_event": return streamEvent(frame)
        case "assistant": return assistant(frame)
        case "user": return user(frame)
        case "result": return resultFrame(frame)
        case "control_request": return controlRequest(frame)
        case "control_cancel_request":
            // The CLI withdrew a question (its turn was interrupted): the tool will not run,
            // whatever answer comes later.
            let id = frame["request_id"]?.stringValue
            for question in questions.values where question.providerRequestID == id {
                question.answer(.deny("the CLI withdrew the question"))
            }
            return []
        default: return []
        }
    }

    public mutating func takeReplies() -> [[UInt8]] {
        defer { replies.removeAll() }
        return replies
    }

    /// A question from the CLI: a tool's permission becomes a held call; anything else is
    /// answered with an error so the CLI does not wait for it.
    private mutating func controlRequest(_ frame: JSONValue) -> [ProviderEvent] {
        guard let requestID = frame["request_id"]?.stringValue, let request = frame["request"] else { return [] }
        let subtype = request["subtype"]?.stringValue ?? ""
        guard subtype == "can_use_tool" else {
            replies.append(ClaudeCode.errorReply(requestID: requestID, "asm does not answer \(subtype) requests"))
            return []
        }
        let callID = request["tool_use_id"]?.stringValue ?? requestID
        var call =
            unsettledCalls.removeValue(forKey: callID)
            ?? ToolCallStarted(callID: callID, name: request["tool_name"]?.stringValue ?? "tool")
        if let input = request["input"] { call.input = input }
        if toolNames[callID] == nil { toolNames[callID] = call.name }
        let question = ToolPermissionRequest(call: call, providerRequestID: requestID)
        questions[callID] = question
        return [.toolPermission(question)]
    }

    private mutating func system(_ frame: JSONValue) -> [ProviderEvent] {
        guard frame["subtype"]?.stringValue == "init", !started else { return [] }
        started = true
        model = frame["model"]?.stringValue
        let tools = frame["tools"]?.arrayValue?.compactMap(\.stringValue)
        offeredTools = tools.map(Set.init)
        return [.started(RunStarted(provider: Self.provider, model: model, providerSessionID: sessionID, tools: tools))]
    }

    private mutating func streamEvent(_ frame: JSONValue) -> [ProviderEvent] {
        guard let event = frame["event"] else { return [] }
        let messageID = frame["api_message_id"]?.stringValue
        switch event["type"]?.stringValue {
        case "message_start":
            if let message = event["message"], let id = message["id"]?.stringValue {
                return startMessage(id: id, usage: message["usage"])
            }
            return []
        case "content_block_delta":
            guard event[path: "delta", "type"]?.stringValue == "text_delta",
                let text = event[path: "delta", "text"]?.stringValue, !text.isEmpty
            else { return [] }
            if let messageID { streamedMessages.insert(messageID) }
            return [.streamed(MessageStreamed(messageID: messageID, role: .assistant, delta: text))]
        case "message_delta":
            // The final output tokens of the message in flight.
            if let output = event[path: "usage", "output_tokens"]?.integerValue,
                let index = pendingUsage.lastIndex(where: { $0.id == messageID || messageID == nil })
            {
                pendingUsage[index].usage.output = max(pendingUsage[index].usage.output, output)
            }
            return []
        case "message_stop":
            return flushUsage()
        default:
            return []
        }
    }

    /// Records a new API message's usage (its first frame wins; later frames repeat it).
    private mutating func startMessage(id: String, usage: JSONValue?) -> [ProviderEvent] {
        guard !countedMessages.contains(id) else { return [] }
        let flushed = flushUsage()
        countedMessages.insert(id)
        pendingUsage.append((id, Self.usage(usage)))
        return flushed
    }

    private mutating func assistant(_ frame: JSONValue) -> [ProviderEvent] {
        guard let message = frame["message"] else { return [] }
        let id = message["id"]?.stringValue
        if message["model"]?.stringValue == "<synthetic>" || frame["is_api_error_message"]?.boolValue == true
            || frame["error"] != nil
        {
            apiError = (
                frame["error"]?.stringValue, frame["api_error_status"]?.integerValue.map(Int.init),
                message["content"]?.arrayValue?.first?["text"]?.stringValue
            )
            return []
        }
        if let responseModel = message["model"]?.stringValue { model = responseModel }
        var events: [ProviderEvent] = []
        if let id { events += startMessage(id: id, usage: message["usage"]) }
        for block in message["content"]?.arrayValue ?? [] {
            switch block["type"]?.stringValue {
            case "text":
                guard let text = block["text"]?.stringValue, !text.isEmpty else { continue }
                if id.map({ !streamedMessages.contains($0) }) ?? true {
                    events.append(.streamed(MessageStreamed(messageID: id, role: .assistant, delta: text)))
                }
                events.append(.received(MessageReceived(messageID: id, role: .assistant, content: text)))
            case "tool_use":
                guard case .toolStarted(let call)? = AnthropicBlocks.toolStarted(block, names: &toolNames) else {
                    continue
                }
                if asksBeforeTools || offeredTools.map({ !$0.contains(call.name) }) == true {
                    unsettledCalls[call.callID] = call
                } else {
                    events.append(.toolStarted(call))
                }
            default:
                continue
            }
        }
        return events
    }

    private mutating func user(_ frame: JSONValue) -> [ProviderEvent] {
        var events = flushUsage()
        guard let message = frame["message"] else { return events }
        for case .toolCompleted(let completed) in AnthropicBlocks.toolsCompleted(message, names: toolNames) {
            if let call = unsettledCalls.removeValue(forKey: completed.callID) {
                if completed.isError, completed.output.contains("No such tool available") {
                    events.append(
                        .toolRefused(
                            ToolCallRefused(
                                callID: call.callID,
                                name: call.name,
                                input: call.input,
                                reason: completed.output
                            )
                        )
                    )
                    continue
                }
                // The CLI settled it without asking: it ran.
                events.append(.toolStarted(call))
            } else if let question = questions[completed.callID] {
                // Only an allowed call ran; a denied one's result is the refusal the model read.
                guard case .allow? = question.answered else { continue }
            }
            events.append(.toolCompleted(completed))
        }
        return events
    }

    private mutating func resultFrame(_ frame: JSONValue) -> [ProviderEvent] {
        result = frame
        turnEnded = true
        // Calls the turn ended without settling never ran.
        unsettledCalls.removeAll()
        var events = flushUsage()
        // The result's usage is the run's total: emit whatever the messages did not account for.
        let reported = Self.usage(frame["usage"])
        let total = TokenUsage(
            input: max(emitted.input, reported.input),
            output: max(emitted.output, reported.output),
            cacheRead: max(emitted.cacheRead, reported.cacheRead),
            cacheWrite: max(emitted.cacheWrite, reported.cacheWrite),
            reasoning: max(emitted.reasoning, reported.reasoning)
        )
        let cost = frame["total_cost_usd"]?.doubleValue.flatMap { $0 > 0 ? $0 : nil }
        if total != emitted || cost != nil {
            events.append(
                .usage(
                    TokenUsageUpdated(
                        provider: Self.provider,
                        model: model,
                        delta: total - emitted,
                        total: total,
                        reportedCostUSD: cost
                    )
                )
            )
            emitted = total
        }
        return events
    }

    private mutating func flushUsage() -> [ProviderEvent] {
        var events: [ProviderEvent] = []
        for (_, usage) in pendingUsage where usage != .zero {
            emitted = emitted + usage
            events.append(
                .usage(TokenUsageUpdated(provider: Self.provider, model: model, delta: usage, total: emitted))
            )
        }
        pendingUsage.removeAll()
        return events
    }

    public mutating func finish(_ outcome: ProcessOutcome) -> [ProviderEvent] {
        var events = flushUsage()
        // The CLI ended mid-turn: calls it was running without asking may have run; they are
        // recorded as started (their rules observe them), never silently dropped.
        for call in unsettledCalls.values.sorted(by: { $0.callID < $1.callID }) { events.append(.toolStarted(call)) }
        unsettledCalls.removeAll()
        guard let result else {
            let known = apiError.map { error in
                Self.apiFailure(
                    code: error.code,
                    status: error.status,
                    message: error.text ?? "the API refused the request"
                )
            }
            events.append(outcome.terminalWithoutResult(provider: Self.provider, known: known))
            return events
        }
        events.append(terminal(result, outcome))
        return events
    }

    private func terminal(_ result: JSONValue, _ outcome: ProcessOutcome) -> ProviderEvent {
        let subtype = result["subtype"]?.stringValue ?? ""
        let terminalReason = result["terminal_reason"]?.stringValue ?? ""
        let isError = result["is_error"]?.boolValue ?? (subtype != "success")
        let errors = result["errors"]?.arrayValue?.compactMap(\.stringValue) ?? []
        if case .cancelled(let reason)? = outcome.stop, isError || terminalReason.hasPrefix("aborted") {
            return .cancelled(
                RunCancelled(
                    reason: reason,
                    message: "claude stopped (\(terminalReason.isEmpty ? subtype : terminalReason))"
                )
            )
        }
        if !isError {
            return .completed(
                RunCompleted(
                    outputText: result["result"]?.stringValue,
                    stopReason: result["stop_reason"]?.stringValue,
                    turns: result["num_turns"]?.integerValue.map(Int.init),
                    durationMilliseconds: result["duration_ms"]?.integerValue,
                    providerSessionID: sessionID
                )
            )
        }
        if outcome.stop != nil, terminalReason.hasPrefix("aborted") {
            return outcome.terminalWithoutResult(provider: Self.provider)
        }
        let message = errors.first ?? result["result"]?.stringValue ?? "claude reported an error (\(subtype))"
        var failure: RunFailure
        switch (subtype, terminalReason) {
        case ("error_max_turns", _), (_, "max_turns"):
            failure = RunFailure(kind: .maxTurns, message: message)
        case ("error_max_budget_usd", _), (_, "budget_exhausted"):
            failure = RunFailure(kind: .budgetExceeded, message: message)
        case _ where message.hasPrefix("No conversation found"):
            failure = RunFailure(kind: .sessionNotFound, message: message)
        case ("success", _), (_, "api_error"):
            let status = result["api_error_status"]?.integerValue.map(Int.init) ?? apiError?.status
            failure = Self.apiFailure(code: apiError?.code, status: status, message: message)
        default:
            failure = RunFailure(kind: .unknown, message: message)
        }
        failure.exitCode = outcome.exitCode.map(Int.init)
        failure.stderr = outcome.stderrOrNil
        return .failed(RunFailed(failure: failure))
    }

    /// The failure class of an API error, from Claude's error code and the HTTP status.
    static func apiFailure(code: String?, status: Int?, message: String) -> RunFailure {
        let kind: FailureKind
        switch (code, status) {
        case ("authentication_failed", _), (_, 401?), (_, 403?): kind = .authentication
        case ("billing_error", _), (_, 402?): kind = .billing
        case ("rate_limit", _), (_, 429?): kind = .rateLimited
        case ("server_error", _), ("overloaded", _), (_, 529?): kind = .overloaded
        case (_, let status?) where status >= 500: kind = .overloaded
        case ("invalid_request", _), ("model_not_found", _), (_, 400?), (_, 404?), (_, 413?), (_, 422?):
            kind = .invalidRequest
        default: kind = .apiError
        }
        return RunFailure(kind: kind, message: message, httpStatus: status)
    }

    /// Anthropic usage: `input_tokens` excludes the cache, which counts apart.
    static func usage(_ value: JSONValue?) -> TokenUsage {
        guard let value else { return .zero }
        return TokenUsage(
            input: value["input_tokens"]?.integerValue ?? 0,
            output: value["output_tokens"]?.integerValue ?? 0,
            cacheRead: value["cache_read_input_tokens"]?.integerValue ?? 0,
            cacheWrite: value["cache_creation_input_tokens"]?.integerValue ?? 0,
            reasoning: value[path: "output_tokens_details", "thinking_tokens"]?.integerValue ?? 0
        )
    }
}
