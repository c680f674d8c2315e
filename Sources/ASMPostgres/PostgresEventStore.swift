public import ASMCore
internal import ASMMigrations
public import ASMStore
internal import ASMSystem
internal import Crypto
internal import FoundationEssentials
internal import NIOCore
internal import PostgresNIO
internal import Synchronization

/// The event log on a PostgreSQL server: the contract of ``SQLiteEventStore`` for a team whose
/// hosts share one log.
///
/// - The global sequence is contiguous and in commit order: every append runs `asm_append()`,
///   one round trip that takes the log's lock (a transaction-scoped advisory lock), checks the
///   expected version, links the hash chain — byte for byte the SQLite chain, so a log copied
///   between the two verifies on both — inserts, applies the projection writes and notifies.
/// - Concurrent appends of one process go as one call and one commit (group commit); each batch
///   is still all or nothing.
/// - Subscribers wake on `LISTEN`/`NOTIFY` (the new head as payload) and fall back to polling
///   while the listening connection is down; they always read the log by sequence, so a lost
///   notification delays, never loses, an event.
/// - A dropped connection during an append is replaced and the call sent again; the event ids
///   make that safe, and the batch is committed whole or not at all.
///
/// ```swift
/// let store = try await PostgresEventStore.open(url: "postgres://asm@db.internal/agents")
/// try await store.append([NewEvent(SessionCreated(agentID: "reviewer"))], to: session.stream, expectedVersion: .noStream)
/// ```
public final class PostgresEventStore: LogImporting {
    /// Settings of a store.
    public struct Configuration: Sendable {
        /// The largest payload accepted, in bytes (1 MiB by default).
        public var maximumEventBytes: Int = 1 << 20
        /// How many idle reader connections to keep.
        public var readerConnections: Int = 4
        /// How long to wait for the server when connecting.
        public var connectTimeout: Duration = .seconds(10)
        /// How often subscribers poll the log's head while the listening connection is down.
        public var pollInterval: Duration = .milliseconds(250)
        /// The clock events are recorded with.
        public var clock: any WallClock = SystemClock()
        /// Removes secrets from every event before it is written (as the SQLite store's).
        public var redactor = Redactor(environment: ProcessInfo.processInfo.environment)
        /// The process recorded as executing the runs whose request or start this store appends.
        public var owner: ProcessOwner? = .current
        /// Create the log (its schema and tables) when it does not exist; off, a missing log is
        /// refused with `missingDatabase`. An existing log older than this build is migrated either way.
        public var createIfMissing = true
        /// The `application_name` of this store's connections (what `pg_stat_activity` shows).
        public var applicationName = "asm"

        public init() {}
    }

    public let location: PostgresLocation
    public let configuration: Configuration

    private let readers: LinkPool
    private let writer: AppendWriter
    private let signal: CommitSignal
    private let listener: Task<Void, Never>
    private let claims: ConsumerClaims

    private init(location: PostgresLocation, configuration: Configuration, head: SequenceNumber) {
        self.location = location
        self.configuration = configuration
        readers = LinkPool(
            location: location,
            timeout: configuration.connectTimeout,
            name: configuration.applicationName,
            idleLimit: configuration.readerConnections
        )
        claims = ConsumerClaims(location: location, timeout: configuration.connectTimeout)
        let signal = CommitSignal()
        signal.publish(head)
        self.signal = signal
        writer = AppendWriter(
            location: location,
            timeout: configuration.connectTimeout,
            name: configuration.applicationName,
            clock: configuration.clock,
            owner: configuration.owner,
            signal: signal
        )
        let readers = self.readers
        let interval = configuration.pollInterval
        let timeout = configuration.connectTimeout
        let name = configuration.applicationName
        listener = Task {
            await Self.follow(
                location: location,
                timeout: timeout,
                name: name,
                interval: interval,
                readers: readers,
                signal: signal
            )
        }
    }

    /// Connects to the log at `url` (see ``PostgresLocation``), creating its schema or migrating
    /// it to this build's when needed.
    /// - Throws: ``StoreError`` `invalidArgument` (a bad URL), `unavailable` (server unreachable,
    ///   credentials refused), `missingDatabase`, `foreignDatabase`, `newerSchema`, `database`.
    public static func open(
        url: String,
        configuration: Configuration = Configuration()
    ) async throws
        -> PostgresEventStore
    {
        try await open(url: url, environment: ProcessInfo.processInfo.environment, configuration: configuration)
    }

