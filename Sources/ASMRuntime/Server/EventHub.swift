public import ASMCore
import ASMStore
internal import Synchronization

/// Reads a server's events from the log once, for all of its subscribers.
///
/// One reader task follows the log and keeps the newest events of the server's sessions in
/// a bounded window. A subscriber whose cursor is inside the window takes its events from
/// memory; one whose cursor is before the window (it started from an old sequence, or it
/// fell behind) reads the log itself until it reaches the window. Either way it reads by
/// sequence number, so nothing is skipped or repeated, and a slow subscriber costs no
/// memory and never holds the runs back.
final class EventHub: Sendable {
    enum Read {
        /// The events from the cursor on, and how far they cover the log.
        case events([EventEnvelope], through: SequenceNumber)
        /// The window starts after the cursor: read the log.
        case behind
        /// Nothing after the cursor yet.
        case wait
        /// The hub stopped (the store closed) or failed.
        case ended((any Error)?)
    }

    private struct Waiter {
        var after: Int64
        var continuation: CheckedContinuation<Void, Never>
    }

    private struct State {
        /// Every event of the server's sessions with a sequence in `coveredFrom...scanned` is in
        /// `window[start...]`, in sequence order.
        var window: [EventEnvelope] = []
        var start = 0
        var coveredFrom = Int64.max
        var scanned: Int64 = 0
        /// Set when the server stopped: subscriptions end after this sequence.
        var final: Int64?
        var ended = false
        var failure: (any Error)?
        var waiters: [Int: Waiter] = [:]
        var nextWaiter = 0
        /// Who waits for the reader to start following the log (`coveredFrom` set).
        var liveWaiters: [CheckedContinuation<Void, Never>] = []

        var count: Int { window.count - start }

        /// Appends events (in sequence order, after what the window holds) and moves the
        /// covered range to `through`, dropping the oldest beyond `capacity`.
        mutating func add(_ events: [EventEnvelope], through: Int64, capacity: Int) {
            window.append(contentsOf: events)
            if count > capacity {
                let drop = count - capacity
                coveredFrom = window[start + drop - 1].sequence.rawValue + 1
                start += drop
                if start > capacity {
                    window.removeFirst(start)
                    start = 0
                }
            }
            scanned = Swift.max(scanned, through)
        }

        mutating func takeReady() -> [Waiter] {
            var ready: [Waiter] = []
            for (id, waiter) in waiters where isReady(after: waiter.after) {
                ready.append(waiter)
                waiters[id] = nil
            }
            return ready
        }

        /// Whether a subscriber that has seen everything up to `sequence` has something to do.
        func isReady(after sequence: Int64) -> Bool {
            ended || scanned > sequence || final.map { sequence >= $0 } ?? false
        }
    }

    let store: any EventStore
    /// The streams the hub keeps; `nil` for every stream.
    let streams: Set<StreamID>?
    /// The one stream it keeps, when it keeps exactly one (the log filters reads by it).
    let single: StreamID?
    /// What the reader asks the log for: one stream's events, or everything (filtered here).
    let readFilter: EventFilter
    let capacity: Int
    private let state = Mutex(State())
    private let reader = Mutex<Task<Void, Never>?>(nil)
    private let observation = Mutex<CommitObservation?>(nil)
    private let wakeUps = Atomic<Int>(0)

    init(store: any EventStore, streams: Set<StreamID>?, capacity: Int) {
        self.store = store
        self.streams = streams
        self.single = streams?.count == 1 ? streams?.first : nil
        self.readFilter = single.map { EventFilter(stream: $0) } ?? .all
        self.capacity = max(16, capacity)
    }

    /// Starts the reader task (once).
    ///
    /// What this process's writer commits comes straight from the commit (no read back);
    /// the reader task reads the log for the rest (other processes' commits, and anything
    /// the feed did not cover), so the window stays contiguous either way.
    func start() {
        reader.withLock { task in
            guard task == nil else { return }
            let observation = store.observeCommits { [weak self] envelopes in self?.committed(envelopes) }
            self.observation.withLock { $0 = observation }
            task = Task { [weak self] in await self?.follow() }
        }
    }

    /// Stops the reader; subscriptions reading the window end.
    func stop() {
        let task = reader.withLock { $0 }
        task?.cancel()
        observation.withLock { $0?.cancel() }
        end(failure: nil)
    }

    /// Subscriptions end once they have delivered everything up to `sequence`.
    func finish(through sequence: SequenceNumber) {
        let ready = state.withLock { state -> [Waiter] in
            state.final = min(state.final ?? .max, sequence.rawValue)
            return state.takeReady()
        }
        for waiter in ready { waiter.continuation.resume() }
    }

