public import ASMCore

/// The event log's storage: append-only events, projections, subscriptions and consumers.
///
/// Everything above the store speaks to this protocol; ``SQLiteEventStore`` is the
/// implementation for one SQLite file, and every conformance must pass the same suite of
/// tests. Reads of projections reflect every committed event: projections are updated in
/// the append's transaction.
///
/// ## Topics
/// - Appending: ``append(_:to:expectedVersion:)``
/// - Reading: ``events(from:limit:filter:)``, ``recordedEvents(from:limit:filter:)``,
///   ``stream(_:fromVersion:limit:)``, ``subscribe(from:filter:pageSize:)``
/// - Projections: ``session(_:)``, ``sessions(status:limit:)``, ``run(_:)``, ``runs(in:)``,
///   ``transcript(of:)``, ``usage(by:session:)``, ``rebuildProjections()``
/// - Durable consumers: ``consumer(named:startingAt:)``
/// - Integrity: ``verify()``
public protocol EventStore: Sendable {
    /// Appends a batch of events to one stream, atomically.
    ///
    /// Either every event of the batch is committed, contiguously and in order, or none is.
    /// A batch whose events are all already committed — same ids, same stream, contiguous,
    /// in the same order, with the same types and payloads — is a retry: it returns the
    /// original positions and writes nothing, whatever its expected version. A batch that
    /// mixes committed and new ids, or changes a committed event, is an idempotency conflict.
    ///
    /// - Parameters:
    ///   - events: one or more events; their ids are the idempotency keys.
    ///   - stream: the stream (for sessions, the session's stream).
    ///   - expectedVersion: what the stream's version must be before the append.
    /// - Returns: where the batch landed.
    /// - Throws: ``StoreError`` with code `versionConflict`, `idempotencyConflict`,
    ///   `eventTooLarge`, `invalidEvent`, `invalidArgument`, `busy`, `closed`, or an I/O code.
    @discardableResult
    func append(
        _ events: [NewEvent],
        to stream: StreamID,
        expectedVersion: ExpectedVersion
    ) async throws
        -> AppendResult

    /// The sequence of the last committed event (``SequenceNumber/zero`` for an empty log).
    func lastSequence() async throws -> SequenceNumber

    /// The current version of a stream (``StreamVersion/none`` when it has no events).
    func streamVersion(of stream: StreamID) async throws -> StreamVersion

    /// A page of typed events in global order, starting at `sequence` (inclusive).
    /// - Complexity: a filter by type scans the log; by stream or run, the stream's index.
    func events(from sequence: SequenceNumber, limit: Int, filter: EventFilter) async throws -> EventPage

    /// A page of events exactly as stored (payload bytes undecoded), in global order.
    func recordedEvents(from sequence: SequenceNumber, limit: Int, filter: EventFilter) async throws -> RecordedPage

    /// Events of one stream from a version (inclusive), in stream order.
    func stream(_ stream: StreamID, fromVersion version: StreamVersion, limit: Int) async throws -> [EventEnvelope]

    /// Suspends until an event after `sequence` is committed (by this process or another).
    /// - Returns: `false` when the task was cancelled or the store closed first.
    func waitForCommit(after sequence: SequenceNumber) async -> Bool

    /// Suspends until an event after what `covered()` returns is committed, asking `covered`
    /// again at each commit: a reader that takes this process's commits from
    /// ``observeCommits(_:)`` and moves its coverage there is woken only for commits it does not
    /// have (another process's, or ones the feed could not hand it). `covered` may be called
    /// on the committing thread under a lock: it must only read the caller's state.
    /// - Returns: `false` when the task was cancelled or the store closed first.
    func waitForCommit(afterCovered covered: @escaping @Sendable () -> SequenceNumber) async -> Bool

    /// Calls `observer` with the events this process commits, right after each commit and
    /// before waiting readers wake, in sequence order, until the observation is cancelled or
    /// released. Observers are called in the order they registered, on the writer's thread:
    /// keep them short. Events other processes commit are not observed: read them from the log.
    /// `nil` when the store cannot observe its commits.
    func observeCommits(_ observer: @escaping @Sendable ([EventEnvelope]) -> Void) -> CommitObservation?

