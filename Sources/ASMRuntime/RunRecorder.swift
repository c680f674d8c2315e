public import ASMCore
public import ASMProviders
public import ASMStore
internal import Synchronization

/// Executes one provider run and records it in a session's stream: the request, the
/// user's message, then every normalized event the provider emits, ending with exactly
/// one terminal event.
///
/// Events are appended as they arrive. When the provider writes faster than the log
/// commits (a burst of deltas), whatever has queued up goes in the next batch, so a run
/// costs one transaction per burst rather than one per delta; each batch is atomic.
///
/// ```swift
/// let recorder = RunRecorder(store: store)
/// let session = try await recorder.startSession(agentID: "reviewer")
/// let run = try await recorder.record(
///     ProviderRequest(runID: .generate(), prompt: "Summarise README.md"),
///     provider: CommandLineProvider(dialect: ClaudeCode()), in: session.id)
/// print(run.status, run.usage.output)
/// ```
public struct RunRecorder: Sendable {
    private let store: any EventStore

    public init(store: any EventStore) {
        self.store = store
    }

    /// Appends a new session, created and active.
    public func startSession(
        agentID: String, metadata: [String: String] = [:], tags: [String] = []
    ) async throws -> StartedSession {
        let session = SessionID.generate()
        let result = try await store.append(
            [NewEvent(SessionCreated(agentID: agentID, metadata: metadata, tags: tags)), NewEvent(SessionActivated())],
            to: session.stream, expectedVersion: .noStream)
        return StartedSession(id: session, eventsWritten: 2, lastSequence: result.lastSequence)
    }

    /// Runs `request` on `provider` and records it in `session`.
    ///
    /// The run's events are written even when the run fails or is cancelled; the call
    /// returns once the terminal event is committed.
    ///
    /// - Parameters:
    ///   - metadata: recorded with the request (never the environment: its values may be secrets).
    ///   - onEvent: called with each provider event as it arrives, before it is committed
    ///     (to print streamed text live).
    /// - Throws: ``StoreError`` when the log refuses a write; the provider run is stopped first.
    public func record(
        _ request: ProviderRequest, provider: any ProviderAdapter, in session: SessionID,
        metadata: [String: String]? = nil,
        onEvent: @Sendable (ProviderEvent) async -> Void = { _ in }
    ) async throws -> RecordedRun {
        let run = request.runID
        var opening = [
            NewEvent(
                RunRequested(
                    messages: request.messages, provider: provider.name, model: request.model,
                    systemPrompt: request.systemPrompt, metadata: metadata),
                run: run)
        ]
        if let prompt = request.messages.last {
            opening.append(NewEvent(MessageReceived(role: prompt.role, content: prompt.content), run: run))
        }
        let first = try await store.append(opening, to: session.stream, expectedVersion: .streamExists)

        let queue = BatchQueue()
        let writer = Task { [store] in
            var tally = WriteTally(first: first)
            do {
                while let batch = await queue.next() {
                    let result = try await store.append(batch, to: session.stream, expectedVersion: .streamExists)
                    tally.add(result, count: batch.count)
                }
            } catch {
                // Nothing more can be recorded: stop the provider rather than run unrecorded.
                queue.fail()
                await provider.cancel(run, reason: .shutdown)
                throw error
            }
            return tally
        }

        var outcome = RecordedRun(sessionID: session, runID: run, provider: provider.name)
        for await event in provider.execute(request) {
            outcome.observe(event)
            await onEvent(event)
            // After a failed write the writer has stopped the provider; its error is thrown below.
            guard queue.push(NewEvent(id: .generate(), runID: run, event: event.sessionEvent)) else { break }
            if event.isTerminal { break }
        }
        if !outcome.status.isTerminal {
            // A provider whose stream ended without a terminal event broke its contract;
            // the run still ends in the log.
            let failed = ProviderEvent.failure(.invalidOutput, "\(provider.name) ended the run without a result")
            outcome.observe(failed)
            _ = queue.push(NewEvent(id: .generate(), runID: run, event: failed.sessionEvent))
        }
        queue.finish()
        let tally = try await writer.value
        outcome.eventsWritten = tally.events
        outcome.firstSequence = tally.firstSequence
        outcome.lastSequence = tally.lastSequence
        return outcome
    }
}