    /// As ``open(url:configuration:)``, with `PGPASSWORD`, `PGHOST`, `PGPASSFILE`… read from `environment`.
    public static func open(
        url: String,
        environment: [String: String],
        configuration: Configuration = Configuration()
    ) async throws -> PostgresEventStore {
        let location = try PostgresLocation(
            url: url,
            environment: environment,
            passwordFile: Self.passwordFile(environment)
        )
        return try await open(location, configuration: configuration)
    }

    /// Connects to the log at `location`, creating or migrating its schema when needed.
    public static func open(
        _ location: PostgresLocation,
        configuration: Configuration = Configuration()
    ) async throws
        -> PostgresEventStore
    {
        let link = try await Link.connect(
            location,
            timeout: configuration.connectTimeout,
            name: configuration.applicationName
        )
        defer { link.close() }
        try await Schema.prepare(link, create: configuration.createIfMissing)
        let head = try await link.query("SELECT sequence FROM log_head WHERE id = 1", doing: "reading the log's end")
        return PostgresEventStore(
            location: location,
            configuration: configuration,
            head: SequenceNumber(head.first.map { Columns($0).int64(0) } ?? 0)
        )
    }

    /// Reads `.pgpass` (from `PGPASSFILE` or the home directory) when it is private to its owner.
    static func passwordFile(_ environment: [String: String]) -> @Sendable (String) -> String? {
        let path = environment["PGPASSFILE"] ?? (environment["HOME"].map { $0 + "/.pgpass" } ?? "")
        return { key in
            guard !path.isEmpty, let text = SystemPaths.readPrivateFile(path) else { return nil }
            return PostgresLocation.password(in: text, for: key)
        }
    }

    public func close() async {
        await claims.releaseAll()
        listener.cancel()
        await writer.close()
        signal.close()
        readers.close()
    }

    // MARK: Appending

    @discardableResult
    public func append(
        _ events: [NewEvent],
        to stream: StreamID,
        expectedVersion: ExpectedVersion
    ) async throws
        -> AppendResult
    {
        let batch = try PreparedAppend(
            events,
            stream: stream,
            expected: expectedVersion,
            maximumEventBytes: configuration.maximumEventBytes,
            redactor: configuration.redactor
        )
        return try await writer.append(batch)
    }

    // MARK: Reading

    public func read<T: Sendable>(_ body: @escaping @Sendable (any LogSnapshot) throws -> T) async throws -> T {
        try await readers.withLink { link in
            _ = try link.blockingQuery("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", doing: "reading")
            do {
                let value = try body(Snapshot(link: link))
                _ = try link.blockingQuery("COMMIT", doing: "reading")
                return value
            } catch {
                _ = try? link.blockingQuery("ROLLBACK", doing: "reading")
                throw error
            }
        }
    }

    private func snapshot<T: Sendable>(_ body: @escaping @Sendable (Snapshot) throws -> T) async throws -> T {
        try await readers.withLink { try body(Snapshot(link: $0)) }
    }

    public func lastSequence() async throws -> SequenceNumber { try await snapshot { try $0.lastSequence() } }

    public func streamVersion(of stream: StreamID) async throws -> StreamVersion {
        try await snapshot { try $0.streamVersion(of: stream) }
    }

    public func events(from sequence: SequenceNumber, limit: Int, filter: EventFilter) async throws -> EventPage {
        try await snapshot { try $0.events(from: sequence, limit: limit, filter: filter) }
    }

    public func recordedEvents(
        from sequence: SequenceNumber,
        limit: Int,
        filter: EventFilter
    ) async throws
        -> RecordedPage
    {
        try await snapshot { try $0.recordedEvents(from: sequence, limit: limit, filter: filter) }
    }

    public func stream(
        _ stream: StreamID,
        fromVersion version: StreamVersion,
        limit: Int
    ) async throws
        -> [EventEnvelope]
    {
        try await snapshot { try $0.stream(stream, fromVersion: version, limit: limit) }
    }

    public func waitForCommit(after sequence: SequenceNumber) async -> Bool {
        await signal.wait(after: sequence)
    }

