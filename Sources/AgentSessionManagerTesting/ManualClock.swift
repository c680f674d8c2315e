public import ASMCore
public import ASMStore
internal import Synchronization

/// A clock that moves only when told, for deterministic recording times and timers in tests.
///
/// It tells the time (``now()``) and runs timers (``timers``): a task sleeping on `timers`
/// wakes when ``advance(by:)`` or ``set(_:)`` moves the clock to or past its deadline, never
/// otherwise. ``waitForSleepers(_:)`` lets a test wait until a timer is armed before moving
/// the clock, so nothing depends on how fast tasks run.
///
/// ```swift
/// let clock = ManualClock()
/// let run = Task { try await manager.run("x", in: session, options: RunOptions(provider: "scripted", deadline: .seconds(5))) }
/// await clock.waitForSleepers(1)   // the run's deadline timer is armed
/// clock.advance(by: .seconds(5))   // and fires
/// ```
public final class ManualClock: WallClock {
    private struct Sleeper {
        var deadline: Int64
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now: Timestamp
        var sleepers: [Int: Sleeper] = [:]
        var nextID = 0
        /// Tests waiting for at least this many sleepers.
        var watchers: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state: Mutex<State>

    /// Starts at `start` (2026-01-01T00:00:00Z by default).
    public init(start: Timestamp = Timestamp(microseconds: 1_767_225_600_000_000)) {
        state = Mutex(State(now: start))
    }

    public func now() -> Timestamp { state.withLock { $0.now } }

    /// Timers on this clock's time.
    public var timers: any Clock<Duration> { Timers(owner: self) }

    /// How many tasks are sleeping on ``timers`` now.
    public var sleeperCount: Int { state.withLock { $0.sleepers.count } }

    /// Moves the clock forward, waking the timers that fall due.
    public func advance(by duration: Duration) {
        move { $0.adding(microseconds: duration.wholeMicroseconds) }
    }

    /// Sets the clock, in either direction, waking the timers that fall due.
    public func set(_ time: Timestamp) {
        move { _ in time }
    }

    /// Returns once at least `count` tasks are sleeping on ``timers``.
    public func waitForSleepers(_ count: Int = 1) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if state.sleepers.count >= count { return true }
                state.watchers.append((count, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }

    private func move(_ change: (Timestamp) -> Timestamp) {
        let due = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.now = change(state.now)
            let now = state.now.microseconds
            let ids = state.sleepers.filter { $0.value.deadline <= now }.map(\.key)
            return ids.compactMap { state.sleepers.removeValue(forKey: $0)?.continuation }
        }
        for continuation in due { continuation.resume() }
    }

    fileprivate func sleep(until deadline: Int64) async throws {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let (ready, watchers) = state.withLock {
                    state -> (Result<Void, any Error>?, [CheckedContinuation<Void, Never>]) in
                    if Task.isCancelled { return (.failure(CancellationError()), []) }
                    if deadline <= state.now.microseconds { return (.success(()), []) }
                    state.sleepers[id] = Sleeper(deadline: deadline, continuation: continuation)
                    let count = state.sleepers.count
                    let woken = state.watchers.filter { $0.count <= count }.map(\.continuation)
                    state.watchers.removeAll { $0.count <= count }
                    return (nil, woken)
                }
                for watcher in watchers { watcher.resume() }
                if let ready { continuation.resume(with: ready) }
            }
        } onCancel: {
            state.withLock { $0.sleepers.removeValue(forKey: id) }?.continuation.resume(throwing: CancellationError())
        }
    }

    /// The timers of a ``ManualClock``: their instants are its microseconds.
    public struct Timers: Clock {
        public struct Instant: InstantProtocol {
            public var microseconds: Int64

            public func advanced(by duration: Duration) -> Instant {
                Instant(microseconds: microseconds + duration.wholeMicroseconds)
            }

            public func duration(to other: Instant) -> Duration { .microseconds(other.microseconds - microseconds) }

            public static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.microseconds < rhs.microseconds }
        }

        let owner: ManualClock

        public var now: Instant { Instant(microseconds: owner.now().microseconds) }
        public var minimumResolution: Duration { .microseconds(1) }

        public func sleep(until deadline: Instant, tolerance: Duration?) async throws {
            try await owner.sleep(until: deadline.microseconds)
        }
    }
}
