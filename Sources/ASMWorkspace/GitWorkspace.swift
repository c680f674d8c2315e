import ASMCore
import ASMSystem
import FoundationEssentials
import Subprocess
import SystemPackage

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// Snapshots as git commits under `refs/asm/`, built with a temporary index.
///
/// The user's HEAD, index, stash, branches and working tree are never written: a snapshot
/// copies the index to a temporary file (for its stat cache), stages the working tree into
/// it (`git add -A`, so `.gitignore` is honoured), writes the tree, commits it with the
/// snapshot's label, and points `refs/asm/snapshots/<label>` at it. A restore checks files
/// out of a temporary index, after keeping the current state under `refs/asm/safety/`.
struct GitWorkspace: Workspace {
    let options: WorkspaceOptions

    /// The work tree's top level and the workspace's path within it.
    private struct Location {
        var root: String
        var pathspec: String
    }

    func prepare() async throws(WorkspaceError) {
        _ = try await locate()
    }

    private func locate() async throws(WorkspaceError) -> Location {
        guard isDirectory(options.path) else {
            throw WorkspaceError(.notADirectory, "the workspace \(options.path) is not a directory", path: options.path)
        }
        let inside = try? await git(["rev-parse", "--is-inside-work-tree"], in: options.path)
        guard inside.map(Self.text) == "true" else {
            throw WorkspaceError(
                .notARepository,
                "the workspace \(options.path) is not inside a git work tree (use the hash strategy, or git init)",
                path: options.path
            )
        }
        let root = Self.text(try await git(["rev-parse", "--show-toplevel"], in: options.path))
        let prefix = Self.text(try await git(["rev-parse", "--show-prefix"], in: options.path))
        return Location(root: root, pathspec: prefix.isEmpty ? "." : prefix)
    }

    func snapshot(phase: String, label: String) async throws(WorkspaceError) -> WorkspaceSnapshot {
        let location = try await locate()
        let index = try await temporaryIndex(location, from: nil)
        defer { unlink(index) }
        var add = ["add", "-A", "--", location.pathspec]
        add += options.ignorePatterns.map { ":(exclude,glob)**/\($0)" }
        _ = try await git(add, in: location.root, index: index)
        let tree = Self.text(try await git(["write-tree"], in: location.root, index: index))
        let head = try? await git(["rev-parse", "--verify", "-q", "HEAD"], in: location.root)
        var commitArguments = ["commit-tree", tree, "-m", "asm snapshot \(label)"]
        if let head { commitArguments += ["-p", Self.text(head)] }
        let commit = Self.text(try await git(commitArguments, in: location.root))
        _ = try await git(["update-ref", Self.snapshotRef(label), commit], in: location.root)
        let files = try await git(
            ["ls-tree", "-r", "-z", "--name-only", tree, "--", location.pathspec],
            in: location.root
        )
        return WorkspaceSnapshot(
            id: label,
            phase: phase,
            strategy: .git,
            path: options.path,
            reference: commit,
            fileCount: files.count { $0 == 0 }
        )
    }

    func diff(from: WorkspaceSnapshot, to: WorkspaceSnapshot) async throws(WorkspaceError) -> WorkspaceChanges {
        let location = try await locate()
        let range = [from.reference, to.reference, "--", location.pathspec]
        let status = try await git(["diff", "--name-status", "--no-renames", "-z"] + range, in: location.root)
        let numbers = try await git(["diff", "--numstat", "--no-renames", "-z"] + range, in: location.root)
        var counts: [String: (Int?, Int?)] = [:]
        // numstat -z: "ins\tdel\tpath\0" per file ("-\t-\t" for binary).
        for record in numbers.split(separator: 0, omittingEmptySubsequences: true) {
            let fields = record.split(separator: UInt8(ascii: "\t"), maxSplits: 2, omittingEmptySubsequences: false)
            guard fields.count == 3 else { continue }
            counts[String(decoding: fields[2], as: UTF8.self)] = (
                Int(String(decoding: fields[0], as: UTF8.self)), Int(String(decoding: fields[1], as: UTF8.self))
            )
        }
        var files: [WorkspaceFileChange] = []
        var insertions = 0
        var deletions = 0
        // name-status -z: "X\0path\0" per file.
        let parts = status.split(separator: 0, omittingEmptySubsequences: true).map {
            String(decoding: $0, as: UTF8.self)
        }
        var index = 0
        while index + 1 < parts.count {
            let code = parts[index]
            let path = parts[index + 1]
            index += 2
            let change: String =
                switch code.first {
                case "A": "added"
                case "D": "deleted"
                default: "modified"
                }
            let (added, removed) = counts[path] ?? (nil, nil)
            let binary = added == nil && removed == nil && counts[path] != nil
            insertions += added ?? 0
            deletions += removed ?? 0
            files.append(
                WorkspaceFileChange(
                    path: Self.relative(path, location),
                    change: change,
                    binary: binary ? true : nil,
                    insertions: added,
                    deletions: removed
                )
            )
        }
        var patch: [UInt8]?
        if options.capturePatch, !files.isEmpty {
            patch = try await git(
                ["diff", "--no-color", "--no-ext-diff", "--no-renames", "--no-textconv"] + range,
                in: location.root
            )
        }
        return WorkspaceChanges(files: files, insertions: insertions, deletions: deletions, patch: patch)
    }

