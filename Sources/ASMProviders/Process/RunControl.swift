import ASMCore
import ASMSystem
internal import Synchronization

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// The shared state of one provider process: why it is being stopped, when it last wrote,
/// and whether it is gone.
final class RunControl: Sendable {
    private struct State {
        var processGroup: Int32?
        var stop: ProcessOutcome.StopCause?
        var lastActivity: UInt64
        var exited = false
    }

    private let state: Mutex<State>
    let startedAt: UInt64

    init() {
        let now = RunControl.now()
        startedAt = now
        state = Mutex(State(lastActivity: now))
    }

    static func now() -> UInt64 { MonotonicTime.nanoseconds() }

    /// Records why the process is being stopped; the first cause wins.
    func requestStop(_ cause: ProcessOutcome.StopCause) {
        state.withLock { state in
            if state.stop == nil, !state.exited { state.stop = cause }
        }
    }

    var stop: ProcessOutcome.StopCause? { state.withLock { $0.stop } }
    var hasExited: Bool { state.withLock { $0.exited } }
    var processGroup: Int32? { state.withLock { $0.processGroup } }
    var lastActivity: UInt64 { state.withLock { $0.lastActivity } }

    func started(processGroup: Int32) { state.withLock { $0.processGroup = processGroup } }
    func touch() { state.withLock { $0.lastActivity = RunControl.now() } }
    func markExited() { state.withLock { $0.exited = true } }

    /// Sends `signal` to the process group, unless the process is gone.
    func signal(_ signal: ProcessSignal) {
        state.withLock { state in
            guard !state.exited, let group = state.processGroup, group > 0 else { return }
            _ = kill(-group, signal.rawValue)
        }
    }
}

extension Duration {
    /// Whole nanoseconds, zero for a negative duration, to compare with ``RunControl/now()``.
    var clampedNanoseconds: UInt64 { UInt64(max(0, wholeNanoseconds)) }
}
