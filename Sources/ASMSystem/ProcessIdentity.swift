#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// What tells one process apart from every other, on this machine and across reboots: the
/// host, the boot, the pid and the process's start time. A pid alone is reused; together with
/// the start time (clock ticks after boot, `/proc/PID/stat` field 22) it is not.
package enum ProcessIdentity {
    /// This machine's host name.
    package static let host: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "localhost" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    /// This boot's identifier (`/proc/sys/kernel/random/boot_id`), empty where there is none.
    package static let bootID: String = {
        guard let text = readSmallFile("/proc/sys/kernel/random/boot_id") else { return "" }
        return String(text.filter { !$0.isWhitespace })
    }()

    /// This process's pid.
    package static var pid: Int32 { getpid() }

    /// This process's start time.
    package static let startTime: UInt64 = startTime(of: getpid()) ?? 0

    /// The start time of process `pid` in clock ticks after boot, or `nil` when there is no
    /// such process (or no `/proc` to ask).
    package static func startTime(of pid: Int32) -> UInt64? {
        guard pid > 0, let text = readSmallFile("/proc/\(pid)/stat") else { return nil }
        // The command name (field 2) is in parentheses and may hold spaces or parentheses:
        // the fields after it start after the last ')'.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (the state), so field 22 is fields[19].
        guard fields.count > 19 else { return nil }
        return UInt64(fields[19])
    }

    /// Whether process `pid` exists: `nil` where that cannot be told (no permission).
    package static func exists(_ pid: Int32) -> Bool? {
        guard pid > 0 else { return false }
        if kill(pid, 0) == 0 { return true }
        return errno == ESRCH ? false : (errno == EPERM ? true : nil)
    }

    /// Whether `/proc` describes processes here (Linux).
    package static let hasProcessTable: Bool = readSmallFile("/proc/self/stat") != nil

    private static func readSmallFile(_ path: String) -> String? {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let count = read(descriptor, &bytes, bytes.count)
        guard count > 0 else { return nil }
        return String(decoding: bytes[..<count], as: UTF8.self)
    }
}
