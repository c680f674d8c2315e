public import ASMCore

/// The SQLite store's reads on one reader connection. Inside a read transaction (as
/// ``SQLiteEventStore/read(_:)`` opens) every call sees the same snapshot of the file.
struct SQLiteSnapshot: LogSnapshot {
    let connection: Connection

    func lastSequence() throws -> SequenceNumber {
        SequenceNumber(try connection.scalar("SELECT coalesce(max(sequence), 0) FROM events")?.integerValue ?? 0)
    }

    func streamVersion(of stream: StreamID) throws -> StreamVersion {
        let value = try connection.scalar(
            "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = ?",
            [.blob(stream.uuid.bytes)]
        )
        return StreamVersion(value?.integerValue ?? 0)
    }

    func events(from sequence: SequenceNumber, limit: Int, filter: EventFilter) throws -> EventPage {
        try Self.validate(limit: limit)
        let codec = EventCodec()
        let page = try EventRows.page(
            connection,
            from: sequence,
            limit: limit,
            filter: filter,
            row: { EventRows.envelope($0, codec: codec) },
            sequence: \.sequence
        )
        return EventPage(events: page.rows, scannedThrough: page.scannedThrough)
    }

    func recordedEvents(from sequence: SequenceNumber, limit: Int, filter: EventFilter) throws -> RecordedPage {
        try Self.validate(limit: limit)
        let page = try EventRows.page(
            connection,
            from: sequence,
            limit: limit,
            filter: filter,
            row: EventRows.recorded,
            sequence: \.sequence
        )
        return RecordedPage(events: page.rows, scannedThrough: page.scannedThrough)
    }

    func stream(_ stream: StreamID, fromVersion version: StreamVersion, limit: Int) throws -> [EventEnvelope] {
        try Self.validate(limit: limit)
        let statement = try connection.statement(
            """
            SELECT \(EventRows.columns) FROM events WHERE stream_id = ?1 AND stream_version >= ?2
            ORDER BY stream_version LIMIT ?3
            """
        )
        defer { statement.reset() }
        statement.bind(stream.uuid, at: 1)
        statement.bind(version.rawValue, at: 2)
        statement.bind(Int64(limit), at: 3)
        let codec = EventCodec()
        var result: [EventEnvelope] = []
        result.reserveCapacity(min(limit, 1024))
        while try statement.step() { result.append(EventRows.envelope(statement, codec: codec)) }
        return result
    }

    func session(_ id: SessionID) throws -> SessionSummary? { try ProjectionQueries.session(connection, id: id) }

    func sessions(status: SessionStatus?, limit: Int) throws -> [SessionSummary] {
        try Self.validate(limit: limit)
        return try ProjectionQueries.sessions(connection, status: status, limit: limit)
    }

    func sessions(status: SessionStatus?, startedBefore: SequenceNumber?, limit: Int) throws -> [SessionSummary] {
        try Self.validate(limit: limit)
        return try ProjectionQueries.sessions(connection, status: status, startedBefore: startedBefore, limit: limit)
    }

    func run(_ id: RunID) throws -> RunSummary? { try ProjectionQueries.run(connection, id: id) }

    func openRuns() throws -> [OpenRun] { try ProjectionQueries.openRuns(connection) }

    func openRun(_ id: RunID) throws -> OpenRun? { try ProjectionQueries.openRuns(connection, only: id).first }

    func runs(in session: SessionID) throws -> [RunSummary] { try ProjectionQueries.runs(connection, session: session) }

    func transcript(of session: SessionID) throws -> [TranscriptEntry] {
        try ProjectionQueries.transcript(connection, session: session)
    }

    func usage(by grouping: UsageGrouping, session: SessionID?) throws -> [UsageSummary] {
        try ProjectionQueries.usage(connection, grouping: grouping, session: session)
    }

    func fork(of session: SessionID) throws -> SessionFork? {
        try ProjectionQueries.forks(connection, column: "session_id", session: session).first
    }

    func forks(from session: SessionID) throws -> [SessionFork] {
        try ProjectionQueries.forks(connection, column: "parent_session_id", session: session)
    }

    func parent(of session: SessionID) throws -> SessionParent? {
        try ProjectionQueries.parents(connection, column: "session_id", session: session).first
    }

    func children(of session: SessionID) throws -> [SessionParent] {
        try ProjectionQueries.parents(connection, column: "parent_session_id", session: session)
    }

    static func validate(limit: Int) throws(StoreError) {
        guard limit > 0 else { throw StoreError(.invalidArgument, "a read limit must be positive, not \(limit)") }
    }
}
