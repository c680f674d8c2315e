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

/// `asm` killed with SIGKILL mid-run: nothing it started survives it, and the next process
/// to look records the run's end; a live process's runs are never touched.
@Suite(.serialized) struct CrashRecoveryTests {
    static let fixtures = PackageFiles.path("Fixtures")
    static let fakeAgent = "\(fixtures)/fake-cli/fake-agent"

    @Test("SIGKILL of asm mid-run: its agent's process group is stopped, and the next look records the run abandoned")
    func killedOwner() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let unfinished = try Self.unfinishedAnswer(in: directory)
        // Held open for writing by the agent and its children: end of file once all are gone.
        let fifo = directory.file("alive")
        #expect(mkfifo(fifo, 0o600) == 0)
        let alive = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC)
        #expect(alive >= 0)
        defer { close(alive) }
        let result = try await Subprocess.run(
            .path(FilePath(ASMProcess.executable)),
            arguments: ["run", "--provider", "claude", "--db", db, "hi"],
            environment: .inherit.updating([
                "ASM_DB": nil, "ASM_CLAUDE_BIN": Self.fakeAgent, "FAKE_FIXTURE": unfinished,
                "FAKE_HANG": "1", "FAKE_ON_SIGTERM": "ignore", "FAKE_RECORD": directory.path,
                "FAKE_ALIVE_FIFO": fifo,
            ]),
            input: .none,
            output: .sequence,
            error: .string(limit: 1 << 16)
        ) { execution -> (live: String, agents: [Int32]) in
            var live = ""
            var agents: [Int32] = []
            for try await line in execution.standardOutput.strings(separatedBy: .unicodeScalarSequence(["\n"])) {
                guard line.contains("2 + 2 = 4"), agents.isEmpty else { continue }
                // The answer is out and the agent hangs. Its holder is alive: a look from
                // another process leaves the run alone.
                live = try await ASMProcess.run(["recover", "--db", db, "--json"]).stdout
                let leader = Int32((try? String(contentsOfFile: directory.file("pid"), encoding: .utf8)) ?? "") ?? 0
                agents = Self.members(ofGroup: leader)
                try execution.send(signal: .kill)
            }
            return (live, agents)
        }
        #expect(result.terminationStatus == .signaled(SIGKILL))
        #expect(result.closureResult.live == #"{"schema_version":1,"abandoned":[],"left_open":1}"# + "\n")

        // The agent ignores SIGTERM: its watcher follows with SIGKILL. Every process of its
        // group (the CLI and the child it waits on) ends.
        let agents = result.closureResult.agents
        #expect(agents.count >= 2, "the fake CLI and its sleeping child")
        #expect(Self.waitForEndOfFile(alive), "a process of the agent's group outlived asm")
        #expect(agents.allSatisfy { Self.members(ofGroup: $0).isEmpty })

        // The next process to look records the run's end, naming the dead holder.
        let recovered = try await ASMProcess.run(["recover", "--db", db])
        #expect(recovered.exitCode == 0, "\(recovered.stderr)")
        let lines = recovered.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        #expect(lines.first?.hasPrefix("abandoned ") == true && lines.first?.contains("(was running; pid ") == true)
        #expect(lines.last == "1 abandoned run recorded, 0 open runs left to live processes")

        let store = try SQLiteEventStore(path: db)
        let session = try #require(try await store.sessions(limit: 1).first)
        let runs = try await store.runs(in: session.id)
        #expect(runs.map(\.status) == [.failed] && runs.first?.failureKind == .abandoned)
        #expect(runs.first?.failureMessage?.hasSuffix("ended without recording its end") == true)
        #expect(try await store.openRuns().isEmpty)
        await store.close()
        #expect(try await ASMProcess.run(["verify", "--db", db]).exitCode == 0)
        // Nothing more to do on the next look.
        let again = try await ASMProcess.run(["recover", "--db", db])
        #expect(again.stdout == "0 abandoned runs recorded, 0 open runs left to live processes\n")
    }

    @Test(
        "SIGKILL of asm mid-run in a worktree: the run is closed, the worktree is found and kept with the agent's change; under remove, prune snapshots and removes it",
        arguments: ["keep", "remove"]
    )
    func killedOwnerWithWorktree(retention: String) async throws {
        let repository = try await ScratchRepository.make()
        defer { repository.directory.remove() }
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let unfinished = try Self.unfinishedAnswer(in: directory)
        let result = try await Subprocess.run(
            .path(FilePath(ASMProcess.executable)),
            arguments: [
                "run", "--provider", "claude", "--db", db, "--workspace", repository.path, "--isolation", "worktree",
                "--worktree-after", retention, "hi",
            ],
            environment: .inherit.updating([
                "ASM_DB": nil, "ASM_CLAUDE_BIN": Self.fakeAgent, "FAKE_FIXTURE": unfinished, "FAKE_HANG": "1",
                "FAKE_WRITE": "src/agent.swift", "FAKE_WRITE_TEXT": "let agent = 1\n",
            ]),
            input: .none,
            output: .sequence,
            error: .string(limit: 1 << 16)
        ) { execution in
            for try await line in execution.standardOutput.strings(separatedBy: .unicodeScalarSequence(["\n"])) {
                // The agent has written its change and hangs: its holder dies.
                guard line.contains("2 + 2 = 4") else { continue }
                try execution.send(signal: .kill)
            }
        }
        #expect(result.terminationStatus == .signaled(SIGKILL))

        let recovered = try await ASMProcess.run(["recover", "--db", db])
        #expect(recovered.stdout.hasSuffix("1 abandoned run recorded, 0 open runs left to live processes\n"))
        let listed = try await ASMProcess.run(["worktree", "list", "--json", "--db", db])
        #expect(listed.lines.count == 1)
        #expect(listed.lines.first?.contains(#""state":"kept""#) == true)
        #expect(listed.lines.first?.contains(#""run_status":"failed""#) == true)
        let path = try #require(
            listed.lines.first.flatMap { line -> String? in
                guard let range = line.range(of: #""path":""#) else { return nil }
                return String(line[range.upperBound...].prefix { $0 != "\"" })
            }
        )
        #expect(FileManager.default.fileExists(atPath: path + "/src/agent.swift"), "the agent's change is there")
        #expect(!repository.exists("src/agent.swift"), "and only there")

        let pruned = try await ASMProcess.run(["worktree", "prune", "--db", db])
        #expect(pruned.exitCode == 0, "\(pruned.stderr)")
        if retention == "keep" {
            #expect(pruned.stdout == "0 worktrees removed\n")
            #expect(FileManager.default.fileExists(atPath: path))
        } else {
            #expect(pruned.stdout.hasSuffix("1 worktree removed\n"))
            #expect(!FileManager.default.fileExists(atPath: path))
            // Its change was never in a post snapshot; the final one taken before removal keeps it.
            let run = try #require(
                listed.lines.first.flatMap { line -> String? in
                    guard let range = line.range(of: #""run_id":""#) else { return nil }
                    return String(line[range.upperBound...].prefix(36))
                }
            )
            let kept = try await repository.git("show", "refs/asm/snapshots/\(run)/final:src/agent.swift")
            #expect(kept == "let agent = 1\n")
        }
    }

    /// Claude's answer without its result line, written in `directory`: the fake CLI plays
    /// it, then waits for ever.
    static func unfinishedAnswer(in directory: TemporaryDirectory) throws -> String {
        let capture = try String(contentsOfFile: "\(fixtures)/providers/claude-text.jsonl", encoding: .utf8)
        let unfinished = directory.file("unfinished.jsonl")
        FileManagerShim.write(
            unfinished,
            capture.split(separator: "\n").filter { !$0.contains(#""type":"result""#) }.joined(separator: "\n") + "\n"
        )
        return unfinished
    }

    /// Whether this process can mount a small tmpfs (root, outside a locked-down container).
    static let canMountTmpfs: Bool = {
        let directory = TemporaryDirectory(prefix: "asm-tmpfs-probe")
        defer { directory.remove() }
        guard getuid() == 0, mount("tmpfs", directory.path, "tmpfs", 0, "size=64k") == 0 else { return false }
        return umount(directory.path) == 0
    }()

    @Test(
        "a disk that fills mid-run: one line and a failing exit; once there is room, the run is recorded abandoned and nothing committed is lost",
        .enabled(if: canMountTmpfs, "mounting a tmpfs needs root outside a locked-down container")
    )
    func diskFull() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let disk = directory.file("disk")
        mkdir(disk, 0o755)
        #expect(mount("tmpfs", disk, "tmpfs", 0, "size=1m") == 0)
        defer { umount(disk) }
        // A run that streams far more than a mebibyte of events.
        let words = (0..<40_000).map { "word\($0)" }.joined(separator: " ")
        let script = directory.file("script.json")
        FileManagerShim.write(script, #"{"steps": [{"text": ""# + words + #"", "chunks": 4000}]}"#)
        let db = disk + "/asm.sqlite"
        let full = try await ASMProcess.run(["run", "--provider", "scripted", "--script", script, "--db", db, "hi"])
        #expect(full.exitCode == 1)
        #expect(full.stderr == "asm: disk full: \(db): writing: the disk is full\n")

        // Room again: the next look records the run's end; what was committed is all there.
        #expect(mount("tmpfs", disk, "tmpfs", UInt(MS_REMOUNT), "size=16m") == 0)
        let before = try await ASMProcess.run(["events", "--db", db, "--json"]).lines
        #expect(
            before.contains { $0.contains(#""type":"run.requested""#) },
            "the run was recorded before the disk filled"
        )
        let recovered = try await ASMProcess.run(["recover", "--db", db])
        #expect(recovered.stdout.hasSuffix("1 abandoned run recorded, 0 open runs left to live processes\n"))
        let after = try await ASMProcess.run(["events", "--db", db, "--json"]).lines
        #expect(Array(after.prefix(before.count)) == before)
        #expect(after.count == before.count + 1 && after.last?.contains(#""type":"run.failed""#) == true)
        #expect(after.last?.contains(#""kind":"abandoned""#) == true)
        #expect(try await ASMProcess.run(["verify", "--db", db]).exitCode == 0)
    }

    /// The live processes (not zombies) whose process group is `group`.
    static func members(ofGroup group: Int32) -> [Int32] {
        guard group > 0, let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return [] }
        var members: [Int32] = []
        for entry in entries {
            guard let pid = Int32(entry),
                let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            guard fields.count > 2, fields[0] != "Z", fields[0] != "X", Int32(fields[2]) == group else { continue }
            members.append(pid)
        }
        return members
    }

    /// Waits until every writer of the FIFO read through `descriptor` has closed it (they
    /// all exited); `false` if one still holds it after a minute.
    static func waitForEndOfFile(_ descriptor: Int32) -> Bool {
        _ = fcntl(descriptor, F_SETFL, 0)
        var entry = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        var byte: UInt8 = 0
        while poll(&entry, 1, 60_000) == 1 {
            if read(descriptor, &byte, 1) == 0 { return true }
        }
        return false
    }
}
