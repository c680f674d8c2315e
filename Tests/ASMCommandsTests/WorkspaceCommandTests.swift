import ASMCore
import ASMStore
import ASMWorkspace
import AgentSessionManagerTesting
import ArgumentParser
import Foundation
import Testing

@testable import ASMCommands

/// `asm run --workspace`, `asm diff` and `asm workspace restore`, with a fake claude that edits files.
@Suite(.serialized) struct WorkspaceCommandTests {
    static let fixtures = RunCommandTests.fixtures

    /// claude "edits" the workspace: a new file, a deleted one; then it fails or completes.
    static func claude(failing: Bool) -> [String: String] {
        [
            "ASM_CLAUDE_BIN": RunCommandTests.fakeAgent, "FAKE_WRITE": "src/new.swift",
            "FAKE_WRITE_TEXT": "let new = 1\n",
            "FAKE_DELETE": "README.md",
            "FAKE_FIXTURE": "\(Self.fixtures)/providers/" + (failing ? "claude-error-api.jsonl" : "claude-text.jsonl"),
            "FAKE_EXIT": failing ? "1" : "0",
        ]
    }

    /// A scratch repository, a database path beside it, and what removes both.
    static func scratch() async throws -> (ScratchRepository, String, () -> Void) {
        let repository = try await ScratchRepository.make()
        let directory = TemporaryDirectory()
        return (
            repository, directory.file("asm.sqlite"),
            {
                repository.directory.remove()
                directory.remove()
            }
        )
    }

    private func runID(_ db: String) async throws -> String {
        let runs = try await ASMProcess.run(["events", "--db", db, "--type", "run.requested", "--json"])
        let line = try #require(runs.lines.last)
        let range = try #require(line.range(of: #""run_id":""#))
        return String(line[range.upperBound...].prefix(36))
    }

    @Test(
        "a failed run with --rollback-on-failure is put back; diff shows what it did; restore moves between the snapshots"
    )
    func rollbackDiffRestore() async throws {
        let (repository, db, cleanup) = try await Self.scratch()
        defer { cleanup() }
        let before = try await repository.state()
        let failed = try await ASMProcess.run(
            [
                "run", "--provider", "claude", "--db", db, "--workspace", repository.path, "--rollback-on-failure",
                "edit",
            ],
            environment: Self.claude(failing: true)
        )
        #expect(failed.exitCode == 1, "\(failed.stderr)")
        #expect(failed.stderr.contains("workspace: 2 files changed, +1 -4"))
        #expect(failed.stderr.contains("workspace rolled back to ") && failed.stderr.contains("1 put back, 1 removed"))
        #expect(repository.exists("README.md") && !repository.exists("src/new.swift"))
        #expect(try await repository.state() == before)

        let run = try await runID(db)
        let diff = try await ASMProcess.run(["diff", String(run.prefix(8)), "--db", db])
        #expect(diff.exitCode == 0, "\(diff.stderr)")
        #expect(diff.stdout.contains("+++ b/src/new.swift") && diff.stdout.contains("--- a/README.md"))
        let stat = try await ASMProcess.run(["diff", run, "--db", db, "--stat"])
        #expect(
            stat.stdout == "D README.md  +0 -4\nA src/new.swift  +1 -0\n2 files changed, 1 insertion, 4 deletions\n"
        )

        let forward = try await ASMProcess.run(["workspace", "restore", run, "--to", "post", "--db", db])
        #expect(forward.exitCode == 0, "\(forward.stderr)")
        #expect(forward.stdout.contains(": 1 file put back, 1 removed; the state before is kept at refs/asm/safety/"))
        #expect(repository.exists("src/new.swift") && !repository.exists("README.md"))

