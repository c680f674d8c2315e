import ASMCore
import ASMStore
import AgentSessionManagerTesting
import Foundation
import Subprocess
import Synchronization
import SystemPackage
import Testing

@testable import ASMCommands

/// `asm verify` and `asm rebuild` show progress on a terminal, and only there.
@Suite struct ProgressTests {
    /// A log of `events` events in a new directory.
    static func log(events: Int) async throws -> (TemporaryDirectory, String) {
        let directory = TemporaryDirectory()
        let path = directory.file("asm.sqlite")
        let store = try SQLiteEventStore(path: path)
        try await SampleHistory(seed: 11, sessions: 3, events: events).append(to: store)
        await store.close()
        return (directory, path)
    }

    @Test("the store reports a walk's progress in order and ends at the log's length")
    func storeReports() async throws {
        let (directory, path) = try await Self.log(events: 10_000)
        defer { directory.remove() }
        let store = try SQLiteEventStore(path: path)
        let total = Int(try await store.lastSequence().rawValue)
        let seen = Seen<WorkProgress>()
        let report = try await store.verify(progress: { seen.add($0) })
        #expect(seen.all.map(\.done) == [4096, 8192, total])
        #expect(seen.all.allSatisfy { $0.total == total })
        #expect(report.eventsChecked == total)
        let rebuilt = Seen<WorkProgress>()
        _ = try await store.rebuildProjections(progress: { rebuilt.add($0) })
        #expect(rebuilt.all.last == WorkProgress(done: total, total: total))
        await store.close()
    }

    @Test("the line reads as a sentence with grouped digits")
    func text() {
        #expect(
            ProgressLine.text("verifying", WorkProgress(done: 12_288, total: 40_000))
                == "verifying 12,288 of 40,000 events (30%)"
        )
        #expect(ProgressLine.text("verifying", WorkProgress(done: 0, total: 0)) == "verifying 0 of 0 events (100%)")
        #expect(ProgressLine("x", json: true, isTerminal: true).report == nil)
        #expect(ProgressLine("x", json: false, isTerminal: false).report == nil)
    }

    /// Runs `asm` under a pseudo-terminal (util-linux `script`), standard error and output mixed.
    static func onTerminal(_ arguments: [String]) async throws -> String {
        let command = ([ASMProcess.executable] + arguments).map { "'\($0)'" }.joined(separator: " ")
        let result = try await Subprocess.run(
            .path(FilePath("/usr/bin/script")),
            arguments: ["-qec", command, "/dev/null"],
            environment: .inherit.updating(["ASM_DB": nil]),
            input: .none,
            output: .string(limit: 1 << 20),
            error: .string(limit: 1 << 16)
        )
        return result.standardOutput + result.standardError
    }

    @Test(
        "verify and rebuild show progress on a terminal, not in a pipe or with --json",
        .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/script"))
    )
    func terminalOnly() async throws {
        let (directory, path) = try await Self.log(events: 5_000)
        defer { directory.remove() }
        let verify = try await Self.onTerminal(["verify", "--db", path])
        #expect(verify.contains("verifying 4,096 of"))
        #expect(verify.contains("(100%)"))
        #expect(verify.contains("ok"))
        let rebuild = try await Self.onTerminal(["rebuild", "--db", path])
        #expect(rebuild.contains("rebuilding from 5,"))
        let json = try await Self.onTerminal(["verify", "--db", path, "--json"])
        #expect(!json.contains("verifying"))
        let piped = try await ASMProcess.run(["verify", "--db", path])
        #expect(piped.exitCode == 0)
        #expect(!piped.stderr.contains("verifying") && !piped.stdout.contains("verifying"))
    }
}

/// Collects what a callback saw.
private final class Seen<Value: Sendable>: Sendable {
    private let values = Mutex<[Value]>([])
    func add(_ value: Value) { values.withLock { $0.append(value) } }
    var all: [Value] { values.withLock { $0 } }
}
