public import ASMCore

/// What a scripted provider does for one run, step by step.
public struct ProviderScript: Hashable, Sendable {
    public enum Step: Hashable, Sendable {
        /// Streams `text` in `chunks` deltas, then receives it as one message.
        case text(String, chunks: Int = 1)
        /// Starts a tool call and completes it with `output`.
        case toolCall(name: String, input: JSONValue = .emptyObject, output: String, isError: Bool = false)
        /// Uses tokens (and, optionally, reports a cumulative cost like Claude does).
        case usage(TokenUsage, reportedCostUSD: Double? = nil)
        /// Writes a warning (like an unreadable output line).
        case warning(String)
        /// Waits; the deadline and idle timeout count it as silence.
        case delay(Duration)
        /// Writes nothing until the run is cancelled or times out.
        case hang
        /// Ends the run with this failure. At the start of a script, the run fails before
        /// it starts, as a CLI that cannot authenticate does.
        case fail(RunFailure)
        /// Ends the run like a process that exited without a result.
        case crash(exitCode: Int, stderr: String)
        /// Emits one normalized event as it is (a replayed capture is made of these). A
        /// terminal event ends the run.
        case event(ProviderEvent)
    }

    public var steps: [Step]
    /// The provider session id the run reports; when `nil`, the one the request resumes, else one made from the run id.
    public var providerSessionID: String?
    public var model: String?
    /// The tools the run reports at start.
    public var tools: [String]

    public init(_ steps: [Step], providerSessionID: String? = nil, model: String? = "scripted-1", tools: [String] = [])
    {
        self.steps = steps
        self.providerSessionID = providerSessionID
        self.model = model
        self.tools = tools
    }

    /// A recorded capture played back: each standard output line goes through `decoder`
    /// as if a CLI had written it, `lineDelay` apart, and the run ends the way a process
    /// ending with `outcome` would.
    ///
    /// ```swift
    /// let capture = try Data(contentsOf: URL(filePath: "Fixtures/providers/claude-tool.jsonl"))
    /// let provider = ScriptedProvider(name: "claude", script: .replaying(capture, decoder: ClaudeStreamDecoder()))
    /// ```
    public static func replaying<Decoder: ProviderStreamDecoder>(
        _ capture: some Collection<UInt8>,
        decoder: Decoder,
        outcome: ProcessOutcome = ProcessOutcome(termination: .exited(0)),
        lineDelay: Duration? = nil
    ) -> ProviderScript {
        var decoder = decoder
        var steps: [Step] = []
        for line in capture.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            if let lineDelay { steps.append(.delay(lineDelay)) }
            steps += decoder.decode(line: Array(line)).map(Step.event)
        }
        steps += decoder.finish(outcome).map(Step.event)
        return ProviderScript(steps, model: nil)
    }

    /// A reply streamed in a few chunks, with plausible usage.
    public static func reply(_ text: String, chunks: Int = 3) -> ProviderScript {
        let words = Int64(max(1, text.split(separator: " ").count))
        return ProviderScript([
            .text(text, chunks: chunks), .usage(TokenUsage(input: 120 + words, output: words * 2, cacheRead: 1024)),
        ])
    }
}
