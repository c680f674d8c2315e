import ASMCore

/// Turning rows of the `events` table into envelopes.
enum EventRows {
    /// The columns every event query selects, in this order.
    static let columns =
        "sequence, event_id, stream_id, stream_version, run_id, type, schema_version, payload, recorded_at, hash"

    /// Decodes the current row into a typed envelope. Columns are read in place, without copies.
    static func envelope(_ statement: Statement, codec: EventCodec) -> EventEnvelope {
        let event = codec.decode(
            type: statement.bytes(at: 5),
            schemaVersion: statement.int(at: 6),
            payload: statement.bytes(at: 7)
        )
        return EventEnvelope(
            sequence: SequenceNumber(statement.int64(at: 0)),
            id: EventID(uuid: statement.uuid(at: 1) ?? .zero),
            stream: StreamID(uuid: statement.uuid(at: 2) ?? .zero),
            streamVersion: StreamVersion(statement.int64(at: 3)),
            runID: statement.uuid(at: 4).map(RunID.init(uuid:)),
            recordedAt: Timestamp(microseconds: statement.int64(at: 8)),
            event: event,
            hash: EventHash(bytes: statement.bytes(at: 9)) ?? .genesis
        )
    }

    /// Copies the current row as stored.
    static func recorded(_ statement: Statement) -> RecordedEvent {
        RecordedEvent(
            sequence: SequenceNumber(statement.int64(at: 0)),
            id: EventID(uuid: statement.uuid(at: 1) ?? .zero),
            stream: StreamID(uuid: statement.uuid(at: 2) ?? .zero),
            streamVersion: StreamVersion(statement.int64(at: 3)),
            runID: statement.uuid(at: 4).map(RunID.init(uuid:)),
            recordedAt: Timestamp(microseconds: statement.int64(at: 8)),
            type: EventType(statement.text(at: 5)),
            schemaVersion: statement.int(at: 6),
            payload: Array(statement.bytes(at: 7)),
            hash: EventHash(bytes: statement.bytes(at: 9)) ?? .genesis
        )
    }

    /// A page of events from `start` matching `filter`, and how far the read looked.
    ///
    /// Run inside a read transaction, so the page and the log's end come from one snapshot.
    static func page<Row>(
        _ connection: Connection,
        from start: SequenceNumber,
        limit: Int,
        filter: EventFilter,
        row: (Statement) -> Row,
        sequence: (Row) -> SequenceNumber
    ) throws -> (rows: [Row], scannedThrough: SequenceNumber) {
        let first = max(start.rawValue, 1)
        var stream = filter.stream?.uuid
        if let run = filter.run {
            // A run's events live in its session's stream: read through the stream index.
            let owner = try connection.scalar("SELECT session_id FROM runs WHERE run_id = ?", [.blob(run.uuid.bytes)])
            if case .blob(let bytes) = owner, let session = bytes.withUnsafeBytes({ UUIDValue(bytes: $0) }) {
                if let stream, stream != session { return ([], try end(connection, after: first - 1)) }
                stream = session
            }
        }
        var conditions = ["sequence >= ?1"]
        if stream != nil { conditions.append("stream_id = ?2") }
        if filter.run != nil { conditions.append("run_id = ?3") }
        if filter.types != nil { conditions.append("type IN (SELECT value FROM json_each(?4))") }
        let order = stream != nil ? "stream_version" : "sequence"
        let sql =
            "SELECT \(columns) FROM events WHERE \(conditions.joined(separator: " AND ")) ORDER BY \(order) LIMIT ?5"
        let statement = try connection.statement(sql)
        defer { statement.reset() }
        statement.bind(first, at: 1)
        if let stream { statement.bind(stream, at: 2) }
        if let run = filter.run { statement.bind(run.uuid, at: 3) }
        if let types = filter.types {
            var writer = JSONWriter()
            var mark = writer.beginArray()
            for type in types.sorted() {
                writer.element(in: &mark)
                writer.string(type.rawValue)
            }
            writer.endArray(mark)
            writer.bytes.withUnsafeBytes { statement.bind(text: $0, at: 4) }
        }
        statement.bind(Int64(limit), at: 5)
        var rows: [Row] = []
        rows.reserveCapacity(min(limit, 1024))
        while try statement.step() {
            rows.append(row(statement))
        }
        if rows.count == limit, let last = rows.last { return (rows, sequence(last)) }
        return (rows, try end(connection, after: first - 1))
    }

    /// The log's last sequence in this snapshot, but never before `floor`.
    private static func end(_ connection: Connection, after floor: Int64) throws -> SequenceNumber {
        let last = try connection.scalar("SELECT coalesce(max(sequence), 0) FROM events")?.integerValue ?? 0
        return SequenceNumber(max(last, floor))
    }
}
