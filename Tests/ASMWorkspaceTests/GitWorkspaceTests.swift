import ASMCore
import ASMWorkspace
import AgentSessionManagerTesting
import Foundation
import Testing

/// Git snapshots, diffs and restores on real repositories.
@Suite(.serialized) struct GitWorkspaceTests {
    /// Edits, a new file, a deletion, a binary change and an ignored file.
    private func change(_ repository: ScratchRepository) {
        repository.write("README.md", "# Project\n\nLine one, edited.\nLine two.\nLine three.\n")
        repository.write("src/new.swift", "struct New {}\n")
        repository.remove("src/main.swift")
        repository.write("logo.bin", [9, 9, 0, 9, 255])
        repository.write("build/out.txt", "ignored output\n")
        repository.write("second.log", "ignored\n")
    }

    @Test(
        "snapshots cover tracked changes and untracked files, honour .gitignore, and leave HEAD, index, stash and branches alone"
    )
    func snapshotAndDiff() async throws {
        let repository = try await ScratchRepository.make()
        defer { repository.directory.remove() }
        let workspace = makeWorkspace(WorkspaceOptions(path: repository.path))
        let before = try await repository.state()
        let pre = try await workspace.snapshot(phase: "pre", label: "run-1/pre")
        change(repository)
        let middle = try await repository.state()
        let post = try await workspace.snapshot(phase: "post", label: "run-1/post")
        let diff = try await workspace.diff(from: pre, to: post)

        #expect(
            try await repository.state() == middle,
            "a snapshot changed HEAD, the index, the stash, branches or status"
        )
        #expect(before[0] == middle[0] && before[1] == middle[1] && before[2] == middle[2], "HEAD, index and stash")
        #expect(
            try await repository.git("for-each-ref", "--format=%(refname)", "refs/asm").split(separator: "\n") == [
                "refs/asm/snapshots/run-1/post", "refs/asm/snapshots/run-1/pre",
            ]
        )
        #expect(pre.fileCount == 6, "README, 2 sources, logo, .gitignore and the staged notes.txt — not debug.log")

        let byPath = Dictionary(uniqueKeysWithValues: diff.files.map { ($0.path, $0) })
        #expect(Set(byPath.keys) == ["README.md", "src/new.swift", "src/main.swift", "logo.bin"])
        #expect(
            byPath["README.md"]
                == WorkspaceFileChange(path: "README.md", change: "modified", insertions: 2, deletions: 1)
        )
        #expect(byPath["src/new.swift"]?.change == "added" && byPath["src/main.swift"]?.change == "deleted")
        #expect(byPath["logo.bin"] == WorkspaceFileChange(path: "logo.bin", change: "modified", binary: true))
        #expect(diff.insertions == 3 && diff.deletions == 2)
        let patch = String(decoding: try #require(diff.patch), as: UTF8.self)
        #expect(patch.contains("+Line one, edited.") && patch.contains("Binary files a/logo.bin and b/logo.bin differ"))
        #expect(!patch.contains("ignored output"))
    }

    @Test(
        "restoring the pre-run snapshot puts modified files back, removes created ones, brings deleted ones back, and keeps the post state under a safety ref"
    )
    func restore() async throws {
        let repository = try await ScratchRepository.make()
        defer { repository.directory.remove() }
        let workspace = makeWorkspace(WorkspaceOptions(path: repository.path))
        let original = (
            repository.read("README.md"), repository.read("src/main.swift"),
            FileManager.default.contents(atPath: "\(repository.path)/logo.bin")
        )
        let before = try await repository.state()
        let pre = try await workspace.snapshot(phase: "pre", label: "run-2/pre")
        change(repository)
        let post = try await workspace.snapshot(phase: "post", label: "run-2/post")
        let report = try await workspace.restore(to: pre, from: post, label: "run-2/rollback")

        #expect(report.restored == 3 && report.removed == 1 && report.unrestorable.isEmpty)
        #expect(repository.read("README.md") == original.0 && repository.read("src/main.swift") == original.1)
        #expect(FileManager.default.contents(atPath: "\(repository.path)/logo.bin") == original.2)
        #expect(!repository.exists("src/new.swift"))
        #expect(repository.read("build/out.txt") == "ignored output\n", "ignored files are not the run's to remove")
        #expect(
            try await repository.state() == before,
            "after the rollback, HEAD, index, stash and status are as before the run"
        )
        let safety = try await repository.git("rev-parse", report.safetyReference ?? "")
        #expect(safety.hasPrefix(post.reference))
        // And forward again, to the post state.
        let now = try await workspace.snapshot(phase: "restore", label: "run-2/now")
        _ = try await workspace.restore(to: post, from: now, label: "run-2/forward")
        #expect(repository.exists("src/new.swift") && !repository.exists("src/main.swift"))
    }

    @Test("a subdirectory workspace sees only its own changes")
    func subdirectory() async throws {
        let repository = try await ScratchRepository.make()
        defer { repository.directory.remove() }
        let workspace = makeWorkspace(WorkspaceOptions(path: repository.path + "/src"))
        let pre = try await workspace.snapshot(phase: "pre", label: "sub/pre")
        repository.write("src/util.swift", "let answer = 7\n")
        repository.write("README.md", "changed outside\n")
        let post = try await workspace.snapshot(phase: "post", label: "sub/post")
        let diff = try await workspace.diff(from: pre, to: post)
        #expect(diff.files.map(\.path) == ["util.swift"])
    }

    @Test("a directory that is not a git work tree is a clear error before anything runs")
    func notAScratchRepository() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        await #expect(
            throws: WorkspaceError(
                .notARepository,
                "the workspace \(directory.path) is not inside a git work tree (use the hash strategy, or git init)",
                path: directory.path
            )
        ) {
            try await makeWorkspace(WorkspaceOptions(path: directory.path)).prepare()
        }
        await #expect(throws: WorkspaceError.self) {
            try await makeWorkspace(WorkspaceOptions(path: directory.path + "/missing")).prepare()
        }
    }

    @Test("a repository without commits can be snapshotted")
    func emptyScratchRepository() async throws {
        let repository = ScratchRepository()
        defer { repository.directory.remove() }
        try await repository.git("init", "-q")
        let workspace = makeWorkspace(WorkspaceOptions(path: repository.path))
        let pre = try await workspace.snapshot(phase: "pre", label: "e/pre")
        repository.write("a.txt", "a\n")
        let post = try await workspace.snapshot(phase: "post", label: "e/post")
        #expect(try await workspace.diff(from: pre, to: post).files.map(\.change) == ["added"])
        _ = try await workspace.restore(to: pre, from: post, label: "e/back")
        #expect(!repository.exists("a.txt"))
    }
}
