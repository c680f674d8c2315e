import ASMCore
internal import Synchronization

/// The runs an adapter is executing, by run id.
final class RunRegistry<Value: Sendable>: Sendable {
    private let runs = Mutex<[RunID: Value]>([:])

    subscript(run: RunID) -> Value? {
        runs.withLock { $0[run] }
    }

    func insert(_ value: Value, for run: RunID) { runs.withLock { $0[run] = value } }
    func remove(_ run: RunID) { runs.withLock { $0[run] = nil } }
}
