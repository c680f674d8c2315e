public import ASMCore
import ASMSystem
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How a workspace is snapshotted.
public enum WorkspaceStrategy: String, Hashable, Sendable, CaseIterable {
    /// Commits in a private ref namespace, built with a temporary index: tracked changes and
    /// untracked files (honouring `.gitignore`), never touching HEAD, the index, the stash,
    /// branches or the working tree.
    case git
    /// A SHA-256 manifest of the tree; file contents kept in the artifact store for rollback.
    case hash
}

/// What a run does with the directory its agent works in.
public struct WorkspaceOptions: Sendable {
    /// The directory; the provider runs in it.
    public var path: String
    public var strategy: WorkspaceStrategy
    /// Compute the patch (git).
    public var capturePatch: Bool
    /// A patch up to this many bytes is kept in the event; a larger one goes to the artifact store.
    public var maxPatchBytes: Int
    /// Where large patches, manifests and (hash) file contents go.
    public var artifactStore: (any ArtifactStore)?
    /// Put the directory back to its pre-run snapshot when the run fails, is cancelled or times out.
    public var rollbackOnFailure: Bool
    /// Paths to leave out, as globs matched against the relative path and each of its
    /// components (`*.log`, `node_modules`, `build/*`). For git, on top of `.gitignore`.
    public var ignorePatterns: [String]
    /// Hash strategy: files larger than this are hashed but their contents are not kept, so
    /// they cannot be restored.
    public var maxRestorableFileBytes: Int
    /// Each run in a git worktree of its own, created from its pre-run snapshot (git strategy
    /// only); `nil` runs the agent in the workspace itself.
    public var worktree: WorktreeOptions?

    public init(
        path: String,
        strategy: WorkspaceStrategy = .git,
        capturePatch: Bool = true,
        maxPatchBytes: Int = 64 << 10,
        artifactStore: (any ArtifactStore)? = nil,
        rollbackOnFailure: Bool = false,
        ignorePatterns: [String] = [],
        maxRestorableFileBytes: Int = 8 << 20,
        worktree: WorktreeOptions? = nil
    ) {
        self.worktree = worktree
        self.path = path
        self.strategy = strategy
        self.capturePatch = capturePatch
        self.maxPatchBytes = maxPatchBytes
        self.artifactStore = artifactStore
        self.rollbackOnFailure = rollbackOnFailure
        self.ignorePatterns = ignorePatterns
        self.maxRestorableFileBytes = maxRestorableFileBytes
    }
}

/// One snapshot of a workspace.
public struct WorkspaceSnapshot: Hashable, Sendable {
    /// `<run>/pre`, `<run>/post`…
    public var id: String
    public var phase: String
    public var strategy: WorkspaceStrategy
    public var path: String
    /// The git commit, or the manifest's artifact reference (or, without a store, its hash).
    public var reference: String
    public var fileCount: Int
    /// The hash strategy's manifest.
    var manifest: Manifest?

    /// As the log records it.
    public var event: WorkspaceSnapshotTaken {
        WorkspaceSnapshotTaken(
            snapshotID: id,
            phase: phase,
            strategy: strategy.rawValue,
            path: path,
            reference: reference,
            fileCount: fileCount
        )
    }
}

/// What changed between two snapshots.
public struct WorkspaceChanges: Hashable, Sendable {
    public var files: [WorkspaceFileChange]
    public var insertions: Int
    public var deletions: Int
    /// The patch (git, when captured).
    public var patch: [UInt8]?
}

/// What a restore did.
public struct RestoreReport: Hashable, Sendable {
    public var restored: Int
    public var removed: Int
    /// Paths that could not be put back, with why.
    public var unrestorable: [String]
    /// Where the state before the restore was kept (a git ref, or a manifest reference).
    public var safetyReference: String?
}

