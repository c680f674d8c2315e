import ASMSystem
import FoundationEssentials

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// What happens to a run's worktree once the run has ended.
public enum WorktreeRetention: String, Hashable, Sendable, CaseIterable {
    /// It stays until `asm worktree remove` (the default: its changes may be wanted).
    case keep
    /// Removed when the run completed; kept when it failed or was cancelled.
    case removeOnSuccess = "remove_on_success"
    /// Removed when the run ends, whatever its outcome (its changes stay in its post snapshot).
    case remove
}

/// Worktree isolation: each run gets its own git worktree of the workspace.
public struct WorktreeOptions: Hashable, Sendable {
    /// Where the worktrees go, one directory per run; `.asm/worktrees` at the repository's
    /// top level when `nil` (git is told to ignore `/.asm/` there, in `.git/info/exclude`, so
    /// the worktrees never show in the user's `git status`). A directory of your own should be
    /// outside the work tree, or ignored by it.
    public var directory: String?
    /// Ignored files the project needs (`.env`, `config/local.*`), copied from the main
    /// checkout into each new worktree; globs relative to the workspace (a pattern without
    /// `/` matches at any depth). None by default.
    public var copyIgnored: [String]
    public var retention: WorktreeRetention

    public init(directory: String? = nil, copyIgnored: [String] = [], retention: WorktreeRetention = .keep) {
        self.directory = directory
        self.copyIgnored = copyIgnored
        self.retention = retention
    }
}

/// A git worktree made for one run.
public struct Worktree: Hashable, Sendable {
    /// The worktree's top level.
    public var path: String
    /// Where the workspace is inside it (a workspace in a subdirectory of the repository is
    /// the same subdirectory of the worktree).
    public var workingDirectory: String
    /// The main work tree's top level.
    public var repository: String
    /// The commit it was created from.
    public var base: String
    /// Ignored files copied in, relative to the workspace.
    public var copiedIgnored: [String]
}

/// Creating, applying and removing per-run worktrees with git itself (`git worktree`,
/// `git diff --binary`, `git apply`). Nothing here writes the main checkout's HEAD, index,
/// branches or files, except ``apply(from:to:into:threeWay:)``, which is the user's request
/// to bring a run's changes back.
public enum GitWorktrees {
    /// Creates a detached worktree at `base` (a snapshot commit of `workspacePath`'s repository)
    /// named `name` under the options' directory, and copies the ignored files asked for.
    public static func create(
        for workspacePath: String,
        base: String,
        name: String,
        options: WorktreeOptions
    ) async throws(WorkspaceError) -> Worktree {
        let git = GitWorkspace(options: WorkspaceOptions(path: workspacePath))
        let root = GitWorkspace.text(try await git.git(["rev-parse", "--show-toplevel"], in: workspacePath))
        var prefix = GitWorkspace.text(try await git.git(["rev-parse", "--show-prefix"], in: workspacePath))
        while prefix.hasSuffix("/") { prefix.removeLast() }
        let parent: String
        if let directory = options.directory {
            parent = directory.hasPrefix("/") ? directory : FileManager.default.currentDirectoryPath + "/" + directory
        } else {
            parent = root + "/.asm/worktrees"
            try await ignoreStateDirectory(root, git)
        }
        do {
            try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        } catch {
            throw WorkspaceError(.ioError, "cannot create \(parent): \(error)", underlying: error, path: parent)
        }
        let path = parent + "/" + name
        _ = try await git.git(["worktree", "add", "--detach", "--quiet", path, base], in: root)
        let workingDirectory = prefix.isEmpty ? path : path + "/" + prefix
        var copied: [String] = []
        if !options.copyIgnored.isEmpty {
            do {
                copied = try await copyIgnored(options.copyIgnored, from: workspacePath, to: workingDirectory, git)
            } catch {
                // Not a worktree of a run: nothing may be left behind.
                try? await remove(path, repository: root)
                throw error
            }
        }
        return Worktree(
            path: path,
            workingDirectory: workingDirectory,
            repository: root,
            base: base,
            copiedIgnored: copied
        )
    }

    /// Applies the changes between two snapshot commits to the work tree of the repository at
    /// `repository`: all or nothing, checked first (`git apply --check`) against the files as
    /// they are now, so uncommitted changes that conflict refuse it. `threeWay` falls back to
    /// a three-way merge where git can; like `git apply --3way` it records the merge in the
    /// index and may leave conflicts to resolve (then it throws, saying so). Returns how many
    /// files it touched.
    /// - Throws: ``WorkspaceError`` code `.gitFailed` naming the first file git refused.
    public static func apply(
        from: String,
        to: String,
        into repository: String,
        threeWay: Bool = false
    ) async throws(WorkspaceError) -> Int {
        let git = GitWorkspace(options: WorkspaceOptions(path: repository))
        let root = GitWorkspace.text(try await git.git(["rev-parse", "--show-toplevel"], in: repository))
        // Whatever the user's diff settings (noprefix, mnemonic or relative paths), a patch
        // `git apply` reads back.
        let patch = try await git.git(
            [
                "-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false", "-c", "diff.relative=false", "diff",
                "--binary", "--no-color", "--no-ext-diff", "--no-renames", "--src-prefix=a/", "--dst-prefix=b/", from,
                to,
            ],
            in: root
        )
        guard !patch.isEmpty else { return 0 }
        let files = try await git.git(["diff", "--name-only", "-z", from, to], in: root).count { $0 == 0 }
        let mode = threeWay ? ["--3way"] : []
        do {
            _ = try await git.git(["apply", "--check"] + mode + ["-"], in: root, input: patch)
        } catch {
            var error = error
            error.message = "the run's changes do not apply cleanly to \(root): \(error.message)"
            throw error
        }
        do {
            _ = try await git.git(["apply"] + mode + ["-"], in: root, input: patch)
        } catch {
            // Only a three-way merge gets here: it merged what it could and left conflicts.
            var error = error
            error.message =
                "the run's changes were merged into \(root) with conflicts left to resolve (git status lists them), as git apply --3way leaves them"
            throw error
        }
        return files
    }

