internal import Synchronization

/// Whether this store's writer holds the database's write lock (between `BEGIN IMMEDIATE`
/// and the end of its `COMMIT` or rollback).
///
/// While it does, no other connection can write the write-ahead log, so a change the log
/// watcher is woken for is this process's own, and already delivered by the writer.
final class WriteLockFlag: Sendable {
    private let held = Atomic<Bool>(false)

    var isHeld: Bool { held.load(ordering: .acquiring) }

    func set(_ value: Bool) { held.store(value, ordering: .releasing) }
}
