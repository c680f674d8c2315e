internal import ASMCore
internal import ASMStore
internal import NIOCore
internal import PostgresNIO

/// A row's columns, read by position with the log's types.
struct Columns {
    let row: PostgresRandomAccessRow

    init(_ row: PostgresRow) { self.row = row.makeRandomAccess() }

    func isNull(_ index: Int) -> Bool { row[index].bytes == nil }
    func int64(_ index: Int) -> Int64 { optionalInt64(index) ?? 0 }
    func optionalInt64(_ index: Int) -> Int64? { isNull(index) ? nil : try? row[index].decode(Int64.self) }
    func int(_ index: Int) -> Int { Int(int64(index)) }
    func text(_ index: Int) -> String { optionalText(index) ?? "" }
    func optionalText(_ index: Int) -> String? {
        guard let buffer = row[index].bytes else { return nil }
        return String(buffer: buffer)
    }
    func uuid(_ index: Int) -> UUIDValue? {
        guard let buffer = row[index].bytes else { return nil }
        return buffer.withUnsafeReadableBytes { UUIDValue(bytes: $0) }
    }
    func bool(_ index: Int) -> Bool { (try? row[index].decode(Bool.self)) ?? false }
    func withBytes<R>(_ index: Int, _ body: (UnsafeRawBufferPointer) -> R) -> R {
        guard let buffer = row[index].bytes else { return body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        return buffer.withUnsafeReadableBytes(body)
    }
    func hash(_ index: Int) -> EventHash { withBytes(index) { EventHash(bytes: $0) } ?? .genesis }
}

/// Builds bind lists.
extension PostgresBindings {
    mutating func add(_ uuid: UUIDValue) { append(uuid.description) }
    mutating func add(_ uuid: UUIDValue?) {
        if let uuid { append(uuid.description) } else { appendNull() }
    }
    mutating func add(_ text: String?) {
        if let text { append(text) } else { appendNull() }
    }
    mutating func add(_ value: Int64?) {
        if let value { append(value) } else { appendNull() }
    }
}

/// The PostgreSQL store's reads on one connection. Each call is one statement (one snapshot);
/// inside ``PostgresEventStore/read(_:)``'s repeatable-read transaction every call sees the same.
struct Snapshot: LogSnapshot {
    let link: Link

    static let eventColumns =
        "sequence, event_id, stream_id, stream_version, run_id, type, schema_version, payload, recorded_at, hash"

    private func rows(
        _ sql: String,
        _ binds: PostgresBindings = PostgresBindings(),
        doing action: String
    ) throws(StoreError) -> [Columns] {
        try link.blockingQuery(sql, binds, doing: action).map(Columns.init)
    }

    func lastSequence() throws -> SequenceNumber {
        SequenceNumber(
            try rows("SELECT sequence FROM log_head WHERE id = 1", doing: "reading the log's end").first?.int64(0) ?? 0
        )
    }

    func streamVersion(of stream: StreamID) throws -> StreamVersion {
        var binds = PostgresBindings()
        binds.add(stream.uuid)
        let result = try rows(
            "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1::uuid",
            binds,
            doing: "reading a stream's version"
        )
        return StreamVersion(result.first?.int64(0) ?? 0)
    }

    static func envelope(_ row: Columns, codec: EventCodec) -> EventEnvelope {
        let event = row.withBytes(5) { type in
            row.withBytes(7) { payload in codec.decode(type: type, schemaVersion: row.int(6), payload: payload) }
        }
        return EventEnvelope(
            sequence: SequenceNumber(row.int64(0)),
            id: EventID(uuid: row.uuid(1) ?? .zero),
            stream: StreamID(uuid: row.uuid(2) ?? .zero),
            streamVersion: StreamVersion(row.int64(3)),
            runID: row.uuid(4).map(RunID.init(uuid:)),
            recordedAt: Timestamp(microseconds: row.int64(8)),
            event: event,
            hash: row.hash(9)
        )
    }

