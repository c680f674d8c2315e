public import ASMCore
internal import Synchronization

/// The last committed sequence, and the tasks waiting for it to pass a point.
///
/// The writer publishes after each commit; a watcher publishes what other processes
/// commit. Waiters are resumed in the publishing call, outside the lock.
final class CommitSignal: Sendable {
    private struct Waiter {
        var threshold: Int64
        var continuation: CheckedContinuation<Bool, Never>
    }

    private struct State {
        var committed: Int64 = 0
        var waiters: [Int: Waiter] = [:]
        var nextID = 0
        var isClosed = false
    }

    private let state = Mutex(State())
    /// Called when the first waiter arrives and when the last one leaves, to start and stop watching.
    private let onDemandChange: @Sendable (Bool) -> Void

    init(onDemandChange: @escaping @Sendable (Bool) -> Void = { _ in }) {
        self.onDemandChange = onDemandChange
    }

    /// The highest sequence published so far.
    var committed: SequenceNumber { SequenceNumber(state.withLock { $0.committed }) }

    /// Records that everything up to `sequence` is committed and wakes the waiters it satisfies.
    func publish(_ sequence: SequenceNumber) {
        let (ready, demandEnded) = state.withLock { state -> ([CheckedContinuation<Bool, Never>], Bool) in
            guard sequence.rawValue > state.committed else { return ([], false) }
            state.committed = sequence.rawValue
            var ready: [CheckedContinuation<Bool, Never>] = []
            for (id, waiter) in state.waiters where waiter.threshold < sequence.rawValue {
                ready.append(waiter.continuation)
                state.waiters[id] = nil
            }
            return (ready, !ready.isEmpty && state.waiters.isEmpty)
        }
        for continuation in ready { continuation.resume(returning: true) }
        if demandEnded { onDemandChange(false) }
    }

    /// Suspends until a sequence greater than `sequence` is published.
    /// - Returns: `false` if the task was cancelled or the signal closed first.
    func wait(after sequence: SequenceNumber) async -> Bool {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let outcome = state.withLock { state -> (resumeWith: Bool?, demandStarted: Bool) in
                    if state.isClosed { return (false, false) }
                    if Task.isCancelled { return (false, false) }
                    if state.committed > sequence.rawValue { return (true, false) }
                    state.waiters[id] = Waiter(threshold: sequence.rawValue, continuation: continuation)
                    return (nil, state.waiters.count == 1)
                }
                if let value = outcome.resumeWith {
                    continuation.resume(returning: value)
                } else if outcome.demandStarted {
                    onDemandChange(true)
                }
            }
        } onCancel: {
            let (waiter, demandEnded) = state.withLock { state -> (Waiter?, Bool) in
                let waiter = state.waiters.removeValue(forKey: id)
                return (waiter, waiter != nil && state.waiters.isEmpty)
            }
            waiter?.continuation.resume(returning: false)
            if demandEnded { onDemandChange(false) }
        }
    }

    /// Whether anyone is waiting.
    var hasWaiters: Bool { state.withLock { !$0.waiters.isEmpty } }

    /// Wakes every waiter with `false` and refuses new ones.
    func close() {
        let waiters = state.withLock { state -> [Waiter] in
            state.isClosed = true
            let waiters = Array(state.waiters.values)
            state.waiters.removeAll()
            return waiters
        }
        for waiter in waiters { waiter.continuation.resume(returning: false) }
        if !waiters.isEmpty { onDemandChange(false) }
    }
}
