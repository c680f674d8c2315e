public import ASMCore

/// A store that can take a log's events exactly as another store recorded them: sequences,
/// times, payload bytes and hashes unchanged, so the copy verifies with the same chain head.
public protocol LogImporting: EventStore {
    /// Appends `events` as recorded; they must continue this log's sequence. An empty log first
    /// takes `chainVersions` (the source's), so that the chain links the same way.
    func importRecorded(_ events: [RecordedEvent], chainVersions: [VerificationReport.ChainVersion]) async throws
    /// Sets durable consumers' checkpoints (creating the consumers) as the source has them.
    func importConsumers(_ consumers: [ConsumerStatus]) async throws
}

/// Copies a whole log from one store to another — an SQLite file to PostgreSQL, say — with its
/// hashes and consumer checkpoints, resumably: a copy that was interrupted goes on after the
/// last event the target holds, once that event is found to be the source's.
public enum LogCopy {
    /// What a copy did.
    public struct Report: Sendable, Hashable {
        /// Events copied by this call (those already there are not counted).
        public var copied: Int
        /// The target held this many events of the source already (a resumed copy).
        public var alreadyThere: Int
        public var consumers: Int
        /// The chain head both logs verify to.
        public var head: EventHash?
    }

    /// Copies `source` into `target`, rebuilds the target's projections and verifies it.
    /// - Throws: ``StoreError`` `invalidArgument` when the source does not verify, has expunged
    ///   events, or the target holds a different log; `corrupt` when the copy does not verify
    ///   to the source's head.
    public static func copy(
        from source: any EventStore,
        to target: any LogImporting,
        pageSize: Int = 1000,
        progress: (@Sendable (WorkProgress) -> Void)? = nil
    ) async throws -> Report {
        let checked = try await source.verify()
        guard checked.isIntact else {
            throw StoreError(.invalidArgument, "the source does not verify; run asm verify on it first")
        }
        guard checked.expunged.isEmpty else {
            throw StoreError(
                .invalidArgument,
                "the source has expunged events (\(checked.expunged.count)); copying them is not supported yet"
            )
        }
        let total = Int(try await source.lastSequence().rawValue)
        let there = try await target.lastSequence()
        if there > .zero {
            guard there.rawValue <= Int64(total),
                let mine = try await target.recordedEvents(from: there, limit: 1, filter: .all).events.first,
                let theirs = try await source.recordedEvents(from: there, limit: 1, filter: .all).events.first,
                mine.hash == theirs.hash
            else {
                throw StoreError(
                    .invalidArgument,
                    "the target holds a different log (its event \(there) is not the source's)"
                )
            }
        }
        var cursor = there.next
        var copied = 0
        while cursor.rawValue <= Int64(total) {
            let page = try await source.recordedEvents(from: cursor, limit: pageSize, filter: .all)
            guard !page.events.isEmpty else { break }
            try await target.importRecorded(page.events, chainVersions: checked.chainVersions)
            copied += page.events.count
            progress?(WorkProgress(done: Int(there.rawValue) + copied, total: total))
            cursor = page.scannedThrough.next
        }
        let consumers = try await source.consumers()
        try await target.importConsumers(consumers)
        _ = try await target.rebuildProjections()
        let copy = try await target.verify()
        guard copy.isIntact, copy.head == checked.head, copy.eventsChecked == checked.eventsChecked else {
            throw StoreError(.corrupt, "the copy does not verify to the source's chain head")
        }
        return Report(copied: copied, alreadyThere: Int(there.rawValue), consumers: consumers.count, head: copy.head)
    }
}