    static func recorded(_ row: Columns) -> RecordedEvent {
        RecordedEvent(
            sequence: SequenceNumber(row.int64(0)),
            id: EventID(uuid: row.uuid(1) ?? .zero),
            stream: StreamID(uuid: row.uuid(2) ?? .zero),
            streamVersion: StreamVersion(row.int64(3)),
            runID: row.uuid(4).map(RunID.init(uuid:)),
            recordedAt: Timestamp(microseconds: row.int64(8)),
            type: EventType(row.text(5)),
            schemaVersion: row.int(6),
            payload: row.withBytes(7) { Array($0) },
            hash: row.hash(9)
        )
    }

    /// A page of rows from `start` matching `filter`, and how far the read looked: one
    /// statement, so the page and the log's end come from one snapshot.
    func page(
        from start: SequenceNumber,
        limit: Int,
        filter: EventFilter
    ) throws -> (
        rows: [Columns], scannedThrough: SequenceNumber
    ) {
        try Self.validate(limit: limit)
        let first = max(start.rawValue, 1)
        var binds = PostgresBindings()
        binds.append(first)
        var conditions = ["sequence >= $1"]
        if let stream = filter.stream {
            binds.add(stream.uuid)
            conditions.append("stream_id = $\(binds.count)::uuid")
        }
        if let run = filter.run {
            binds.add(run.uuid)
            conditions.append("run_id = $\(binds.count)::uuid")
        }
        if let types = filter.types {
            binds.append(types.map(\.rawValue).sorted())
            conditions.append("type = ANY($\(binds.count)::text[])")
        }
        binds.append(Int64(limit))
        let sql = """
            SELECT * FROM (
                SELECT \(Self.eventColumns), false AS head FROM (
                    SELECT * FROM events WHERE \(conditions.joined(separator: " AND "))
                    ORDER BY sequence LIMIT $\(binds.count)) AS page
                UNION ALL
                SELECT sequence, NULL, NULL, 0, NULL, '', 0, '', 0, ''::bytea, true FROM log_head WHERE id = 1
            ) AS result ORDER BY head, sequence
            """
        var result = try rows(sql, binds, doing: "reading events")
        let end = result.popLast()?.int64(0) ?? 0
        if result.count == limit, let last = result.last { return (result, SequenceNumber(last.int64(0))) }
        return (result, SequenceNumber(max(end, first - 1)))
    }

    func events(from sequence: SequenceNumber, limit: Int, filter: EventFilter) throws -> EventPage {
        let page = try page(from: sequence, limit: limit, filter: filter)
        let codec = EventCodec()
        return EventPage(events: page.rows.map { Self.envelope($0, codec: codec) }, scannedThrough: page.scannedThrough)
    }

    func recordedEvents(from sequence: SequenceNumber, limit: Int, filter: EventFilter) throws -> RecordedPage {
        let page = try page(from: sequence, limit: limit, filter: filter)
        return RecordedPage(events: page.rows.map(Self.recorded), scannedThrough: page.scannedThrough)
    }

    func stream(_ stream: StreamID, fromVersion version: StreamVersion, limit: Int) throws -> [EventEnvelope] {
        try Self.validate(limit: limit)
        var binds = PostgresBindings()
        binds.add(stream.uuid)
        binds.append(version.rawValue)
        binds.append(Int64(limit))
        let codec = EventCodec()
        return try rows(
            """
            SELECT \(Self.eventColumns) FROM events WHERE stream_id = $1::uuid AND stream_version >= $2
            ORDER BY stream_version LIMIT $3
            """,
            binds,
            doing: "reading a stream"
        ).map { Self.envelope($0, codec: codec) }
    }

    // MARK: Sessions

    private static let sessionSelect = """
        SELECT s.session_id, s.agent_id, s.status, s.metadata, s.tags, s.created_at, last.recorded_at,
               s.first_sequence, last.sequence, last.stream_version, s.run_count, s.failure_reason
        FROM sessions AS s
        CROSS JOIN LATERAL (
            SELECT sequence, stream_version, recorded_at FROM events WHERE stream_id = s.session_id
            ORDER BY stream_version DESC LIMIT 1) AS last
        """

