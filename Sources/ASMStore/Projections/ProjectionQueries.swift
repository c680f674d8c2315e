import ASMCore

/// Reads of the projection tables, mapped to read models.
enum ProjectionQueries {
    /// The stored columns, then the stream's last event found through the stream index.
    private static let sessionSelect = """
        SELECT s.session_id, s.agent_id, s.status, s.metadata, s.tags, s.created_at, last.recorded_at,
               s.first_sequence, last.sequence, last.stream_version, s.run_count, s.failure_reason
        FROM sessions AS s
        JOIN events AS last ON last.sequence = (
            SELECT sequence FROM events WHERE stream_id = s.session_id ORDER BY stream_version DESC LIMIT 1)
        """

    private static func session(_ statement: Statement) -> SessionSummary {
        let metadata = (try? [String: String].decode(json: statement.bytes(at: 3))) ?? [:]
        let tags = (try? [String].decode(json: statement.bytes(at: 4))) ?? []
        return SessionSummary(
            id: SessionID(uuid: statement.uuid(at: 0) ?? .zero),
            agentID: statement.text(at: 1),
            status: SessionStatus(rawValue: statement.text(at: 2)),
            metadata: metadata,
            tags: tags,
            createdAt: Timestamp(microseconds: statement.int64(at: 5)),
            updatedAt: Timestamp(microseconds: statement.int64(at: 6)),
            firstSequence: SequenceNumber(statement.int64(at: 7)),
            lastSequence: SequenceNumber(statement.int64(at: 8)),
            version: StreamVersion(statement.int64(at: 9)),
            runCount: statement.int(at: 10),
            failureReason: statement.optionalText(at: 11)
        )
    }

    static func session(_ connection: Connection, id: SessionID) throws -> SessionSummary? {
        let statement = try connection.statement("\(sessionSelect) WHERE s.session_id = ?1")
        defer { statement.reset() }
        statement.bind(id.uuid, at: 1)
        return try statement.step() ? session(statement) : nil
    }

    static func sessions(_ connection: Connection, status: SessionStatus?, limit: Int) throws -> [SessionSummary] {
        let statement = try connection.statement(
            """
            \(sessionSelect) WHERE ?1 IS NULL OR s.status = ?1
            ORDER BY last.sequence DESC LIMIT ?2
            """
        )
        defer { statement.reset() }
        statement.bind(status?.rawValue, at: 1)
        statement.bind(Int64(limit), at: 2)
        var result: [SessionSummary] = []
        while try statement.step() { result.append(session(statement)) }
        return result
    }

    static func sessions(
        _ connection: Connection,
        status: SessionStatus?,
        startedBefore: SequenceNumber?,
        limit: Int
    ) throws -> [SessionSummary] {
        let statement = try connection.statement(
            """
            \(sessionSelect) WHERE (?1 IS NULL OR s.status = ?1) AND (?2 IS NULL OR s.first_sequence < ?2)
            ORDER BY s.first_sequence DESC LIMIT ?3
            """
        )
        defer { statement.reset() }
        statement.bind(status?.rawValue, at: 1)
        statement.bind(startedBefore?.rawValue, at: 2)
        statement.bind(Int64(limit), at: 3)
        var result: [SessionSummary] = []
        while try statement.step() { result.append(session(statement)) }
        return result
    }

    private static let runColumns = """
        run_id, session_id, status, provider, model, provider_session_id, requested_at, started_at, ended_at,
        first_sequence, end_sequence, failure_kind, failure_message, cancel_reason
        """

    private static func run(_ statement: Statement) -> RunSummary {
        RunSummary(
            id: RunID(uuid: statement.uuid(at: 0) ?? .zero),
            sessionID: SessionID(uuid: statement.uuid(at: 1) ?? .zero),
            status: RunStatus(rawValue: statement.text(at: 2)),
            provider: statement.optionalText(at: 3),
            model: statement.optionalText(at: 4),
            providerSessionID: statement.optionalText(at: 5),
            requestedAt: Timestamp(microseconds: statement.int64(at: 6)),
            startedAt: statement.optionalInt64(at: 7).map(Timestamp.init(microseconds:)),
            endedAt: statement.optionalInt64(at: 8).map(Timestamp.init(microseconds:)),
            firstSequence: SequenceNumber(statement.int64(at: 9)),
            endSequence: statement.optionalInt64(at: 10).map(SequenceNumber.init(_:)),
            failureKind: statement.optionalText(at: 11).map(FailureKind.init(rawValue:)),
            failureMessage: statement.optionalText(at: 12),
            cancelReason: statement.optionalText(at: 13).map(CancelReason.init(rawValue:))
        )
    }

    static func run(_ connection: Connection, id: RunID) throws -> RunSummary? {
        let statement = try connection.statement("SELECT \(runColumns) FROM runs WHERE run_id = ?1")
        defer { statement.reset() }
        statement.bind(id.uuid, at: 1)
        return try statement.step() ? run(statement) : nil
    }