    func restore(
        to target: WorkspaceSnapshot,
        from current: WorkspaceSnapshot,
        label: String
    ) async throws(WorkspaceError)
        -> RestoreReport
    {
        let location = try await locate()
        let safety = Self.safetyRef(label)
        _ = try await git(["update-ref", safety, current.reference], in: location.root)
        let status = try await git(
            [
                "diff", "--name-status", "--no-renames", "-z", current.reference, target.reference, "--",
                location.pathspec,
            ],
            in: location.root
        )
        let parts = status.split(separator: 0, omittingEmptySubsequences: true).map {
            String(decoding: $0, as: UTF8.self)
        }
        var checkout: [String] = []
        var remove: [String] = []
        var index = 0
        while index + 1 < parts.count {
            // What the target has that the current state does not (A), changed (M, T), or lacks (D).
            if parts[index].first == "D" { remove.append(parts[index + 1]) } else { checkout.append(parts[index + 1]) }
            index += 2
        }
        for path in remove {
            let full = "\(location.root)/\(path)"
            do {
                try FileManager.default.removeItem(atPath: full)
            } catch {
                throw WorkspaceError(.ioError, "cannot remove \(full): \(error)", underlying: error, path: full)
            }
            pruneEmptyDirectories(from: full, upTo: options.path)
        }
        if !checkout.isEmpty {
            let temporary = try await temporaryIndex(location, from: target.reference)
            defer { unlink(temporary) }
            let paths = Array(checkout.joined(separator: "\0").utf8) + [0]
            _ = try await git(
                ["checkout-index", "-f", "-z", "--stdin"],
                in: location.root,
                index: temporary,
                input: paths
            )
        }
        return RestoreReport(restored: checkout.count, removed: remove.count, unrestorable: [], safetyReference: safety)
    }

    func recorded(_ event: WorkspaceSnapshotTaken) async throws(WorkspaceError) -> WorkspaceSnapshot {
        guard let reference = event.reference else {
            throw WorkspaceError(.snapshotUnavailable, "snapshot \(event.snapshotID) has no commit")
        }
        let location = try await locate()
        guard (try? await git(["cat-file", "-e", "\(reference)^{commit}"], in: location.root)) != nil else {
            throw WorkspaceError(
                .snapshotUnavailable,
                "snapshot \(event.snapshotID)'s commit \(reference) is not in the repository at \(location.root)",
                path: location.root
            )
        }
        return WorkspaceSnapshot(
            id: event.snapshotID,
            phase: event.phase,
            strategy: .git,
            path: event.path,
            reference: reference,
            fileCount: event.fileCount ?? 0
        )
    }

    func sameState(_ a: WorkspaceSnapshot, _ b: WorkspaceSnapshot) async throws(WorkspaceError) -> Bool {
        try await tree(of: a) == tree(of: b)
    }

    /// The tree of a snapshot's commit (to compare states).
    func tree(of snapshot: WorkspaceSnapshot) async throws(WorkspaceError) -> String {
        let location = try await locate()
        return Self.text(try await git(["rev-parse", "\(snapshot.reference)^{tree}"], in: location.root))
    }

