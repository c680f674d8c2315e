import ASMCore
internal import Dispatch
internal import Synchronization

/// The single writer of a store: one connection, used by one thread at a time.
///
/// Operations are committed in groups. An operation submitted while the writer is idle is
/// committed at once on the submitting thread (``SQLiteEventStore/Configuration/inlineCommits``),
/// which saves two thread handoffs per commit. Operations submitted while a commit is in
/// flight wait, and the writer's serial `DispatchQueue` commits everything waiting in one
/// transaction (group commit): each operation runs inside its own savepoint, so a conflict
/// rolls back only its own batch, and one COMMIT — one `fsync` — makes them all durable.
final class EventWriter: @unchecked Sendable {
    enum Operation: Sendable {
        case append(PreparedAppend)
        /// Store maintenance and consumer writes, with the transaction at hand.
        case work(@Sendable (WriteTransaction) throws -> any Sendable)

        var eventCount: Int {
            if case .append(let batch) = self { batch.events.count } else { 0 }
        }
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
        /// Someone (a caller or the queue) is committing; everyone else waits in `submitted`.
        var isCommitting = false
        var isClosed = false
    }

    /// Operations beyond this many events wait for the next transaction.
    static let eventsPerTransaction = 20_000

    private let pending = Mutex(Pending())
    private let queue = DispatchQueue(label: "asm.store.writer", qos: .userInitiated)
    private let path: String
    private let clock: any WallClock
    private let signal: CommitSignal
    /// Observers of committed events.
    let feed = CommitFeed()
    /// Set while a transaction holds the write lock.
    private let writeLock: WriteLockFlag
    private let inlineCommits: Bool

    // Used only by whoever set `isCommitting`.
    private let connection: Connection
    private let projector: Projector
    private var head: ChainHead?
    private var streamVersions: [UUIDValue: Int64] = [:]
    private var dataVersion: Int64?

    private let owner: ProcessOwner?
    private let readOnly: Bool

    init(
        connection: Connection,
        clock: any WallClock,
        signal: CommitSignal,
        writeLock: WriteLockFlag = WriteLockFlag(),
        inlineCommits: Bool,
        owner: ProcessOwner?,
        readOnly: Bool = false
    ) {
        self.owner = owner
        self.readOnly = readOnly
        self.connection = connection
        self.path = connection.path
        self.clock = clock
        self.signal = signal
        self.writeLock = writeLock
        self.inlineCommits = inlineCommits
        self.projector = Projector(connection: connection)
    }

    // MARK: Submitting