    private static func session(_ row: Columns) -> SessionSummary {
        let metadata = row.withBytes(3) { (try? [String: String].decode(json: $0)) ?? [:] }
        let tags = row.withBytes(4) { (try? [String].decode(json: $0)) ?? [] }
        return SessionSummary(
            id: SessionID(uuid: row.uuid(0) ?? .zero),
            agentID: row.text(1),
            status: SessionStatus(rawValue: row.text(2)),
            metadata: metadata,
            tags: tags,
            createdAt: Timestamp(microseconds: row.int64(5)),
            updatedAt: Timestamp(microseconds: row.int64(6)),
            firstSequence: SequenceNumber(row.int64(7)),
            lastSequence: SequenceNumber(row.int64(8)),
            version: StreamVersion(row.int64(9)),
            runCount: row.int(10),
            failureReason: row.optionalText(11)
        )
    }

    func session(_ id: SessionID) throws -> SessionSummary? {
        var binds = PostgresBindings()
        binds.add(id.uuid)
        return try rows("\(Self.sessionSelect) WHERE s.session_id = $1::uuid", binds, doing: "reading a session")
            .first.map(Self.session)
    }

    func sessions(status: SessionStatus?, limit: Int) throws -> [SessionSummary] {
        try Self.validate(limit: limit)
        var binds = PostgresBindings()
        binds.add(status?.rawValue)
        binds.append(Int64(limit))
        return try rows(
            "\(Self.sessionSelect) WHERE $1::text IS NULL OR s.status = $1 ORDER BY last.sequence DESC LIMIT $2",
            binds,
            doing: "listing sessions"
        ).map(Self.session)
    }

    func sessions(status: SessionStatus?, startedBefore: SequenceNumber?, limit: Int) throws -> [SessionSummary] {
        try Self.validate(limit: limit)
        var binds = PostgresBindings()
        binds.add(status?.rawValue)
        binds.add(startedBefore?.rawValue)
        binds.append(Int64(limit))
        return try rows(
            """
            \(Self.sessionSelect) WHERE ($1::text IS NULL OR s.status = $1) AND ($2::bigint IS NULL OR s.first_sequence < $2)
            ORDER BY s.first_sequence DESC LIMIT $3
            """,
            binds,
            doing: "listing sessions"
        ).map(Self.session)
    }

    // MARK: Runs

    private static let runColumns = """
        run_id, session_id, status, provider, model, provider_session_id, requested_at, started_at, ended_at,
        first_sequence, end_sequence, failure_kind, failure_message, cancel_reason
        """

    private static func run(_ row: Columns) -> RunSummary {
        RunSummary(
            id: RunID(uuid: row.uuid(0) ?? .zero),
            sessionID: SessionID(uuid: row.uuid(1) ?? .zero),
            status: RunStatus(rawValue: row.text(2)),
            provider: row.optionalText(3),
            model: row.optionalText(4),
            providerSessionID: row.optionalText(5),
            requestedAt: Timestamp(microseconds: row.int64(6)),
            startedAt: row.optionalInt64(7).map(Timestamp.init(microseconds:)),
            endedAt: row.optionalInt64(8).map(Timestamp.init(microseconds:)),
            firstSequence: SequenceNumber(row.int64(9)),
            endSequence: row.optionalInt64(10).map(SequenceNumber.init(_:)),
            failureKind: row.optionalText(11).map(FailureKind.init(rawValue:)),
            failureMessage: row.optionalText(12),
            cancelReason: row.optionalText(13).map(CancelReason.init(rawValue:))
        )
    }

    func run(_ id: RunID) throws -> RunSummary? {
        var binds = PostgresBindings()
        binds.add(id.uuid)
        return try rows("SELECT \(Self.runColumns) FROM runs WHERE run_id = $1::uuid", binds, doing: "reading a run")
            .first.map(Self.run)
    }

    func runs(in session: SessionID) throws -> [RunSummary] {
        var binds = PostgresBindings()
        binds.add(session.uuid)
        return try rows(
            "SELECT \(Self.runColumns) FROM runs WHERE session_id = $1::uuid ORDER BY first_sequence",
            binds,
            doing: "reading a session's runs"
        ).map(Self.run)
    }

    func openRuns() throws -> [OpenRun] { try openRuns(only: nil) }

    func openRun(_ id: RunID) throws -> OpenRun? { try openRuns(only: id).first }

