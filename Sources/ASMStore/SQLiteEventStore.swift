public import ASMCore
internal import Dispatch
internal import FoundationEssentials
internal import Synchronization

/// The event log in one SQLite file: the default ``EventStore``.
///
/// The file runs in WAL mode with an explicit `synchronous` setting (FULL unless asked
/// otherwise), a busy timeout and foreign keys on. One writer connection group-commits
/// concurrent appends; readers use their own connections and never wait for it. Other processes may open the same file: their appends serialize on
/// SQLite's lock, and subscribers here see their events within the follow interval.
///
/// ```swift
/// let store = try SQLiteEventStore(path: ".asm/asm.sqlite")
/// let session = SessionID.generate()
/// try await store.append(
///     [NewEvent(SessionCreated(agentID: "reviewer"))], to: session.stream, expectedVersion: .noStream)
/// for try await envelope in store.subscribe(from: .zero) { print(envelope.sequence, envelope.type) }
/// ```
///
/// - Important: opening refuses, and leaves untouched, a file that is not SQLite, is
///   damaged, belongs to another application or has a newer schema.
public final class SQLiteEventStore: LogImporting {
    /// How much a commit waits for the disk.
    public enum Synchronous: String, Sendable, CaseIterable {
        /// Every commit is on disk before the append returns (survives power loss).
        case full
        /// Commits survive a crash of the process, not necessarily a power loss; faster.
        case normal

        var pragmaValue: String { rawValue.uppercased() }
    }

    /// Settings of a store.
    public struct Configuration: Sendable {
        /// `full` by default.
        public var synchronous: Synchronous = .full
        /// How long to wait for another connection's lock before failing with `busy`.
        public var busyTimeout: Duration = .seconds(5)
        /// The largest payload accepted, in bytes (1 MiB by default).
        public var maximumEventBytes: Int = 1 << 20
        /// Create the file (and its directory) when it does not exist.
        public var createIfMissing: Bool = true
        /// How many idle reader connections to keep.
        public var readerConnections: Int = 4
        /// How subscribers notice commits made by other processes.
        public var follow: FollowMode = .default
        /// The clock events are recorded with.
        public var clock: any WallClock = SystemClock()
        /// Commit on the calling thread when no other commit is in flight.
        ///
        /// This saves the two thread handoffs of going through the writer's queue (about
        /// 50 µs per commit on a 2-core machine, a third of a one-event commit), at the cost
        /// of blocking the caller's thread for that commit's `fsync`. Appends that arrive
        /// while a commit is in flight are grouped on the writer's queue either way. Turn it
        /// off to keep every `fsync` off Swift's cooperative threads.
        public var inlineCommits = true
        /// Removes secrets from every event before it is written: the one redaction step
        /// every append passes through, whatever wrote the event. By default it knows the
        /// secret formats of ``SecretRules`` and the values of this process's secret-named
        /// environment variables.
        public var redactor = Redactor(environment: ProcessInfo.processInfo.environment)
        /// The process recorded as executing the runs whose request or start this store
        /// appends (a lease per run, in `run_leases`, ended with the run); another process
        /// that finds the holder gone records those runs as abandoned. This process by
        /// default.
        public var owner: ProcessOwner? = .current
        /// Open for reading only: nothing is created, migrated or rebuilt, and every write
        /// is refused with `readOnly`. A file this user cannot write, or on a read-only mount,
        /// can be read this way (see ``init(path:configuration:)``).
        public var readOnly = false

        public init() {}
    }

    /// The database file.
    public let path: String
    public let configuration: Configuration

    private let writer: EventWriter
    private let readers: ReaderPool
    private let signal: CommitSignal
    private let watcher: LogWatcher
    private let claims: ConsumerClaims

    /// Tables a consumer's own writes may read but never change.
    static let protectedTables: Set<String> = Set([
        "events", "sessions", "runs", "transcript", "usage", "projection_checkpoints", "consumers", "approvals",
        "run_leases", "session_forks", "session_parents",
        DatabaseFile.migrationsTable, "events_readable", "transcript_messages", "usage_by_session",
        "usage_by_provider", "usage_by_model",
    ]).union(SearchIndex.tables)

