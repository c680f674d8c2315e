import ASMSystem
import AgentSessionManager
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The child of the tail benchmark: follows the log and prints when each new event arrived.
enum Follower {
    static func run(arguments: [String]) async throws {
        guard arguments.count == 3, let count = Int(arguments[1]) else {
            throw BenchError("usage: asm-bench follow DB COUNT polling|wakeup")
        }
        var configuration = SQLiteEventStore.Configuration()
        configuration.follow =
            arguments[2] == "polling"
            ? .polling(interval: .milliseconds(1)) : .wakeUp(fallbackInterval: .milliseconds(1))
        let store = try SQLiteEventStore(path: arguments[0], configuration: configuration)
        let start = try await store.lastSequence()
        var seen: [UInt64] = []
        seen.reserveCapacity(count)
        FileHandle.standardOutput.write(Data("ready\n".utf8))
        for try await _ in store.subscribe(from: start.next) {
            seen.append(MonotonicTime.nanoseconds())
            if seen.count == count { break }
        }
        await store.close()
        var output = ""
        for value in seen { output += "\(value)\n" }
        FileHandle.standardOutput.write(Data(output.utf8))
    }
}

/// The child of the memory benchmark: appends and prints its peak resident set in KiB.
enum MemoryProbe {
    static func run(arguments: [String]) async throws {
        guard arguments.count == 3, let count = Int(arguments[1]), let batch = Int(arguments[2]) else {
            throw BenchError("usage: asm-bench rss DB COUNT BATCH")
        }
        // Linux keeps the parent's peak across fork and exec: start this process's own count.
        resetPeakMemory()
        let store = try SQLiteEventStore(path: arguments[0], synchronous: .full)
        let workload = Workload()
        try await workload.setUp(store)
        try await workload.append(to: store, count: count, batch: batch)
        await store.close()
        print(peakMemoryKiB())
    }

    static func resetPeakMemory() {
        let fd = open("/proc/self/clear_refs", O_WRONLY)
        guard fd >= 0 else { return }
        _ = write(fd, "5", 1)
        close(fd)
    }

    /// `VmHWM` from /proc/self/status, or `ru_maxrss` where /proc is not there.
    static func peakMemoryKiB() -> Int {
        if let value = processStatusKiB("VmHWM") { return value }
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss
    }
}