    private func openRuns(only run: RunID?) throws -> [OpenRun] {
        var binds = PostgresBindings()
        binds.add(run?.uuid)
        let result = try rows(
            """
            SELECT r.run_id, r.session_id, r.status, l.host, l.boot_id, l.pid, l.started, l.agent_group, l.agent_started
            FROM runs AS r LEFT JOIN run_leases AS l ON l.run_id = r.run_id
            WHERE r.status IN ('requested', 'queued', 'running') AND ($1::uuid IS NULL OR r.run_id = $1::uuid)
            ORDER BY r.first_sequence
            """,
            binds,
            doing: "reading open runs"
        )
        return result.map { row in
            let owner = row.optionalText(3).map { host in
                ProcessOwner(
                    host: host,
                    bootID: row.text(4),
                    pid: Int32(truncatingIfNeeded: row.int64(5)),
                    startTime: UInt64(bitPattern: row.int64(6))
                )
            }
            let agent = row.optionalInt64(7).map { group in
                AgentProcessGroup(
                    group: Int32(truncatingIfNeeded: group),
                    startTime: UInt64(bitPattern: row.optionalInt64(8) ?? 0)
                )
            }
            return OpenRun(
                runID: RunID(uuid: row.uuid(0) ?? .zero),
                sessionID: SessionID(uuid: row.uuid(1) ?? .zero),
                status: RunStatus(rawValue: row.text(2)),
                owner: owner,
                agent: agent
            )
        }
    }

    // MARK: Transcript, usage, approvals

    func fork(of session: SessionID) throws -> SessionFork? { try forks(where: "session_id", is: session).first }

    func forks(from session: SessionID) throws -> [SessionFork] { try forks(where: "parent_session_id", is: session) }

    private func forks(where column: String, is session: SessionID) throws -> [SessionFork] {
        var binds = PostgresBindings()
        binds.add(session.uuid)
        return try rows(
            """
            SELECT session_id, parent_session_id, forked_at, sequence FROM session_forks
            WHERE \(column) = $1::uuid ORDER BY sequence
            """,
            binds,
            doing: "reading a session's forks"
        ).map { row in
            SessionFork(
                sessionID: SessionID(uuid: row.uuid(0) ?? .zero),
                parentSessionID: SessionID(uuid: row.uuid(1) ?? .zero),
                forkedAt: SequenceNumber(row.int64(2)),
                sequence: SequenceNumber(row.int64(3))
            )
        }
    }

    func parent(of session: SessionID) throws -> SessionParent? {
        try parents(where: "session_id", is: session).first
    }

    func children(of session: SessionID) throws -> [SessionParent] {
        try parents(where: "parent_session_id", is: session)
    }

    private func parents(where column: String, is session: SessionID) throws -> [SessionParent] {
        var binds = PostgresBindings()
        binds.add(session.uuid)
        return try rows(
            """
            SELECT session_id, parent_session_id, parent_run_id, parent_call_id, sequence FROM session_parents
            WHERE \(column) = $1::uuid ORDER BY sequence
            """,
            binds,
            doing: "reading a session's parent"
        ).map { row in
            SessionParent(
                sessionID: SessionID(uuid: row.uuid(0) ?? .zero),
                parentSessionID: SessionID(uuid: row.uuid(1) ?? .zero),
                parentRunID: row.uuid(2).map(RunID.init(uuid:)),
                parentCallID: row.optionalText(3),
                sequence: SequenceNumber(row.int64(4))
            )
        }
    }

    func transcript(of session: SessionID) throws -> [TranscriptEntry] {
        var binds = PostgresBindings()
        binds.add(session.uuid)
        let codec = EventCodec()
        return try rows(
            """
            SELECT t.sequence, t.run_id, t.role, t.provider, e.type, e.schema_version, e.payload
            FROM transcript AS t JOIN events AS e ON e.sequence = t.sequence
            WHERE t.session_id = $1::uuid ORDER BY t.sequence
            """,
            binds,
            doing: "reading a transcript"
        ).map { row in
            let event = row.withBytes(4) { type in
                row.withBytes(6) { codec.decode(type: type, schemaVersion: row.int(5), payload: $0) }
            }
            var content = ""
            if case .messageReceived(let message) = event { content = message.content }
            return TranscriptEntry(
                sequence: SequenceNumber(row.int64(0)),
                sessionID: session,
                runID: row.uuid(1).map(RunID.init(uuid:)),
                role: MessageRole(rawValue: row.text(2)),
                provider: row.optionalText(3),
                content: content
            )
        }
    }