    public func waitForCommit(afterCovered covered: @escaping @Sendable () -> SequenceNumber) async -> Bool {
        await signal.wait(afterCovered: covered)
    }

    public func observeCommits(_ observer: @escaping @Sendable ([EventEnvelope]) -> Void) -> CommitObservation? {
        let feed = writer.feed
        let id = feed.add(observer)
        return CommitObservation { feed.remove(id) }
    }

    // MARK: Projections

    public func session(_ id: SessionID) async throws -> SessionSummary? { try await snapshot { try $0.session(id) } }

    public func sessions(status: SessionStatus?, limit: Int) async throws -> [SessionSummary] {
        try await snapshot { try $0.sessions(status: status, limit: limit) }
    }

    public func sessions(
        status: SessionStatus?,
        startedBefore: SequenceNumber?,
        limit: Int
    ) async throws
        -> [SessionSummary]
    {
        try await snapshot { try $0.sessions(status: status, startedBefore: startedBefore, limit: limit) }
    }

    public func run(_ id: RunID) async throws -> RunSummary? { try await snapshot { try $0.run(id) } }

    public func runs(in session: SessionID) async throws -> [RunSummary] {
        try await snapshot { try $0.runs(in: session) }
    }

    public func openRuns() async throws -> [OpenRun] { try await snapshot { try $0.openRuns() } }

    public func approvals(
        pendingOnly: Bool,
        session: SessionID?,
        id: String?,
        limit: Int
    ) async throws
        -> [ApprovalSummary]
    {
        try await snapshot { try $0.approvals(pendingOnly: pendingOnly, session: session, id: id, limit: limit) }
    }

    public func recordAgentProcess(_ group: AgentProcessGroup, for run: RunID) async throws {
        var binds = PostgresBindings()
        binds.add(run.uuid)
        binds.append(group.group)
        binds.append(Int64(bitPattern: group.startTime))
        let link = try await readers.acquire()
        defer { readers.release(link) }
        _ = try await link.query(
            "UPDATE run_leases SET agent_group = $2, agent_started = $3 WHERE run_id = $1::uuid",
            binds,
            doing: "recording an agent process"
        )
    }

    public func transcript(of session: SessionID) async throws -> [TranscriptEntry] {
        try await snapshot { try $0.transcript(of: session) }
    }

    public func usage(by grouping: UsageGrouping, session: SessionID?) async throws -> [UsageSummary] {
        try await snapshot { try $0.usage(by: grouping, session: session) }
    }

    /// Re-derives every projection from the log in one transaction, holding the log's lock (appends
    /// wait for it).
    public func rebuildProjections(progress: (@Sendable (WorkProgress) -> Void)?) async throws -> RebuildReport {
        try await readers.withLink { link in try Rebuild.run(link, progress: progress) }
    }

    public func verify(progress: (@Sendable (WorkProgress) -> Void)?) async throws -> VerificationReport {
        try await read { snapshot in
            guard let snapshot = snapshot as? Snapshot else { throw StoreError(.database, "verifying: no snapshot") }
            return try Verification.run(snapshot, progress: progress)
        }
    }

    // MARK: Consumers

    public func consumer(named name: String, startingAt start: ConsumerStart) async throws -> DurableConsumer {
        try Self.validate(consumerName: name)
        if try await consumerRow(name) == nil {
            let arguments: [String?]
            switch start {
            case .beginning: arguments = [name, "beginning", nil]
            case .end: arguments = [name, "end", nil]
            case .after(let sequence): arguments = [name, "after", String(sequence.rawValue)]
            }
            let registration = NewEvent(ConsumerCheckpointed(consumer: name, position: .zero))
            _ = try await writer.append(
                try PreparedAppend(
                    [registration],
                    stream: .consumers,
                    expected: .any,
                    maximumEventBytes: configuration.maximumEventBytes,
                    redactor: configuration.redactor
                ),
                side: [SideWrite(operation: 11, arguments: arguments)]
            )
        }
        return DurableConsumer(name: name, store: self)
    }

