import ASMCore
internal import Dispatch
internal import Synchronization

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// How a store notices events that other processes commit to the same file.
public enum FollowMode: Hashable, Sendable {
    /// Check `PRAGMA data_version` at a fixed interval.
    case polling(interval: Duration)
    /// Sleep until the file's write-ahead log changes (inotify on Linux), checking at
    /// `fallbackInterval` as well; the same as polling where inotify is not available.
    case wakeUp(fallbackInterval: Duration)

    /// Wake-up with a 1 ms fallback.
    public static let `default` = FollowMode.wakeUp(fallbackInterval: .milliseconds(1))

    var interval: Duration {
        switch self {
        case .polling(let interval), .wakeUp(let interval): interval
        }
    }
}

/// Watches the database file for commits by other connections while someone waits.
///
/// It runs only while the commit signal has waiters (and for a short linger after the last
/// one leaves, so a subscriber that is between two waits does not stop and restart it), on
/// its own queue. Its connection and its inotify watch are opened once and kept until the
/// store closes: closing a WAL connection can take milliseconds, which a subscriber would
/// otherwise wait out every time the loop restarts.
///
/// Whether to go on is decided under the watcher's lock from the signal's waiter count, and a
/// new waiter calls ``ensureRunning()`` after registering: either the loop sees the waiter,
/// or the waiter sees the loop stopped and starts it again — no waiter is left unwatched.
final class LogWatcher: @unchecked Sendable {
    private struct State {
        var running = false
        var closed = false
        /// When the loop last saw no waiter, while lingering.
        var idleSince: UInt64?
    }

    /// How long the loop keeps going after the last waiter leaves.
    static let linger: UInt64 = 200_000_000

    private let path: String
    private let mode: FollowMode
    private let openMode: Connection.OpenMode
    private let publish: @Sendable (SequenceNumber) -> Void
    private let hasDemand: @Sendable () -> Bool
    /// Whether this process's writer holds the write lock (then the log's changes are its own).
    private let isWriting: @Sendable () -> Bool
    private let state = Mutex(State())
    private let queue = DispatchQueue(label: "asm.store.watcher")

    // Used only on `queue`.
    private var connection: Connection?
    private var wakeUp: WalWakeUp?
    private var lastVersion: Int64 = -1

    init(
        path: String,
        mode: FollowMode,
        openMode: Connection.OpenMode = .readWrite,
        hasDemand: @escaping @Sendable () -> Bool,
        isWriting: @escaping @Sendable () -> Bool = { false },
        publish: @escaping @Sendable (SequenceNumber) -> Void
    ) {
        self.path = path
        self.mode = mode
        self.openMode = openMode
        self.hasDemand = hasDemand
        self.isWriting = isWriting
        self.publish = publish
    }

    /// Starts the watch loop unless it is running.
    func ensureRunning() {
        let start = state.withLock { state -> Bool in
            state.idleSince = nil
            guard !state.running, !state.closed else { return false }
            state.running = true
            return true
        }
        if start { queue.async { self.watch() } }
    }

    /// Stops the loop and closes the connection and the inotify watch.
    func close() {
        state.withLock { $0.closed = true }
        queue.sync {
            connection?.close()
            connection = nil
            wakeUp?.close()
            wakeUp = nil
        }
    }

    private var shouldContinue: Bool {
        let demand = hasDemand()
        let now = monotonicNanoseconds()
        return state.withLock { state in
            if state.closed {
                state.running = false
                return false
            }
            if demand {
                state.idleSince = nil
                return true
            }
            guard let idleSince = state.idleSince else {
                state.idleSince = now
                return true
            }
            if now - idleSince < Self.linger { return true }
            state.running = false
            state.idleSince = nil
            return false
        }
    }

    private func openIfNeeded() -> Connection? {
        if let connection { return connection }
        do {
            let opened = try Connection(path: path, mode: openMode)
            opened.setBusyTimeout(milliseconds: 1000)
            // A first read makes sure the write-ahead log file exists before inotify watches it.
            _ = try opened.scalar("PRAGMA data_version")
            connection = opened
            if case .wakeUp = mode { wakeUp = WalWakeUp(databasePath: path) }
            return opened
        } catch {
            return nil
        }
    }

    private func watch() {
        guard let connection = openIfNeeded() else {
            state.withLock { $0.running = false }
            return
        }
        let intervalNanoseconds = max(
            Int64(mode.interval.components.seconds) * 1_000_000_000 + mode.interval.components.attoseconds
                / 1_000_000_000,
            50_000
        )
        while shouldContinue {
            if let version = try? connection.scalar("PRAGMA data_version")?.integerValue, version != lastVersion {
                lastVersion = version
                if let last = try? connection.scalar("SELECT max(sequence) FROM events")?.integerValue {
                    publish(SequenceNumber(last))
                }
            }
            if let wakeUp, wakeUp.isActive {
                // The log was written; another process's commit may need a moment to reach the
                // WAL index. A write made while this process's writer holds the lock is its own,
                // which the writer announces itself: no need to look for it until the next turn.
                if wakeUp.wait(nanoseconds: intervalNanoseconds), !isWriting() {
                    for _ in 0..<20 {
                        guard let version = try? connection.scalar("PRAGMA data_version")?.integerValue else { break }
                        if version != lastVersion { break }
                        sleep(nanoseconds: 50_000)
                    }
                }
            } else {
                sleep(nanoseconds: intervalNanoseconds)
            }
        }
    }

    private func sleep(nanoseconds: Int64) {
        var request = timespec(tv_sec: Int(nanoseconds / 1_000_000_000), tv_nsec: Int(nanoseconds % 1_000_000_000))
        var remaining = timespec()
        _ = nanosleep(&request, &remaining)
    }
}

/// An inotify watch on the write-ahead log file (Linux); inactive elsewhere.
private struct WalWakeUp {
    private var descriptor: Int32 = -1

    init(databasePath: String) {
        #if os(Linux)
        let fd = inotify_init1(Int32(IN_NONBLOCK | IN_CLOEXEC))
        guard fd >= 0 else { return }
        if inotify_add_watch(fd, databasePath + "-wal", UInt32(IN_MODIFY)) < 0 {
            Glibc.close(fd)
            return
        }
        descriptor = fd
        #endif
    }

    var isActive: Bool { descriptor >= 0 }

    /// Waits until the log is written or the timeout passes.
    /// - Returns: whether the log was written.
    func wait(nanoseconds: Int64) -> Bool {
        #if os(Linux)
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        let milliseconds = Int32(clamping: max(1, (nanoseconds + 999_999) / 1_000_000))
        let ready = poll(&poller, 1, milliseconds)
        guard ready > 0 else { return false }
        var buffer = [UInt8](repeating: 0, count: 4096)
        while buffer.withUnsafeMutableBytes({ read(descriptor, $0.baseAddress, $0.count) }) > 0 {}
        return true
        #else
        return false
        #endif
    }

    func close() {
        #if os(Linux)
        if descriptor >= 0 { Glibc.close(descriptor) }
        #endif
    }
}
