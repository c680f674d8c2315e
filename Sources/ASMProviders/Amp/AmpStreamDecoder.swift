import ASMCore

/// Amp's `--execute --stream-json` output, normalized.
///
/// - `system/init` starts the run (the thread id `T-…` is the provider session).
/// - The first user frame echoes the prompt and is not a message of the run.
/// - Assistant frames arrive whole: each text block is streamed and received; `tool_use`
///   blocks start tool calls; `thinking` blocks are skipped.
/// - Usage is per API call in each assistant frame: the run's usage is their sum.
/// - The `result` decides the outcome; an error result carries `error` as a string.
public struct AmpStreamDecoder: ProviderStreamDecoder {
    public static let provider = "amp"

    private let tape = JSONTape()
    private var threadID: String?
    private var started = false
    private var model: String?
    private var toolNames: [String: String] = [:]
    private var emitted = TokenUsage.zero
    private var result: JSONValue?

    public init() {}

    public mutating func decode(line: [UInt8]) -> [ProviderEvent] {
        StreamLine.classify(line, tape: tape).events(provider: Self.provider) { decode(frame: $0) }
    }

    private mutating func decode(frame: JSONValue) -> [ProviderEvent] {
        if threadID == nil, let id = frame["session_id"]?.stringValue { threadID = id }
        switch frame["type"]?.stringValue {
        case "system":
            guard frame["subtype"]?.stringValue == "init", !started else { return [] }
            started = true
            model = frame["agent_mode"]?.stringValue
            return [
                .started(
                    RunStarted(
                        provider: Self.provider,
                        model: model,
                        providerSessionID: threadID,
                        tools: frame["tools"]?.arrayValue?.compactMap(\.stringValue)
                    )
                )
            ]
        case "assistant":
            return assistant(frame)
        case "user":
            return frame["message"].map { AnthropicBlocks.toolsCompleted($0, names: toolNames) } ?? []
        case "result":
            result = frame
            return []
        default:
            return []
        }
    }

    private mutating func assistant(_ frame: JSONValue) -> [ProviderEvent] {
        guard let message = frame["message"] else { return [] }
        let id = message["id"]?.stringValue
        var events: [ProviderEvent] = []
        for block in message["content"]?.arrayValue ?? [] {
            switch block["type"]?.stringValue {
            case "text":
                guard let text = block["text"]?.stringValue, !text.isEmpty else { continue }
                events.append(.streamed(MessageStreamed(messageID: id, role: .assistant, delta: text)))
                events.append(.received(MessageReceived(messageID: id, role: .assistant, content: text)))
            case "tool_use":
                if let started = AnthropicBlocks.toolStarted(block, names: &toolNames) { events.append(started) }
            default:
                continue
            }
        }
        // Amp's usage follows Anthropic's: input excludes the cache; `max_tokens` is a budget, not usage.
        let call = ClaudeStreamDecoder.usage(message["usage"])
        if call != .zero {
            emitted = emitted + call
            events.append(.usage(TokenUsageUpdated(provider: Self.provider, model: model, delta: call, total: emitted)))
        }
        return events
    }

    public mutating func finish(_ outcome: ProcessOutcome) -> [ProviderEvent] {
        guard let result else { return [outcome.terminalWithoutResult(provider: Self.provider)] }
        let isError = result["is_error"]?.boolValue ?? (result["subtype"]?.stringValue != "success")
        if case .cancelled? = outcome.stop, isError {
            return [outcome.terminalWithoutResult(provider: Self.provider)]
        }
        guard isError else {
            return [
                .completed(
                    RunCompleted(
                        outputText: result["result"]?.stringValue,
                        turns: result["num_turns"]?.integerValue.map(Int.init),
                        durationMilliseconds: result["duration_ms"]?.integerValue,
                        providerSessionID: threadID
                    )
                )
            ]
        }
        let message = result["error"]?.stringValue ?? result["result"]?.stringValue ?? "amp reported an error"
        let denials = result["permission_denials"]?.arrayValue ?? []
        let lower = message.lowercased()
        let kind: FailureKind =
            if !denials.isEmpty || lower.contains("permission denied") {
                .permissionDenied
            } else if result["subtype"]?.stringValue == "error_max_turns" {
                .maxTurns
            } else if lower.contains("credits") || lower.contains("billing") || lower.contains("payment") {
                .billing
            } else if lower.contains("unauthorized") || lower.contains("api key") || lower.contains("log in") {
                .authentication
            } else if lower.contains("rate limit") {
                .rateLimited
            } else {
                .apiError
            }
        return [
            .failed(
                RunFailed(
                    failure: RunFailure(
                        kind: kind,
                        message: message,
                        exitCode: outcome.exitCode.map(Int.init),
                        stderr: outcome.stderrOrNil
                    )
                )
            )
        ]
    }
}
