public import ASMCore
internal import Synchronization

/// The events this process's writer committed, handed to observers right after each
/// commit, before waiting readers are woken.
package final class CommitFeed: Sendable {
    package typealias Observer = @Sendable ([EventEnvelope]) -> Void

    /// In registration order: the first registered is called first.
    private let observers = Mutex<[(id: Int, observer: Observer)]>([])
    private let nextID = Atomic<Int>(0)
    private let count = Atomic<Int>(0)

    package init() {}

    /// Whether anyone observes (the writer collects envelopes only then).
    package var isObserved: Bool { count.load(ordering: .acquiring) > 0 }

    package func add(_ observer: @escaping Observer) -> Int {
        let id = nextID.add(1, ordering: .relaxed).newValue
        observers.withLock { $0.append((id, observer)) }
        count.add(1, ordering: .releasing)
        return id
    }

    package func remove(_ id: Int) {
        let removed = observers.withLock { observers -> Bool in
            guard let index = observers.firstIndex(where: { $0.id == id }) else { return false }
            observers.remove(at: index)
            return true
        }
        if removed { count.subtract(1, ordering: .releasing) }
    }

    package func deliver(_ envelopes: [EventEnvelope]) {
        guard !envelopes.isEmpty else { return }
        for entry in observers.withLock({ $0 }) { entry.observer(envelopes) }
    }
}

/// Keeps a commit observer registered until ``cancel()`` (or until it is released).
public final class CommitObservation: Sendable {
    private let cancelAction: @Sendable () -> Void
    private let cancelled = Atomic<Bool>(false)

    package init(cancel: @escaping @Sendable () -> Void) {
        self.cancelAction = cancel
    }

    public func cancel() {
        if !cancelled.exchange(true, ordering: .acquiringAndReleasing) { cancelAction() }
    }

    deinit { cancel() }
}