    private func consumerRow(_ name: String) async throws -> (position: Int64, created: Int64, updated: Int64)? {
        var nameBind = PostgresBindings()
        nameBind.append(name)
        let binds = nameBind
        let rows = try await snapshot { snapshot in
            try snapshot.link.blockingQuery(
                "SELECT position, created_at, updated_at FROM consumers WHERE name = $1",
                binds,
                doing: "reading a consumer"
            ).map(Columns.init).map { ($0.int64(0), $0.int64(1), $0.int64(2)) }
        }
        return rows.first
    }

    public func consumers() async throws -> [ConsumerStatus] {
        try await snapshot { snapshot in
            try snapshot.link.blockingQuery(
                """
                SELECT name, position, created_at, updated_at, (SELECT sequence FROM log_head WHERE id = 1)
                FROM consumers ORDER BY name
                """,
                doing: "listing consumers"
            ).map(Columns.init).map { row in
                ConsumerStatus(
                    name: row.text(0),
                    position: SequenceNumber(row.int64(1)),
                    lag: max(0, row.int64(4) - row.int64(1)),
                    createdAt: Timestamp(microseconds: row.int64(2)),
                    updatedAt: Timestamp(microseconds: row.int64(3))
                )
            }
        }
    }

    public func consumerPosition(_ name: String) async throws -> SequenceNumber {
        guard let row = try await consumerRow(name) else {
            throw StoreError(.notFound, "no consumer named \"\(name)\"")
        }
        return SequenceNumber(row.position)
    }

    public func acknowledge(
        consumer name: String,
        through sequence: SequenceNumber,
        writes: (@Sendable (any TransactionContext) throws -> Void)?
    ) async throws {
        let now = configuration.clock.now().microseconds
        let ours = await claims.backend(of: name)
        try await readers.withLink { link in
            _ = try link.blockingQuery("BEGIN", doing: "acknowledging")
            do {
                try ConsumerClaims.checkExclusive(name, ours: ours, on: link)
                var binds = PostgresBindings()
                binds.append(sequence.rawValue)
                binds.append(now)
                binds.append(name)
                let rows = try link.blockingQuery(
                    """
                    UPDATE consumers SET position = greatest(position, $1), updated_at = $2
                    WHERE name = $3 AND $1 BETWEEN 0 AND (SELECT sequence FROM log_head WHERE id = 1)
                    RETURNING position
                    """,
                    binds,
                    doing: "acknowledging"
                )
                if rows.isEmpty {
                    let head = try Snapshot(link: link).lastSequence()
                    if sequence.rawValue < 0 || sequence > head {
                        throw StoreError(.invalidArgument, "cannot acknowledge \(sequence): the log ends at \(head)")
                    }
                    throw StoreError(.notFound, "no consumer named \"\(name)\"")
                }
                if let writes { try writes(ConsumerTransaction(link: link)) }
                _ = try link.blockingQuery("COMMIT", doing: "acknowledging")
            } catch {
                _ = try? link.blockingQuery("ROLLBACK", doing: "acknowledging")
                throw error
            }
        }
    }

    // MARK: Search

    /// The searchable types as an SQL list, for the index's predicate and the search's.
    private static let searchableList = SearchQuery.searchableTypes.map { "'\($0.rawValue)'" }.joined(separator: ", ")

    /// Whether the search index (`events_search`, a partial GIN index over the words of each
    /// searchable event, Migrations/postgres/0005_search_text.sql) exists in the log's schema.
    private static func searchIsOn(_ link: Link) throws -> Bool {
        let rows = try link.blockingQuery(
            "SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = 'events_search'",
            doing: "reading the search index"
        )
        return !rows.isEmpty
    }

