import ASMCore
import ASMStore

/// A store where another writer always gets in first: before each batch that requests a run
/// (or changes a session's state), an unrelated event lands in the same stream, as it does
/// when the session's other runs are streaming.
final class BusyStore: EventStore {
    let base: SQLiteEventStore

    init(_ base: SQLiteEventStore) {
        self.base = base
    }

    func append(
        _ events: [NewEvent],
        to stream: StreamID,
        expectedVersion: ExpectedVersion
    ) async throws -> AppendResult {
        let contended: Set<EventType> = [.runRequested, .sessionCompleted, .sessionArchived]
        if events.contains(where: { contended.contains($0.event.type) }) {
            try await base.append(
                [NewEvent(MessageReceived(role: .assistant, content: "meanwhile"))],
                to: stream,
                expectedVersion: .any
            )
        }
        return try await base.append(events, to: stream, expectedVersion: expectedVersion)
    }

    func lastSequence() async throws -> SequenceNumber { try await base.lastSequence() }
    func sessionIDs(withPrefix prefix: String, limit: Int) async throws -> [SessionID] {
        try await base.sessionIDs(withPrefix: prefix, limit: limit)
    }
    func runIDs(withPrefix prefix: String, limit: Int) async throws -> [RunID] {
        try await base.runIDs(withPrefix: prefix, limit: limit)
    }
    func schemaVersion() async throws -> Int { try await base.schemaVersion() }
    func openRuns() async throws -> [OpenRun] { try await base.openRuns() }
    func approvals(pendingOnly: Bool, session: SessionID?, id: String?, limit: Int) async throws -> [ApprovalSummary] {
        try await base.approvals(pendingOnly: pendingOnly, session: session, id: id, limit: limit)
    }
    func recordAgentProcess(_ group: AgentProcessGroup, for run: RunID) async throws {
        try await base.recordAgentProcess(group, for: run)
    }
    func streamVersion(of stream: StreamID) async throws -> StreamVersion { try await base.streamVersion(of: stream) }
    func events(from sequence: SequenceNumber, limit: Int, filter: EventFilter) async throws -> EventPage {
        try await base.events(from: sequence, limit: limit, filter: filter)
    }
    func recordedEvents(from sequence: SequenceNumber, limit: Int, filter: EventFilter) async throws -> RecordedPage {
        try await base.recordedEvents(from: sequence, limit: limit, filter: filter)
    }
    func stream(_ stream: StreamID, fromVersion version: StreamVersion, limit: Int) async throws -> [EventEnvelope] {
        try await base.stream(stream, fromVersion: version, limit: limit)
    }
    func waitForCommit(after sequence: SequenceNumber) async -> Bool { await base.waitForCommit(after: sequence) }
    func session(_ id: SessionID) async throws -> SessionSummary? { try await base.session(id) }
    func sessions(status: SessionStatus?, limit: Int) async throws -> [SessionSummary] {
        try await base.sessions(status: status, limit: limit)
    }
    func sessions(status: SessionStatus?, startedBefore: SequenceNumber?, limit: Int) async throws -> [SessionSummary] {
        try await base.sessions(status: status, startedBefore: startedBefore, limit: limit)
    }
    func run(_ id: RunID) async throws -> RunSummary? { try await base.run(id) }
    func read<T: Sendable>(_ body: @escaping @Sendable (any LogSnapshot) throws -> T) async throws -> T {
        try await base.read(body)
    }
    func runs(in session: SessionID) async throws -> [RunSummary] { try await base.runs(in: session) }
    func transcript(of session: SessionID) async throws -> [TranscriptEntry] { try await base.transcript(of: session) }
    func usage(by grouping: UsageGrouping, session: SessionID?) async throws -> [UsageSummary] {
        try await base.usage(by: grouping, session: session)
    }
    func rebuildProjections(progress: (@Sendable (WorkProgress) -> Void)?) async throws -> RebuildReport {
        try await base.rebuildProjections(progress: progress)
    }
    func verify(progress: (@Sendable (WorkProgress) -> Void)?) async throws -> VerificationReport {
        try await base.verify(progress: progress)
    }
    func consumer(named name: String, startingAt start: ConsumerStart) async throws -> DurableConsumer {
        try await base.consumer(named: name, startingAt: start)
    }
    func consumers() async throws -> [ConsumerStatus] { try await base.consumers() }
    func claimConsumer(_ name: String) async throws { try await base.claimConsumer(name) }
    func releaseConsumer(_ name: String) async { await base.releaseConsumer(name) }
    func consumerPosition(_ name: String) async throws -> SequenceNumber { try await base.consumerPosition(name) }
    func acknowledge(
        consumer name: String,
        through sequence: SequenceNumber,
        writes: (@Sendable (any TransactionContext) throws -> Void)?
    ) async throws {
        try await base.acknowledge(consumer: name, through: sequence, writes: writes)
    }
    func resetConsumer(_ name: String, to sequence: SequenceNumber, reason: String?) async throws {
        try await base.resetConsumer(name, to: sequence, reason: reason)
    }
    func close() async { await base.close() }
}