    /// The session's projection row.
    func session(_ id: SessionID) async throws -> SessionSummary?
    /// Sessions, most recently updated first.
    func sessions(status: SessionStatus?, limit: Int) async throws -> [SessionSummary]
    /// Sessions newest first (by the sequence that started them), those started before
    /// `startedBefore` when given: a stable order to page through.
    func sessions(status: SessionStatus?, startedBefore: SequenceNumber?, limit: Int) async throws -> [SessionSummary]
    /// The run's projection row.
    func run(_ id: RunID) async throws -> RunSummary?
    /// A session's runs, oldest first.
    func runs(in session: SessionID) async throws -> [RunSummary]
    /// The runs that have not ended (`requested`, `queued`, `running`), oldest first, with
    /// the lease of the process executing each.
    func openRuns() async throws -> [OpenRun]
    /// Tool approvals, oldest first.
    /// - Parameters:
    ///   - pendingOnly: only those waiting for an answer.
    ///   - session: only this session's.
    ///   - id: an approval id, or the start of one (every approval it begins).
    func approvals(pendingOnly: Bool, session: SessionID?, id: String?, limit: Int) async throws -> [ApprovalSummary]
    /// Records the agent process group this process started for `run` in the run's lease,
    /// so that whoever finds the run abandoned can stop what is left of it.
    func recordAgentProcess(_ group: AgentProcessGroup, for run: RunID) async throws
    /// A session's whole messages in log order.
    func transcript(of session: SessionID) async throws -> [TranscriptEntry]
    /// Usage and cost rolled up; optionally only for one session.
    func usage(by grouping: UsageGrouping, session: SessionID?) async throws -> [UsageSummary]

    /// Runs `body` against one consistent view of the log and its projections: every read
    /// it makes sees the same commits, whatever is appended meanwhile. Keep it short; it
    /// runs off Swift's cooperative threads and holds a reader while it runs.
    func read<T: Sendable>(_ body: @escaping @Sendable (any LogSnapshot) throws -> T) async throws -> T

    /// Re-derives every projection from the log alone, in one transaction.
    /// `progress`, when given, hears how far the walk has come every few thousand events.
    func rebuildProjections(progress: (@Sendable (WorkProgress) -> Void)?) async throws -> RebuildReport

    /// Walks the hash chain and checks the file's integrity.
    /// `progress`, when given, hears how far the walk has come every few thousand events.
    func verify(progress: (@Sendable (WorkProgress) -> Void)?) async throws -> VerificationReport

    /// The durable consumer `name`, registered at `start` if it does not exist yet.
    func consumer(named name: String, startingAt start: ConsumerStart) async throws -> DurableConsumer
    /// Every durable consumer with its position.
    func consumers() async throws -> [ConsumerStatus]
    /// The last sequence `name` acknowledged.
    func consumerPosition(_ name: String) async throws -> SequenceNumber
    /// Makes this store the one live instance of the durable consumer `name` — across
    /// processes, and on PostgreSQL across hosts — until ``releaseConsumer(_:)``, `close()` or
    /// the end of the process (a crash included). Claiming again while holding it is free.
    /// While another instance holds it, claims and acknowledgements are refused.
    /// - Throws: ``StoreError`` `consumerBusy`, naming the holder.
    func claimConsumer(_ name: String) async throws
    /// Gives up this store's claim on `name` (nothing when it holds none).
    func releaseConsumer(_ name: String) async
    /// Moves `name`'s checkpoint forward to `sequence` (never backwards), together with the
    /// consumer's own writes in the same transaction. Refused with `consumerBusy` while another
    /// instance holds the consumer (see ``claimConsumer(_:)``).
    func acknowledge(
        consumer name: String,
        through sequence: SequenceNumber,
        writes: (@Sendable (any TransactionContext) throws -> Void)?
    ) async throws
    /// Moves `name`'s checkpoint to `sequence` in either direction and records a `consumer.reset` event.
    func resetConsumer(_ name: String, to sequence: SequenceNumber, reason: String?) async throws

