import ASMCore
internal import Dispatch
internal import Synchronization

/// The single writer of a store: one connection on its own serial queue.
///
/// Callers submit operations and suspend. The queue drains everything submitted so far into
/// one transaction (group commit): each operation runs inside its own savepoint, so a
/// conflict rolls back only its own batch, and one COMMIT — one `fsync` — makes them all
/// durable. Operations submitted while a commit is in flight form the next group.
///
/// The queue is a `DispatchQueue`, so `fsync` never blocks Swift's cooperative threads.
final class EventWriter: @unchecked Sendable {
    enum Operation: Sendable {
        case append(PreparedAppend)
        /// Store maintenance and consumer writes, with the transaction at hand.
        case work(@Sendable (WriteTransaction) throws -> any Sendable)
    }

    enum Outcome: Sendable {
        case appended(AppendResult)
        case value(any Sendable)
    }

    private struct Submitted {
        var operation: Operation
        var continuation: CheckedContinuation<Outcome, any Error>
    }

    private struct Pending {
        var submitted: [Submitted] = []
        var isDraining = false
        var isClosed = false
    }

    /// Operations beyond this many events wait for the next transaction.
    static let eventsPerTransaction = 20_000

    private let pending = Mutex(Pending())
    private let queue = DispatchQueue(label: "asm.store.writer", qos: .userInitiated)
    private let path: String
    private let clock: any WallClock
    private let signal: CommitSignal

    // Confined to `queue`.
    private let connection: Connection
    private let projector: Projector
    private var head: ChainHead?
    private var streamVersions: [UUIDValue: Int64] = [:]
    private var dataVersion: Int64?

    init(connection: Connection, clock: any WallClock, signal: CommitSignal) {
        self.connection = connection
        self.path = connection.path
        self.clock = clock
        self.signal = signal
        self.projector = Projector(connection: connection)
    }

    // MARK: Submitting

    /// Runs an operation in the next group commit.
    /// - Throws: ``StoreError``; `closed` once the store is closed.
    func submit(_ operation: Operation) async throws -> Outcome {
        try await withCheckedThrowingContinuation { continuation in
            let action = pending.withLock { pending -> (closed: Bool, schedule: Bool) in
                guard !pending.isClosed else { return (true, false) }
                pending.submitted.append(Submitted(operation: operation, continuation: continuation))
                guard !pending.isDraining else { return (false, false) }
                pending.isDraining = true
                return (false, true)
            }
            if action.closed {
                continuation.resume(throwing: StoreError(.closed, "the store is closed", path: path))
            } else if action.schedule {
                queue.async { self.drain() }
            }
        }
    }

    /// Appends and returns where the batch landed.
    func append(_ batch: PreparedAppend) async throws -> AppendResult {
        guard case .appended(let result) = try await submit(.append(batch)) else {
            preconditionFailure("an append produced another outcome")
        }
        return result
    }

    /// Runs `body` in a write transaction and returns its value.
    func perform<T: Sendable>(_ body: @escaping @Sendable (WriteTransaction) throws -> T) async throws -> T {
        guard case .value(let value) = try await submit(.work({ try body($0) })), let typed = value as? T else {
            preconditionFailure("a write produced another outcome")
        }
        return typed
    }

    /// Refuses new operations, lets submitted ones finish, then closes the connection.
    func close() {
        pending.withLock { $0.isClosed = true }
        queue.sync { connection.close() }
    }

    // MARK: Draining (on `queue`)

    private func drain() {
        while true {
            let group = pending.withLock { pending -> [Submitted] in
                guard !pending.submitted.isEmpty else {
                    pending.isDraining = false
                    return []
                }
                var events = 0
                var count = 0
                for item in pending.submitted {
                    if case .append(let batch) = item.operation { events += batch.events.count }
                    count += 1
                    if events >= Self.eventsPerTransaction { break }
                }
                let group = Array(pending.submitted.prefix(count))
                pending.submitted.removeFirst(count)
                return group
            }
            if group.isEmpty { return }
            commit(group)
        }
    }

    private func commit(_ group: [Submitted]) {
        var outcomes: [Result<Outcome, any Error>] = []
        outcomes.reserveCapacity(group.count)
        var published: Int64?
        do {
            try connection.statement("BEGIN IMMEDIATE").execute()
            let transaction = WriteTransaction(
                connection: connection, projector: projector, clock: clock, head: try currentHead(),
                committedVersions: streamVersions)
            let startSequence = transaction.head.sequence
            let isolated = group.count > 1
            var isOpen = true
            for item in group {
                if isolated { try connection.statement("SAVEPOINT operation").execute() }
                let snapshot = transaction.snapshot()
                do {
                    let outcome = try run(item.operation, in: transaction)
                    try projector.flush()
                    if isolated { try connection.statement("RELEASE operation").execute() }
                    outcomes.append(.success(outcome))
                } catch {
                    projector.discard()
                    transaction.restore(snapshot)
                    if isolated {
                        try connection.statement("ROLLBACK TO operation").execute()
                        try connection.statement("RELEASE operation").execute()
                    } else {
                        connection.rollback()
                        isOpen = false
                    }
                    outcomes.append(.failure(Self.storeError(error, path: path)))
                }
            }
            if isOpen {
                if transaction.head.sequence != startSequence {
                    try projector.setCheckpoints(transaction.head.sequence)
                }
                try connection.statement("COMMIT").execute()
                head = transaction.head
                for (stream, version) in transaction.versions { streamVersions[stream] = version }
                if streamVersions.count > 50_000 { streamVersions.removeAll(keepingCapacity: true) }
                if transaction.head.sequence != startSequence { published = transaction.head.sequence }
            }
        } catch {
            // BEGIN, a savepoint or COMMIT failed: nothing of the group is committed.
            connection.rollback()
            projector.discard()
            invalidateCaches()
            let failure = Self.storeError(error, path: path)
            outcomes = group.map { _ in .failure(failure) }
        }
        for (item, outcome) in zip(group, outcomes) {
            item.continuation.resume(with: outcome)
        }
        if let published { signal.publish(SequenceNumber(published)) }
    }

    private func run(_ operation: Operation, in transaction: WriteTransaction) throws -> Outcome {
        switch operation {
        case .append(let batch): .appended(try transaction.append(batch))
        case .work(let body): .value(try body(transaction))
        }
    }

    /// The chain head, reloaded when another connection has written since our last commit.
    private func currentHead() throws(SQLiteError) -> ChainHead {
        let version = try connection.scalar("PRAGMA data_version")?.integerValue
        if version != dataVersion {
            dataVersion = version
            invalidateCaches()
        }
        if let head { return head }
        let loaded = try Self.loadHead(connection)
        head = loaded
        return loaded
    }

    private func invalidateCaches() {
        head = nil
        streamVersions.removeAll(keepingCapacity: true)
    }

    static func loadHead(_ connection: Connection) throws(SQLiteError) -> ChainHead {
        let statement = try connection.statement(
            "SELECT sequence, hash, recorded_at FROM events ORDER BY sequence DESC LIMIT 1")
        defer { statement.reset() }
        guard try statement.step() else { return .empty }
        return ChainHead(
            sequence: statement.int64(at: 0), hash: EventHash(bytes: statement.bytes(at: 1)) ?? .genesis,
            recordedAt: statement.int64(at: 2))
    }

    static func storeError(_ error: any Error, path: String) -> any Error {
        switch error {
        case let error as StoreError: error
        case let error as SQLiteError: StoreError.from(error, path: path, doing: "writing")
        default: error
        }
    }
}
