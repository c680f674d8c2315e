import ASMCore
import ASMRouting
import ASMStore
internal import Synchronization

/// A router's view of the log: breakers, cooldowns, sticky bindings and probes folded from
/// the log through its end, caught up incrementally from the last position folded.
///
/// The fold keeps nothing the log does not say: a fresh fold on the same file reaches the
/// same state. One per registered router, shared by its runs.
final class RouterFold: Sendable {
    private let router: Router
    private let store: any EventStore
    private let view = Mutex(RouterState())

    init(router: Router, store: any EventStore) {
        self.router = router
        self.store = store
    }

    /// The state folded through the log's end as of this call.
    func current() async throws -> RouterState {
        var state = view.withLock { $0 }
        while true {
            let page = try await store.events(
                from: state.position.next,
                limit: 1000,
                filter: ProviderRouter.foldedTypes
            )
            for envelope in page.events {
                _ = router.apply(&state, envelope.event, run: envelope.runID, sequence: envelope.sequence)
            }
            guard page.scannedThrough > state.position || !page.events.isEmpty else { break }
            state.position = max(state.position, page.scannedThrough)
            if page.events.count < 1000 { break }
        }
        let caught = state
        view.withLock { current in
            if caught.position > current.position { current = caught }
        }
        return caught
    }
}