    /// Sessions whose id starts with `prefix` (hex digits, hyphens ignored), at most `limit`:
    /// lets people type the first few characters of an id.
    /// - Throws: ``StoreError`` `invalidArgument` when `prefix` is not hexadecimal.
    func sessionIDs(withPrefix prefix: String, limit: Int) async throws -> [SessionID]
    /// Runs whose id starts with `prefix`, as ``sessionIDs(withPrefix:limit:)``.
    func runIDs(withPrefix prefix: String, limit: Int) async throws -> [RunID]
    /// The schema version of the log (the last migration applied).
    func schemaVersion() async throws -> Int

    /// Events whose text holds every word of `query`, best first, each naming its sequence,
    /// session, run and type with the matching passage.
    /// - Throws: ``StoreError`` `noSearchIndex` while the log's search index is off.
    func search(_ query: SearchQuery) async throws -> [SearchHit]
    /// Whether the log's search index is on, and how many events it holds.
    func searchIndex() async throws -> SearchIndexStatus
    /// Turns the log's search index on — indexing every event already logged, in one
    /// transaction; from then on every append, from any process, indexes its events in its own
    /// transaction — or off, dropping it (the log is untouched). Either is a no-op when already so.
    func setSearchIndex(_ on: Bool) async throws -> SearchIndexStatus

    /// Stops accepting work, finishes what was submitted and closes the file.
    func close() async
}

/// The range of ids an id prefix covers (hex digits, hyphens ignored).
package func identifierRange(_ prefix: String, kind: String) throws(StoreError) -> ClosedRange<UUIDValue> {
    let digits = prefix.lowercased().filter { $0 != "-" }
    guard !digits.isEmpty, digits.count <= 32, digits.allSatisfy(\.isHexDigit) else {
        throw StoreError(.invalidArgument, "\"\(prefix)\" is not a \(kind) id or a prefix of one")
    }
    let low = UUIDValue(digits + String(repeating: "0", count: 32 - digits.count)) ?? .zero
    let high = UUIDValue(digits + String(repeating: "f", count: 32 - digits.count)) ?? .zero
    return low...high
}

/// The log and its projections at one point in time, for reads that must agree with each
/// other (a run's row, its session, its request and the transcript before it). Valid only
/// inside ``EventStore/read(_:)``.
public protocol LogSnapshot {
    /// The last committed sequence, 0 for an empty log.
    func lastSequence() throws -> SequenceNumber
    /// Events from `sequence` on, as ``EventStore/events(from:limit:filter:)``.
    func events(from sequence: SequenceNumber, limit: Int, filter: EventFilter) throws -> EventPage
    /// A stream's events from `version` on, as ``EventStore/stream(_:fromVersion:limit:)``.
    func stream(_ stream: StreamID, fromVersion version: StreamVersion, limit: Int) throws -> [EventEnvelope]
    func session(_ id: SessionID) throws -> SessionSummary?
    func run(_ id: RunID) throws -> RunSummary?
    func runs(in session: SessionID) throws -> [RunSummary]
    /// The runs that have not ended, with the lease of the process executing each.
    func openRuns() throws -> [OpenRun]
    /// `id` with its lease if it has not ended, else `nil`.
    func openRun(_ id: RunID) throws -> OpenRun?
    func transcript(of session: SessionID) throws -> [TranscriptEntry]
    func usage(by grouping: UsageGrouping, session: SessionID?) throws -> [UsageSummary]
    /// Where `session` was forked from, or `nil` when it is not a fork.
    func fork(of session: SessionID) throws -> SessionFork?
    /// The sessions forked from `session`, oldest first.
    func forks(from session: SessionID) throws -> [SessionFork]
    /// The session `session` was started under, when its `session.created` named one.
    func parent(of session: SessionID) throws -> SessionParent?
    /// The sessions started under `session` (not its forks), oldest first.
    func children(of session: SessionID) throws -> [SessionParent]
}

