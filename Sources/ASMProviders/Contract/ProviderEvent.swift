public import ASMCore
internal import Synchronization

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
    /// The provider refused a call itself before it ran (the tool was not offered).
    case toolRefused(ToolCallRefused)
    case usage(TokenUsageUpdated)
    case warning(ProviderWarning)
    case completed(RunCompleted)
    case failed(RunFailed)
    case cancelled(RunCancelled)
    /// A tool waits for permission before it runs, on a provider that holds tools
    /// (``ProviderCapabilities/holdsTools``) when the request asks it to
    /// (``ProviderRequest/asksBeforeTools``). The provider waits for
    /// ``ToolPermissionRequest/verdict()``; the events before it on the stream are the ones
    /// the provider emitted before asking, so the answer comes in order.
    case toolPermission(ToolPermissionRequest)

    /// The event as the log records it.
    public var sessionEvent: SessionEvent {
        switch self {
        case .started(let payload): .runStarted(payload)
        case .streamed(let payload): .messageStreamed(payload)
        case .received(let payload): .messageReceived(payload)
        case .toolStarted(let payload): .toolCallStarted(payload)
        case .toolCompleted(let payload): .toolCallCompleted(payload)
        case .toolRefused(let payload): .toolCallRefused(payload)
        case .usage(let payload): .tokenUsageUpdated(payload)
        case .warning(let payload): .providerWarning(payload)
        case .completed(let payload): .runCompleted(payload)
        case .failed(let payload): .runFailed(payload)
        case .cancelled(let payload): .runCancelled(payload)
        case .toolPermission(let request): .toolCallRequested(ToolCallRequested(request.call))
        }
    }

    /// Whether this event ends the run.
    public var isTerminal: Bool {
        switch self {
        case .completed, .failed, .cancelled: true
        case .started, .streamed, .received, .toolStarted, .toolCompleted, .toolRefused, .usage, .warning,
            .toolPermission:
            false
        }
    }

    /// A failure of the given kind.
    public static func failure(
        _ kind: FailureKind,
        _ message: String,
        httpStatus: Int? = nil,
        exitCode: Int? = nil,
        stderr: String? = nil
    ) -> ProviderEvent {
        .failed(
            RunFailed(
                failure: RunFailure(
                    kind: kind,
                    message: message,
                    httpStatus: httpStatus,
                    exitCode: exitCode,
                    stderr: stderr
                )
            )
        )
    }
}

/// A tool call waiting for the host's answer before it runs; answered once.
///
/// Compared by identity. The first answer wins; later ones are ignored.
public final class ToolPermissionRequest: Hashable, Sendable {
    public enum Verdict: Hashable, Sendable {
        case allow
        /// The tool must not run; the run goes on.
        case deny(String)
    }

    private struct State {
        var verdict: Verdict?
        var waiters: [CheckedContinuation<Verdict, Never>] = []
    }

    /// The call that waits.
    public let call: ToolCallStarted
    /// The provider's own id for the question (Claude Code's `request_id`), so the answer
    /// can name it; `nil` for providers that ask in process.
    public let providerRequestID: String?
    private let state = Mutex(State())

    public init(call: ToolCallStarted, providerRequestID: String? = nil) {
        self.call = call
        self.providerRequestID = providerRequestID
    }

    /// Answers the request; only the first answer counts.
    public func answer(_ verdict: Verdict) {
        let waiters = state.withLock { state -> [CheckedContinuation<Verdict, Never>] in
            guard state.verdict == nil else { return [] }
            state.verdict = verdict
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume(returning: verdict) }
    }

    /// The answer, once given.
    public var answered: Verdict? { state.withLock { $0.verdict } }

    /// Waits for the answer. A provider that must stop waiting (its run was cancelled) races
    /// this against its own cancellation; cancelling the waiting task answers `deny`.
    public func verdict() async -> Verdict {
        await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let ready = state.withLock { state -> Verdict? in
                    if let verdict = state.verdict { return verdict }
                    state.waiters.append(continuation)
                    return nil
                }
                if let ready { continuation.resume(returning: ready) }
            }
        } onCancel: {
            answer(.deny("the run was stopped"))
        }
    }

    public static func == (lhs: ToolPermissionRequest, rhs: ToolPermissionRequest) -> Bool { lhs === rhs }
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(self)) }
}