    /// Commits an operation, alone if the writer is idle, else in the next group.
    /// - Throws: ``StoreError``; `closed` once the store is closed.
    func submit(_ operation: Operation) async throws -> Outcome {
        guard !readOnly else {
            throw StoreError(.readOnly, "\(path) is open read-only: nothing can be written to it", path: path)
        }
        if inlineCommits {
            let isIdle = pending.withLock { pending -> Bool in
                guard !pending.isClosed, !pending.isCommitting, pending.submitted.isEmpty else { return false }
                pending.isCommitting = true
                return true
            }
            if isIdle {
                let result = commitGroup([operation])[0]
                finishCommitting()
                return try result.get()
            }
        }
        return try await withCheckedThrowingContinuation { continuation in
            let action = pending.withLock { pending -> (closed: Bool, startQueue: Bool) in
                guard !pending.isClosed else { return (true, false) }
                pending.submitted.append(Submitted(operation: operation, continuation: continuation))
                guard !pending.isCommitting else { return (false, false) }
                pending.isCommitting = true
                return (false, true)
            }
            if action.closed {
                continuation.resume(throwing: StoreError(.closed, "the store is closed", path: path))
            } else if action.startQueue {
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

    /// How many operations are waiting for the next group commit.
    var pendingCount: Int { pending.withLock { $0.submitted.count } }

    /// How many transactions were committed: fewer than operations when commits were grouped.
    let committedTransactions = Atomic<Int>(0)

    /// What was still open on the connection when it closed (0 and false when clean).
    let leftOpenAtClose = Mutex<(statements: Int, transaction: Bool)?>(nil)

    /// Refuses new operations, lets submitted ones finish, then closes the connection.
    func close() {
        let isCommitting = pending.withLock { pending -> Bool in
            pending.isClosed = true
            return pending.isCommitting
        }
        // Whoever is committing hands waiting work to the queue; the queue then finishes it.
        if isCommitting {
            while pending.withLock({ $0.isCommitting }) { queue.sync {} }
        }
        queue.sync {
            if leftOpenAtClose.withLock({ $0 }) == nil {
                let state = (statements: connection.busyStatementCount, transaction: !connection.isAutocommit)
                leftOpenAtClose.withLock { $0 = state }
            }
            connection.close()
        }
    }

    /// Ends an inline commit: hands anything that arrived meanwhile to the queue.
    private func finishCommitting() {
        let handOff = pending.withLock { pending -> Bool in
            if pending.submitted.isEmpty {
                pending.isCommitting = false
                return false
            }
            return true
        }
        if handOff { queue.async { self.drain() } }
    }

    // MARK: Committing

    /// On the queue: commits everything waiting, group by group.
    private func drain() {
        while true {
            let group = pending.withLock { pending -> [Submitted] in
                guard !pending.submitted.isEmpty else {
                    pending.isCommitting = false
                    return []
                }
                var events = 0
                var count = 0
                for item in pending.submitted {
                    events += item.operation.eventCount
                    count += 1
                    if events >= Self.eventsPerTransaction { break }
                }
                let group = Array(pending.submitted.prefix(count))
                pending.submitted.removeFirst(count)
                return group
            }
            if group.isEmpty { return }
            let results = commitGroup(group.map(\.operation))
            for (item, result) in zip(group, results) {
                item.continuation.resume(with: result)
            }
        }
    }

    /// Commits operations in one transaction, each in its own savepoint when there are several.
    private func commitGroup(_ operations: [Operation]) -> [Result<Outcome, any Error>] {
        var results: [Result<Outcome, any Error>] = []
        results.reserveCapacity(operations.count)
        var published: Int64?
        var committed: [EventEnvelope] = []
        do {
            try connection.statement("BEGIN IMMEDIATE").execute()
            writeLock.set(true)
            defer { writeLock.set(false) }
            let transaction = WriteTransaction(
                connection: connection,
                projector: projector,
                clock: clock,
                head: try currentHead(),
                committedVersions: streamVersions,
                owner: owner,
                collectsEnvelopes: feed.isObserved
            )
            let startSequence = transaction.head.sequence
            let isolated = operations.count > 1
            var isOpen = true
            for operation in operations {
                if isolated { try connection.statement("SAVEPOINT operation").execute() }
                let snapshot = transaction.snapshot()
                do {
                    let outcome = try run(operation, in: transaction)
                    if isolated { try connection.statement("RELEASE operation").execute() }
                    results.append(.success(outcome))
                } catch {
                    transaction.restore(snapshot)
                    // A rollback can take the schema version back to a number the search state was
                    // read at; read it again.
                    projector.forgetSearchState()
                    if isolated {
                        try connection.statement("ROLLBACK TO operation").execute()
                        try connection.statement("RELEASE operation").execute()
                    } else {
                        connection.rollback()
                        isOpen = false
                    }
                    results.append(.failure(Self.storeError(error, path: path)))
                }
            }
            if isOpen {
                try connection.statement("COMMIT").execute()
                committedTransactions.add(1, ordering: .relaxed)
                head = transaction.head
                for (stream, version) in transaction.versions { streamVersions[stream] = version }
                if streamVersions.count > 50_000 { streamVersions.removeAll(keepingCapacity: true) }
                if transaction.head.sequence != startSequence { published = transaction.head.sequence }
                if let appended = transaction.appended { committed = appended }
            }
        } catch {
            // BEGIN, a savepoint or COMMIT failed: nothing of the group is committed.
            connection.rollback()
            invalidateCaches()
            let failure = Self.storeError(error, path: path)
            results = operations.map { _ in .failure(failure) }
        }
        feed.deliver(committed)
        if let published { signal.publish(SequenceNumber(published)) }
        return results
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
        projector.forgetSearchState()
    }

    static func loadHead(_ connection: Connection) throws(SQLiteError) -> ChainHead {
        let statement = try connection.statement(
            "SELECT sequence, hash, recorded_at FROM events ORDER BY sequence DESC LIMIT 1"
        )
        defer { statement.reset() }
        let version2From = try connection.scalar("SELECT first_sequence FROM chain_versions WHERE version = 2")?
            .integerValue
        guard try statement.step() else {
            return ChainHead(sequence: 0, hash: .genesis, recordedAt: 0, version2From: version2From)
        }
        return ChainHead(
            sequence: statement.int64(at: 0),
            hash: EventHash(bytes: statement.bytes(at: 1)) ?? .genesis,
            recordedAt: statement.int64(at: 2),
            version2From: version2From
        )
    }

    static func storeError(_ error: any Error, path: String) -> any Error {
        switch error {
        case let error as StoreError: error
        case let error as SQLiteError: StoreError.from(error, path: path, doing: "writing")
        default: error
        }
    }
}
