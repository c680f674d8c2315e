internal import ASMCore
internal import ASMStore
internal import NIOCore
internal import PostgresNIO
internal import Synchronization

/// One answer awaited by one appender.
final class AppendSlot: Sendable {
    private let state = Mutex<
        (result: Result<AppendResult, any Error>?, waiter: CheckedContinuation<AppendResult, any Error>?)
    >(
        (nil, nil)
    )

    func resolve(_ result: Result<AppendResult, any Error>) {
        let waiter = state.withLock { state in
            guard state.result == nil else { return CheckedContinuation<AppendResult, any Error>?.none }
            state.result = result
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(with: result)
    }

    func value() async throws -> AppendResult {
        try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLock { state in
                if state.result == nil { state.waiter = continuation }
                return state.result
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}

/// Extra rows an append writes that are not projections (a consumer's registration or reset).
struct SideWrite: Sendable {
    var operation: Int32
    var arguments: [String?]
}

/// The writer: concurrent appends of this process grouped into one `asm_append()` call — one
/// round trip and one commit for the group, each batch in its own subtransaction so one
/// refusal does not undo the others.
///
/// While a call is in flight, new appends queue; the call's caller then sends everything that
/// queued as the next call. A connection that breaks is replaced and the call sent again:
/// the event ids make that safe (batches that had committed come back as retries).
actor AppendWriter {
    private struct Pending {
        var batch: PreparedAppend
        var side: [SideWrite]
        var slot: AppendSlot
    }

    private let location: PostgresLocation
    private let timeout: Duration
    private let name: String
    private let clock: any WallClock
    private let owner: ProcessOwner?
    private let signal: CommitSignal
    let feed = CommitFeed()
    private var link: Link?
    private var pending: [Pending] = []
    private var running = false
    private var closed = false

    init(
        location: PostgresLocation,
        timeout: Duration,
        name: String,
        clock: any WallClock,
        owner: ProcessOwner?,
        signal: CommitSignal
    ) {
        self.location = location
        self.timeout = timeout
        self.name = name
        self.clock = clock
        self.owner = owner
        self.signal = signal
    }

    func append(_ batch: PreparedAppend, side: [SideWrite] = []) async throws -> AppendResult {
        guard !closed else { throw StoreError(.closed, "the store is closed", stream: batch.stream) }
        let slot = AppendSlot()
        pending.append(Pending(batch: batch, side: side, slot: slot))
        if !running {
            running = true
            while !pending.isEmpty {
                let group = pending
                pending = []
                await commit(group)
            }
            running = false
        }
        return try await slot.value()
    }

    func close() {
        closed = true
        link?.close()
        link = nil
    }

    private func connected() async throws(StoreError) -> Link {
        if let link, !link.isClosed { return link }
        let fresh = try await Link.connect(location, timeout: timeout, name: name)
        link = fresh
        return fresh
    }

    private func commit(_ group: [Pending]) async {
        let call = Self.call(group, now: clock.now().microseconds, owner: owner)
        var rows: [PostgresRow] = []
        var retried = false
        do {
            do {
                rows = try await connected().query(call.sql, call.binds, doing: "appending")
            } catch let error where error.code == .unavailable {
                // The call may or may not have committed: send it again on a new connection.
                link?.close()
                link = nil
                retried = true
                rows = try await connected().query(call.sql, call.binds, doing: "appending")
            }
        } catch {
            for entry in group { entry.slot.resolve(.failure(Self.withStream(error, entry.batch.stream))) }
            return
        }
        guard rows.count == group.count else {
            let error = StoreError(
                .database,
                "appending: the server answered \(rows.count) results for \(group.count) batches"
            )
            for entry in group { entry.slot.resolve(.failure(error)) }
            return
        }
        var committed: [EventEnvelope] = []
        var head: Int64 = 0
        var results: [Result<AppendResult, any Error>] = []
        for (entry, row) in zip(group, rows) {
            let result = Self.result(Columns(row), row: row, batch: entry.batch)
            results.append(result)
            if case .success(let appended) = result, !appended.wasAlreadyCommitted || retried {
                head = max(head, appended.lastSequence.rawValue)
                if feed.isObserved {
                    committed += Self.envelopes(entry.batch, appended, hashes: Self.hashes(row))
                }
            }
        }
        if !committed.isEmpty { feed.deliver(committed.sorted { $0.sequence < $1.sequence }) }
        if head > 0 { signal.publish(SequenceNumber(head)) }
        for (entry, result) in zip(group, results) { entry.slot.resolve(result) }
    }

    private static func withStream(_ error: any Error, _ stream: StreamID) -> any Error {
        guard var error = error as? StoreError else { return error }
        if error.stream == nil { error.stream = stream }
        return error
    }

    // MARK: The call

    private static func call(
        _ group: [Pending],
        now: Int64,
        owner: ProcessOwner?
    ) -> (sql: String, binds: PostgresBindings) {
        var streams: [String] = []
        var kinds: [Int32] = []
        var versions: [Int64] = []
        var types: [String] = []
        var counts: [Int32] = []
        var breakers: [String] = []
        var approvals: [String] = []
        var ids: [String] = []
        var runs: [String] = []
        var eventTypes: [String] = []
        var schemas: [Int32] = []
        var payloads: [String] = []
        var writeEvents: [Int32] = []
        var writeOperations: [Int32] = []
        var writeArguments: [String] = []
        for entry in group {
            let batch = entry.batch
            streams.append(batch.stream.uuid.description)
            switch batch.expected {
            case .any:
                kinds.append(0)
                versions.append(0)
                types.append("")
            case .noStream:
                kinds.append(1)
                versions.append(0)
                types.append("")
            case .streamExists:
                kinds.append(2)
                versions.append(0)
                types.append("")
            case .exact(let version):
                kinds.append(version == .none ? 1 : 3)
                versions.append(version.rawValue)
                types.append("")
            case .noneSince(let version, let watched):
                kinds.append(4)
                versions.append(version.rawValue)
                var writer = JSONWriter()
                var array = writer.beginArray()
                for type in watched.sorted() {
                    writer.element(in: &array)
                    writer.string(type.rawValue)
                }
                writer.endArray(array)
                types.append(String(decoding: writer.bytes, as: UTF8.self))
            }
            counts.append(Int32(batch.events.count))
            var breakerLines: [String] = []
            var approvalLines: [String] = []
            for event in batch.events {
                switch event.event {
                case .providerHealthChanged(let change):
                    if let since = change.stateSequence { breakerLines.append("\(change.provider)\t\(since.rawValue)") }
                case .toolApprovalResolved(let resolved):
                    approvalLines.append(resolved.approvalID)
                default: break
                }
            }
            breakers.append(breakerLines.joined(separator: "\n"))
            approvals.append(approvalLines.joined(separator: "\n"))
            for (index, event) in batch.events.enumerated() {
                let position = Int32(ids.count)
                ids.append(event.id.description)
                runs.append(event.run?.description ?? "")
                eventTypes.append(event.type.rawValue)
                schemas.append(Int32(event.schemaVersion))
                payloads.append(String(decoding: event.payload, as: UTF8.self))
                var writes = ProjectionWrite.writes(for: event.event)
                if index == batch.events.count - 1 {
                    writes += entry.side.map { ProjectionWrite(operation: $0.operation, arguments: $0.arguments) }
                }
                for write in writes {
                    writeEvents.append(position)
                    writeOperations.append(write.operation)
                    writeArguments.append(write.argumentsJSON)
                }
            }
        }
        var binds = PostgresBindings(capacity: 20)
        binds.append(streams)
        binds.append(kinds)
        binds.append(versions)
        binds.append(types)
        binds.append(counts)
        binds.append(breakers)
        binds.append(approvals)
        binds.append(ids)
        binds.append(runs)
        binds.append(eventTypes)
        binds.append(schemas)
        binds.append(payloads)
        binds.append(writeEvents)
        binds.append(writeOperations)
        binds.append(writeArguments)
        binds.append(now)
        binds.add(owner?.host)
        binds.add(owner?.bootID)
        if let owner {
            binds.append(owner.pid)
            binds.append(Int64(bitPattern: owner.startTime))
        } else {
            binds.appendNull()
            binds.appendNull()
        }
        let sql = """
            SELECT r_code, r_message, r_first_sequence, r_first_version, r_recorded_at, r_already, r_hashes
            FROM asm_append($1::uuid[], $2::integer[], $3::bigint[], $4::text[], $5::integer[], $6::text[], $7::text[],
                            $8::uuid[], $9::text[], $10::text[], $11::integer[], $12::text[],
                            $13::integer[], $14::integer[], $15::text[], $16::bigint, $17::text, $18::text,
                            $19::integer, $20::bigint)
            """
        return (sql, binds)
    }

    private static func hashes(_ row: PostgresRow) -> [EventHash] {
        let buffers = (try? row.makeRandomAccess()[6].decode([ByteBuffer].self)) ?? []
        return buffers.map { buffer in buffer.withUnsafeReadableBytes { EventHash(bytes: $0) } ?? .genesis }
    }

    private static func result(
        _ row: Columns,
        row raw: PostgresRow,
        batch: PreparedAppend
    ) -> Result<AppendResult, any Error> {
        let code = row.text(0)
        let message = row.text(1)
        let stream = batch.stream
        switch code {
        case "ok":
            let first = row.int64(2)
            let count = Int64(batch.events.count)
            return .success(
                AppendResult(
                    stream: stream,
                    firstSequence: SequenceNumber(first),
                    lastSequence: SequenceNumber(first + count - 1),
                    firstVersion: StreamVersion(row.int64(3)),
                    lastVersion: StreamVersion(row.int64(3) + count - 1),
                    recordedAt: Timestamp(microseconds: row.int64(4)),
                    wasAlreadyCommitted: row.bool(5)
                )
            )
        case "version":
            return .failure(
                StoreError(
                    .versionConflict,
                    "stream \(stream) is at version \(message), the append expected \(batch.expected)",
                    stream: stream
                )
            )
        case "since":
            return .failure(
                StoreError(
                    .versionConflict,
                    "stream \(stream) had \(message) appended after version \(Self.sinceVersion(batch.expected)), "
                        + "the append expected \(batch.expected)",
                    stream: stream
                )
            )
        case "retry":
            return .failure(
                StoreError(
                    .idempotencyConflict,
                    "event \(Self.firstID(batch)) of a retried batch does not match what was recorded",
                    stream: stream
                )
            )
        case "idempotency":
            let id = Self.uuid(in: message).map { EventID(uuid: $0).description } ?? "of this batch"
            return .failure(
                StoreError(
                    .idempotencyConflict,
                    "event \(id) is already recorded, but not as part of this batch",
                    stream: stream
                )
            )
        case "breaker":
            let lines = message.split(separator: "\n", omittingEmptySubsequences: false)
            let fields = (lines.first ?? "").split(separator: "\t")
            let provider = fields.first.map(String.init) ?? "?"
            let since = fields.count > 1 ? String(fields[1]) : "?"
            let at = lines.count > 1 ? String(lines[1]) : "?"
            return .failure(
                StoreError(
                    .staleBreakerChange,
                    "the breaker of \(provider) changed at sequence \(at), after the state (sequence \(since)) its change was derived from",
                    stream: stream
                )
            )
        case "resolved":
            let lines = message.split(separator: "\n", omittingEmptySubsequences: false)
            let approval = lines.first.map(String.init) ?? "?"
            let detail = lines.count > 1 ? lines[1].split(separator: "\t").map(String.init) : []
            let status = detail.first ?? "resolved"
            let by = detail.count > 1 ? " by \(detail[1])" : ""
            return .failure(
                StoreError(
                    .alreadyResolved,
                    "approval \(approval) is \(status == "closed" ? "closed with its run" : "already \(status)\(by)")",
                    stream: stream
                )
            )
        default:
            return .failure(StoreError(.database, "appending: unexpected answer \(code)", stream: stream))
        }
    }

    private static func sinceVersion(_ expected: ExpectedVersion) -> String {
        if case .noneSince(let version, _) = expected { return "\(version)" }
        return "?"
    }

    private static func firstID(_ batch: PreparedAppend) -> String {
        batch.events.first.map { EventID(uuid: $0.id).description } ?? "?"
    }

    /// The first UUID in `text` (PostgreSQL's "Key (event_id)=(…) already exists.").
    private static func uuid(in text: String) -> UUIDValue? {
        let characters = Array(text)
        guard characters.count >= 36 else { return nil }
        for start in 0...(characters.count - 36) {
            if let value = UUIDValue(String(characters[start..<start + 36])) { return value }
        }
        return nil
    }

    private static func envelopes(
        _ batch: PreparedAppend,
        _ result: AppendResult,
        hashes: [EventHash]
    ) -> [EventEnvelope] {
        batch.events.enumerated().map { offset, event in
            EventEnvelope(
                sequence: SequenceNumber(result.firstSequence.rawValue + Int64(offset)),
                id: EventID(uuid: event.id),
                stream: batch.stream,
                streamVersion: StreamVersion(result.firstVersion.rawValue + Int64(offset)),
                runID: event.run.map { RunID(uuid: $0) },
                recordedAt: result.recordedAt,
                event: event.event,
                hash: offset < hashes.count ? hashes[offset] : .genesis
            )
        }
    }
}
