package import ASMCore
internal import Crypto

/// The head of the hash chain as committed.
struct ChainHead: Equatable {
    var sequence: Int64
    var hash: EventHash
    var recordedAt: Int64
    /// The first sequence linked under chain version 2 (payload digests); `nil` until the
    /// log has moved to it.
    var version2From: Int64?

    static let empty = ChainHead(sequence: 0, hash: .genesis, recordedAt: 0)
}

/// One write transaction of the writer, shared by every operation in a group commit.
///
/// It holds the tentative chain head and stream versions; the writer adopts them as its
/// caches only after COMMIT succeeds.
package final class WriteTransaction {
    let connection: Connection
    let projector: Projector
    private let clock: any WallClock
    /// The process recorded as holding the runs this transaction requests or starts.
    private let owner: ProcessOwner?
    private(set) var head: ChainHead
    private(set) var versions: [UUIDValue: Int64] = [:]
    private let committedVersions: [UUIDValue: Int64]
    private var hashInput: [UInt8] = []
    /// When set, the events appended, as readers will see them (for the commit feed).
    private(set) var appended: [EventEnvelope]?

    init(
        connection: Connection,
        projector: Projector,
        clock: any WallClock,
        head: ChainHead,
        committedVersions: [UUIDValue: Int64],
        owner: ProcessOwner? = nil,
        collectsEnvelopes: Bool = false
    ) {
        if collectsEnvelopes { appended = [] }
        self.owner = owner
        self.connection = connection
        self.projector = projector
        self.clock = clock
        self.head = head
        self.committedVersions = committedVersions
        hashInput.reserveCapacity(1024)
    }

    /// What an operation may have changed, to restore when it is rolled back to its savepoint.
    struct Snapshot {
        fileprivate var head: ChainHead
        fileprivate var versions: [UUIDValue: Int64]
        fileprivate var appendedCount: Int
    }

    func snapshot() -> Snapshot { Snapshot(head: head, versions: versions, appendedCount: appended?.count ?? 0) }

    func restore(_ snapshot: Snapshot) {
        head = snapshot.head
        versions = snapshot.versions
        if let count = appended?.count, count > snapshot.appendedCount {
            appended?.removeLast(count - snapshot.appendedCount)
        }
    }

    // MARK: Appending

    /// Appends a prepared batch: idempotency check, expected version, chain, insert, projections.
    func append(_ batch: PreparedAppend) throws -> AppendResult {
        do {
            if let existing = try lookup(batch.events[0].id) {
                return try alreadyCommitted(batch, first: existing)
            }
            let stream = batch.stream.uuid
            let current = try version(of: stream)
            guard batch.expected.isSatisfied(by: StreamVersion(current)) else {
                throw StoreError(
                    .versionConflict,
                    "stream \(batch.stream) is at version \(current), the append expected \(batch.expected)",
                    stream: batch.stream
                )
            }
            if case .noneSince(let since, let types) = batch.expected, current > since.rawValue,
                let type = try firstType(types, in: stream, after: since.rawValue)
            {
                throw StoreError(
                    .versionConflict,
                    "stream \(batch.stream) had \(type) appended after version \(since), the append expected \(batch.expected)",
                    stream: batch.stream
                )
            }
            try refuseStaleBreakerChanges(batch)
            try upgradeChainIfNeeded()
            let recordedAt = max(clock.now().microseconds, head.recordedAt)
            let insert = try connection.statement(
                """
                INSERT INTO events (sequence, event_id, stream_id, stream_version, run_id, type, schema_version,
                                    payload, recorded_at, hash)
                VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                """
            )
            var sequence = head.sequence
            var version = current
            var hash = head.hash
            for event in batch.events {
                if case .toolApprovalResolved(let resolved) = event.event {
                    try refuseUnlessPending(resolved, stream: batch.stream)
                }
                sequence += 1
                version += 1
                hash = chainHash(
                    previous: hash,
                    sequence: sequence,
                    event: event,
                    stream: stream,
                    version: version,
                    recordedAt: recordedAt
                )
                insert.bind(sequence, at: 1)
                insert.bind(event.id, at: 2)
                insert.bind(stream, at: 3)
                insert.bind(version, at: 4)
                insert.bind(event.run, at: 5)
                insert.bind(event.type.rawValue, at: 6)
                insert.bind(Int64(event.schemaVersion), at: 7)
                event.payload.withUnsafeBytes { insert.bind(text: $0, at: 8) }
                insert.bind(recordedAt, at: 9)
                hash.withBytes { insert.bind(blob: $0, at: 10) }
                do {
                    try insert.execute()
                } catch {
                    guard error.isUniqueConstraint else { throw error }
                    throw StoreError(
                        .idempotencyConflict,
                        "event \(EventID(uuid: event.id)) is already recorded, but not as part of this batch",
                        underlying: error,
                        stream: batch.stream
                    )
                }
                try projector.apply(
                    event.event,
                    Projector.Header(
                        sequence: sequence,
                        stream: stream,
                        version: version,
                        run: event.run,
                        recordedAt: recordedAt
                    )
                )
                if let owner, let run = event.run {
                    try RunLeases.apply(event.event, run: run, session: stream, owner: owner, connection: connection)
                }
                appended?.append(
                    EventEnvelope(
                        sequence: SequenceNumber(sequence),
                        id: EventID(uuid: event.id),
                        stream: batch.stream,
                        streamVersion: StreamVersion(version),
                        runID: event.run.map { RunID(uuid: $0) },
                        recordedAt: Timestamp(microseconds: recordedAt),
                        event: event.event,
                        hash: hash
                    )
                )
            }
            let first = head.sequence + 1
            try projector.indexSearch(from: first, through: sequence)
            head = ChainHead(sequence: sequence, hash: hash, recordedAt: recordedAt, version2From: head.version2From)
            versions[stream] = version
            return AppendResult(
                stream: batch.stream,
                firstSequence: SequenceNumber(first),
                lastSequence: SequenceNumber(sequence),
                firstVersion: StreamVersion(current + 1),
                lastVersion: StreamVersion(version),
                recordedAt: Timestamp(microseconds: recordedAt),
                wasAlreadyCommitted: false
            )
        } catch let error as StoreError {
            throw error
        } catch let error as SQLiteError {
            throw StoreError.from(error, path: connection.path, doing: "appending to \(batch.stream)")
        } catch {
            throw StoreError(.sqlite, "appending: \(error)", underlying: error, stream: batch.stream)
        }
    }

    /// Appends events exactly as another store recorded them (a copied log): they must continue
    /// this log's sequence; an empty log first takes the source's chain versions. Projections are
    /// not applied (the copy rebuilds them once at the end).
    func importRecorded(_ events: [RecordedEvent], chainVersions: [VerificationReport.ChainVersion]) throws {
        guard let first = events.first else { return }
        guard first.sequence.rawValue == head.sequence + 1 else {
            throw StoreError(
                .invalidArgument,
                "the copy continues at sequence \(first.sequence), the log ends at \(head.sequence)"
            )
        }
        do {
            try insertImported(events, chainVersions: chainVersions)
            // Not projected: stale until the copy's closing rebuild, so that a copy cut short
            // is rebuilt by the next writer that opens the file.
            try projector.setCheckpoints(0)
        } catch {
            throw StoreError.from(error, path: connection.path, doing: "copying events in")
        }
        if let last = events.last {
            head = ChainHead(
                sequence: last.sequence.rawValue,
                hash: last.hash,
                recordedAt: last.recordedAt.microseconds,
                version2From: head.version2From
            )
        }
    }

    private func insertImported(
        _ events: [RecordedEvent],
        chainVersions: [VerificationReport.ChainVersion]
    ) throws(SQLiteError) {
        if head.sequence == 0, head.version2From == nil,
            let version2 = chainVersions.first(where: { $0.version == 2 })
        {
            try connection.execute(
                "INSERT INTO chain_versions (version, first_sequence) VALUES (2, ?)",
                [.integer(version2.firstSequence.rawValue)]
            )
            head.version2From = version2.firstSequence.rawValue
        }
        let insert = try connection.statement(
            """
            INSERT INTO events (sequence, event_id, stream_id, stream_version, run_id, type, schema_version,
                                payload, recorded_at, hash)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
            """
        )
        for event in events {
            insert.bind(event.sequence.rawValue, at: 1)
            insert.bind(event.id.uuid, at: 2)
            insert.bind(event.stream.uuid, at: 3)
            insert.bind(event.streamVersion.rawValue, at: 4)
            insert.bind(event.runID?.uuid, at: 5)
            insert.bind(event.type.rawValue, at: 6)
            insert.bind(Int64(event.schemaVersion), at: 7)
            event.payload.withUnsafeBytes { insert.bind(text: $0, at: 8) }
            insert.bind(event.recordedAt.microseconds, at: 9)
            event.hash.withBytes { insert.bind(blob: $0, at: 10) }
            try insert.execute()
            versions[event.stream.uuid] = event.streamVersion.rawValue
        }
    }

    /// The first resolution of a requested approval wins: checked here, in the append's
    /// transaction, so two processes racing to answer one approval record one answer.
    private func refuseUnlessPending(_ resolved: ToolApprovalResolved, stream: StreamID) throws {
        let statement = try connection.statement(
            "SELECT status, resolved_by FROM approvals WHERE approval_id = ?1"
        )
        defer { statement.reset() }
        statement.bind(resolved.approvalID, at: 1)
        // An approval the log never asked for is not the writer's to judge (callers check).
        guard try statement.step() else { return }
        let status = statement.text(at: 0)
        guard status == "pending" else {
            let by = statement.optionalText(at: 1).map { " by \($0)" } ?? ""
            throw StoreError(
                .alreadyResolved,
                "approval \(resolved.approvalID) is \(status == "closed" ? "closed with its run" : "already \(status)\(by)")",
                stream: stream
            )
        }
    }

    /// Two processes that fold the router's state at the same moment derive the same breaker
    /// change (both see the third failure): the change is appended only if no change of that
    /// provider's breaker was appended after the state it was derived from, so the log holds
    /// one transition, not two.
    private func refuseStaleBreakerChanges(_ batch: PreparedAppend) throws {
        for event in batch.events {
            guard case .providerHealthChanged(let change) = event.event, let since = change.stateSequence else {
                continue
            }
            let statement = try connection.statement(
                """
                SELECT sequence FROM events
                WHERE sequence > ?1 AND type = 'provider.health_changed' AND json_extract(payload, '$.provider') = ?2
                LIMIT 1
                """
            )
            defer { statement.reset() }
            statement.bind(since.rawValue, at: 1)
            statement.bind(change.provider, at: 2)
            if try statement.step() {
                throw StoreError(
                    .staleBreakerChange,
                    "the breaker of \(change.provider) changed at sequence \(statement.int64(at: 0)), after the state "
                        + "(sequence \(since.rawValue)) its change \(change.previous) → \(change.current) was derived from",
                    stream: batch.stream
                )
            }
        }
    }

    /// Moves the log to chain version 2 before its first append by this build: a new log
    /// from its first event, an older one with a `log.chain_upgraded` event (linked under
    /// version 1, the last to be).
    private func upgradeChainIfNeeded() throws {
        guard head.version2From == nil else { return }
        let first = head.sequence == 0 ? 1 : head.sequence + 2
        try connection.execute(
            "INSERT INTO chain_versions (version, first_sequence) VALUES (2, ?)",
            [.integer(first)]
        )
        head.version2From = first
        if head.sequence > 0 {
            _ = try append(
                PreparedAppend(
                    [NewEvent(ChainUpgraded(fromVersion: 1, toVersion: 2))],
                    stream: .log,
                    expected: .any,
                    maximumEventBytes: 1 << 20
                )
            )
        }
    }

    /// The first event after `version` in `stream` whose type is one of `types`.
    private func firstType(
        _ types: Set<EventType>,
        in stream: UUIDValue,
        after version: Int64
    ) throws(SQLiteError) -> String? {
        let statement = try connection.statement(
            "SELECT type FROM events WHERE stream_id = ?1 AND stream_version > ?2 AND type IN (SELECT value FROM json_each(?3)) ORDER BY stream_version LIMIT 1"
        )
        defer { statement.reset() }
        statement.bind(stream, at: 1)
        statement.bind(version, at: 2)
        var writer = JSONWriter()
        var mark = writer.beginArray()
        for type in types.sorted() {
            writer.element(in: &mark)
            writer.string(type.rawValue)
        }
        writer.endArray(mark)
        writer.bytes.withUnsafeBytes { statement.bind(text: $0, at: 3) }
        guard try statement.step() else { return nil }
        return statement.text(at: 0)
    }

    private func chainHash(
        previous: EventHash,
        sequence: Int64,
        event: PreparedEvent,
        stream: UUIDValue,
        version: Int64,
        recordedAt: Int64
    ) -> EventHash {
        hashInput.removeAll(keepingCapacity: true)
        var type = event.type.rawValue
        // Chain version 2 links the payload's digest instead of its bytes.
        let digest = head.version2From.map { sequence >= $0 } == true ? Self.sha256(event.payload) : nil
        type.withUTF8 { typeBytes in
            event.payload.withUnsafeBytes { payload in
                HashChainInput.append(
                    previous: previous,
                    sequence: SequenceNumber(sequence),
                    id: event.id,
                    stream: stream,
                    streamVersion: StreamVersion(version),
                    run: event.run,
                    type: UnsafeRawBufferPointer(typeBytes),
                    schemaVersion: event.schemaVersion,
                    recordedAt: Timestamp(microseconds: recordedAt),
                    payload: payload,
                    payloadDigest: digest,
                    to: &hashInput
                )
            }
        }
        return Self.sha256(hashInput)
    }

    package static func sha256(_ bytes: [UInt8]) -> EventHash {
        bytes.withUnsafeBytes { sha256($0) }
    }

    static func sha256(_ bytes: UnsafeRawBufferPointer) -> EventHash {
        var hasher = SHA256()
        hasher.update(bufferPointer: bytes)
        let digest = hasher.finalize()
        return digest.withUnsafeBytes { EventHash(bytes: $0) } ?? .genesis
    }

    /// The stream's version in this transaction.
    func version(of stream: UUIDValue) throws(SQLiteError) -> Int64 {
        if let version = versions[stream] ?? committedVersions[stream] { return version }
        let statement = try connection.statement("SELECT max(stream_version) FROM events WHERE stream_id = ?1")
        statement.bind(stream, at: 1)
        defer { statement.reset() }
        _ = try statement.step()
        let version = statement.optionalInt64(at: 0) ?? 0
        versions[stream] = version
        return version
    }

    // MARK: Idempotency

    private struct StoredPosition {
        var sequence: Int64
        var stream: UUIDValue
        var version: Int64
        var recordedAt: Int64
        var type: String
        var payload: [UInt8]
    }

    private func lookup(_ id: UUIDValue) throws(SQLiteError) -> StoredPosition? {
        let statement = try connection.statement(
            """
            SELECT sequence, stream_id, stream_version, recorded_at, type, payload FROM events WHERE event_id = ?1
            """
        )
        statement.bind(id, at: 1)
        defer { statement.reset() }
        guard try statement.step() else { return nil }
        return StoredPosition(
            sequence: statement.int64(at: 0),
            stream: statement.uuid(at: 1) ?? .zero,
            version: statement.int64(at: 2),
            recordedAt: statement.int64(at: 3),
            type: statement.text(at: 4),
            payload: Array(statement.bytes(at: 5))
        )
    }

    /// A retried batch: every event must already be recorded, in order, unchanged.
    private func alreadyCommitted(_ batch: PreparedAppend, first: StoredPosition) throws -> AppendResult {
        for (offset, event) in batch.events.enumerated() {
            let stored = offset == 0 ? first : try lookup(event.id)
            guard let stored, stored.stream == batch.stream.uuid, stored.sequence == first.sequence + Int64(offset),
                stored.version == first.version + Int64(offset), stored.type == event.type.rawValue,
                stored.payload == event.payload
            else {
                throw StoreError(
                    .idempotencyConflict,
                    "event \(EventID(uuid: event.id)) of a retried batch does not match what was recorded",
                    stream: batch.stream,
                    sequence: SequenceNumber(first.sequence)
                )
            }
        }
        let last = batch.events.count - 1
        return AppendResult(
            stream: batch.stream,
            firstSequence: SequenceNumber(first.sequence),
            lastSequence: SequenceNumber(first.sequence + Int64(last)),
            firstVersion: StreamVersion(first.version),
            lastVersion: StreamVersion(first.version + Int64(last)),
            recordedAt: Timestamp(microseconds: first.recordedAt),
            wasAlreadyCommitted: true
        )
    }
}

@available(*, unavailable, message: "a write transaction lives on the writer's queue")
extension WriteTransaction: Sendable {}