/// How far a walk over the log has come: `done` of `total` events (the log's length when the
/// walk began).
public struct WorkProgress: Hashable, Sendable {
    public var done: Int
    public var total: Int

    public init(done: Int, total: Int) {
        self.done = done
        self.total = total
    }

    /// How many events pass between two reports.
    public static let interval = 4096
}

extension EventStore {
    /// Waits past what `covered()` returns when the call is made (a store that cannot ask again).
    public func waitForCommit(afterCovered covered: @escaping @Sendable () -> SequenceNumber) async -> Bool {
        await waitForCommit(after: covered())
    }

    /// Re-derives every projection from the log alone, in one transaction.
    public func rebuildProjections() async throws -> RebuildReport { try await rebuildProjections(progress: nil) }

    /// Walks the hash chain and checks the file's integrity.
    public func verify() async throws -> VerificationReport { try await verify(progress: nil) }

    public func observeCommits(_ observer: @escaping @Sendable ([EventEnvelope]) -> Void) -> CommitObservation? { nil }

    /// A store without a search index finds nothing: it says so.
    public func search(_ query: SearchQuery) async throws -> [SearchHit] {
        throw StoreError(.noSearchIndex, "this store keeps no search index")
    }

    public func searchIndex() async throws -> SearchIndexStatus { SearchIndexStatus(isOn: false, indexedEvents: 0) }

    public func setSearchIndex(_ on: Bool) async throws -> SearchIndexStatus {
        guard !on else { throw StoreError(.noSearchIndex, "this store keeps no search index") }
        return SearchIndexStatus(isOn: false, indexedEvents: 0)
    }

    /// Events from `sequence` on: the log's backfill, then live events as they commit.
    ///
    /// The subscription reads pages by sequence, so the switch from backfill to live can
    /// neither skip nor repeat an event. It buffers one page; a slow consumer simply reads
    /// further behind. Cancelling the consuming task ends the iteration.
    public func subscribe(
        from sequence: SequenceNumber,
        filter: EventFilter = .all,
        pageSize: Int = 500
    )
        -> EventSubscription
    {
        EventSubscription(store: self, from: sequence, filter: filter, pageSize: pageSize)
    }

    /// Appends one event.
    /// - Throws: ``StoreError``, as ``append(_:to:expectedVersion:)``.
    @discardableResult
    public func append(
        _ event: NewEvent,
        to stream: StreamID,
        expectedVersion: ExpectedVersion = .any
    ) async throws
        -> AppendResult
    {
        try await append([event], to: stream, expectedVersion: expectedVersion)
    }

    /// Moves `name`'s checkpoint forward to `sequence`.
    public func acknowledge(consumer name: String, through sequence: SequenceNumber) async throws {
        try await acknowledge(consumer: name, through: sequence, writes: nil)
    }
}

/// Where a batch landed.
public struct AppendResult: Hashable, Sendable {
    public var stream: StreamID
    /// The first event's global sequence; the batch occupies `firstSequence...lastSequence`.
    public var firstSequence: SequenceNumber
    public var lastSequence: SequenceNumber
    /// The first event's stream version; the batch occupies `firstVersion...lastVersion`.
    public var firstVersion: StreamVersion
    public var lastVersion: StreamVersion
    /// When the store recorded the batch.
    public var recordedAt: Timestamp
    /// Whether this was a retry of a batch already committed (nothing was written).
    public var wasAlreadyCommitted: Bool

    public init(
        stream: StreamID,
        firstSequence: SequenceNumber,
        lastSequence: SequenceNumber,
        firstVersion: StreamVersion,
        lastVersion: StreamVersion,
        recordedAt: Timestamp,
        wasAlreadyCommitted: Bool
    ) {
        self.stream = stream
        self.firstSequence = firstSequence
        self.lastSequence = lastSequence
        self.firstVersion = firstVersion
        self.lastVersion = lastVersion
        self.recordedAt = recordedAt
        self.wasAlreadyCommitted = wasAlreadyCommitted
    }
}

