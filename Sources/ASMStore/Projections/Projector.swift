import ASMCore

/// Keeps the projection tables current, inside the append's transaction.
///
/// Each event is applied in log order, and only events that change a projection write to
/// it: a session's or run's lifecycle, a whole message, token usage. Counters that the log's
/// own indexes answer (a session's event count, last sequence, last activity) are not
/// stored, so most appends touch no projection row at all. Every write depends only on the
/// event and the rows earlier events wrote, so applying the log in order gives the same
/// tables however it was split into batches — which is what makes a rebuild from the log
/// equal to the tables kept inline.
package final class Projector {
    /// The projections and the versions of their code. Bumping a version rebuilds the
    /// projections the next time a writer opens the file.
    package static let versions: [String: Int] = [
        "sessions": 1, "runs": 2, "transcript": 1, "usage": 1, "approvals": 1,
    ]

    /// The run id stored for usage that belongs to no run.
    static let noRun = UUIDValue.zero

    /// The position of the event being applied.
    struct Header {
        var sequence: Int64
        var stream: UUIDValue
        var version: Int64
        var run: UUIDValue?
        var recordedAt: Int64
    }

    private let connection: Connection

    init(connection: Connection) {
        self.connection = connection
    }

    // MARK: Applying

    func apply(_ event: SessionEvent, _ header: Header) throws(SQLiteError) {
        switch event {
        case .sessionCreated(let created): try sessionCreated(created, header)
        case .sessionForked(let forked):
            try sessionCreated(
                SessionCreated(agentID: forked.agentID, metadata: forked.metadata, tags: forked.tags),
                header
            )
            try sessionForked(forked, header)
        case .sessionActivated: try sessionStatus("active", reason: nil, header)
        case .sessionCompleted: try sessionStatus("completed", reason: nil, header)
        case .sessionFailed(let failed): try sessionStatus("failed", reason: failed.reason, header)
        case .sessionArchived: try sessionStatus("archived", reason: nil, header)
        case .runRequested(let requested): try runRequested(requested, header)
        case .runQueued: try runQueued(header)
        case .runStarted(let started): try runStarted(started, header)
        case .runCompleted(let completed):
            try runEnded("completed", providerSessionID: completed.providerSessionID, header)
        case .runFailed(let failed):
            try runEnded("failed", kind: failed.failure.kind.rawValue, message: failed.failure.message, header)
        case .runCancelled(let cancelled):
            try runEnded("cancelled", message: cancelled.message, cancelReason: cancelled.reason.rawValue, header)
        case .messageReceived(let message): try messageReceived(message, header)
        case .tokenUsageUpdated(let usage): try tokenUsageUpdated(usage, header)
        case .toolApprovalRequested(let requested): try approvalRequested(requested, header)
        case .toolApprovalResolved(let resolved): try approvalResolved(resolved, header)
        case .routingDecided, .routingFailedOver, .providerHealthChanged, .providerWarning, .messageStreamed,
            .toolCallRequested, .toolCallStarted,
            .toolCallCompleted, .toolCallRefused, .policyEvaluated, .policyViolated,
            .workspaceWorktreeCreated, .workspaceWorktreeApplied, .workspaceWorktreeRemoved,
            .continuationApplied, .workspaceSnapshotTaken, .workspaceDiffComputed, .workspaceRolledBack,
            .artifactStored, .consumerCheckpointed, .consumerReset, .chainUpgraded, .eventExpunged:
            break
        case .opaque(let opaque):
            if case .expunged = opaque.reason { try expunged(opaque.type, header) }
        }
    }

    /// An expunged event still says what happened, without the words: a session was created
    /// or failed, a run ended, a message was said.
    private func expunged(_ type: EventType, _ header: Header) throws(SQLiteError) {
        switch type {
        case .sessionCreated: try sessionCreated(SessionCreated(agentID: "(expunged)"), header)
        case .sessionFailed: try sessionStatus("failed", reason: "(expunged)", header)
        case .sessionCompleted: try sessionStatus("completed", reason: nil, header)
        case .runRequested: try runRequested(RunRequested(messages: []), header)
        case .runCompleted: try runEnded("completed", header)
        case .runFailed: try runEnded("failed", kind: "expunged", message: "(expunged)", header)
        case .runCancelled: try runEnded("cancelled", cancelReason: "requested", header)
        case .messageReceived:
            try messageReceived(MessageReceived(role: MessageRole(rawValue: "expunged"), content: ""), header)
        default: break
        }
    }

    /// The schema version the search index's state was read at, and that state: another
    /// connection (another process) may turn the index on or off, which changes the schema.
    private var searchSchema: Int64 = -1
    private var searchIsOn = false

    /// Indexes one append's events `first...last` for search when the log's index is on (the
    /// view keeps only events with text): one statement per batch, nothing per event.
    func indexSearch(from first: Int64, through last: Int64) throws(SQLiteError) {
        let schema = try connection.scalar("PRAGMA schema_version")?.integerValue ?? 0
        if schema != searchSchema {
            searchIsOn = try SearchIndex.isOn(connection)
            searchSchema = schema
        }
        if searchIsOn { try SearchIndex.index(connection, from: first, through: last) }
    }

    /// The checkpoint of a projection that every append keeps in its own transaction: current
    /// whatever the log's end, so an append records no checkpoint of its own (that write was a
    /// page of its own in every commit: about a tenth of an append's time at one per commit).
    /// A rebuild sets it; a copy appending without projecting sets 0 until its closing rebuild.
    static let keptInline: Int64 = -1

    /// Makes the next append read the search index's state again (after a rollback).
    func forgetSearchState() { searchSchema = -1 }

    /// Records that every projection has applied the log through `sequence`, or
    /// ``keptInline``, or 0 while a copy appends without projecting (so that a copy cut short
    /// is rebuilt by the next writer).
    func setCheckpoints(_ sequence: Int64) throws(SQLiteError) {
        let statement = try connection.statement("UPDATE projection_checkpoints SET sequence = ?1")
        statement.bind(sequence, at: 1)
        try statement.execute()
    }

    /// Empties every projection table and resets the checkpoints to the current versions.
    func clear() throws(SQLiteError) {
        try connection.execute(
            """
            DELETE FROM sessions; DELETE FROM session_forks; DELETE FROM session_parents; DELETE FROM runs;
            DELETE FROM transcript; DELETE FROM usage; DELETE FROM approvals;
            DELETE FROM projection_checkpoints;
            """
        )
        let statement = try connection.statement(
            "INSERT INTO projection_checkpoints (name, version, sequence) VALUES (?1, ?2, 0)"
        )
        for (name, version) in Self.versions.sorted(by: { $0.key < $1.key }) {
            statement.bind(name, at: 1)
            statement.bind(Int64(version), at: 2)
            try statement.execute()
        }
    }

    /// Whether the stored checkpoints match this build's projections, and either are kept
    /// inline or reached the log's end.
    static func isCurrent(_ connection: Connection, lastSequence: Int64) throws(SQLiteError) -> Bool {
        let rows = try connection.query("SELECT name, version, sequence FROM projection_checkpoints")
        var stored: [String: (Int64, Int64)] = [:]
        for row in rows {
            if case .text(let name) = row[0], case .integer(let version) = row[1], case .integer(let sequence) = row[2]
            {
                stored[name] = (version, sequence)
            }
        }
        for (name, version) in versions {
            guard let (storedVersion, sequence) = stored[name], storedVersion == Int64(version),
                sequence == lastSequence || sequence == keptInline
            else { return false }
        }
        return stored.count == versions.count
    }

    // MARK: Sessions

    private func sessionForked(_ forked: SessionForked, _ header: Header) throws(SQLiteError) {
        let statement = try connection.statement(
            """
            INSERT INTO session_forks (session_id, parent_session_id, forked_at, sequence) VALUES (?1, ?2, ?3, ?4)
            ON CONFLICT (session_id) DO NOTHING
            """
        )
        statement.bind(header.stream, at: 1)
        statement.bind(forked.parentSessionID.uuid, at: 2)
        statement.bind(forked.forkedAt.rawValue, at: 3)
        statement.bind(header.sequence, at: 4)
        try statement.execute()
    }

    private func sessionCreated(_ created: SessionCreated, _ header: Header) throws(SQLiteError) {
        let statement = try connection.statement(
            """
            INSERT INTO sessions (session_id, agent_id, status, metadata, tags, created_at, first_sequence, run_count)
            VALUES (?1, ?2, 'created', ?3, ?4, ?5, ?6, 0)
            ON CONFLICT (session_id) DO NOTHING
            """
        )
        statement.bind(header.stream, at: 1)
        statement.bind(created.agentID, at: 2)
        bindJSON(at: 3, of: statement) { writer in
            var object = writer.beginObject()
            for (key, value) in created.metadata.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
                writer.key(key, in: &object)
                writer.string(value)
            }
            writer.endObject(object)
        }
        bindJSON(at: 4, of: statement) { writer in
            var array = writer.beginArray()
            for tag in created.tags {
                writer.element(in: &array)
                writer.string(tag)
            }
            writer.endArray(array)
        }
        statement.bind(header.recordedAt, at: 5)
        statement.bind(header.sequence, at: 6)
        try statement.execute()
        if let parent = created.parentSessionID { try sessionParent(parent, created, header) }
    }

    private func sessionParent(_ parent: SessionID, _ created: SessionCreated, _ header: Header) throws(SQLiteError) {
        let statement = try connection.statement(
            """
            INSERT INTO session_parents (session_id, parent_session_id, parent_run_id, parent_call_id, sequence)
            VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (session_id) DO NOTHING
            """
        )
        statement.bind(header.stream, at: 1)
        statement.bind(parent.uuid, at: 2)
        statement.bind(created.parentRunID?.uuid, at: 3)
        statement.bind(created.parentCallID, at: 4)
        statement.bind(header.sequence, at: 5)
        try statement.execute()
    }

    private func sessionStatus(_ status: String, reason: String?, _ header: Header) throws(SQLiteError) {
        let statement = try connection.statement(
            "UPDATE sessions SET status = ?2, failure_reason = coalesce(?3, failure_reason) WHERE session_id = ?1"
        )
        statement.bind(header.stream, at: 1)
        statement.bind(status, at: 2)
        statement.bind(reason, at: 3)
        try statement.execute()
    }

    private func incrementRunCount(_ session: UUIDValue) throws(SQLiteError) {
        let statement = try connection.statement("UPDATE sessions SET run_count = run_count + 1 WHERE session_id = ?1")
        statement.bind(session, at: 1)
        try statement.execute()
    }

    // MARK: Runs

    private func runExists(_ run: UUIDValue) throws(SQLiteError) -> Bool {
        let statement = try connection.statement("SELECT 1 FROM runs WHERE run_id = ?1")
        statement.bind(run, at: 1)
        defer { statement.reset() }
        return try statement.step()
    }

    private func runRequested(_ requested: RunRequested, _ header: Header) throws(SQLiteError) {
        guard let run = header.run else { return }
        if try runExists(run) { return }
        let statement = try connection.statement(
            """
            INSERT INTO runs (run_id, session_id, status, provider, model, requested_at, first_sequence)
            VALUES (?1, ?2, 'requested', ?3, ?4, ?5, ?6)
            """
        )
        statement.bind(run, at: 1)
        statement.bind(header.stream, at: 2)
        statement.bind(requested.provider, at: 3)
        statement.bind(requested.model, at: 4)
        statement.bind(header.recordedAt, at: 5)
        statement.bind(header.sequence, at: 6)
        try statement.execute()
        try incrementRunCount(header.stream)
    }

    private func runQueued(_ header: Header) throws(SQLiteError) {
        guard let run = header.run else { return }
        let statement = try connection.statement(
            "UPDATE runs SET status = 'queued' WHERE run_id = ?1 AND status = 'requested'"
        )
        statement.bind(run, at: 1)
        try statement.execute()
    }

    private func runStarted(_ started: RunStarted, _ header: Header) throws(SQLiteError) {
        guard let run = header.run else { return }
        if try runExists(run) {
            let statement = try connection.statement(
                """
                UPDATE runs SET status = CASE WHEN status IN ('requested', 'queued', 'running') THEN 'running' ELSE status END,
                    provider = ?2, model = coalesce(?3, model),
                    provider_session_id = coalesce(?4, provider_session_id),
                    started_at = coalesce(started_at, ?5)
                WHERE run_id = ?1
                """
            )
            statement.bind(run, at: 1)
            statement.bind(started.provider, at: 2)
            statement.bind(started.model, at: 3)
            statement.bind(started.providerSessionID, at: 4)
            statement.bind(header.recordedAt, at: 5)
            try statement.execute()
        } else {
            let statement = try connection.statement(
                """
                INSERT INTO runs (run_id, session_id, status, provider, model, provider_session_id, requested_at,
                                  started_at, first_sequence)
                VALUES (?1, ?2, 'running', ?3, ?4, ?5, ?6, ?6, ?7)
                """
            )
            statement.bind(run, at: 1)
            statement.bind(header.stream, at: 2)
            statement.bind(started.provider, at: 3)
            statement.bind(started.model, at: 4)
            statement.bind(started.providerSessionID, at: 5)
            statement.bind(header.recordedAt, at: 6)
            statement.bind(header.sequence, at: 7)
            try statement.execute()
            try incrementRunCount(header.stream)
        }
    }

    private func runEnded(
        _ status: String,
        kind: String? = nil,
        message: String? = nil,
        cancelReason: String? = nil,
        providerSessionID: String? = nil,
        _ header: Header
    ) throws(SQLiteError) {
        guard let run = header.run else { return }
        // The first terminal fact wins; a later one does not rewrite how the run ended.
        let statement = try connection.statement(
            """
            UPDATE runs SET status = ?2, ended_at = ?3, failure_kind = ?4, failure_message = ?5, cancel_reason = ?6,
                provider_session_id = coalesce(?7, provider_session_id), end_sequence = ?8
            WHERE run_id = ?1 AND status IN ('requested', 'queued', 'running')
            """
        )
        statement.bind(run, at: 1)
        statement.bind(status, at: 2)
        statement.bind(header.recordedAt, at: 3)
        statement.bind(kind, at: 4)
        statement.bind(message, at: 5)
        statement.bind(cancelReason, at: 6)
        statement.bind(providerSessionID, at: 7)
        statement.bind(header.sequence, at: 8)
        try statement.execute()
        // An approval still waiting when its run ends is closed with the run, never left pending.
        let close = try connection.statement(
            """
            UPDATE approvals SET status = 'closed', reason = ?2, resolved_at = ?3, resolved_sequence = ?4
            WHERE run_id = ?1 AND status = 'pending'
            """
        )
        close.bind(run, at: 1)
        close.bind("the run ended: \(status)" + (kind.map { " (\($0))" } ?? ""), at: 2)
        close.bind(header.recordedAt, at: 3)
        close.bind(header.sequence, at: 4)
        try close.execute()
    }

    // MARK: Approvals

    private func approvalRequested(_ requested: ToolApprovalRequested, _ header: Header) throws(SQLiteError) {
        guard let run = header.run else { return }
        let statement = try connection.statement(
            """
            INSERT INTO approvals (approval_id, session_id, run_id, call_id, tool, input, policy, rule, can_block,
                                   requested_at, requested_sequence, deadline, status)
            VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 'pending')
            ON CONFLICT (approval_id) DO NOTHING
            """
        )
        statement.bind(requested.approvalID, at: 1)
        statement.bind(header.stream, at: 2)
        statement.bind(run, at: 3)
        statement.bind(requested.callID, at: 4)
        statement.bind(requested.tool, at: 5)
        statement.bind((try? requested.input?.jsonBytes()).map { String(decoding: $0, as: UTF8.self) }, at: 6)
        statement.bind(requested.policy, at: 7)
        statement.bind(requested.rule, at: 8)
        statement.bind(requested.canBlock ? 1 : 0, at: 9)
        statement.bind(header.recordedAt, at: 10)
        statement.bind(header.sequence, at: 11)
        statement.bind(requested.deadline?.microseconds, at: 12)
        try statement.execute()
    }

    /// The first resolution decides; the writer refuses a second before it is appended.
    private func approvalResolved(_ resolved: ToolApprovalResolved, _ header: Header) throws(SQLiteError) {
        let statement = try connection.statement(
            """
            UPDATE approvals SET status = ?2, resolved_by = ?3, reason = ?4, resolved_at = ?5, resolved_sequence = ?6
            WHERE approval_id = ?1 AND status = 'pending'
            """
        )
        statement.bind(resolved.approvalID, at: 1)
        statement.bind(resolved.approved ? "approved" : "denied", at: 2)
        statement.bind(resolved.resolvedBy, at: 3)
        statement.bind(resolved.reason, at: 4)
        statement.bind(header.recordedAt, at: 5)
        statement.bind(header.sequence, at: 6)
        try statement.execute()
    }

    // MARK: Transcript and usage

    private func messageReceived(_ message: MessageReceived, _ header: Header) throws(SQLiteError) {
        let statement = try connection.statement(
            """
            INSERT INTO transcript (session_id, sequence, run_id, role, provider)
            VALUES (?1, ?2, ?3, ?4, (SELECT provider FROM runs WHERE run_id = ?3))
            """
        )
        statement.bind(header.stream, at: 1)
        statement.bind(header.sequence, at: 2)
        statement.bind(header.run, at: 3)
        statement.bind(message.role.rawValue, at: 4)
        try statement.execute()
    }

    private func tokenUsageUpdated(_ usage: TokenUsageUpdated, _ header: Header) throws(SQLiteError) {
        let statement = try connection.statement(
            """
            INSERT INTO usage (run_id, provider, model, session_id, input_tokens, output_tokens, cache_read_tokens,
                               cache_write_tokens, reasoning_tokens, cost_nano_usd, reported_cost_nano_usd,
                               price_table, updates, last_sequence)
            VALUES (?1, coalesce(?2, (SELECT provider FROM runs WHERE run_id = ?1), ''),
                    coalesce(?3, (SELECT model FROM runs WHERE run_id = ?1), ''),
                    ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 1, ?13)
            ON CONFLICT (run_id, provider, model) DO UPDATE SET
                input_tokens = input_tokens + excluded.input_tokens,
                output_tokens = output_tokens + excluded.output_tokens,
                cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens,
                cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens,
                reasoning_tokens = reasoning_tokens + excluded.reasoning_tokens,
                cost_nano_usd = cost_nano_usd + excluded.cost_nano_usd,
                reported_cost_nano_usd = coalesce(excluded.reported_cost_nano_usd, reported_cost_nano_usd),
                price_table = coalesce(excluded.price_table, price_table),
                updates = updates + 1,
                last_sequence = excluded.last_sequence
            """
        )
        statement.bind(header.run ?? Self.noRun, at: 1)
        statement.bind(usage.provider, at: 2)
        statement.bind(usage.model, at: 3)
        statement.bind(header.stream, at: 4)
        statement.bind(usage.delta.input, at: 5)
        statement.bind(usage.delta.output, at: 6)
        statement.bind(usage.delta.cacheRead, at: 7)
        statement.bind(usage.delta.cacheWrite, at: 8)
        statement.bind(usage.delta.reasoning, at: 9)
        statement.bind(usage.costNanoUSD ?? 0, at: 10)
        // A reported cost beyond what nano-dollars in 64 bits hold (about 9.2 billion USD) is not a cost.
        statement.bind(usage.reportedCostUSD.flatMap { Int64(exactly: ($0 * 1e9).rounded()) }, at: 11)
        statement.bind(usage.priceTable, at: 12)
        statement.bind(header.sequence, at: 13)
        try statement.execute()
    }

    private func bindJSON(at index: Int32, of statement: Statement, _ write: (inout JSONWriter) -> Void) {
        var writer = JSONWriter(capacity: 128)
        write(&writer)
        writer.bytes.withUnsafeBytes { statement.bind(text: $0, at: index) }
    }
}

@available(*, unavailable, message: "a projector belongs to the writer's connection")
extension Projector: Sendable {}
