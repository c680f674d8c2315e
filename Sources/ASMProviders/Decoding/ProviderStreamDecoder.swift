import ASMCore

/// Turns a provider's standard output into normalized events. Pure: bytes in, events out.
///
/// The process runner feeds it each line as it arrives, then the process's outcome once
/// the process is gone; ``finish(_:)`` returns the run's one terminal event (and anything
/// still pending, such as usage).
///
/// A CLI that keeps its standard input open for the host (``LaunchSpec/keepsInputOpen``)
/// also asks questions on standard output: the decoder turns a tool's permission question
/// into ``ProviderEvent/toolPermission(_:)``, hands back the lines owed at once
/// (``takeReplies()``) and says when the turn is over (``turnEnded``), so standard input
/// can close.
public protocol ProviderStreamDecoder {
    /// The events one line of standard output means (often none).
    mutating func decode(line: [UInt8]) -> [ProviderEvent]
    /// The run's last events, given how the process ended.
    mutating func finish(_ outcome: ProcessOutcome) -> [ProviderEvent]
    /// Lines to write to standard input now, such as the refusal of a question the host
    /// does not take; each is handed back once.
    mutating func takeReplies() -> [[UInt8]]
    /// Whether the CLI has ended its turn (its standard input can close).
    var turnEnded: Bool { get }
}

extension ProviderStreamDecoder {
    public mutating func takeReplies() -> [[UInt8]] { [] }
    public var turnEnded: Bool { false }
}