    func usage(by grouping: UsageGrouping, session: SessionID?) throws -> [UsageSummary] {
        let keys: String
        switch grouping {
        case .run: keys = "run_id, session_id, provider, model"
        case .session: keys = "session_id"
        case .provider: keys = "provider"
        case .model: keys = "provider, model"
        }
        var binds = PostgresBindings()
        binds.add(session?.uuid)
        let keyCount = grouping == .run ? 4 : (grouping == .model ? 2 : 1)
        return try rows(
            """
            SELECT \(keys), sum(input_tokens)::bigint, sum(output_tokens)::bigint, sum(cache_read_tokens)::bigint,
                   sum(cache_write_tokens)::bigint, sum(reasoning_tokens)::bigint, sum(cost_nano_usd)::bigint,
                   sum(reported_cost_nano_usd)::bigint, count(DISTINCT run_id)
            FROM usage WHERE $1::uuid IS NULL OR session_id = $1::uuid
            GROUP BY \(keys) ORDER BY \(keys)
            """,
            binds,
            doing: "reading usage"
        ).map { row in
            var summary = UsageSummary(
                tokens: TokenUsage(
                    input: row.int64(keyCount),
                    output: row.int64(keyCount + 1),
                    cacheRead: row.int64(keyCount + 2),
                    cacheWrite: row.int64(keyCount + 3),
                    reasoning: row.int64(keyCount + 4)
                ),
                costNanoUSD: row.int64(keyCount + 5),
                reportedCostNanoUSD: row.optionalInt64(keyCount + 6),
                runs: row.int(keyCount + 7)
            )
            switch grouping {
            case .run:
                let run = row.uuid(0)
                summary.runID = run == .zero ? nil : run.map(RunID.init(uuid:))
                summary.sessionID = row.uuid(1).map(SessionID.init(uuid:))
                summary.provider = row.text(2)
                summary.model = row.text(3)
            case .session:
                summary.sessionID = row.uuid(0).map(SessionID.init(uuid:))
            case .provider:
                summary.provider = row.text(0)
            case .model:
                summary.provider = row.text(0)
                summary.model = row.text(1)
            }
            return summary
        }
    }

    func approvals(pendingOnly: Bool, session: SessionID?, id: String?, limit: Int) throws -> [ApprovalSummary] {
        try Self.validate(limit: limit)
        var binds = PostgresBindings()
        binds.append(pendingOnly)
        binds.add(session?.uuid)
        binds.add(id)
        binds.append(Int64(limit))
        return try rows(
            """
            SELECT approval_id, session_id, run_id, call_id, tool, input, policy, rule, can_block, requested_at,
                   requested_sequence, status, resolved_by, reason, resolved_at, resolved_sequence, deadline
            FROM approvals
            WHERE (NOT $1 OR status = 'pending') AND ($2::uuid IS NULL OR session_id = $2::uuid)
                AND ($3::text IS NULL OR left(approval_id, length($3)) = $3)
            ORDER BY requested_sequence LIMIT $4
            """,
            binds,
            doing: "reading approvals"
        ).map { row in
            ApprovalSummary(
                approvalID: row.text(0),
                sessionID: SessionID(uuid: row.uuid(1) ?? .zero),
                runID: RunID(uuid: row.uuid(2) ?? .zero),
                callID: row.optionalText(3),
                tool: row.text(4),
                input: row.optionalText(5).flatMap { try? JSONValue(parsing: Array($0.utf8)) },
                policy: row.text(6),
                rule: row.text(7),
                canBlock: row.int64(8) != 0,
                requestedAt: Timestamp(microseconds: row.int64(9)),
                requestedSequence: SequenceNumber(row.int64(10)),
                status: ApprovalStatus(rawValue: row.text(11)),
                resolvedBy: row.optionalText(12),
                reason: row.optionalText(13),
                resolvedAt: row.optionalInt64(14).map(Timestamp.init(microseconds:)),
                resolvedSequence: row.optionalInt64(15).map(SequenceNumber.init(_:)),
                deadline: row.optionalInt64(16).map(Timestamp.init(microseconds:))
            )
        }
    }

    static func validate(limit: Int) throws(StoreError) {
        guard limit > 0 else { throw StoreError(.invalidArgument, "a read limit must be positive, not \(limit)") }
    }
}
