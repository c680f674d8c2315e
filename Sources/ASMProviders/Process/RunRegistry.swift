import ASMCore
internal import Synchronization

/// The runs an adapter is executing, by run id.
final class RunRegistry<Value: Sendable>: Sendable {
    private struct State {
        var runs: [RunID: Value] = [:]
        /// Waiting for a run to be removed.
        var waiters: [RunID: [CheckedContinuation<Void, Never>]] = [:]
    }

    private let state = Mutex(State())

    subscript(run: RunID) -> Value? {
        state.withLock { $0.runs[run] }
    }

    func insert(_ value: Value, for run: RunID) { state.withLock { $0.runs[run] = value } }

    func remove(_ run: RunID) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.runs[run] = nil
            return state.waiters.removeValue(forKey: run) ?? []
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once `run` is not in the registry.
    func waitUntilRemoved(_ run: RunID) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let gone = state.withLock { state -> Bool in
                guard state.runs[run] != nil else { return true }
                state.waiters[run, default: []].append(continuation)
                return false
            }
            if gone { continuation.resume() }
        }
    }
}