/// Which events a read or subscription returns. Empty criteria match everything.
public struct EventFilter: Hashable, Sendable {
    /// Only these types, when set.
    public var types: Set<EventType>?
    /// Only this stream (session), when set.
    public var stream: StreamID?
    /// Only events of this run, when set.
    public var run: RunID?

    public init(types: Set<EventType>? = nil, stream: StreamID? = nil, run: RunID? = nil) {
        self.types = types
        self.stream = stream
        self.run = run
    }

    /// Every event.
    public static let all = EventFilter()

    /// Events of one session.
    public static func session(_ id: SessionID) -> EventFilter { EventFilter(stream: id.stream) }

    /// Whether the filter has no criteria.
    public var isEmpty: Bool { types == nil && stream == nil && run == nil }

    /// Whether a committed event passes the filter.
    public func matches(type: EventType, stream: StreamID, run: RunID?) -> Bool {
        if let types, !types.contains(type) { return false }
        if let expected = self.stream, expected != stream { return false }
        if let expected = self.run, expected != run { return false }
        return true
    }
}

/// A page of typed events and how far the read looked.
public struct EventPage: Sendable {
    public var events: [EventEnvelope]
    /// Every event up to this sequence was examined: the next read starts after it, so
    /// events the filter skipped are never examined twice.
    public var scannedThrough: SequenceNumber

    public init(events: [EventEnvelope], scannedThrough: SequenceNumber) {
        self.events = events
        self.scannedThrough = scannedThrough
    }
}

/// A page of stored events and how far the read looked.
public struct RecordedPage: Sendable {
    public var events: [RecordedEvent]
    /// As ``EventPage/scannedThrough``.
    public var scannedThrough: SequenceNumber

    public init(events: [RecordedEvent], scannedThrough: SequenceNumber) {
        self.events = events
        self.scannedThrough = scannedThrough
    }
}

/// What a projection rebuild did.
public struct RebuildReport: Hashable, Sendable {
    /// How many events were replayed.
    public var events: Int
    /// The projections rebuilt, with their versions.
    public var projections: [String: Int]
    public var throughSequence: SequenceNumber
}

extension RebuildReport {
    package init(rebuilt events: Int, projections: [String: Int], throughSequence: SequenceNumber) {
        self.init(events: events, projections: projections, throughSequence: throughSequence)
    }
}

extension VerificationReport {
    package init(
        checked eventsChecked: Int,
        firstMismatch: SequenceNumber?,
        firstGap: SequenceNumber?,
        integrity: [String],
        head: EventHash?,
        chainVersions: [ChainVersion]
    ) {
        self.init(
            eventsChecked: eventsChecked,
            firstMismatch: firstMismatch,
            firstGap: firstGap,
            integrity: integrity,
            head: head
        )
        self.chainVersions = chainVersions
    }
}

/// The result of walking the hash chain and checking the file.
public struct VerificationReport: Hashable, Sendable {
    /// How many events were checked.
    public var eventsChecked: Int
    /// The first sequence whose stored hash does not match its recomputed hash, if any.
    public var firstMismatch: SequenceNumber?
    /// The first missing sequence, if the sequence has a gap.
    public var firstGap: SequenceNumber?
    /// SQLite's own integrity check: `["ok"]` when the file is sound.
    public var integrity: [String]
    /// The hash of the last event (the chain head).
    public var head: EventHash?
    /// The chain versions and the first sequence each links: version 1 from 1 unless the log
    /// started at version 2.
    public var chainVersions: [ChainVersion] = []
    /// Events whose payloads were expunged, with who and why.
    public var expunged: [ExpungedEvent] = []

    /// A chain version and where it starts.
    public struct ChainVersion: Hashable, Sendable {
        public var version: Int
        public var firstSequence: SequenceNumber

