import ASMCore
import ASMStore
import AgentSessionManagerTesting
import Foundation
import Subprocess
import SystemPackage
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Audits of a log the user may read but not write: a read-only file, a read-only directory,
/// a write-ahead file that cannot be read that way; writes refused in one line.
@Suite(.serialized) struct ReadOnlyCommandTests {
    /// How `asm` runs as a user who cannot write what root made: as `nobody` when the tests
    /// run as root (root writes any file), else as this user.
    static let unprivileged: [String]? = {
        guard getuid() == 0 else { return [] }
        let prefix = ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        guard access(prefix[0], X_OK) == 0 else { return nil }
        return prefix
    }()

    static var canRun: Bool {
        guard let prefix = unprivileged else { return false }
        // The account `asm` runs as must be able to reach and run the executable.
        return prefix.isEmpty || runs(prefix + ["/bin/sh", "-c", "test -x \"$0\"", ASMProcess.executable]) == 0
    }

    private static func runs(_ arguments: [String]) -> Int32 {
        var pid: pid_t = 0
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        guard posix_spawn(&pid, arguments[0], nil, nil, &argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        return status
    }

    /// Runs `asm` as the unprivileged user.
    private func asm(_ arguments: [String]) async throws -> ASMProcess.Output {
        let prefix = Self.unprivileged ?? []
        let command = prefix + [ASMProcess.executable] + arguments
        let result = try await Subprocess.run(
            .path(FilePath(command[0])),
            arguments: Arguments(Array(command.dropFirst())),
            environment: .inherit.updating(["ASM_DB": nil]),
            input: .none,
            output: .string(limit: 1 << 22),
            error: .string(limit: 1 << 16)
        )
        return ASMProcess.Output(
            status: result.terminationStatus,
            stdout: result.standardOutput,
            stderr: result.standardError
        )
    }

    /// A directory holding the demo's log, closed cleanly (no write-ahead file left).
    private func demoLog() async throws -> (TemporaryDirectory, String) {
        let directory = TemporaryDirectory()
        let db = directory.file("asm.sqlite")
        let demo = try await ASMProcess.run(["demo", "--part", "policies", "--pace", "0", "--db", db])
        #expect(demo.exitCode == 0, "\(demo.stderr)")
        return (directory, db)
    }

    static let readers: [[String]] = [
        ["events"], ["tail", "-n", "3"], ["sessions"], ["verify"], ["replay", "--verify"], ["cost"], ["providers"],
        ["consumers"],
    ]

    @Test(
        "every reading command works on a read-only file in a read-only directory; writing commands refuse in one line",
        .enabled(if: canRun, "asm cannot be run as an unprivileged user here")
    )
    func readOnlyFileAndDirectory() async throws {
        let (directory, db) = try await demoLog()
        defer {
            chmod(directory.path, 0o755)
            directory.remove()
        }
        let expected = try await ASMProcess.run(["events", "--db", db]).stdout
        #expect(chmod(db, 0o444) == 0 && chmod(directory.path, 0o555) == 0)

        for command in Self.readers {
            let result = try await asm(command + ["--db", db])
            #expect(result.exitCode == 0, "asm \(command.joined(separator: " ")): \(result.stderr)")
        }
        #expect(try await asm(["events", "--db", db]).stdout == expected)
        let session = try #require(expected.split(separator: "\n").first?.split(separator: " ").dropFirst(2).first)
        let show = try await asm(["show", String(session), "--db", db])
        #expect(show.exitCode == 0, "\(show.stderr)")

        for command in [["run", "--provider", "scripted", "hi"], ["recover"], ["rebuild"]] {
            let refused = try await asm(command + ["--db", db])
            #expect(refused.exitCode == 65, "asm \(command[0])")
            #expect(
                refused.stderr
                    == "asm: read-only: \(db) cannot be written here (the file, its directory or its mount is read-only "
                    + "for this user); commands that only read can open it\n"
            )
        }
        #expect(try await asm(["verify", "--db", db]).stdout.hasSuffix("ok\n"), "nothing was written")
    }

    @Test(
        "a write-ahead file that cannot be read without writing is reported, not skipped over",
        .enabled(if: canRun, "asm cannot be run as an unprivileged user here")
    )
    func unreadableWriteAheadLog() async throws {
        let (directory, db) = try await demoLog()
        defer {
            chmod(directory.path, 0o755)
            directory.remove()
        }
        // Commits left in the write-ahead file (its writer was killed), copied without the
        // index beside it.
        let store = try SQLiteEventStore(path: db)
        let session = SessionID.generate()
        try await store.append(
            [NewEvent(SessionCreated(agentID: "late"))],
            to: session.stream,
            expectedVersion: .noStream
        )
        let copy = directory.file("copy")
        mkdir(copy, 0o755)
        for suffix in ["", "-wal"] {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: db + suffix))
            try bytes.write(to: URL(fileURLWithPath: copy + "/asm.sqlite" + suffix))
        }
        await store.close()
        chmod(copy, 0o555)
        defer { chmod(copy, 0o755) }
        let result = try await asm(["events", "--db", copy + "/asm.sqlite"])
        #expect(result.exitCode == 65)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix("asm: read-only: \(copy)/asm.sqlite-wal holds "))
        #expect(
            result.stderr.hasSuffix(
                " bytes of commits that cannot be read without write access to its directory; copy the database and its -wal file somewhere writable to read them\n"
            )
        )
    }
}

/// The store opened read-only.
struct ReadOnlyStoreTests {
    @Test("a read-only store reads what is there and refuses every write with readOnly")
    func refusesWrites() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        let writer = try SQLiteEventStore(path: path)
        let session = SessionID.generate()
        try await writer.append(
            [NewEvent(SessionCreated(agentID: "a"))],
            to: session.stream,
            expectedVersion: .noStream
        )
        var configuration = SQLiteEventStore.Configuration()
        configuration.readOnly = true
        let reader = try SQLiteEventStore(path: path, configuration: configuration)
        #expect(try await reader.lastSequence() == SequenceNumber(1))
        #expect(try await reader.session(session)?.agentID == "a")
        // A commit by the writer is seen by the reader.
        try await writer.append([NewEvent(SessionActivated())], to: session.stream, expectedVersion: .any)
        #expect(try await reader.lastSequence() == SequenceNumber(2))
        await #expect(throws: StoreError.self) {
            try await reader.append([NewEvent(SessionActivated())], to: session.stream, expectedVersion: .any)
        }
        do {
            _ = try await reader.rebuildProjections(progress: nil)
            Issue.record("a read-only store rebuilt its projections")
        } catch let error as StoreError {
            #expect(error.code == .readOnly)
        }
        #expect(try await reader.lastSequence() == SequenceNumber(2))
        await reader.close()
        await writer.close()

        configuration.readOnly = true
        #expect(throws: StoreError.self) {
            try SQLiteEventStore(path: directory.file("none.sqlite"), configuration: configuration)
        }
        #expect(!FileManager.default.fileExists(atPath: directory.file("none.sqlite")), "nothing is created")
    }
}
