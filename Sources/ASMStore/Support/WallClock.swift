public import ASMCore

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// Tells the time the store records events at.
///
/// The store never reads a clock directly, so tests can pass a clock that moves only when told.
public protocol WallClock: Sendable {
    /// The current time.
    func now() -> Timestamp
    /// The clock timers wait on, moving with this one (a run's deadlines, idle timeouts and
    /// policy ticks are set in this clock's time and waited for on `timers`).
    var timers: any Clock<Duration> { get }
}

extension WallClock {
    /// The system's continuous clock.
    public var timers: any Clock<Duration> { ContinuousClock() }
}

/// The system's real-time clock.
public struct SystemClock: WallClock {
    public init() {}

    public func now() -> Timestamp {
        var spec = timespec()
        clock_gettime(CLOCK_REALTIME, &spec)
        return Timestamp(microseconds: Int64(spec.tv_sec) * 1_000_000 + Int64(spec.tv_nsec) / 1000)
    }
}

/// Monotonic nanoseconds, for measuring durations.
package func monotonicNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_MONOTONIC, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}