    public func search(_ query: SearchQuery) async throws -> [SearchHit] {
        let document = "asm_search_words(e.type, e.payload)"
        var binds = PostgresBindings()
        // Each word quoted as one lexeme (quotes doubled), so that nothing in it reads as an operator.
        binds.append(
            query.terms.map { "'" + $0.word.replacing("'", with: "''") + "'" + ($0.isPrefix ? ":*" : "") }
                .joined(separator: " & ")
        )
        var sql = """
            SELECT e.sequence, e.stream_id::text, e.run_id::text, e.type, asm_search_text(e.type, e.payload),
                ts_rank(\(document), q)::float8
            FROM events AS e, to_tsquery('simple', $1) AS q
            WHERE e.type IN (\(Self.searchableList)) AND \(document) @@ q
            """
        if let session = query.session {
            binds.append(session.stream.uuid.description)
            sql += " AND e.stream_id = $\(binds.count)::uuid"
        }
        if !query.types.isEmpty {
            binds.append(query.types.map(\.rawValue))
            sql += " AND e.type = ANY($\(binds.count))"
        }
        binds.append(Int64(query.limit))
        sql += " ORDER BY 6 DESC, e.sequence LIMIT $\(binds.count)"
        let statement = sql
        let bound = binds
        let location = "\(self.location)"
        return try await snapshot { snapshot in
            guard try Self.searchIsOn(snapshot.link) else {
                throw StoreError(
                    .noSearchIndex,
                    "the search index of the log at \(location) is off; asm search --index on turns it on"
                )
            }
            return try snapshot.link.blockingQuery(statement, bound, doing: "searching").map(Columns.init).map { row in
                SearchHit(
                    sequence: SequenceNumber(row.int64(0)),
                    sessionID: SessionID(uuid: UUIDValue(row.text(1)) ?? .zero),
                    runID: row.optionalText(2).flatMap(UUIDValue.init).map(RunID.init(uuid:)),
                    type: EventType(row.text(3)),
                    snippet: query.snippet(of: row.text(4)),
                    score: (try? row.row[5].decode(Double.self)) ?? 0
                )
            }
        }
    }

    public func searchIndex() async throws -> SearchIndexStatus {
        try await readers.withLink { link in try Self.searchStatus(link) }
    }

    private static func searchStatus(_ link: Link) throws -> SearchIndexStatus {
        guard try searchIsOn(link) else { return SearchIndexStatus(isOn: false, indexedEvents: 0) }
        let rows = try link.blockingQuery(
            """
            SELECT count(*) FROM events
            WHERE type IN (\(searchableList)) AND asm_search_text(type, payload) IS NOT NULL
            """,
            doing: "reading the search index"
        )
        return SearchIndexStatus(isOn: true, indexedEvents: Int(rows.first.map(Columns.init)?.int64(0) ?? 0))
    }

    public func setSearchIndex(_ on: Bool) async throws -> SearchIndexStatus {
        try await readers.withLink { link in
            // Built in one statement, which holds appends back until it is done, so no event
            // is left out; from then on every insert keeps it in its own transaction.
            _ = try link.blockingQuery(
                on
                    ? """
                    CREATE INDEX IF NOT EXISTS events_search ON events USING gin (asm_search_words(type, payload))
                    WHERE type IN (\(Self.searchableList))
                    """
                    : "DROP INDEX IF EXISTS events_search",
                doing: on ? "turning the search index on" : "turning the search index off"
            )
            return try Self.searchStatus(link)
        }
    }

    public func claimConsumer(_ name: String) async throws {
        try Self.validate(consumerName: name)
        try await claims.claim(name)
    }

    public func releaseConsumer(_ name: String) async {
        await claims.release(name)
    }

    public func resetConsumer(_ name: String, to sequence: SequenceNumber, reason: String?) async throws {
        guard let current = try await consumerRow(name) else {
            throw StoreError(.notFound, "no consumer named \"\(name)\"")
        }
        let head = try await lastSequence()
        guard sequence.rawValue >= 0, sequence <= head else {
            throw StoreError(.invalidArgument, "cannot reset to \(sequence): the log ends at \(head)")
        }
        let event = NewEvent(
            ConsumerReset(consumer: name, from: SequenceNumber(current.position), to: sequence, reason: reason)
        )
        _ = try await writer.append(
            try PreparedAppend(
                [event],
                stream: .consumers,
                expected: .any,
                maximumEventBytes: configuration.maximumEventBytes,
                redactor: configuration.redactor
            ),
            side: [SideWrite(operation: 12, arguments: [name, String(sequence.rawValue)])]
        )
    }

    static func validate(consumerName name: String) throws(StoreError) {
        guard !name.isEmpty, name.utf8.count <= 200, !name.contains(where: { $0.isNewline || $0 == "\0" }) else {
            throw StoreError(.invalidArgument, "a consumer name must be 1 to 200 bytes on one line")
        }
    }

    // MARK: Following other processes' commits

