/// How a run continued the conversation of earlier runs, and why.
public struct ContinuationApplied: EventPayload {
    public static let eventType: EventType = "continuation.applied"
    public static let fields = Fields(
        ContinuationApplied.init(requested:applied:reason:providerSessionID:messageCount:truncated:),
        Field("requested", \.requested),
        Field("applied", \.applied),
        Field("reason", \.reason),
        Field("provider_session_id", \.providerSessionID),
        Field("message_count", \.messageCount),
        Field("truncated", \.truncated)
    )
    /// The mode asked for (`off`, `replay`, `native`, `auto`).
    public var requested: String
    /// The mode used.
    public var applied: String
    /// Why that mode (for example: no provider session to resume, so replay).
    public var reason: String
    /// The provider session resumed, for native.
    public var providerSessionID: String?
    /// Transcript messages sent, for replay.
    public var messageCount: Int?
    /// Whether older turns were cut to fit.
    public var truncated: Bool?

    public init(
        requested: String,
        applied: String,
        reason: String,
        providerSessionID: String? = nil,
        messageCount: Int? = nil,
        truncated: Bool? = nil
    ) {
        self.requested = requested
        self.applied = applied
        self.reason = reason
        self.providerSessionID = providerSessionID
        self.messageCount = messageCount
        self.truncated = truncated
    }
}

/// The working directory of a run was snapshotted.
public struct WorkspaceSnapshotTaken: EventPayload {
    public static let eventType: EventType = "workspace.snapshot_taken"
    public static let fields = Fields(
        WorkspaceSnapshotTaken.init(snapshotID:phase:strategy:path:reference:fileCount:),
        Field("snapshot_id", \.snapshotID),
        Field("phase", \.phase),
        Field("strategy", \.strategy),
        Field("path", \.path),
        Field("reference", \.reference),
        Field("file_count", \.fileCount)
    )
    public var snapshotID: String
    /// `pre` or `post`.
    public var phase: String
    /// `git` or `hash`.
    public var strategy: String
    public var path: String
    /// The git commit or manifest reference of the snapshot.
    public var reference: String?
    public var fileCount: Int?

    public init(
        snapshotID: String,
        phase: String,
        strategy: String,
        path: String,
        reference: String? = nil,
        fileCount: Int? = nil
    ) {
        self.snapshotID = snapshotID
        self.phase = phase
        self.strategy = strategy
        self.path = path
        self.reference = reference
        self.fileCount = fileCount
    }
}

/// One file a run changed.
public struct WorkspaceFileChange: Hashable, Sendable, PayloadObject {
    public static let fields = Fields(
        WorkspaceFileChange.init(path:change:binary:insertions:deletions:),
        Field("path", \.path),
        Field("change", \.change),
        Field("binary", \.binary),
        Field("insertions", \.insertions),
        Field("deletions", \.deletions)
    )
    public var path: String
    /// `added`, `modified` or `deleted`.
    public var change: String
    /// Set for binary files (they count no lines).
    public var binary: Bool?
    public var insertions: Int?
    public var deletions: Int?

    public init(path: String, change: String, binary: Bool? = nil, insertions: Int? = nil, deletions: Int? = nil) {
        self.path = path
        self.change = change
        self.binary = binary
        self.insertions = insertions
        self.deletions = deletions
    }
}

/// What a run changed in its working directory.
public struct WorkspaceDiffComputed: EventPayload {
    public static let eventType: EventType = "workspace.diff_computed"
    public static let fields = Fields(
        WorkspaceDiffComputed.init(
            fromSnapshot:
            toSnapshot:
            filesChanged:
            insertions:
            deletions:
            hasPatch:
            patch:
            artifact:
            patchBytes:
            changes:
        ),
        Field("from_snapshot", \.fromSnapshot),
        Field("to_snapshot", \.toSnapshot),
        Field("files_changed", \.filesChanged),
        Field("insertions", \.insertions),
        Field("deletions", \.deletions),
        Field("has_patch", \.hasPatch),
        Field("patch", \.patch),
        Field("artifact", \.artifact),
        Field("patch_bytes", \.patchBytes),
        Field("changes", \.changes)
    )
    public var fromSnapshot: String
    public var toSnapshot: String
    public var filesChanged: Int
    public var insertions: Int
    public var deletions: Int
    public var hasPatch: Bool
    /// The patch, when it fits under the inline cap.
    public var patch: String?
    /// The artifact holding the patch, when it did not fit.
    public var artifact: String?
    public var patchBytes: Int64
    /// The files changed, up to the first 1,000.
    public var changes: [WorkspaceFileChange]?

    public init(
        fromSnapshot: String,
        toSnapshot: String,
        filesChanged: Int,
        insertions: Int,
        deletions: Int,
        hasPatch: Bool,
        patch: String? = nil,
        artifact: String? = nil,
        patchBytes: Int64,
        changes: [WorkspaceFileChange]? = nil
    ) {
        self.changes = changes
        self.fromSnapshot = fromSnapshot
        self.toSnapshot = toSnapshot
        self.filesChanged = filesChanged
        self.insertions = insertions
        self.deletions = deletions
        self.hasPatch = hasPatch
        self.patch = patch
        self.artifact = artifact
        self.patchBytes = patchBytes
    }
}