    /// How many times the reader woke for a commit it had not been handed (so read the log).
    var readerWakeUps: Int { wakeUps.load(ordering: .relaxed) }

    /// How far the window covers the log.
    private var covered: SequenceNumber { SequenceNumber(state.withLock { $0.scanned }) }

    var final: SequenceNumber? { state.withLock { $0.final.map { SequenceNumber($0) } } }

    /// Whether the window starts after `cursor` (so a subscriber there reads the log).
    func isBehind(_ cursor: SequenceNumber) -> Bool {
        state.withLock { !$0.ended && cursor.rawValue < $0.coveredFrom }
    }

    func owns(_ envelope: EventEnvelope) -> Bool { streams?.contains(envelope.stream) ?? true }

    /// The events of a page read with ``readFilter`` that the hub keeps.
    func kept(_ events: [EventEnvelope]) -> [EventEnvelope] {
        streams == nil || single != nil ? events : events.filter(owns)
    }

    // MARK: Reading

    /// At most `limit` events from `cursor` on.
    func read(from cursor: SequenceNumber, limit: Int) -> Read {
        state.withLock { state in
            let cursor = cursor.rawValue
            if cursor < state.coveredFrom {
                return state.ended ? .ended(state.failure) : .behind
            }
            if cursor > state.scanned { return state.ended ? .ended(state.failure) : .wait }
            // The first event at or after the cursor.
            var low = state.start
            var high = state.window.count
            while low < high {
                let middle = (low + high) / 2
                if state.window[middle].sequence.rawValue < cursor { low = middle + 1 } else { high = middle }
            }
            let end = min(state.window.count, low + limit)
            let events = Array(state.window[low..<end])
            let through = end < state.window.count ? events[events.count - 1].sequence : SequenceNumber(state.scanned)
            return .events(events, through: through)
        }
    }

    /// Suspends until the hub has looked past `sequence`, the server finished, or the task is cancelled.
    func wait(after sequence: SequenceNumber) async {
        let id = state.withLock { state -> Int in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if Task.isCancelled || state.isReady(after: sequence.rawValue) { return true }
                    state.waiters[id] = Waiter(after: sequence.rawValue, continuation: continuation)
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
            waiter?.continuation.resume()
        }
    }

    // MARK: The reader

    private func follow() async {
        do {
            let last = try await store.lastSequence()
            let live = state.withLock { state in
                state.coveredFrom = last.rawValue + 1
                state.scanned = last.rawValue
                defer { state.liveWaiters = [] }
                return state.liveWaiters
            }
            for waiter in live { waiter.resume() }
            var scanned = publish([], through: last)
            while !Task.isCancelled {
                let page = try await store.events(from: scanned.next, limit: 512, filter: readFilter)
                scanned = publish(kept(page.events), through: max(scanned, page.scannedThrough))
                guard page.events.count < 512 else { continue }
                // Wait for a commit the commit feed has not covered (another process's, or one
                // the feed could not hand over): the reader does not wake for the others.
                guard await store.waitForCommit(afterCovered: { [self] in self.covered }) else {
                    return end(failure: nil)
                }
                wakeUps.add(1, ordering: .relaxed)
                scanned = max(scanned, covered)
            }
            end(failure: nil)
        } catch {
            end(failure: error)
        }
    }

    /// Events this process just committed: taken when they follow what the window covers.
    private func committed(_ envelopes: [EventEnvelope]) {
        guard let first = envelopes.first, let last = envelopes.last else { return }
        let ready = state.withLock { state -> [Waiter] in
            guard state.coveredFrom != .max, first.sequence.rawValue == state.scanned + 1 else { return [] }
            state.add(
                streams == nil || (single == first.stream && first.stream == last.stream)
                    ? envelopes : envelopes.filter(owns),
                through: last.sequence.rawValue,
                capacity: capacity
            )
            return state.takeReady()
        }
        for waiter in ready { waiter.continuation.resume() }
    }

    /// Events the reader read, covering the log through `through`; returns how far the
    /// window now covers.
    private func publish(_ events: [EventEnvelope], through: SequenceNumber) -> SequenceNumber {
        let (ready, scanned) = state.withLock { state -> ([Waiter], Int64) in
            let scanned = state.scanned
            state.add(events.filter { $0.sequence.rawValue > scanned }, through: through.rawValue, capacity: capacity)
            return (state.takeReady(), state.scanned)
        }
        for waiter in ready { waiter.continuation.resume() }
        return SequenceNumber(scanned)
    }