    /// Opens (or creates) the log at `path`, migrating it to this build's schema.
    ///
    /// - Parameters:
    ///   - path: the database file.
    ///   - configuration: durability, limits and timeouts.
    /// - Throws: ``StoreError`` with code `missingDatabase`, `notADatabase`, `corrupt`,
    ///   `foreignDatabase`, `newerSchema`, `cannotOpen`, `readOnly` or `busy`.
    public init(path: String, configuration: Configuration = Configuration()) throws {
        self.path = path
        claims = ConsumerClaims(database: path)
        self.configuration = configuration
        if configuration.readOnly {
            guard DatabaseFile.exists(path) else {
                throw StoreError(.missingDatabase, "no database at \(path)", path: path)
            }
        } else if !DatabaseFile.exists(path) {
            guard configuration.createIfMissing else {
                throw StoreError(.missingDatabase, "no database at \(path)", path: path)
            }
            try DatabaseFile.createParentDirectory(of: path)
        }
        try DatabaseFile.checkHeader(path: path)
        let busyMilliseconds = Int32(
            clamping: configuration.busyTimeout.components.seconds * 1000
                + configuration.busyTimeout.components.attoseconds / 1_000_000_000_000_000
        )
        let connection: Connection
        let mode: Connection.OpenMode
        let head: ChainHead
        if configuration.readOnly {
            (connection, mode, head) = try Self.openForReading(path, busyMilliseconds: busyMilliseconds)
        } else {
            mode = .readWrite
            (connection, head) = try Self.openForWriting(path, configuration, busyMilliseconds: busyMilliseconds)
        }
        let writeLock = WriteLockFlag()
        let watcherBox = WatcherBox()
        signal = CommitSignal(onWaiterAdded: { watcherBox.watcher?.ensureRunning() })
        signal.publish(SequenceNumber(head.sequence))
        let signal = self.signal
        watcher = LogWatcher(
            path: path,
            mode: configuration.follow,
            openMode: mode,
            hasDemand: { signal.hasWaiters },
            isWriting: { writeLock.isHeld },
            publish: { signal.publish($0) }
        )
        watcherBox.watcher = watcher
        readers = ReaderPool(
            path: path,
            busyTimeoutMilliseconds: busyMilliseconds,
            idleLimit: configuration.readerConnections,
            mode: mode
        )
        writer = EventWriter(
            connection: connection,
            clock: configuration.clock,
            signal: signal,
            writeLock: writeLock,
            inlineCommits: configuration.inlineCommits,
            owner: configuration.owner,
            readOnly: configuration.readOnly
        )
    }

    /// Opens `path` for reading and writing, creating, migrating and rebuilding what it must.
    private static func openForWriting(
        _ path: String,
        _ configuration: Configuration,
        busyMilliseconds: Int32
    ) throws(StoreError) -> (Connection, ChainHead) {
        do {
            let connection = try Connection(
                path: path,
                mode: configuration.createIfMissing ? .readWriteCreate : .readWrite
            )
            connection.setBusyTimeout(milliseconds: busyMilliseconds)
            let state = try DatabaseFile.inspect(connection, path: path)
            try DatabaseFile.configure(connection, synchronous: configuration.synchronous)
            _ = try DatabaseFile.migrate(connection, from: state, clock: configuration.clock)
            let head = try EventWriter.loadHead(connection)
            if try !Projector.isCurrent(connection, lastSequence: head.sequence) {
                try connection.transaction(.immediate) {
                    _ = try ProjectionRebuilder.rebuild(connection, projector: Projector(connection: connection))
                }
            } else if try connection.scalar(
                "SELECT 1 FROM projection_checkpoints WHERE sequence <> ?1",
                [.integer(Projector.keptInline)]
            ) != nil {
                // A file whose appends recorded a checkpoint each: current at its end, kept
                // inline from here — checked again under the write lock, so that a copy that
                // appended meanwhile (and left its checkpoints stale) stays stale.
                try connection.transaction(.immediate) {
                    try connection.execute(
                        """
                        UPDATE projection_checkpoints SET sequence = ?1
                        WHERE sequence = (SELECT coalesce(max(sequence), 0) FROM events)
                        """,
                        [.integer(Projector.keptInline)]
                    )
                }
            }
            return (connection, head)
        } catch let error as StoreError {
            throw readOnlyExplained(error, path: path)
        } catch let error as SQLiteError {
            throw readOnlyExplained(StoreError.from(error, path: path, doing: "opening"), path: path)
        } catch {
            throw StoreError(.sqlite, "opening: \(error)", underlying: error, path: path)
        }
    }