/// A session just appended.
public struct StartedSession: Hashable, Sendable {
    public var id: SessionID
    /// The events that opened it.
    public var eventsWritten: Int
    public var lastSequence: SequenceNumber
}

/// What a recorded run came to.
public struct RecordedRun: Hashable, Sendable {
    public var sessionID: SessionID
    public var runID: RunID
    public var provider: String
    public var model: String?
    /// The provider's own session id (to resume), once it reported one.
    public var providerSessionID: String?
    /// ``RunStatus/completed``, ``RunStatus/failed`` or ``RunStatus/cancelled``.
    public var status: RunStatus = .requested
    /// The final answer, for a completed run.
    public var outputText: String?
    public var failure: RunFailure?
    public var cancelReason: CancelReason?
    public var cancelMessage: String?
    /// The run's token usage (the last reported total).
    public var usage: TokenUsage = .zero
    /// The provider's own cost report, where it gives one.
    public var reportedCostUSD: Double?
    /// Events this run appended, its request included.
    public var eventsWritten = 0
    public var firstSequence: SequenceNumber = .zero
    public var lastSequence: SequenceNumber = .zero

    public init(sessionID: SessionID, runID: RunID, provider: String) {
        self.sessionID = sessionID
        self.runID = runID
        self.provider = provider
    }

    mutating func observe(_ event: ProviderEvent) {
        switch event {
        case .started(let started):
            model = started.model ?? model
            providerSessionID = started.providerSessionID ?? providerSessionID
            status = .running
        case .usage(let update):
            usage = update.total
            reportedCostUSD = update.reportedCostUSD ?? reportedCostUSD
            model = model ?? update.model
        case .completed(let completed):
            status = .completed
            outputText = completed.outputText
            providerSessionID = completed.providerSessionID ?? providerSessionID
        case .failed(let failed):
            status = .failed
            failure = failed.failure
        case .cancelled(let cancelled):
            status = .cancelled
            cancelReason = cancelled.reason
            cancelMessage = cancelled.message
        case .streamed, .received, .toolStarted, .toolCompleted, .warning:
            break
        }
    }
}

/// Where a run's batches landed.
private struct WriteTally: Sendable {
    var events: Int
    var firstSequence: SequenceNumber
    var lastSequence: SequenceNumber

    init(first: AppendResult) {
        events = Int(first.lastSequence.rawValue - first.firstSequence.rawValue) + 1
        firstSequence = first.firstSequence
        lastSequence = first.lastSequence
    }

    mutating func add(_ result: AppendResult, count: Int) {
        events += count
        lastSequence = result.lastSequence
    }
}

/// Events waiting for the writer; the writer takes everything queued at once.
private final class BatchQueue: Sendable {
    private struct State {
        var pending: [NewEvent] = []
        var finished = false
        var failed = false
        var waiter: CheckedContinuation<[NewEvent]?, Never>?
    }

    private let state = Mutex(State())

    /// Queues an event; `false` once the writer has failed.
    func push(_ event: NewEvent) -> Bool {
        let (accepted, waiter) = state.withLock { state -> (Bool, CheckedContinuation<[NewEvent]?, Never>?) in
            guard !state.failed else { return (false, nil) }
            if let waiter = state.waiter {
                state.waiter = nil
                return (true, waiter)
            }
            state.pending.append(event)
            return (true, nil)
        }
        waiter?.resume(returning: [event])
        return accepted
    }

    /// No more events will come.
    func finish() {
        let waiter = state.withLock { state -> CheckedContinuation<[NewEvent]?, Never>? in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    /// The writer failed: refuse further events.
    func fail() {
        state.withLock { $0.failed = true }
    }

    /// Everything queued, waiting for at least one event; `nil` once finished and drained.
    func next() async -> [NewEvent]? {
        await withCheckedContinuation { continuation in
            let ready = state.withLock { state -> [NewEvent]?? in
                if !state.pending.isEmpty {
                    defer { state.pending.removeAll(keepingCapacity: true) }
                    return .some(state.pending)
                }
                if state.finished { return .some(nil) }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }
}
