public import ASMCore

/// A provider that executes runs: Claude Code, Codex and Amp as subprocesses, a scripted
/// provider, or a router over several of them.
///
/// ```swift
/// let claude = CommandLineProvider(dialect: ClaudeCode())
/// for await event in claude.execute(ProviderRequest(runID: run, prompt: "What is 2+2?")) {
///     print(event)
/// }
/// ```
public protocol ProviderAdapter: Sendable {
    /// The provider's name in events (`claude`, `codex`, `amp`, `scripted`).
    var name: String { get }
    var capabilities: ProviderCapabilities { get }
    /// Starts a run. The events end with exactly one terminal event; a provider that
    /// cannot start (a missing binary) reports it as that terminal event.
    ///
    /// Stopping the iteration stops the run's process.
    func execute(_ request: ProviderRequest) -> ProviderEventStream
    /// Stops a run, following the provider's own protocol (an interrupt first where it has
    /// one). Safe to call at any time and more than once; unknown runs are ignored.
    func cancel(_ run: RunID, reason: CancelReason) async
}

/// The events of one run, as they happen.
public struct ProviderEventStream: AsyncSequence, Sendable {
    public typealias Element = ProviderEvent
    public typealias Failure = Never

    private let stream: AsyncStream<ProviderEvent>

    /// Wraps a stream that ends after the run's terminal event.
    public init(_ stream: AsyncStream<ProviderEvent>) {
        self.stream = stream
    }

    /// A stream of fixed events (for runs that end before they start).
    public static func finished(_ events: [ProviderEvent]) -> ProviderEventStream {
        let (stream, continuation) = AsyncStream<ProviderEvent>.makeStream()
        for event in events { continuation.yield(event) }
        continuation.finish()
        return ProviderEventStream(stream)
    }

    public func makeAsyncIterator() -> AsyncStream<ProviderEvent>.AsyncIterator {
        stream.makeAsyncIterator()
    }
}