    private func end(failure: (any Error)?) {
        let (waiters, live) = state.withLock { state -> ([Waiter], [CheckedContinuation<Void, Never>]) in
            guard !state.ended else { return ([], []) }
            state.ended = true
            state.failure = failure
            defer {
                state.waiters = [:]
                state.liveWaiters = []
            }
            return (Array(state.waiters.values), state.liveWaiters)
        }
        for waiter in waiters { waiter.continuation.resume() }
        for waiter in live { waiter.resume() }
    }

    /// Returns once the reader follows the log (the window covers everything committed from
    /// then on), or the hub ended.
    func waitUntilLive() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if state.coveredFrom != .max || state.ended { return true }
                state.liveWaiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }
}

/// A server's events from a sequence on, in sequence order across its concurrent runs:
/// the log's backfill, then live events. See ``SessionServer/subscribe(from:filter:)``.
///
/// Subscribing again from the last delivered sequence + 1 yields exactly the events after
/// it. The sequence ends (returns `nil`) when the consuming task is cancelled, the store
/// closes, or the server has stopped and everything it recorded was delivered; it throws
/// ``StoreError`` when the log cannot be read.
public struct ServerSubscription: AsyncSequence, Sendable {
    public typealias Element = EventEnvelope
    public typealias Failure = any Error

    let hub: EventHub
    let start: SequenceNumber
    let filter: EventFilter
    let pageSize: Int

    init(hub: EventHub, from start: SequenceNumber, filter: EventFilter, pageSize: Int = 256) {
        self.hub = hub
        self.start = Swift.max(start, SequenceNumber(1))
        self.filter = filter
        self.pageSize = pageSize
    }

    public func makeAsyncIterator() -> Iterator {
        Iterator(hub: hub, cursor: start, filter: filter, pageSize: pageSize)
    }

    public struct Iterator: AsyncIteratorProtocol {
        let hub: EventHub
        /// The next sequence to look at.
        public private(set) var cursor: SequenceNumber
        let filter: EventFilter
        let pageSize: Int
        /// What the iterator asks the log for when it reads it itself.
        let logFilter: EventFilter
        private var buffer: [EventEnvelope] = []
        private var index = 0
        /// How many times it read the log itself (it was behind the window).
        public private(set) var logReads = 0
        /// The most events it takes from the window at once.
        static let windowPageSize = 32

        init(hub: EventHub, cursor: SequenceNumber, filter: EventFilter, pageSize: Int) {
            self.hub = hub
            self.cursor = cursor
            self.filter = filter
            self.pageSize = pageSize
            var logFilter = filter
            if logFilter.stream == nil, let single = hub.single { logFilter.stream = single }
            self.logFilter = logFilter
        }

        public mutating func next() async throws -> EventEnvelope? {
            while true {
                if index < buffer.count {
                    defer { index += 1 }
                    return buffer[index]
                }
                if Task.isCancelled { return nil }
                // Set once, when the server stops, to a sequence no earlier than anything read before.
                let final = hub.final
                if let final, cursor > final { return nil }
                // A page from the window is a copy of its envelopes for this subscriber alone:
                // small pages keep a hundred subscribers' copies small, and cost only the lock.
                switch hub.read(from: cursor, limit: Swift.min(pageSize, Self.windowPageSize)) {
                case .events(let events, let through):
                    fill(events, final: final)
                    cursor = through.next
                case .wait:
                    await hub.wait(after: SequenceNumber(cursor.rawValue - 1))
                case .behind:
                    logReads += 1
                    let page = try await hub.store.events(from: cursor, limit: pageSize, filter: logFilter)
                    // One stream is filtered by the read itself; several are filtered here.
                    fill(hub.kept(page.events), final: final)
                    let scanned = Swift.max(SequenceNumber(cursor.rawValue - 1), page.scannedThrough)
                    cursor = scanned.next
                    if page.events.isEmpty, hub.isBehind(cursor) {
                        // Caught up with the log before the hub started: wait for it.
                        await hub.wait(after: scanned)
                    }
                case .ended(let failure):
                    if let failure { throw failure }
                    return nil
                }
            }
        }

        /// The events of a page this subscription delivers: its filter's, up to the server's last.
        private mutating func fill(_ events: [EventEnvelope], final: SequenceNumber?) {
            index = 0
            if filter.isEmpty, final == nil {
                buffer = events
            } else {
                buffer = events.filter { envelope in
                    final.map { envelope.sequence <= $0 } ?? true
                        && filter.matches(type: envelope.type, stream: envelope.stream, run: envelope.runID)
                }
            }
        }
    }
}
