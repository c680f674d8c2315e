import ASMCore

/// Turns a provider's standard output into normalized events. Pure: bytes in, events out.
///
/// The process runner feeds it each line as it arrives, then the process's outcome once
/// the process is gone; ``finish(_:)`` returns the run's one terminal event (and anything
/// still pending, such as usage).
public protocol ProviderStreamDecoder {
    /// The events one line of standard output means (often none).
    mutating func decode(line: [UInt8]) -> [ProviderEvent]
    /// The run's last events, given how the process ended.
    mutating func finish(_ outcome: ProcessOutcome) -> [ProviderEvent]
}