    /// Gets a repository ready for worktrees before its pre snapshot is taken: with the default
    /// directory, git is told to ignore `/.asm/` first, so neither the worktrees nor a
    /// database kept in `.asm/` ever enter a snapshot.
    public static func prepare(for workspacePath: String, options: WorktreeOptions) async throws(WorkspaceError) {
        guard options.directory == nil else { return }
        let git = GitWorkspace(options: WorkspaceOptions(path: workspacePath))
        let root = GitWorkspace.text(try await git.git(["rev-parse", "--show-toplevel"], in: workspacePath))
        try await ignoreStateDirectory(root, git)
    }

    /// Snapshots the whole worktree (`label`, phase `final`) and then removes it, so nothing
    /// changed anywhere in it — outside a subdirectory workspace, or by hand after its run —
    /// goes with the directory. Ignored files are not kept.
    public static func retire(
        _ path: String,
        repository: String,
        label: String
    ) async throws(WorkspaceError)
        -> WorkspaceSnapshot
    {
        let final = try await makeWorkspace(WorkspaceOptions(path: path)).snapshot(phase: "final", label: label)
        try await remove(path, repository: repository)
        return final
    }

    /// Removes a worktree and its directory (`git worktree remove --force`, then whatever is
    /// left); a worktree whose directory is already gone is pruned from git's records.
    public static func remove(_ path: String, repository: String) async throws(WorkspaceError) {
        let git = GitWorkspace(options: WorkspaceOptions(path: repository))
        if FileManager.default.fileExists(atPath: path) {
            _ = try? await git.git(["worktree", "remove", "--force", "--force", path], in: repository)
            if FileManager.default.fileExists(atPath: path) {
                do {
                    try FileManager.default.removeItem(atPath: path)
                } catch {
                    throw WorkspaceError(.ioError, "cannot remove \(path): \(error)", underlying: error, path: path)
                }
            }
        }
        _ = try await git.git(["worktree", "prune"], in: repository)
    }

    /// `/.asm/` in the repository's `info/exclude`, so the default worktree directory (and a
    /// database kept in `.asm/`) never shows in `git status` or in a snapshot.
    private static func ignoreStateDirectory(_ root: String, _ git: GitWorkspace) async throws(WorkspaceError) {
        var exclude = GitWorkspace.text(
            try await git.git(["rev-parse", "--git-common-dir"], in: root)
        )
        if !exclude.hasPrefix("/") { exclude = root + "/" + exclude }
        let info = exclude + "/info"
        let file = info + "/exclude"
        let current = FileManager.default.contents(atPath: file).map { String(decoding: $0, as: UTF8.self) } ?? ""
        let lines = current.split(separator: "\n").map { String($0.filter { !$0.isWhitespace }) }
        guard !lines.contains(where: { ["/.asm/", "/.asm", ".asm/", ".asm"].contains($0) }) else { return }
        do {
            try FileManager.default.createDirectory(atPath: info, withIntermediateDirectories: true)
            let text = current + (current.isEmpty || current.hasSuffix("\n") ? "" : "\n") + "/.asm/\n"
            // Whole or not at all: a temporary file renamed over it.
            try Data(text.utf8).write(to: URL(fileURLWithPath: file), options: .atomic)
        } catch {
            throw WorkspaceError(.ioError, "cannot write \(file): \(error)", underlying: error, path: file)
        }
    }

    /// Copies the ignored files matching `patterns` from the main checkout into the worktree.
    private static func copyIgnored(
        _ patterns: [String],
        from source: String,
        to destination: String,
        _ git: GitWorkspace
    ) async throws(WorkspaceError) -> [String] {
        var pathspecs: [String] = []
        for pattern in patterns {
            pathspecs.append(":(glob)\(pattern)")
            if !pattern.contains("/") { pathspecs.append(":(glob)**/\(pattern)") }
        }
        // Never asm's own directory (the worktrees live there), never a directory or a nested
        // repository (listed with a trailing slash): files only.
        pathspecs.append(":(top,exclude).asm")
        let listed = try await git.git(
            ["ls-files", "-z", "--others", "--ignored", "--exclude-standard", "--"] + pathspecs,
            in: source
        )
        let files = listed.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.filter { relative in
            var info = stat()
            return !relative.hasSuffix("/") && lstat(source + "/" + relative, &info) == 0
                && (info.st_mode & S_IFMT) == S_IFREG
        }
        for relative in files {
            let target = destination + "/" + relative
            do {
                if let slash = target.lastIndex(of: "/") {
                    try FileManager.default.createDirectory(
                        atPath: String(target[..<slash]),
                        withIntermediateDirectories: true
                    )
                }
                if FileManager.default.fileExists(atPath: target) { try FileManager.default.removeItem(atPath: target) }
                try FileManager.default.copyItem(atPath: source + "/" + relative, toPath: target)
            } catch {
                throw WorkspaceError(
                    .ioError,
                    "cannot copy the ignored file \(relative) into the worktree",
                    path: target
                )
            }
        }
        return files.sorted()
    }
}