    /// Approvals, oldest first: all, or only pending ones, or one session's; `id` matches one
    /// approval id or the approvals whose ids start with it.
    static func approvals(
        _ connection: Connection,
        pendingOnly: Bool,
        session: SessionID?,
        id: String?,
        limit: Int
    ) throws -> [ApprovalSummary] {
        var conditions: [String] = []
        var arguments: [DatabaseValue] = []
        if pendingOnly { conditions.append("status = 'pending'") }
        if let session {
            arguments.append(.blob(session.uuid.bytes))
            conditions.append("session_id = ?\(arguments.count)")
        }
        if let id {
            arguments.append(.text(id))
            conditions.append("substr(approval_id, 1, length(?\(arguments.count))) = ?\(arguments.count)")
        }
        arguments.append(.integer(Int64(limit)))
        let statement = try connection.prepare(
            """
            SELECT approval_id, session_id, run_id, call_id, tool, input, policy, rule, can_block, requested_at,
                   requested_sequence, status, resolved_by, reason, resolved_at, resolved_sequence, deadline
            FROM approvals \(conditions.isEmpty ? "" : "WHERE " + conditions.joined(separator: " AND "))
            ORDER BY requested_sequence LIMIT ?\(arguments.count)
            """
        )
        try statement.bind(arguments)
        var result: [ApprovalSummary] = []
        while try statement.step() {
            result.append(
                ApprovalSummary(
                    approvalID: statement.text(at: 0),
                    sessionID: SessionID(uuid: statement.uuid(at: 1) ?? .zero),
                    runID: RunID(uuid: statement.uuid(at: 2) ?? .zero),
                    callID: statement.optionalText(at: 3),
                    tool: statement.text(at: 4),
                    input: statement.optionalText(at: 5).flatMap { try? JSONValue(parsing: Array($0.utf8)) },
                    policy: statement.text(at: 6),
                    rule: statement.text(at: 7),
                    canBlock: statement.int64(at: 8) != 0,
                    requestedAt: Timestamp(microseconds: statement.int64(at: 9)),
                    requestedSequence: SequenceNumber(statement.int64(at: 10)),
                    status: ApprovalStatus(rawValue: statement.text(at: 11)),
                    resolvedBy: statement.optionalText(at: 12),
                    reason: statement.optionalText(at: 13),
                    resolvedAt: statement.optionalInt64(at: 14).map(Timestamp.init(microseconds:)),
                    resolvedSequence: statement.optionalInt64(at: 15).map(SequenceNumber.init(_:)),
                    deadline: statement.optionalInt64(at: 16).map(Timestamp.init(microseconds:))
                )
            )
        }
        return result
    }

    /// The runs that have not ended, with their leases: one probe of the `runs_open` index.
    static func openRuns(_ connection: Connection, only run: RunID? = nil) throws -> [OpenRun] {
        let columns = """
            SELECT r.run_id, r.session_id, r.status, l.host, l.boot_id, l.pid, l.started, l.agent_group,
                   l.agent_started
            FROM runs AS r LEFT JOIN run_leases AS l ON l.run_id = r.run_id
            """
        let statement: Statement
        if let run {
            statement = try connection.statement(
                columns + " WHERE r.run_id = ?1 AND r.status IN ('requested', 'queued', 'running')"
            )
            statement.bind(run.uuid, at: 1)
        } else {
            statement = try connection.statement(
                columns + " WHERE r.status IN ('requested', 'queued', 'running') ORDER BY r.first_sequence"
            )
        }
        defer { statement.reset() }
        var result: [OpenRun] = []
        while try statement.step() {
            let owner = statement.optionalText(at: 3).map { host in
                ProcessOwner(
                    host: host,
                    bootID: statement.text(at: 4),
                    pid: Int32(truncatingIfNeeded: statement.int64(at: 5)),
                    startTime: UInt64(bitPattern: statement.int64(at: 6))
                )
            }
            let agent = statement.optionalInt64(at: 7).map { group in
                AgentProcessGroup(
                    group: Int32(truncatingIfNeeded: group),
                    startTime: UInt64(bitPattern: statement.optionalInt64(at: 8) ?? 0)
                )
            }
            result.append(
                OpenRun(
                    runID: RunID(uuid: statement.uuid(at: 0) ?? .zero),
                    sessionID: SessionID(uuid: statement.uuid(at: 1) ?? .zero),
                    status: RunStatus(rawValue: statement.text(at: 2)),
                    owner: owner,
                    agent: agent
                )
            )
        }
        return result
    }

    static func runs(_ connection: Connection, session: SessionID) throws -> [RunSummary] {
        let statement = try connection.statement(
            "SELECT \(runColumns) FROM runs WHERE session_id = ?1 ORDER BY first_sequence"
        )
        defer { statement.reset() }
        statement.bind(session.uuid, at: 1)
        var result: [RunSummary] = []
        while try statement.step() { result.append(run(statement)) }
        return result
    }