        public init(version: Int, firstSequence: SequenceNumber) {
            self.version = version
            self.firstSequence = firstSequence
        }
    }

    /// An expunged event, as its `event.expunged` record tells.
    public struct ExpungedEvent: Hashable, Sendable {
        public var sequence: SequenceNumber
        /// The SHA-256 of the payload that was removed (`sha256:<hex>`).
        public var digest: String
        public var reason: String
        public var by: String
        /// Where the `event.expunged` record is.
        public var recordedIn: SequenceNumber
    }

    /// Whether everything checked out.
    public var isIntact: Bool { firstMismatch == nil && firstGap == nil && integrity == ["ok"] }
}

extension VerificationReport: Encodable {
    /// `asm verify --json` and `GET /v1/verify`: `ok`, `events_checked`, `first_mismatch`,
    /// `first_gap`, `integrity`, `head`, `chain_versions` (`version`, `from`) and `expunged`.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(isIntact, forKey: .ok)
        try container.encode(eventsChecked, forKey: .eventsChecked)
        try container.encodeIfPresent(firstMismatch?.rawValue, forKey: .firstMismatch)
        try container.encodeIfPresent(firstGap?.rawValue, forKey: .firstGap)
        try container.encode(integrity, forKey: .integrity)
        try container.encodeIfPresent(head?.description, forKey: .head)
        try container.encode(chainVersions, forKey: .chainVersions)
        try container.encode(expunged, forKey: .expunged)
    }

    enum CodingKeys: String, CodingKey {
        case ok, integrity, head, expunged
        case chainVersions = "chain_versions"
        case eventsChecked = "events_checked"
        case firstMismatch = "first_mismatch"
        case firstGap = "first_gap"
    }
}

extension VerificationReport.ChainVersion: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(version, forKey: .version)
        try container.encode(firstSequence.rawValue, forKey: .from)
    }

    enum CodingKeys: String, CodingKey { case version, from }
}

extension VerificationReport.ExpungedEvent: Encodable {
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(sequence.rawValue, forKey: .sequence)
        try container.encode(digest, forKey: .digest)
        try container.encode(reason, forKey: .reason)
        try container.encode(by, forKey: .by)
        try container.encode(recordedIn.rawValue, forKey: .recordedIn)
    }

    enum CodingKeys: String, CodingKey {
        case sequence, digest, reason, by
        case recordedIn = "recorded_in"
    }
}

/// Where a new durable consumer starts.
///
/// Registering a consumer records a `consumer.checkpointed` event with its starting position.
public enum ConsumerStart: Hashable, Sendable {
    /// At the first event of the log.
    case beginning
    /// After its own registration event: only events committed later.
    case end
    /// After this sequence.
    case after(SequenceNumber)
}

/// A durable consumer's checkpoint.
public struct ConsumerStatus: Hashable, Sendable, Codable {
    public var name: String
    /// The last sequence it acknowledged.
    public var position: SequenceNumber
    /// How many committed events are after its position.
    public var lag: Int64
    public var createdAt: Timestamp
    public var updatedAt: Timestamp

    public init(name: String, position: SequenceNumber, lag: Int64, createdAt: Timestamp, updatedAt: Timestamp) {
        self.name = name
        self.position = position
        self.lag = lag
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    enum CodingKeys: String, CodingKey {
        case name, position, lag
        case createdAt = "created_at"
        case updatedAt = "updated_at"
    }
}

/// The write transaction a consumer's own writes run in, atomically with its checkpoint.
///
/// - Important: valid only inside the closure that receives it.
public protocol TransactionContext {
    /// Runs one SQL statement with arguments.
    /// - Throws: ``StoreError``; throwing from the closure rolls everything back.
    func execute(_ sql: String, _ arguments: [DatabaseValue]) throws
    /// Runs one SQL statement and returns its rows.
    /// - Throws: ``StoreError``.
    func query(_ sql: String, _ arguments: [DatabaseValue]) throws -> [[DatabaseValue]]
}