    /// A refusal to write, said as what it is when the file or its directory cannot be written.
    private static func readOnlyExplained(_ error: StoreError, path: String) -> StoreError {
        guard error.code == .readOnly || error.code == .cannotOpen, !DatabaseFile.isWritable(path) else { return error }
        return StoreError(
            .readOnly,
            "\(path) cannot be written here (the file, its directory or its mount is read-only for this user); "
                + "commands that only read can open it",
            underlying: error,
            path: path
        )
    }

    /// Opens `path` for reading only: read-only where SQLite can share the file with writers
    /// (its `-shm` index exists or can be made), else immutable — exact only when no
    /// write-ahead file holds commits, which is checked. The schema must be this build's and
    /// the projections current, since neither can be brought up to date here.
    private static func openForReading(
        _ path: String,
        busyMilliseconds: Int32
    ) throws(StoreError) -> (Connection, Connection.OpenMode, ChainHead) {
        func open(_ mode: Connection.OpenMode) throws(StoreError) -> (Connection, DatabaseFile.SchemaState) {
            try opening(path) {
                let connection = try Connection(path: path, mode: mode)
                connection.setBusyTimeout(milliseconds: busyMilliseconds)
                return (connection, try DatabaseFile.inspect(connection, path: path))
            }
        }
        var mode = Connection.OpenMode.readOnly
        var opened: (Connection, DatabaseFile.SchemaState)
        do {
            opened = try open(.readOnly)
        } catch  where error.code == .cannotOpen || error.code == .readOnly {
            // SQLite cannot make the write-ahead index here (a read-only directory or mount).
            let wal = DatabaseFile.size(path + "-wal") ?? 0
            guard wal == 0 else {
                throw StoreError(
                    .readOnly,
                    "\(path)-wal holds \(wal) bytes of commits that cannot be read without write access to "
                        + "its directory; copy the database and its -wal file somewhere writable to read them",
                    path: path
                )
            }
            mode = .immutable
            opened = try open(.immutable)
        }
        let (connection, state) = opened
        guard state == .version(DatabaseFile.latestVersion) else {
            let version = if case .version(let number) = state { "\(number)" } else { "none" }
            throw StoreError(
                .readOnly,
                "\(path) has schema version \(version), older than this build's \(DatabaseFile.latestVersion), and cannot "
                    + "be upgraded read-only; open a writable copy",
                path: path
            )
        }
        return try opening(path) {
            let head = try EventWriter.loadHead(connection)
            guard try Projector.isCurrent(connection, lastSequence: head.sequence) else {
                throw StoreError(
                    .readOnly,
                    "\(path)'s projections lag its log and cannot be rebuilt read-only; open a writable copy",
                    path: path
                )
            }
            try connection.execute("PRAGMA query_only = 1")
            return (connection, mode, head)
        }
    }

    /// Runs a step of opening `path`, reporting any failure as a ``StoreError``.
    private static func opening<T>(_ path: String, _ body: () throws -> T) throws(StoreError) -> T {
        do {
            return try body()
        } catch let error as StoreError {
            throw error
        } catch let error as SQLiteError {
            throw StoreError.from(error, path: path, doing: "opening")
        } catch {
            throw StoreError(.sqlite, "opening: \(error)", underlying: error, path: path)
        }
    }

    /// Opens the log at `path` with the default configuration and the given durability.
    /// - Throws: ``StoreError``, as ``init(path:configuration:)``.
    public convenience init(path: String, synchronous: Synchronous) throws {
        var configuration = Configuration()
        configuration.synchronous = synchronous
        try self.init(path: path, configuration: configuration)
    }

    public func close() async {
        claims.releaseAll()
        writer.close()
        signal.close()
        watcher.close()
        readers.close()
    }

    /// How many writes are waiting for the commit in flight to finish.
    package var pendingWrites: Int { writer.pendingCount }

    /// How many write transactions this store has committed (appends grouped into one count once).
    package var committedTransactions: Int { writer.committedTransactions.load(ordering: .relaxed) }