    /// The forks whose `column` (`session_id` or `parent_session_id`) is `session`, oldest first.
    static func forks(_ connection: Connection, column: String, session: SessionID) throws -> [SessionFork] {
        let statement = try connection.statement(
            """
            SELECT session_id, parent_session_id, forked_at, sequence FROM session_forks
            WHERE \(column) = ?1 ORDER BY sequence
            """
        )
        defer { statement.reset() }
        statement.bind(session.uuid, at: 1)
        var result: [SessionFork] = []
        while try statement.step() {
            result.append(
                SessionFork(
                    sessionID: SessionID(uuid: statement.uuid(at: 0) ?? .zero),
                    parentSessionID: SessionID(uuid: statement.uuid(at: 1) ?? .zero),
                    forkedAt: SequenceNumber(statement.int64(at: 2)),
                    sequence: SequenceNumber(statement.int64(at: 3))
                )
            )
        }
        return result
    }

    static func parents(_ connection: Connection, column: String, session: SessionID) throws -> [SessionParent] {
        let statement = try connection.statement(
            """
            SELECT session_id, parent_session_id, parent_run_id, parent_call_id, sequence FROM session_parents
            WHERE \(column) = ?1 ORDER BY sequence
            """
        )
        defer { statement.reset() }
        statement.bind(session.uuid, at: 1)
        var result: [SessionParent] = []
        while try statement.step() {
            result.append(
                SessionParent(
                    sessionID: SessionID(uuid: statement.uuid(at: 0) ?? .zero),
                    parentSessionID: SessionID(uuid: statement.uuid(at: 1) ?? .zero),
                    parentRunID: statement.uuid(at: 2).map(RunID.init(uuid:)),
                    parentCallID: statement.optionalText(at: 3),
                    sequence: SequenceNumber(statement.int64(at: 4))
                )
            )
        }
        return result
    }

    static func transcript(_ connection: Connection, session: SessionID) throws -> [TranscriptEntry] {
        let statement = try connection.statement(
            """
            SELECT t.sequence, t.run_id, t.role, t.provider, e.type, e.schema_version, e.payload
            FROM transcript AS t JOIN events AS e ON e.sequence = t.sequence
            WHERE t.session_id = ?1 ORDER BY t.sequence
            """
        )
        defer { statement.reset() }
        statement.bind(session.uuid, at: 1)
        let codec = EventCodec()
        var result: [TranscriptEntry] = []
        while try statement.step() {
            let content: String
            if case .messageReceived(let message) = codec.decode(
                type: statement.bytes(at: 4),
                schemaVersion: statement.int(at: 5),
                payload: statement.bytes(at: 6)
            ) {
                content = message.content
            } else {
                content = ""
            }
            result.append(
                TranscriptEntry(
                    sequence: SequenceNumber(statement.int64(at: 0)),
                    sessionID: session,
                    runID: statement.uuid(at: 1).map(RunID.init(uuid:)),
                    role: MessageRole(rawValue: statement.text(at: 2)),
                    provider: statement.optionalText(at: 3),
                    content: content
                )
            )
        }
        return result
    }

    static func usage(_ connection: Connection, grouping: UsageGrouping, session: SessionID?) throws -> [UsageSummary] {
        let keys: String
        switch grouping {
        case .run: keys = "run_id, session_id, provider, model"
        case .session: keys = "session_id"
        case .provider: keys = "provider"
        case .model: keys = "provider, model"
        }
        let statement = try connection.statement(
            """
            SELECT \(keys), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens), sum(cache_write_tokens),
                   sum(reasoning_tokens), sum(cost_nano_usd), sum(reported_cost_nano_usd), count(DISTINCT run_id)
            FROM usage WHERE ?1 IS NULL OR session_id = ?1
            GROUP BY \(keys) ORDER BY \(keys)
            """
        )
        defer { statement.reset() }
        if let session { statement.bind(session.uuid, at: 1) } else { statement.bindNull(at: 1) }
        let keyCount: Int32 = grouping == .run ? 4 : (grouping == .model ? 2 : 1)
        var result: [UsageSummary] = []
        while try statement.step() {
            var summary = UsageSummary(
                tokens: TokenUsage(
                    input: statement.int64(at: keyCount),
                    output: statement.int64(at: keyCount + 1),
                    cacheRead: statement.int64(at: keyCount + 2),
                    cacheWrite: statement.int64(at: keyCount + 3),
                    reasoning: statement.int64(at: keyCount + 4)
                ),
                costNanoUSD: statement.int64(at: keyCount + 5),
                reportedCostNanoUSD: statement.optionalInt64(at: keyCount + 6),
                runs: statement.int(at: keyCount + 7)
            )
            switch grouping {
            case .run:
                let run = statement.uuid(at: 0)
                summary.runID = run == Projector.noRun ? nil : run.map(RunID.init(uuid:))
                summary.sessionID = statement.uuid(at: 1).map(SessionID.init(uuid:))
                summary.provider = statement.text(at: 2)
                summary.model = statement.text(at: 3)
            case .session:
                summary.sessionID = statement.uuid(at: 0).map(SessionID.init(uuid:))
            case .provider:
                summary.provider = statement.text(at: 0)
            case .model:
                summary.provider = statement.text(at: 0)
                summary.model = statement.text(at: 1)
            }
            result.append(summary)
        }
        return result
    }
}
