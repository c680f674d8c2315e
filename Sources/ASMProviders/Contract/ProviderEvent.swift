public import ASMCore

/// A normalized event from a provider: what every adapter emits, whatever the CLI said.
///
/// A run's events end with exactly one terminal event: ``completed(_:)``, ``failed(_:)``
/// or ``cancelled(_:)``. Usage deltas add up to the run's total, never counting twice.
public enum ProviderEvent: Hashable, Sendable {
    case started(RunStarted)
    case streamed(MessageStreamed)
    case received(MessageReceived)
    case toolStarted(ToolCallStarted)
    case toolCompleted(ToolCallCompleted)
    case usage(TokenUsageUpdated)
    case warning(ProviderWarning)
    case completed(RunCompleted)
    case failed(RunFailed)
    case cancelled(RunCancelled)
    /// A decision a router records about the run (`routing.decided`, `routing.failed_over`,
    /// `provider.health_changed`), under an id it chose so it can tell when it is in the log.
    case routing(SessionEvent, id: EventID)

    /// The event as the log records it.
    public var sessionEvent: SessionEvent {
        switch self {
        case .started(let payload): .runStarted(payload)
        case .streamed(let payload): .messageStreamed(payload)
        case .received(let payload): .messageReceived(payload)
        case .toolStarted(let payload): .toolCallStarted(payload)
        case .toolCompleted(let payload): .toolCallCompleted(payload)
        case .usage(let payload): .tokenUsageUpdated(payload)
        case .warning(let payload): .providerWarning(payload)
        case .completed(let payload): .runCompleted(payload)
        case .failed(let payload): .runFailed(payload)
        case .cancelled(let payload): .runCancelled(payload)
        case .routing(let event, _): event
        }
    }

    /// Whether this event ends the run.
    public var isTerminal: Bool {
        switch self {
        case .completed, .failed, .cancelled: true
        case .started, .streamed, .received, .toolStarted, .toolCompleted, .usage, .warning, .routing: false
        }
    }

    /// A failure of the given kind.
    public static func failure(
        _ kind: FailureKind, _ message: String, httpStatus: Int? = nil, exitCode: Int? = nil, stderr: String? = nil
    ) -> ProviderEvent {
        .failed(RunFailed(failure: RunFailure(kind: kind, message: message, httpStatus: httpStatus, exitCode: exitCode, stderr: stderr)))
    }
}
