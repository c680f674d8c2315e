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
        /// Tools waiting for the host's answer.
        var held = 0
    }

    private let state: Mutex<State>
    let startedAt: UInt64
    /// The process's standard input while it stays open (``LaunchSpec/keepsInputOpen``).
    let input: InputChannel?
    /// Written to the open standard input instead of SIGINT.
    let interruptInput: [UInt8]?

    /// Monotonic nanoseconds: the watchdog's clock (a test drives its own).
    let now: @Sendable () -> UInt64

    init(
        input: InputChannel? = nil,
        interruptInput: [UInt8]? = nil,
        now: @escaping @Sendable () -> UInt64 = MonotonicTime.nanoseconds
    ) {
        self.now = now
        let start = now()
        startedAt = start
        state = Mutex(State(lastActivity: start))
        self.input = input
        self.interruptInput = interruptInput
    }

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
    func touch() {
        let now = self.now()
        state.withLock { $0.lastActivity = now }
    }

    /// One more (`1`) or one fewer (`-1`) tool waiting for the host; the last answer counts
    /// as activity.
    func holding(_ change: Int) {
        let now = self.now()
        state.withLock { state in
            state.held += change
            if state.held == 0 { state.lastActivity = now }
        }
    }

    var isHolding: Bool { state.withLock { $0.held > 0 } }
    func markExited() { state.withLock { $0.exited = true } }

    /// Takes one step of stopping: the CLI's own interrupt request on its open standard
    /// input in place of SIGINT, else the signal.
    func stopStep(_ signal: ProcessSignal) {
        if signal == .interrupt, let interruptInput, let input, input.send(interruptInput) { return }
        self.signal(signal)
    }

    /// Sends `signal` to the process group, unless the process is gone.
    func signal(_ signal: ProcessSignal) {
        state.withLock { state in
            guard !state.exited, let group = state.processGroup, group > 0 else { return }
            _ = kill(-group, signal.rawValue)
        }
    }
}

extension Duration {
    /// Whole nanoseconds, zero for a negative duration, to compare with ``RunControl/now``.
    var clampedNanoseconds: UInt64 { UInt64(max(0, wholeNanoseconds)) }
}

/// Lines for a process's open standard input, written in order by one writer.
final class InputChannel: Sendable {
    let lines: AsyncStream<[UInt8]>
    private let continuation: AsyncStream<[UInt8]>.Continuation
    private let closed = Mutex(false)

    init() {
        (lines, continuation) = AsyncStream.makeStream()
    }

    /// Queues a line; `false` once the input is closed.
    @discardableResult
    func send(_ line: [UInt8]) -> Bool {
        if case .enqueued = continuation.yield(line) { return true }
        return false
    }

    /// Closes standard input once the lines queued before are written.
    func close() {
        closed.withLock { $0 = true }
        continuation.finish()
    }

    /// Whether lines can still be queued.
    var isOpen: Bool { !closed.withLock { $0 } }
}
