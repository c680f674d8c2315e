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
    }

    public var steps: [Step]
    /// The provider session id the run reports (generated from the run id when `nil`).
    public var providerSessionID: String?
    public var model: String?
    /// The tools the run reports at start.
    public var tools: [String]

    public init(_ steps: [Step], providerSessionID: String? = nil, model: String? = "scripted-1", tools: [String] = []) {
        self.steps = steps
        self.providerSessionID = providerSessionID
        self.model = model
        self.tools = tools
    }

    /// A reply streamed in a few chunks, with plausible usage.
    public static func reply(_ text: String, chunks: Int = 3) -> ProviderScript {
        let words = Int64(max(1, text.split(separator: " ").count))
        return ProviderScript([
            .text(text, chunks: chunks), .usage(TokenUsage(input: 120 + words, output: words * 2, cacheRead: 1024)),
        ])
    }
}
