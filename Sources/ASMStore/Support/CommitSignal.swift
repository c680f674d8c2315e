package import ASMCore
internal import Synchronization

/// The last committed sequence, and the tasks waiting for it to pass a point.
///
/// The writer publishes after each commit; a watcher publishes what other processes
/// commit. Waiters are resumed in the publishing call, outside the lock.
package final class CommitSignal: Sendable {
    private struct Waiter {
        var threshold: Threshold
        var continuation: CheckedContinuation<Bool, Never>
    }

    /// What a waiter waits to be passed: a fixed sequence, or one its owner moves on.
    private enum Threshold {
        case fixed(Int64)
        case moving(@Sendable () -> SequenceNumber)

        var value: Int64 {
            switch self {
            case .fixed(let sequence): sequence
            case .moving(let covered): covered().rawValue
            }
        }
    }

    private struct State {
        var committed: Int64 = 0
        var waiters: [Int: Waiter] = [:]
        var nextID = 0
        var isClosed = false
    }

    private let state = Mutex(State())
    /// Called after a waiter is added (outside the lock), so a watcher can make sure it runs.
    private let onWaiterAdded: @Sendable () -> Void

    package init(onWaiterAdded: @escaping @Sendable () -> Void = {}) {
        self.onWaiterAdded = onWaiterAdded
    }

    /// The highest sequence published so far.
    package var committed: SequenceNumber { SequenceNumber(state.withLock { $0.committed }) }

    /// Records that everything up to `sequence` is committed and wakes the waiters it satisfies.
    package func publish(_ sequence: SequenceNumber) {
        let ready = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            guard sequence.rawValue > state.committed else { return [] }
            state.committed = sequence.rawValue
            var ready: [CheckedContinuation<Bool, Never>] = []
            for (id, waiter) in state.waiters where waiter.threshold.value < sequence.rawValue {
                ready.append(waiter.continuation)
                state.waiters[id] = nil
            }
            return ready
        }
        for continuation in ready { continuation.resume(returning: true) }
    }

    /// Suspends until a sequence greater than `sequence` is published.
    /// - Returns: `false` if the task was cancelled or the signal closed first.
    package func wait(after sequence: SequenceNumber) async -> Bool {
        await wait(for: .fixed(sequence.rawValue))
    }

    /// Suspends until a sequence greater than what `covered()` returns at that moment is
    /// published: `covered` is asked again at each publish (under the signal's lock, so keep it
    /// to a read of the caller's own state), and a waiter that learns of commits elsewhere —
    /// the writer's commit feed — is not woken for those it already has.
    /// - Returns: `false` if the task was cancelled or the signal closed first.
    package func wait(afterCovered covered: @escaping @Sendable () -> SequenceNumber) async -> Bool {
        await wait(for: .moving(covered))
    }

    private func wait(for threshold: Threshold) async -> Bool {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                let immediate = state.withLock { state -> Bool? in
                    if state.isClosed || Task.isCancelled { return false }
                    if state.committed > threshold.value { return true }
                    state.waiters[id] = Waiter(threshold: threshold, continuation: continuation)
                    return nil
                }
                if let immediate {
                    continuation.resume(returning: immediate)
                } else {
                    onWaiterAdded()
                }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.continuation.resume(returning: false)
        }
    }

    /// Whether anyone is waiting.
    package var hasWaiters: Bool { state.withLock { !$0.waiters.isEmpty } }

    /// Wakes every waiter with `false` and refuses new ones.
    package func close() {
        let waiters = state.withLock { state -> [Waiter] in
            state.isClosed = true
            let waiters = Array(state.waiters.values)
            state.waiters.removeAll()
            return waiters
        }
        for waiter in waiters { waiter.continuation.resume(returning: false) }
    }
}
