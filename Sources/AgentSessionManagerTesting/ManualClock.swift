public import ASMCore
public import ASMStore
internal import Synchronization

/// A clock that moves only when told, for deterministic recording times in tests.
public final class ManualClock: WallClock {
    private let current: Mutex<Timestamp>

    /// Starts at `start` (2026-01-01T00:00:00Z by default).
    public init(start: Timestamp = Timestamp(microseconds: 1_767_225_600_000_000)) {
        current = Mutex(start)
    }

    public func now() -> Timestamp { current.withLock { $0 } }

    /// Moves the clock forward.
    public func advance(by duration: Duration) {
        current.withLock { $0 = $0.adding(microseconds: duration.wholeMicroseconds) }
    }

    /// Sets the clock, in either direction.
    public func set(_ time: Timestamp) {
        current.withLock { $0 = time }
    }
}