    /// After ``close()``: statements and transactions that were still open on any connection.
    /// A clean close reports zero; tests check it.
    package var openHandlesAtClose: Int {
        let writerState = writer.leftOpenAtClose.withLock { $0 }
        return (writerState?.statements ?? 0) + (writerState?.transaction == true ? 1 : 0)
            + readers.leftOpenAtClose.withLock { $0 }
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

    public func lastSequence() async throws -> SequenceNumber {
        try await readers.read { try SQLiteSnapshot(connection: $0).lastSequence() }
    }

    public func streamVersion(of stream: StreamID) async throws -> StreamVersion {
        try await readers.read { try SQLiteSnapshot(connection: $0).streamVersion(of: stream) }
    }

    public func events(from sequence: SequenceNumber, limit: Int, filter: EventFilter) async throws -> EventPage {
        try await readers.read {
            try SQLiteSnapshot(connection: $0).events(from: sequence, limit: limit, filter: filter)
        }
    }

    public func recordedEvents(
        from sequence: SequenceNumber,
        limit: Int,
        filter: EventFilter
    ) async throws
        -> RecordedPage
    {
        try await readers.read {
            try SQLiteSnapshot(connection: $0).recordedEvents(from: sequence, limit: limit, filter: filter)
        }
    }

    public func stream(
        _ stream: StreamID,
        fromVersion version: StreamVersion,
        limit: Int
    ) async throws
        -> [EventEnvelope]
    {
        try await readers.read {
            try SQLiteSnapshot(connection: $0).stream(stream, fromVersion: version, limit: limit)
        }
    }

    public func read<T: Sendable>(_ body: @escaping @Sendable (any LogSnapshot) throws -> T) async throws -> T {
        try await readers.read { try body(SQLiteSnapshot(connection: $0)) }
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

    public func session(_ id: SessionID) async throws -> SessionSummary? {
        try await readers.read { try SQLiteSnapshot(connection: $0).session(id) }
    }

    public func sessions(status: SessionStatus? = nil, limit: Int = 100) async throws -> [SessionSummary] {
        try await readers.read { try SQLiteSnapshot(connection: $0).sessions(status: status, limit: limit) }
    }

    public func sessions(
        status: SessionStatus? = nil,
        startedBefore: SequenceNumber?,
        limit: Int = 100
    ) async throws -> [SessionSummary] {
        try await readers.read {
            try SQLiteSnapshot(connection: $0).sessions(status: status, startedBefore: startedBefore, limit: limit)
        }
    }

    public func run(_ id: RunID) async throws -> RunSummary? {
        try await readers.read { try SQLiteSnapshot(connection: $0).run(id) }
    }

    public func runs(in session: SessionID) async throws -> [RunSummary] {
        try await readers.read { try SQLiteSnapshot(connection: $0).runs(in: session) }
    }

    public func approvals(
        pendingOnly: Bool = false,
        session: SessionID? = nil,
        id: String? = nil,
        limit: Int = 1000
    ) async throws -> [ApprovalSummary] {
        try SQLiteSnapshot.validate(limit: limit)
        return try await readers.read {
            try ProjectionQueries.approvals($0, pendingOnly: pendingOnly, session: session, id: id, limit: limit)
        }
    }

    public func openRuns() async throws -> [OpenRun] {
        try await readers.read { try SQLiteSnapshot(connection: $0).openRuns() }
    }

    public func recordAgentProcess(_ group: AgentProcessGroup, for run: RunID) async throws {
        try await writer.perform { transaction in
            try transaction.connection.execute(
                "UPDATE run_leases SET agent_group = ?2, agent_started = ?3 WHERE run_id = ?1",
                [.blob(run.uuid.bytes), .integer(Int64(group.group)), .integer(Int64(bitPattern: group.startTime))]
            )
        }
    }

    public func transcript(of session: SessionID) async throws -> [TranscriptEntry] {
        try await readers.read { try SQLiteSnapshot(connection: $0).transcript(of: session) }
    }

    public func usage(by grouping: UsageGrouping, session: SessionID? = nil) async throws -> [UsageSummary] {
        try await readers.read { try SQLiteSnapshot(connection: $0).usage(by: grouping, session: session) }
    }

    public func rebuildProjections(progress: (@Sendable (WorkProgress) -> Void)?) async throws -> RebuildReport {
        try await writer.perform { transaction in
            try ProjectionRebuilder.rebuild(
                transaction.connection,
                projector: transaction.projector,
                progress: progress
            )
        }
    }

    // MARK: Integrity

    public func verify(progress: (@Sendable (WorkProgress) -> Void)?) async throws -> VerificationReport {
        try await readers.read { try ChainVerifier.verify($0, progress: progress) }
    }

    // MARK: Consumers

    public func consumer(
        named name: String,
        startingAt start: ConsumerStart = .beginning
    ) async throws
        -> DurableConsumer
    {
        try Self.validate(consumerName: name)
        let now = configuration.clock.now().microseconds
        let maximumEventBytes = configuration.maximumEventBytes
        let redactor = configuration.redactor
        _ = try await writer.perform { transaction -> Bool in
            let connection = transaction.connection
            if try connection.scalar("SELECT 1 FROM consumers WHERE name = ?", [.text(name)]) != nil { return false }
            let position: Int64
            switch start {
            case .beginning: position = 0
            case .end: position = transaction.head.sequence + 1  // its own registration event, appended next
            case .after(let sequence): position = min(max(0, sequence.rawValue), transaction.head.sequence)
            }
            let registration = NewEvent(ConsumerCheckpointed(consumer: name, position: SequenceNumber(position)))
            _ = try transaction.append(
                PreparedAppend(
                    [registration],
                    stream: .consumers,
                    expected: .any,
                    maximumEventBytes: maximumEventBytes,
                    redactor: redactor
                )
            )
            try connection.execute(
                "INSERT INTO consumers (name, position, created_at, updated_at) VALUES (?, ?, ?, ?)",
                [.text(name), .integer(position), .integer(now), .integer(now)]
            )
            return true
        }
        return DurableConsumer(name: name, store: self)
    }

    public func consumers() async throws -> [ConsumerStatus] {
        try await readers.read { connection in
            let last = try connection.scalar("SELECT coalesce(max(sequence), 0) FROM events")?.integerValue ?? 0
            return try connection.query("SELECT name, position, created_at, updated_at FROM consumers ORDER BY name")
                .map { row in
                    let position = row[1].integerValue ?? 0
                    return ConsumerStatus(
                        name: row[0].textValue ?? "",
                        position: SequenceNumber(position),
                        lag: max(0, last - position),
                        createdAt: Timestamp(microseconds: row[2].integerValue ?? 0),
                        updatedAt: Timestamp(microseconds: row[3].integerValue ?? 0)
                    )
                }
        }
    }

    public func consumerPosition(_ name: String) async throws -> SequenceNumber {
        let position = try await readers.read { connection in
            try connection.scalar("SELECT position FROM consumers WHERE name = ?", [.text(name)])?.integerValue
        }
        guard let position else { throw StoreError(.notFound, "no consumer named \"\(name)\"", path: path) }
        return SequenceNumber(position)
    }

    public func acknowledge(
        consumer name: String,
        through sequence: SequenceNumber,
        writes: (@Sendable (any TransactionContext) throws -> Void)?
    ) async throws {
        let now = configuration.clock.now().microseconds
        let path = self.path
        try await claims.excludingOthers(name) {
            try await writer.perform { transaction in
                let connection = transaction.connection
                guard sequence.rawValue <= transaction.head.sequence, sequence.rawValue >= 0 else {
                    throw StoreError(
                        .invalidArgument,
                        "cannot acknowledge \(sequence): the log ends at \(transaction.head.sequence)",
                        path: path
                    )
                }
                try connection.execute(
                    "UPDATE consumers SET position = max(position, ?), updated_at = ? WHERE name = ?",
                    [.integer(sequence.rawValue), .integer(now), .text(name)]
                )
                guard connection.changes == 1 else {
                    throw StoreError(.notFound, "no consumer named \"\(name)\"", path: path)
                }
                if let writes {
                    try connection.withProtectedTables(Self.protectedTables) {
                        try writes(ConsumerTransaction(connection: connection))
                    }
                }
            }
        }
    }

    // MARK: Search

    public func search(_ query: SearchQuery) async throws -> [SearchHit] {
        // Ranked in the index alone, then joined (a join before the ranking would read every
        // match's event); filters need the event's columns, so they join first. Terms hold only
        // letters and digits, so quoting them is enough.
        let match = query.terms.map {
            "\"" + $0.word.replacing("\"", with: "\"\"") + "\"" + ($0.isPrefix ? "*" : "")
        }.joined(separator: " ")
        var filters: [String] = []
        var filterArguments: [DatabaseValue] = []
        if let session = query.session {
            filters.append("src.stream_id = ?")
            filterArguments.append(.blob(Array(session.stream.uuid.bytes)))
        }
        if !query.types.isEmpty {
            filters.append("src.type IN (\(Array(repeating: "?", count: query.types.count).joined(separator: ", ")))")
            filterArguments += query.types.map { .text($0.rawValue) }
        }
        let sql =
            filters.isEmpty
            ? """
            SELECT s.rowid, src.stream_id, src.run_id, src.type, src.text, s.rank
            FROM (SELECT rowid, rank FROM asm_search WHERE asm_search MATCH ? ORDER BY rank LIMIT ?) AS s
            JOIN asm_search_source AS src ON src.sequence = s.rowid ORDER BY s.rank, s.rowid
            """
            : """
            SELECT asm_search.rowid, src.stream_id, src.run_id, src.type, src.text, asm_search.rank
            FROM asm_search JOIN asm_search_source AS src ON src.sequence = asm_search.rowid
            WHERE asm_search MATCH ? AND \(filters.joined(separator: " AND "))
            ORDER BY asm_search.rank, asm_search.rowid LIMIT ?
            """
        let arguments: [DatabaseValue] =
            filters.isEmpty
            ? [.text(match), .integer(Int64(query.limit))]
            : [.text(match)] + filterArguments + [.integer(Int64(query.limit))]
        let path = self.path
        return try await readers.read { connection in
            guard try SearchIndex.isOn(connection) else { throw Self.noSearchIndex(path) }
            let prepared = try connection.statement(sql)
            defer { prepared.reset() }
            try prepared.bind(arguments)
            var hits: [SearchHit] = []
            while try prepared.step() {
                hits.append(
                    SearchHit(
                        sequence: SequenceNumber(prepared.int64(at: 0)),
                        sessionID: SessionID(uuid: prepared.uuid(at: 1) ?? .zero),
                        runID: prepared.uuid(at: 2).map(RunID.init(uuid:)),
                        type: EventType(prepared.text(at: 3)),
                        snippet: query.snippet(of: prepared.text(at: 4)),
                        score: -prepared.double(at: 5)
                    )
                )
            }
            return hits
        }
    }

    public func searchIndex() async throws -> SearchIndexStatus {
        try await readers.read { connection in
            try SearchIndex.isOn(connection)
                ? SearchIndexStatus(isOn: true, indexedEvents: try SearchIndex.count(connection))
                : SearchIndexStatus(isOn: false, indexedEvents: 0)
        }
    }

    public func setSearchIndex(_ on: Bool) async throws -> SearchIndexStatus {
        try await writer.perform { transaction in
            if on {
                return SearchIndexStatus(isOn: true, indexedEvents: try SearchIndex.turnOn(transaction.connection))
            }
            try SearchIndex.turnOff(transaction.connection)
            return SearchIndexStatus(isOn: false, indexedEvents: 0)
        }
    }

    static func noSearchIndex(_ path: String) -> StoreError {
        StoreError(
            .noSearchIndex,
            "this log's search index is off; asm search --index on turns it on",
            path: path
        )
    }

    public func claimConsumer(_ name: String) async throws {
        try Self.validate(consumerName: name)
        try claims.claim(name)
    }

    public func releaseConsumer(_ name: String) async {
        claims.release(name)
    }

    public func resetConsumer(_ name: String, to sequence: SequenceNumber, reason: String?) async throws {
        let now = configuration.clock.now().microseconds
        let path = self.path
        let maximumEventBytes = configuration.maximumEventBytes
        let redactor = configuration.redactor
        try await writer.perform { transaction in
            let connection = transaction.connection
            guard
                let current = try connection.scalar("SELECT position FROM consumers WHERE name = ?", [.text(name)])?
                    .integerValue
            else {
                throw StoreError(.notFound, "no consumer named \"\(name)\"", path: path)
            }
            guard sequence.rawValue >= 0, sequence.rawValue <= transaction.head.sequence else {
                throw StoreError(
                    .invalidArgument,
                    "cannot reset to \(sequence): the log ends at \(transaction.head.sequence)",
                    path: path
                )
            }
            try connection.execute(
                "UPDATE consumers SET position = ?, updated_at = ? WHERE name = ?",
                [.integer(sequence.rawValue), .integer(now), .text(name)]
            )
            let event = NewEvent(
                ConsumerReset(consumer: name, from: SequenceNumber(current), to: sequence, reason: reason)
            )
            _ = try transaction.append(
                PreparedAppend(
                    [event],
                    stream: .consumers,
                    expected: .any,
                    maximumEventBytes: maximumEventBytes,
                    redactor: redactor
                )
            )
        }
    }

    // MARK: Copying a log in

    public func importRecorded(_ events: [RecordedEvent], chainVersions: [VerificationReport.ChainVersion]) async throws
    {
        try await writer.perform { transaction in
            try transaction.importRecorded(events, chainVersions: chainVersions)
        }
    }

    public func importConsumers(_ consumers: [ConsumerStatus]) async throws {
        try await writer.perform { transaction in
            for consumer in consumers {
                try transaction.connection.execute(
                    """
                    INSERT INTO consumers (name, position, created_at, updated_at) VALUES (?, ?, ?, ?)
                    ON CONFLICT (name) DO UPDATE SET position = excluded.position, updated_at = excluded.updated_at
                    """,
                    [
                        .text(consumer.name), .integer(consumer.position.rawValue),
                        .integer(consumer.createdAt.microseconds), .integer(consumer.updatedAt.microseconds),
                    ]
                )
            }
        }
    }

    // MARK: Lookups for tools

    /// The schema version of the file (the last migration applied).
    public func schemaVersion() async throws -> Int {
        try await readers.read { connection in
            Int(try connection.scalar("SELECT max(version) FROM \(DatabaseFile.migrationsTable)")?.integerValue ?? 0)
        }
    }

    /// Sessions whose id starts with `prefix` (hex digits, hyphens ignored), at most `limit`.
    ///
    /// Lets people type the first few characters of an id. Uses the primary key's order, so
    /// it costs one index range scan.
    /// - Throws: ``StoreError`` with code `invalidArgument` when `prefix` is not hexadecimal.
    public func sessionIDs(withPrefix prefix: String, limit: Int = 2) async throws -> [SessionID] {
        try await idsWithPrefix(prefix, kind: "session", table: "sessions", column: "session_id", limit: limit).map(
            SessionID.init(uuid:)
        )
    }

    /// Run ids that start with `prefix` (hex digits, dashes ignored), at most `limit`.
    public func runIDs(withPrefix prefix: String, limit: Int = 2) async throws -> [RunID] {
        try await idsWithPrefix(prefix, kind: "run", table: "runs", column: "run_id", limit: limit).map(
            RunID.init(uuid:)
        )
    }

    private func idsWithPrefix(
        _ prefix: String,
        kind: String,
        table: String,
        column: String,
        limit: Int
    ) async throws -> [UUIDValue] {
        let range = try identifierRange(prefix, kind: kind)
        let (low, high) = (range.lowerBound, range.upperBound)
        return try await readers.read { connection in
            try connection.query(
                "SELECT \(column) FROM \(table) WHERE \(column) BETWEEN ? AND ? ORDER BY \(column) LIMIT ?",
                [.blob(low.bytes), .blob(high.bytes), .integer(Int64(limit))]
            ).compactMap { row in
                guard case .blob(let bytes) = row[0] else { return nil }
                return bytes.withUnsafeBytes { UUIDValue(bytes: $0) }
            }
        }
    }

    static func validate(consumerName name: String) throws(StoreError) {
        guard !name.isEmpty, name.utf8.count <= 128, name.unicodeScalars.allSatisfy({ $0.value >= 0x20 }) else {
            throw StoreError(.invalidArgument, "a consumer name must be 1 to 128 printable characters")
        }
    }
}

/// Lets the commit signal reach the watcher created after it.
private final class WatcherBox: @unchecked Sendable {
    var watcher: LogWatcher?
}

/// A consumer's writes inside the writer's transaction.
private struct ConsumerTransaction: TransactionContext {
    let connection: Connection

    func execute(_ sql: String, _ arguments: [DatabaseValue]) throws {
        _ = try query(sql, arguments)
    }

    func query(_ sql: String, _ arguments: [DatabaseValue]) throws -> [[DatabaseValue]] {
        do {
            let statement = try connection.prepare(sql)
            try statement.bind(arguments)
            var rows: [[DatabaseValue]] = []
            while try statement.step() {
                rows.append((0..<statement.columnCount).map { statement.value(at: $0) })
            }
            return rows
        } catch {
            throw StoreError(.sqlite, "consumer write failed: \(error.message)", underlying: error)
        }
    }
}

// MARK: Expunging

extension SQLiteEventStore {
    /// Event types that carry the log's structure rather than content (decisions replay
    /// re-derives, positions, versions): their payloads are never expunged.
    public static let structuralTypes: Set<EventType> = [
        .sessionActivated, .sessionArchived, .runQueued, .runStarted, .routingDecided, .providerHealthChanged,
        .tokenUsageUpdated, .policyEvaluated, .continuationApplied, .workspaceSnapshotTaken, .workspaceRolledBack,
        .consumerCheckpointed, .consumerReset, .chainUpgraded, .eventExpunged,
    ]

    /// Replaces the payloads of the events at `sequences` with tombstones that keep their
    /// digests, and records an `event.expunged` event saying who and why, in one transaction.
    /// The hash chain still verifies: version 2 links each event to its payload's digest.
    ///
    /// The payload's bytes leave the table at once (SQLite's secure delete overwrites them);
    /// they leave the file's free pages and the write-ahead log at the next checkpoint and
    /// `VACUUM`. A copy of the file made earlier still holds them. Projections are rebuilt in
    /// the same transaction, so none keeps what was expunged.
    ///
    /// - Throws: ``StoreError`` with `.notFound` for a sequence the log does not have, and
    ///   `.invalidArgument`, naming the event, for one linked under chain version 1, one
    ///   already expunged, a structural event (``structuralTypes``), or an empty reason;
    ///   nothing is changed then.
    @discardableResult
    public func expunge(
        _ sequences: [SequenceNumber],
        reason: String,
        by: String
    ) async throws -> EventExpunged {
        let reason = String(reason.drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
        guard !reason.isEmpty else { throw StoreError(.invalidArgument, "an expunge needs a reason") }
        guard !sequences.isEmpty else { throw StoreError(.invalidArgument, "name at least one event to expunge") }
        let ordered = Array(Set(sequences)).sorted()
        let redactor = configuration.redactor
        let maximumEventBytes = configuration.maximumEventBytes
        return try await writer.perform { transaction in
            let connection = transaction.connection
            try connection.execute("PRAGMA secure_delete = ON")
            defer { try? connection.execute("PRAGMA secure_delete = OFF") }
            let version2From = transaction.head.version2From ?? .max
            var digests: [String] = []
            for sequence in ordered {
                let rows = try connection.query(
                    "SELECT type, payload FROM events WHERE sequence = ?",
                    [.integer(sequence.rawValue)]
                )
                guard let row = rows.first, let typeName = row[0].textValue, let payload = row[1].textValue else {
                    throw StoreError(.notFound, "there is no event \(sequence)", sequence: sequence)
                }
                let type = EventType(typeName)
                guard sequence.rawValue >= version2From else {
                    let from = version2From == .max ? "its next append" : "sequence \(version2From)"
                    throw StoreError(
                        .invalidArgument,
                        "event \(sequence) is linked under hash chain version 1, which commits to the payload's bytes: "
                            + "replacing them would break every later link; events from \(from) on can be expunged",
                        sequence: sequence
                    )
                }
                guard Tombstone.digest(of: Array(payload.utf8)) == nil else {
                    throw StoreError(.invalidArgument, "event \(sequence) is already expunged", sequence: sequence)
                }
                guard !Self.structuralTypes.contains(type) else {
                    throw StoreError(
                        .invalidArgument,
                        "event \(sequence) (\(type)) carries the log's structure, not content: it cannot be expunged",
                        sequence: sequence
                    )
                }
                let digest = "sha256:" + WriteTransaction.sha256(Array(payload.utf8)).description
                digests.append(digest)
                let tombstone = String(decoding: Tombstone.payload(digest: digest), as: UTF8.self)
                try connection.execute(
                    "INSERT INTO expunged (sequence, digest, tombstone, recorded_at) VALUES (?, ?, ?, ?)",
                    [
                        .integer(sequence.rawValue), .text(digest), .text(tombstone),
                        .integer(transaction.head.recordedAt),
                    ]
                )
                try connection.execute(
                    "UPDATE events SET payload = ? WHERE sequence = ?",
                    [.text(tombstone), .integer(sequence.rawValue)]
                )
            }
            let record = EventExpunged(sequences: ordered, digests: digests, reason: reason, by: by)
            _ = try transaction.append(
                PreparedAppend(
                    [NewEvent(record)],
                    stream: .log,
                    expected: .any,
                    maximumEventBytes: maximumEventBytes,
                    redactor: redactor
                )
            )
            // The projections (and the search index, when on) are rebuilt without the words;
            // the pages they leave are overwritten, as the event's are.
            _ = try ProjectionRebuilder.rebuild(connection, projector: transaction.projector)
            return record
        }
    }
}