    /// Publishes the log's head to waiting readers: on each notification while `LISTEN` is up,
    /// and by polling while it is not.
    private static func follow(
        location: PostgresLocation,
        timeout: Duration,
        name: String,
        interval: Duration,
        readers: LinkPool,
        signal: CommitSignal
    ) async {
        let channel = "asm_events_\(location.schema)"
        while !Task.isCancelled {
            do {
                let link = try await Link.connect(location, timeout: timeout, name: name)
                defer { link.close() }
                try await link.connection.listen(on: channel) { notifications in
                    // Listening now: whatever committed before is read once, later ones are notified.
                    if let head = try? await Self.head(link) { signal.publish(head) }
                    for try await notification in notifications {
                        if let value = Int64(notification.payload) { signal.publish(SequenceNumber(value)) }
                    }
                }
            } catch {
                // Fall through to polling until listening works again.
            }
            if Task.isCancelled { return }
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            if let link = try? await readers.acquire() {
                if let head = try? await Self.head(link) { signal.publish(head) }
                readers.release(link)
            }
        }
    }

    private static func head(_ link: Link) async throws -> SequenceNumber {
        let rows = try await link.query("SELECT sequence FROM log_head WHERE id = 1", doing: "reading the log's end")
        return SequenceNumber(rows.first.map { Columns($0).int64(0) } ?? 0)
    }

    /// Drops the log's schema and everything in it (for tests that made a schema of their own).
    package func dropSchemaForTesting() async throws {
        let link = try await readers.acquire()
        defer { link.close() }
        _ = try await link.query("DROP SCHEMA \(location.schema) CASCADE", doing: "dropping a schema")
    }

    /// Runs one statement on the log's schema (for tests that tamper with or inspect the database).
    package func executeForTesting(_ sql: String) async throws {
        _ = try await queryForTesting(sql)
    }

    /// Runs one statement and returns the first column of each row as text.
    package func queryForTesting(_ sql: String) async throws -> [String] {
        try await snapshot { snapshot in
            try snapshot.link.blockingQuery(sql, doing: "testing").map { row in
                let cell = row.makeRandomAccess()[0]
                if let number = try? cell.decode(Int64.self) { return String(number) }
                return Columns(row).text(0)
            }
        }
    }

    // MARK: Copying a log in

    public func importRecorded(_ events: [RecordedEvent], chainVersions: [VerificationReport.ChainVersion]) async throws
    {
        guard !events.isEmpty else { return }
        var binds = PostgresBindings()
        binds.append(events.map(\.sequence.rawValue))
        binds.append(events.map(\.id.uuid.description))
        binds.append(events.map(\.stream.uuid.description))
        binds.append(events.map(\.streamVersion.rawValue))
        binds.append(events.map { $0.runID?.uuid.description ?? "" })
        binds.append(events.map(\.type.rawValue))
        binds.append(events.map { Int32($0.schemaVersion) })
        binds.append(events.map { String(decoding: $0.payload, as: UTF8.self) })
        binds.append(events.map(\.recordedAt.microseconds))
        binds.append(events.map { event in event.hash.withBytes { ByteBuffer(bytes: $0) } })
        binds.append(chainVersions.map { Int32($0.version) })
        binds.append(chainVersions.map(\.firstSequence.rawValue))
        let query = binds
        let link = try await readers.acquire()
        defer { readers.release(link) }
        let rows = try await link.query(
            """
            SELECT asm_import($1::bigint[], $2::uuid[], $3::uuid[], $4::bigint[], $5::text[], $6::text[],
                              $7::integer[], $8::text[], $9::bigint[], $10::bytea[], $11::integer[], $12::bigint[])
            """,
            query,
            doing: "copying events in"
        )
        if let head = rows.first.map({ Columns($0).int64(0) }) { signal.publish(SequenceNumber(head)) }
    }

    public func importConsumers(_ consumers: [ConsumerStatus]) async throws {
        guard !consumers.isEmpty else { return }
        var binds = PostgresBindings()
        binds.append(consumers.map(\.name))
        binds.append(consumers.map(\.position.rawValue))
        binds.append(consumers.map(\.createdAt.microseconds))
        binds.append(consumers.map(\.updatedAt.microseconds))
        let query = binds
        let link = try await readers.acquire()
        defer { readers.release(link) }
        _ = try await link.query(
            """
            INSERT INTO consumers (name, position, created_at, updated_at)
            SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[])
            ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at
            """,
            query,
            doing: "copying consumers in"
        )
    }