/// Why a workspace operation failed.
///
/// Match on ``code`` (`catch let error as WorkspaceError where error.code == .inUse`);
/// ``description`` is one line (`code: message`), never file contents.
/// ``detailedDescription()`` adds the path and the cause. Equality compares the code,
/// message and path, not the cause.
public struct WorkspaceError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong. New codes may be added; switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: String, Hashable, Sendable {
            case notADirectory = "not a directory"
            case notARepository = "not a git work tree"
            case inUse = "workspace in use"
            case gitFailed = "git failed"
            case ioError = "I/O error"
            case artifactFailed = "artifact store failed"
            case snapshotUnavailable = "snapshot unavailable"
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The workspace path is not a directory.
        public static let notADirectory = Code(.notADirectory)
        /// The git strategy was asked of a directory outside a git work tree.
        public static let notARepository = Code(.notARepository)
        /// Another run (here or in another process) holds the workspace (see ``WorkspaceLock``).
        public static let inUse = Code(.inUse)
        /// git could not be run, or it failed.
        public static let gitFailed = Code(.gitFailed)
        /// A file or directory could not be read, written or removed.
        public static let ioError = Code(.ioError)
        /// The artifact store refused to keep or give back contents (the
        /// ``WorkspaceError/underlying`` ``ArtifactError`` says why).
        public static let artifactFailed = Code(.artifactFailed)
        /// A recorded snapshot can no longer be read: its commit or manifest is gone or damaged.
        public static let snapshotUnavailable = Code(.snapshotUnavailable)

        public var description: String { wrapped.rawValue }
    }

    public var code: Code
    /// One line.
    public var message: String
    /// The cause, when another error led to this one.
    public var underlying: (any Error)?
    /// The file or directory concerned, when there is one.
    public var path: String?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil, path: String? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
        self.path = path
    }

    public var description: String { "\(code): \(message)" }

    /// The description followed by the path and the chain of causes, one per line.
    public func detailedDescription() -> String {
        ErrorDetail.text(description, context: [("path", path)], underlying: underlying)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.path == rhs.path
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
        hasher.combine(path)
    }
}

extension WorkspaceError: DetailedError {}

extension WorkspaceError.Code {
    /// Matches an error by code, so `catch WorkspaceError.Code.inUse` works.
    public static func ~= (code: WorkspaceError.Code, error: any Error) -> Bool {
        (error as? WorkspaceError)?.code == code
    }
}

/// A workspace under one strategy.
public protocol Workspace: Sendable {
    var options: WorkspaceOptions { get }
    /// Checks the path can be used, before anything runs.
    func prepare() async throws(WorkspaceError)
    func snapshot(phase: String, label: String) async throws(WorkspaceError) -> WorkspaceSnapshot
    func diff(from: WorkspaceSnapshot, to: WorkspaceSnapshot) async throws(WorkspaceError) -> WorkspaceChanges
    /// Puts the directory back to `target`, the state in `current` being kept first.
    func restore(
        to target: WorkspaceSnapshot,
        from current: WorkspaceSnapshot,
        label: String
    ) async throws(WorkspaceError)
        -> RestoreReport
    /// The snapshot a log recorded, to diff or restore later.
    func recorded(_ event: WorkspaceSnapshotTaken) async throws(WorkspaceError) -> WorkspaceSnapshot
    /// Whether two snapshots hold the same files (whatever their labels and times).
    func sameState(_ a: WorkspaceSnapshot, _ b: WorkspaceSnapshot) async throws(WorkspaceError) -> Bool
}

/// The workspace for `options` (its path made absolute).
public func makeWorkspace(_ options: WorkspaceOptions) -> any Workspace {
    var options = options
    if let resolved = SystemPaths.resolved(options.path) { options.path = resolved }
    switch options.strategy {
    case .git: return GitWorkspace(options: options)
    case .hash: return HashWorkspace(options: options)
    }
}

/// Whether a relative path is left out by `patterns`.
func isIgnored(_ relative: String, _ patterns: [String]) -> Bool {
    guard !patterns.isEmpty else { return false }
    let components = relative.split(separator: "/").map(String.init)
    return patterns.contains { pattern in
        Glob.matches(pattern, relative) || components.contains { Glob.matches(pattern, $0) }
    }
}

/// Whether `path` is a directory (following links).
func isDirectory(_ path: String) -> Bool {
    var status = stat()
    return stat(path, &status) == 0 && (status.st_mode & S_IFMT) == S_IFDIR
}

/// The path without its last component.
func parent(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

/// Removes the now-empty directories above a removed file, up to (not including) `top`.
func pruneEmpty(from file: String, upTo top: String) {
    var stop = top
    while stop.count > 1, stop.hasSuffix("/") { stop.removeLast() }
    var directory = parent(of: file)
    while directory.count > stop.count, directory.hasPrefix(stop + "/") {
        guard let contents = try? FileManager.default.contentsOfDirectory(atPath: directory), contents.isEmpty else {
            return
        }
        try? FileManager.default.removeItem(atPath: directory)
        directory = parent(of: directory)
    }
}
