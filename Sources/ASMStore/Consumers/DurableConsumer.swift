public import ASMCore
internal import Synchronization

/// A named reader whose position survives restarts, kept in the same database file.
///
/// Delivery is at least once: a consumer resumes right after the last sequence it
/// acknowledged, so events handled but not yet acknowledged when it stopped come again.
/// For exactly-once processing, commit your own writes together with the checkpoint
/// through ``acknowledge(_:writes:)``. Checkpoints only move forward; ``reset(to:reason:)``
/// moves them anywhere and records a `consumer.reset` event.
///
/// One instance of a consumer runs at a time: iterating ``batches(filter:limit:)`` claims it
/// (``claim()``) for this store until the iteration ends, ``release()`` or the process ends;
/// a second instance — another store, another process, on PostgreSQL another host — gets
/// ``StoreError`` `consumerBusy` naming the holder, and its acknowledgements are refused too.
///
/// ```swift
/// let consumer = try await store.consumer(named: "indexer", startingAt: .beginning)
/// for try await batch in consumer.batches(filter: EventFilter(types: [.runCompleted])) {
///     try await consumer.acknowledge(batch) { tx in
///         for event in batch.events {
///             try tx.execute("INSERT INTO finished_runs (run) VALUES (?)", [.text(event.runID?.description ?? "")])
///         }
///     }
/// }
/// ```
public struct DurableConsumer: Sendable {
    public let name: String
    let store: any EventStore

    public init(name: String, store: any EventStore) {
        self.name = name
        self.store = store
    }

    /// Makes this store the consumer's one live instance (see the type's documentation).
    /// - Throws: ``StoreError`` `consumerBusy` while another instance holds it.
    public func claim() async throws {
        try await store.claimConsumer(name)
    }

    /// Gives up this store's claim, so another instance may take over.
    public func release() async {
        await store.releaseConsumer(name)
    }

    /// The last sequence acknowledged.
    public func position() async throws -> SequenceNumber {
        try await store.consumerPosition(name)
    }

    /// The next events after `cursor` (by default, after the stored position).
    ///
    /// - Parameters:
    ///   - cursor: read after this sequence; `nil` for the stored checkpoint.
    ///   - filter: which events to deliver; the batch's ``ConsumerBatch/through`` still
    ///     covers the events it skipped, so acknowledging it moves past them.
    ///   - limit: at most this many events.
    ///   - wait: when nothing is there, wait for a commit instead of returning an empty batch.
    /// - Returns: `nil` when waiting was cancelled or the store closed.
    public func nextBatch(
        after cursor: SequenceNumber? = nil,
        filter: EventFilter = .all,
        limit: Int = 500,
        wait: Bool = true
    ) async throws -> ConsumerBatch? {
        var from: SequenceNumber
        if let cursor { from = cursor } else { from = try await position() }
        while true {
            let page = try await store.events(from: from.next, limit: limit, filter: filter)
            let through = max(from, page.scannedThrough)
            if !page.events.isEmpty || !wait {
                return ConsumerBatch(consumer: name, events: page.events, through: through)
            }
            if through > from {
                // Only filtered-out events so far: report them so the checkpoint can pass them.
                return ConsumerBatch(consumer: name, events: [], through: through)
            }
            guard await store.waitForCommit(after: through) else { return nil }
            from = through
        }
    }

    /// Batches from the stored position on, waiting for new events when caught up.
    ///
    /// The sequence keeps its own cursor, so it moves on even before batches are
    /// acknowledged; after a restart it starts again from the stored checkpoint. It claims the
    /// consumer before its first batch (and checks the claim before each), throwing
    /// `consumerBusy` while another instance runs it; the claim is given up when the iteration
    /// ends.
    public func batches(filter: EventFilter = .all, limit: Int = 500) -> Batches {
        Batches(consumer: self, filter: filter, limit: limit)
    }

    /// Stores `batch.through` as the checkpoint (never moving it backwards).
    public func acknowledge(_ batch: ConsumerBatch) async throws {
        try await store.acknowledge(consumer: name, through: batch.through, writes: nil)
    }

    /// Commits `writes` and the checkpoint in one transaction: both or neither.
    /// - Throws: what `writes` throws (nothing is committed then), or ``StoreError``.
    public func acknowledge(
        _ batch: ConsumerBatch,
        writes: @escaping @Sendable (any TransactionContext) throws -> Void
    )
        async throws
    {
        try await store.acknowledge(consumer: name, through: batch.through, writes: writes)
    }

    /// Stores `sequence` as the checkpoint (never moving it backwards).
    public func acknowledge(through sequence: SequenceNumber) async throws {
        try await store.acknowledge(consumer: name, through: sequence, writes: nil)
    }

    /// Moves the checkpoint to `sequence`, backwards or forwards, and records why.
    public func reset(to sequence: SequenceNumber, reason: String? = nil) async throws {
        try await store.resetConsumer(name, to: sequence, reason: reason)
    }

    /// An endless sequence of batches.
    public struct Batches: AsyncSequence, Sendable {
        public typealias Element = ConsumerBatch
        public typealias Failure = any Error
        let consumer: DurableConsumer
        let filter: EventFilter
        let limit: Int

        public func makeAsyncIterator() -> Iterator {
            Iterator(consumer: consumer, filter: filter, limit: limit)
        }

        public struct Iterator: AsyncIteratorProtocol {
            let consumer: DurableConsumer
            let filter: EventFilter
            let limit: Int
            var cursor: SequenceNumber?
            private let hold: Hold

            init(consumer: DurableConsumer, filter: EventFilter, limit: Int) {
                self.consumer = consumer
                self.filter = filter
                self.limit = limit
                hold = Hold(consumer)
            }

            public mutating func next() async throws -> ConsumerBatch? {
                try await consumer.claim()
                hold.claimed.store(true, ordering: .relaxed)
                guard let batch = try await consumer.nextBatch(after: cursor, filter: filter, limit: limit) else {
                    return nil
                }
                cursor = batch.through
                return batch
            }
        }

        /// Gives the iteration's claim up when the iterator goes away.
        final class Hold: Sendable {
            let consumer: DurableConsumer
            let claimed = Atomic<Bool>(false)

            init(_ consumer: DurableConsumer) { self.consumer = consumer }

            deinit {
                guard claimed.load(ordering: .relaxed) else { return }
                let consumer = consumer
                Task { await consumer.release() }
            }
        }
    }
}

/// Events delivered to a durable consumer, and how far the read went.
public struct ConsumerBatch: Sendable {
    public var consumer: String
    public var events: [EventEnvelope]
    /// Every event up to here was examined (delivered or filtered out): acknowledge this.
    public var through: SequenceNumber

    public init(consumer: String, events: [EventEnvelope], through: SequenceNumber) {
        self.consumer = consumer
        self.events = events
        self.through = through
    }
}