    // MARK: Lookups for tools

    public func sessionIDs(withPrefix prefix: String, limit: Int = 2) async throws -> [SessionID] {
        try await ids(withPrefix: prefix, kind: "session", table: "sessions", column: "session_id", limit: limit)
            .map(SessionID.init(uuid:))
    }

    public func runIDs(withPrefix prefix: String, limit: Int = 2) async throws -> [RunID] {
        try await ids(withPrefix: prefix, kind: "run", table: "runs", column: "run_id", limit: limit).map(
            RunID.init(uuid:)
        )
    }

    private func ids(
        withPrefix prefix: String,
        kind: String,
        table: String,
        column: String,
        limit: Int
    ) async throws
        -> [UUIDValue]
    {
        let range = try identifierRange(prefix, kind: kind)
        var binds = PostgresBindings()
        binds.add(range.lowerBound)
        binds.add(range.upperBound)
        binds.append(Int64(limit))
        let query = binds
        return try await snapshot { snapshot in
            try snapshot.link.blockingQuery(
                "SELECT \(column) FROM \(table) WHERE \(column) BETWEEN $1::uuid AND $2::uuid ORDER BY \(column) LIMIT $3",
                query,
                doing: "looking up ids"
            ).compactMap { Columns($0).uuid(0) }
        }
    }

    /// The schema version of the log (the last migration applied).
    public func schemaVersion() async throws -> Int {
        try await snapshot { snapshot in
            Int(
                try snapshot.link.blockingQuery(
                    "SELECT max(version) FROM \(Schema.migrationsTable)",
                    doing: "reading the schema"
                )
                .first.map { Columns($0).int64(0) } ?? 0
            )
        }
    }
}

/// A consumer's own writes, in the transaction that moves its checkpoint. `?` or `?N`
/// placeholders (as on SQLite) become PostgreSQL's `$N`.
struct ConsumerTransaction: TransactionContext {
    let link: Link

    func execute(_ sql: String, _ arguments: [DatabaseValue]) throws {
        _ = try query(sql, arguments)
    }

    func query(_ sql: String, _ arguments: [DatabaseValue]) throws -> [[DatabaseValue]] {
        var binds = PostgresBindings()
        for argument in arguments {
            switch argument {
            case .null: binds.appendNull()
            case .integer(let value): binds.append(value)
            case .real(let value): binds.append(value)
            case .text(let value): binds.append(value)
            case .blob(let bytes): binds.append(ByteBuffer(bytes: bytes))
            }
        }
        let rows = try link.blockingQuery(Self.placeholders(sql), binds, doing: "a consumer's write")
        return rows.map { row in
            row.makeRandomAccess().map { cell -> DatabaseValue in
                guard let bytes = cell.bytes else { return .null }
                switch cell.dataType {
                case .int2, .int4, .int8: return (try? cell.decode(Int64.self)).map(DatabaseValue.integer) ?? .null
                case .float4, .float8, .numeric: return (try? cell.decode(Double.self)).map(DatabaseValue.real) ?? .null
                case .bytea: return .blob(Array(bytes.readableBytesView))
                default: return .text(String(buffer: bytes))
                }
            }
        }
    }

    /// Rewrites `?` and `?N` outside quotes as `$N`.
    static func placeholders(_ sql: String) -> String {
        var result = ""
        var next = 1
        var quote: Character?
        var characters = sql.makeIterator()
        var pending: Character? = characters.next()
        while let character = pending {
            pending = characters.next()
            if let open = quote {
                result.append(character)
                if character == open { quote = nil }
                continue
            }
            if character == "'" || character == "\"" {
                quote = character
                result.append(character)
                continue
            }
            guard character == "?" else {
                result.append(character)
                continue
            }
            var digits = ""
            while let digit = pending, digit.isASCII, digit.isNumber {
                digits.append(digit)
                pending = characters.next()
            }
            if let number = Int(digits) {
                result += "$\(number)"
                next = number + 1
            } else {
                result += "$\(next)"
                next += 1
            }
        }
        return result
    }
}