        repository.write("unrecorded.txt", "mine\n")
        let refused = try await ASMProcess.run(["workspace", "restore", run, "--to", "pre", "--db", db])
        #expect(
            refused.exitCode == 1
                && refused.stderr.contains(
                    "has changes that no snapshot of run \(run) recorded; --force restores anyway"
                )
        )
        #expect(repository.exists("unrecorded.txt"), "a refused restore changes nothing")
        let forced = try await ASMProcess.run(["workspace", "restore", run, "--to", "pre", "--db", db, "--force"])
        #expect(forced.exitCode == 0 && repository.exists("README.md") && !repository.exists("unrecorded.txt"))

        let rollbacks = try await ASMProcess.run(["events", "--db", db, "--type", "workspace.rolled_back"])
        #expect(rollbacks.lines.count == 3, "the run's rollback and both restores are in the log")
    }

    @Test("a completed run keeps its changes, and a patch over the cap is read back from the artifact store")
    func completedWithStoredPatch() async throws {
        let (repository, db, cleanup) = try await Self.scratch()
        defer { cleanup() }
        let result = try await ASMProcess.run(
            [
                "run", "--provider", "claude", "--db", db, "--workspace", repository.path, "--rollback-on-failure",
                "--max-patch-bytes", "10", "edit",
            ],
            environment: Self.claude(failing: false)
        )
        #expect(result.exitCode == 0, "\(result.stderr)")
        #expect(result.stderr.contains(", patch in sha256:"))
        #expect(repository.exists("src/new.swift"))
        #expect(
            FileManager.default.fileExists(atPath: db.replacingOccurrences(of: "asm.sqlite", with: "artifacts/sha256"))
        )
        let diff = try await ASMProcess.run(["diff", try await runID(db), "--db", db])
        #expect(diff.stdout.contains("+let new = 1"))
        let stored = try await ASMProcess.run(["events", "--db", db, "--type", "artifact.stored", "--json"])
        #expect(stored.lines.count == 1 && stored.stdout.contains(#""purpose":"patch""#))
    }

    @Test("a workspace that is not a git work tree is refused before anything is written")
    func notARepository() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let plain = directory.file("plain")
        try FileManager.default.createDirectory(atPath: plain, withIntermediateDirectories: true)
        let db = directory.file("asm.sqlite")
        let result = try await ASMProcess.run(["run", "--provider", "scripted", "--db", db, "--workspace", plain, "hi"])
        #expect(result.exitCode == 64)
        #expect(result.stderr.contains("is not inside a git work tree (use the hash strategy, or git init)"))
        #expect(!FileManager.default.fileExists(atPath: db))
        let hash = try await ASMProcess.run([
            "run", "--provider", "scripted", "--db", db, "--workspace", plain, "--workspace-strategy", "hash", "hi",
        ])
        #expect(hash.exitCode == 0, "\(hash.stderr)")
    }

    @Test(
        "workspace options without --workspace, or with --cwd, are refused",
        arguments: [
            ["run", "--provider", "scripted", "--rollback-on-failure", "hi"],
            ["run", "--provider", "scripted", "--workspace-strategy", "hash", "hi"],
            ["run", "--provider", "scripted", "--workspace", "x", "--cwd", "y", "hi"],
            ["workspace", "restore", "abc", "--to", "middle"],
            ["run", "--provider", "scripted", "--workspace", "x", "--max-patch-bytes=-1", "hi"],
        ]
    )
    func invalid(arguments: [String]) {
        #expect(throws: (any Error).self) { _ = try ASM.parseAsRoot(arguments) }
    }

    @Test("a workspace another process holds is refused with exit 75 before anything is written")
    func workspaceInUse() async throws {
        let (repository, db, cleanup) = try await Self.scratch()
        defer { cleanup() }
        let lock = try WorkspaceLock.acquire(repository.path, holder: "a test")
        let refused = try await ASMProcess.run([
            "run", "--provider", "scripted", "--db", db, "--workspace", repository.path, "hi",
        ])
        #expect(refused.exitCode == 75)
        #expect(
            refused.stderr.hasPrefix("asm: workspace in use: the workspace ")
                && refused.stderr.contains(" is in use by pid \(getpid()), a test")
        )
        #expect(!FileManager.default.fileExists(atPath: db))
        lock.release()
        let accepted = try await ASMProcess.run([
            "run", "--provider", "scripted", "--db", db, "--workspace", repository.path, "hi",
        ])
        #expect(accepted.exitCode == 0, "\(accepted.stderr)")
    }

    @Test(
        "--isolation worktree: the run works in its own worktree; asm worktree list, apply and remove bring its changes back"
    )
    func worktreeCommands() async throws {
        let (repository, db, cleanup) = try await Self.scratch()
        defer { cleanup() }
        let before = try await repository.state()
        let ran = try await ASMProcess.run(
            [
                "run", "--provider", "claude", "--db", db, "--workspace", repository.path, "--isolation", "worktree",
                "--copy-ignored", "*.log", "edit",
            ],
            environment: Self.claude(failing: false)
        )
        #expect(ran.exitCode == 0, "\(ran.stderr)")
        #expect(
            try await repository.state() == before,
            "the checkout is untouched while the change waits in the worktree"
        )
        let listed = try await ASMProcess.run(["worktree", "list", "--json", "--db", db])
        #expect(listed.lines.count == 1)
        #expect(listed.lines.first?.contains(#""state":"kept""#) == true)
        #expect(listed.lines.first?.contains(#""retention":"keep""#) == true)
        let run = try await runID(db)
        let path = try #require(
            listed.lines.first.flatMap { line -> String? in
                guard let range = line.range(of: #""path":""#) else { return nil }
                return String(line[range.upperBound...].prefix { $0 != "\"" })
            }
        )
        #expect(FileManager.default.fileExists(atPath: path + "/debug.log"), "the ignored file asked for was copied")

        let applied = try await ASMProcess.run(["worktree", "apply", String(run.prefix(13)), "--db", db])
        #expect(applied.exitCode == 0, "\(applied.stderr)")
        #expect(applied.stdout.hasPrefix("applied 2 files of run \(run) to "))
        #expect(repository.read("src/new.swift") == "let new = 1\n" && !repository.exists("README.md"))
        let again = try await ASMProcess.run(["worktree", "apply", run, "--db", db])
        #expect(again.exitCode == 1)
        #expect(again.stderr.hasPrefix("asm: workspace failed: the run's changes do not apply cleanly to "))
        #expect(again.stderr.split(separator: "\n").count == 1)

        let removed = try await ASMProcess.run(["worktree", "remove", run, "--db", db])
        #expect(removed.exitCode == 0, "\(removed.stderr)")
        #expect(!FileManager.default.fileExists(atPath: path))
        let after = try await ASMProcess.run(["worktree", "list", "--db", db])
        #expect(after.stdout.contains(" removed "))
        let shown = try await ASMProcess.run(["events", "--db", db, "--type", "workspace.worktree_applied"])
        #expect(shown.lines.count == 1)

        let misuse = try await ASMProcess.run([
            "run", "--provider", "scripted", "--db", db, "--copy-ignored", ".env", "x",
        ])
        #expect(misuse.exitCode == 64)
        #expect(misuse.stderr.contains("--isolation worktree"))
    }
}
