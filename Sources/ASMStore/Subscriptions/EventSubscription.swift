public import ASMCore

/// Events from a sequence on: the log's backfill, then live events as they commit.
///
/// The iterator reads the log in pages by sequence number and, once caught up, waits for
/// the next commit and reads again, so no event is skipped or repeated at the switch from
/// backfill to live, whatever commits in between. It buffers at most one page; a slow
/// consumer simply reads further behind, and memory stays bounded.
///
/// Cancelling the consuming task ends the iteration (`next()` returns `nil`).
///
/// ```swift
/// for try await envelope in store.subscribe(from: .zero, filter: .session(id)) {
///     print(envelope.sequence, envelope.type)
/// }
/// ```
public struct EventSubscription: AsyncSequence, Sendable {
    public typealias Element = EventEnvelope
    public typealias Failure = any Error

    let store: any EventStore
    let start: SequenceNumber
    let filter: EventFilter
    let pageSize: Int

    init(store: any EventStore, from start: SequenceNumber, filter: EventFilter, pageSize: Int) {
        self.store = store
        self.start = start
        self.filter = filter
        self.pageSize = Swift.max(1, pageSize)
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(store: store, cursor: Swift.max(start, SequenceNumber(1)), filter: filter, pageSize: pageSize)
    }

    /// Reads pages and waits for commits.
    public struct Iterator: AsyncIteratorProtocol {
        let store: any EventStore
        /// The next sequence to examine.
        public private(set) var cursor: SequenceNumber
        let filter: EventFilter
        let pageSize: Int
        private var buffer: [EventEnvelope] = []
        private var index = 0

        init(store: any EventStore, cursor: SequenceNumber, filter: EventFilter, pageSize: Int) {
            self.store = store
            self.cursor = cursor
            self.filter = filter
            self.pageSize = pageSize
        }

        /// The next event, waiting for one to commit when caught up.
        /// - Returns: `nil` when the task is cancelled or the store closes.
        /// - Throws: ``StoreError`` when a read fails.
        public mutating func next() async throws -> EventEnvelope? {
            while true {
                if index < buffer.count {
                    defer { index += 1 }
                    return buffer[index]
                }
                if Task.isCancelled { return nil }
                let page = try await store.events(from: cursor, limit: pageSize, filter: filter)
                buffer = page.events
                index = 0
                cursor = Swift.max(cursor, page.scannedThrough.next)
                if buffer.isEmpty {
                    guard await store.waitForCommit(after: page.scannedThrough) else { return nil }
                }
            }
        }
    }
}
