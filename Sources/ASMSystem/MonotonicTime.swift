#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// The system's monotonic clock, for measuring how long something took and for deadlines;
/// never for the time an event is recorded at (that is the store's `WallClock`).
package enum MonotonicTime {
    /// Nanoseconds since an arbitrary moment (the boot, on Linux); it never goes back.
    package static func nanoseconds() -> UInt64 {
        var spec = timespec()
        clock_gettime(CLOCK_MONOTONIC, &spec)
        return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
    }
}