/// A working directory was put back to a snapshot.
public struct WorkspaceRolledBack: EventPayload {
    public static let eventType: EventType = "workspace.rolled_back"
    public static let fields = Fields(
        WorkspaceRolledBack.init(toSnapshot:safetyReference:restored:removed:unrestorable:),
        Field("to_snapshot", \.toSnapshot),
        Field("safety_reference", \.safetyReference),
        Field("restored", \.restored),
        Field("removed", \.removed),
        Field("unrestorable", \.unrestorable)
    )
    public var toSnapshot: String
    /// Where the state before the rollback was kept.
    public var safetyReference: String?
    public var restored: Int
    public var removed: Int
    /// Paths that could not be put back, and why.
    public var unrestorable: [String]?

    public init(
        toSnapshot: String,
        safetyReference: String? = nil,
        restored: Int,
        removed: Int,
        unrestorable: [String]? = nil
    ) {
        self.toSnapshot = toSnapshot
        self.safetyReference = safetyReference
        self.restored = restored
        self.removed = removed
        self.unrestorable = unrestorable
    }
}

/// A run got a git worktree of its own, created from its pre-run snapshot (HEAD plus the
/// user's uncommitted and untracked changes); its agent works there.
public struct WorkspaceWorktreeCreated: EventPayload {
    public static let eventType: EventType = "workspace.worktree_created"
    public static let fields = Fields(
        WorkspaceWorktreeCreated.init(path:workingDirectory:repository:baseSnapshot:base:retention:copiedIgnored:),
        Field("path", \.path),
        Field("working_directory", \.workingDirectory),
        Field("repository", \.repository),
        Field("base_snapshot", \.baseSnapshot),
        Field("base", \.base),
        Field("retention", \.retention),
        Field("copied_ignored", \.copiedIgnored)
    )
    /// The worktree's top level.
    public var path: String
    /// Where the workspace is inside it (the agent's directory).
    public var workingDirectory: String
    /// The main work tree's top level.
    public var repository: String
    /// The snapshot it was created from, and that snapshot's commit.
    public var baseSnapshot: String
    public var base: String
    /// What happens to it once its run ends: `keep`, `remove_on_success` or `remove`.
    public var retention: String
    /// Ignored files copied in from the main checkout, relative to the workspace.
    public var copiedIgnored: [String]?

    public init(
        path: String,
        workingDirectory: String,
        repository: String,
        baseSnapshot: String,
        base: String,
        retention: String,
        copiedIgnored: [String]? = nil
    ) {
        self.path = path
        self.workingDirectory = workingDirectory
        self.repository = repository
        self.baseSnapshot = baseSnapshot
        self.base = base
        self.retention = retention
        self.copiedIgnored = copiedIgnored
    }
}

/// A run's changes, made in its worktree, were applied to the main checkout.
public struct WorkspaceWorktreeApplied: EventPayload {
    public static let eventType: EventType = "workspace.worktree_applied"
    public static let fields = Fields(
        WorkspaceWorktreeApplied.init(path:to:fromSnapshot:toSnapshot:files:threeWay:),
        Field("path", \.path),
        Field("to", \.to),
        Field("from_snapshot", \.fromSnapshot),
        Field("to_snapshot", \.toSnapshot),
        Field("files", \.files),
        Field("three_way", \.threeWay)
    )
    /// The worktree.
    public var path: String
    /// The main checkout the changes went to.
    public var to: String
    /// The diff applied: between these two snapshots.
    public var fromSnapshot: String
    public var toSnapshot: String
    public var files: Int
    /// Applied with a three-way merge.
    public var threeWay: Bool?

    public init(path: String, to: String, fromSnapshot: String, toSnapshot: String, files: Int, threeWay: Bool? = nil) {
        self.path = path
        self.to = to
        self.fromSnapshot = fromSnapshot
        self.toSnapshot = toSnapshot
        self.files = files
        self.threeWay = threeWay
    }
}

/// A run's worktree was removed (its changes are kept in its last snapshot).
public struct WorkspaceWorktreeRemoved: EventPayload {
    public static let eventType: EventType = "workspace.worktree_removed"
    public static let fields = Fields(
        WorkspaceWorktreeRemoved.init(path:reason:lastSnapshot:),
        Field("path", \.path),
        Field("reason", \.reason),
        Field("last_snapshot", \.lastSnapshot)
    )
    public var path: String
    /// `run succeeded`, `run ended`, `asked`, `directory gone`…
    public var reason: String
    /// The snapshot holding its last state, when it held one.
    public var lastSnapshot: String?

    public init(path: String, reason: String, lastSnapshot: String? = nil) {
        self.path = path
        self.reason = reason
        self.lastSnapshot = lastSnapshot
    }
}

/// Bytes were stored in the content-addressed artifact store.
public struct ArtifactStored: EventPayload {
    public static let eventType: EventType = "artifact.stored"
    public static let fields = Fields(
        ArtifactStored.init(artifact:bytes:mediaType:purpose:),
        Field("artifact", \.artifact),
        Field("bytes", \.bytes),
        Field("media_type", \.mediaType),
        Field("purpose", \.purpose)
    )
    /// The reference (`sha256:<hex>`).
    public var artifact: String
    public var bytes: Int64
    public var mediaType: String?
    /// What it is (`patch`, `file_backup`...).
    public var purpose: String?

    public init(artifact: String, bytes: Int64, mediaType: String? = nil, purpose: String? = nil) {
        self.artifact = artifact
        self.bytes = bytes
        self.mediaType = mediaType
        self.purpose = purpose
    }
}