    // MARK: Helpers

    static func snapshotRef(_ label: String) -> String { "refs/asm/snapshots/\(refSafe(label))" }
    static func safetyRef(_ label: String) -> String { "refs/asm/safety/\(refSafe(label))" }

    private static func refSafe(_ label: String) -> String {
        String(label.map { $0.isLetter || $0.isNumber || $0 == "-" || $0 == "/" || $0 == "_" ? $0 : "-" })
    }

    /// A temporary index: a copy of the repository's (its stat cache makes staging fast), or
    /// `tree` read into a fresh one.
    private func temporaryIndex(_ location: Location, from tree: String?) async throws(WorkspaceError) -> String {
        let path = SystemPaths.temporaryDirectory + "/asm-index-\(getpid())-\(UInt64.random(in: 0 ... .max))"
        if let tree {
            _ = try await git(["read-tree", tree], in: location.root, index: path)
            return path
        }
        let real = Self.text(try await git(["rev-parse", "--git-path", "index"], in: location.root))
        let source = real.hasPrefix("/") ? real : "\(location.root)/\(real)"
        if let data = FileManager.default.contents(atPath: source) {
            guard FileManager.default.createFile(atPath: path, contents: data) else {
                throw WorkspaceError(.ioError, "cannot write a temporary index at \(path)", path: path)
            }
        } else if (try? await git(["rev-parse", "--verify", "-q", "HEAD"], in: location.root)) != nil {
            _ = try await git(["read-tree", "HEAD"], in: location.root, index: path)
        } else {
            _ = try await git(["read-tree", "--empty"], in: location.root, index: path)
        }
        return path
    }

    private func pruneEmptyDirectories(from file: String, upTo top: String) {
        pruneEmpty(from: file, upTo: top)
    }

    private static func relative(_ path: String, _ location: Location) -> String {
        guard location.pathspec != ".", path.hasPrefix(location.pathspec) else { return path }
        return String(path.dropFirst(location.pathspec.count))
    }

    static func text(_ bytes: [UInt8]) -> String {
        var text = String(decoding: bytes, as: UTF8.self)
        while text.last == "\n" || text.last == "\r" { text.removeLast() }
        return text
    }

    /// Runs git; a non-zero exit is an error carrying its standard error.
    func git(
        _ arguments: [String],
        in directory: String,
        index: String? = nil,
        input: [UInt8]? = nil
    ) async throws(WorkspaceError)
        -> [UInt8]
    {
        var environment: [Environment.Key: String?] = [
            "GIT_AUTHOR_NAME": "asm", "GIT_AUTHOR_EMAIL": "asm@localhost", "GIT_COMMITTER_NAME": "asm",
            "GIT_COMMITTER_EMAIL": "asm@localhost", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C",
            "GIT_OPTIONAL_LOCKS": "0",
        ]
        if let index { environment["GIT_INDEX_FILE"] = index }
        let all = ["-c", "core.quotepath=off", "-c", "core.autocrlf=false"] + arguments
        do {
            let result =
                if let input {
                    try await Subprocess.run(
                        .name("git"),
                        arguments: Arguments(all),
                        environment: .inherit.updating(environment),
                        workingDirectory: FilePath(directory),
                        input: .array(input),
                        output: .bytes(limit: 1 << 30),
                        error: .string(limit: 1 << 16)
                    )
                } else {
                    try await Subprocess.run(
                        .name("git"),
                        arguments: Arguments(all),
                        environment: .inherit.updating(environment),
                        workingDirectory: FilePath(directory),
                        input: .none,
                        output: .bytes(limit: 1 << 30),
                        error: .string(limit: 1 << 16)
                    )
                }
            guard case .exited(0) = result.terminationStatus else {
                let stderr = result.standardError.split(separator: "\n").last.map(String.init) ?? ""
                throw WorkspaceError(
                    .gitFailed,
                    "git \(arguments.first ?? "") failed in \(directory): \(stderr.isEmpty ? "\(result.terminationStatus)" : stderr)",
                    path: directory
                )
            }
            return result.standardOutput
        } catch let error as WorkspaceError {
            throw error
        } catch {
            throw WorkspaceError(.gitFailed, "git could not be run: \(error)", underlying: error, path: directory)
        }
    }
}
