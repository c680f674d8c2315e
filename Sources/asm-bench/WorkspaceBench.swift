import ASMSystem
import AgentSessionManager
import Foundation
import Subprocess
import SystemPackage

/// Snapshot, diff and rollback times for a tree of many files, with both strategies.
struct WorkspaceBench {
    let directory: String
    let files: Int

    struct Figures {
        var pre: Double
        var post: Double
        var diff: Double
        var rollback: Double
    }

    /// A tree of `files` small files in directories of 100, committed when `git` is set.
    private func makeTree(_ root: String, git: Bool) async throws {
        try? FileManager.default.removeItem(atPath: root)
        for index in 0..<files {
            let folder = "\(root)/dir\(index / 100)"
            if index % 100 == 0 {
                try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            }
            let text = "file \(index)\n" + String(repeating: "line of content \(index % 17)\n", count: 8)
            _ = FileManager.default.createFile(atPath: "\(folder)/file\(index).txt", contents: Data(text.utf8))
        }
        guard git else { return }
        for arguments in [
            ["init", "-q"], ["add", "-A"], ["-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "tree"],
        ] {
            let result = try await Subprocess.run(
                .name("git"),
                arguments: Arguments(arguments),
                workingDirectory: FilePath(root),
                output: .discarded,
                error: .string(limit: 4096)
            )
            guard case .exited(0) = result.terminationStatus else {
                throw BenchError("git \(arguments[0]): \(result.standardError)")
            }
        }
    }

    /// 100 files edited, 10 added, 10 deleted.
    private func edit(_ root: String) {
        for index in stride(from: 0, to: min(files, 10_000), by: max(1, files / 100)) {
            _ = FileManager.default.createFile(
                atPath: "\(root)/dir\(index / 100)/file\(index).txt",
                contents: Data("edited \(index)\n".utf8)
            )
        }
        for index in 0..<10 {
            _ = FileManager.default.createFile(
                atPath: "\(root)/dir0/new\(index).txt",
                contents: Data("new \(index)\n".utf8)
            )
            try? FileManager.default.removeItem(atPath: "\(root)/dir\(index + 1)/file\((index + 1) * 100 + 1).txt")
        }
    }

    func measure(_ strategy: WorkspaceStrategy) async throws -> Figures {
        let root = "\(directory)/workspace-\(strategy.rawValue)"
        let artifacts = "\(directory)/artifacts-\(strategy.rawValue)"
        try? FileManager.default.removeItem(atPath: artifacts)
        try await makeTree(root, git: strategy == .git)
        let workspace = makeWorkspace(
            WorkspaceOptions(
                path: root,
                strategy: strategy,
                artifactStore: FileArtifactStore(root: artifacts),
                rollbackOnFailure: true
            )
        )
        try await workspace.prepare()
        func timed<T>(_ body: () async throws -> T) async throws -> (T, Double) {
            let start = MonotonicTime.nanoseconds()
            let value = try await body()
            return (value, Double(MonotonicTime.nanoseconds() - start) / 1e6)
        }
        let (pre, preTime) = try await timed { try await workspace.snapshot(phase: "pre", label: "bench/pre") }
        edit(root)
        let (post, postTime) = try await timed { try await workspace.snapshot(phase: "post", label: "bench/post") }
        let (changes, diffTime) = try await timed { try await workspace.diff(from: pre, to: post) }
        guard changes.files.count == 120 else {
            throw BenchError("expected 120 changed files, saw \(changes.files.count)")
        }
        let (_, rollbackTime) = try await timed {
            try await workspace.restore(to: pre, from: post, label: "bench/rollback")
        }
        try? FileManager.default.removeItem(atPath: root)
        try? FileManager.default.removeItem(atPath: artifacts)
        return Figures(pre: preTime, post: postTime, diff: diffTime, rollback: rollbackTime)
    }

    /// The report's rows: medians of `rounds` measurements per strategy.
    func rows(rounds: Int) async throws -> [Row] {
        var rows: [Row] = []
        for strategy in WorkspaceStrategy.allCases {
            var all: [Figures] = []
            for _ in 0..<rounds { all.append(try await measure(strategy)) }
            let label = "\(files / 1000)k files, \(strategy.rawValue)"
            rows.append(
                Row(
                    name: "workspace snapshot (pre), \(label)",
                    engine: median(all.map(\.pre)),
                    anchor: nil,
                    unit: "ms",
                    lowerIsBetter: true,
                    target: "—"
                )
            )
            rows.append(
                Row(
                    name: "snapshot after 120 changes, \(label)",
                    engine: median(all.map(\.post)),
                    anchor: nil,
                    unit: "ms",
                    lowerIsBetter: true,
                    target: "—"
                )
            )
            rows.append(
                Row(
                    name: "diff of the two, \(label)",
                    engine: median(all.map(\.diff)),
                    anchor: nil,
                    unit: "ms",
                    lowerIsBetter: true,
                    target: "—"
                )
            )
            rows.append(
                Row(
                    name: "rollback, \(label)",
                    engine: median(all.map(\.rollback)),
                    anchor: nil,
                    unit: "ms",
                    lowerIsBetter: true,
                    target: "—"
                )
            )
        }
        return rows
    }
}
