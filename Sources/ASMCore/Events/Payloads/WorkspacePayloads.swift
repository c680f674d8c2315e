/// How a run continued the conversation of earlier runs, and why.
public struct ContinuationApplied: EventPayload {
    public static let eventType = EventType.continuationApplied
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
        requested: String, applied: String, reason: String, providerSessionID: String? = nil,
        messageCount: Int? = nil, truncated: Bool? = nil
    ) {
        self.requested = requested
        self.applied = applied
        self.reason = reason
        self.providerSessionID = providerSessionID
        self.messageCount = messageCount
        self.truncated = truncated
    }

    enum CodingKeys: String, CodingKey {
        case requested, applied, reason, truncated
        case providerSessionID = "provider_session_id"
        case messageCount = "message_count"
    }
}

/// The working directory of a run was snapshotted.
public struct WorkspaceSnapshotTaken: EventPayload {
    public static let eventType = EventType.workspaceSnapshotTaken
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
        snapshotID: String, phase: String, strategy: String, path: String, reference: String? = nil,
        fileCount: Int? = nil
    ) {
        self.snapshotID = snapshotID
        self.phase = phase
        self.strategy = strategy
        self.path = path
        self.reference = reference
        self.fileCount = fileCount
    }

    enum CodingKeys: String, CodingKey {
        case phase, strategy, path, reference
        case snapshotID = "snapshot_id"
        case fileCount = "file_count"
    }
}

/// One file a run changed.
public struct WorkspaceFileChange: Hashable, Sendable, Codable {
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
    public static let eventType = EventType.workspaceDiffComputed
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
        fromSnapshot: String, toSnapshot: String, filesChanged: Int, insertions: Int, deletions: Int, hasPatch: Bool,
        patch: String? = nil, artifact: String? = nil, patchBytes: Int64, changes: [WorkspaceFileChange]? = nil
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

    enum CodingKeys: String, CodingKey {
        case insertions, deletions, patch, artifact, changes
        case fromSnapshot = "from_snapshot"
        case toSnapshot = "to_snapshot"
        case filesChanged = "files_changed"
        case hasPatch = "has_patch"
        case patchBytes = "patch_bytes"
    }
}

/// A working directory was put back to a snapshot.
public struct WorkspaceRolledBack: EventPayload {
    public static let eventType = EventType.workspaceRolledBack
    public var toSnapshot: String
    /// Where the state before the rollback was kept.
    public var safetyReference: String?
    public var restored: Int
    public var removed: Int
    /// Paths that could not be put back, and why.
    public var unrestorable: [String]?

    public init(
        toSnapshot: String, safetyReference: String? = nil, restored: Int, removed: Int, unrestorable: [String]? = nil
    ) {
        self.toSnapshot = toSnapshot
        self.safetyReference = safetyReference
        self.restored = restored
        self.removed = removed
        self.unrestorable = unrestorable
    }

    enum CodingKeys: String, CodingKey {
        case restored, removed, unrestorable
        case toSnapshot = "to_snapshot"
        case safetyReference = "safety_reference"
    }
}

/// Bytes were stored in the content-addressed artifact store.
public struct ArtifactStored: EventPayload {
    public static let eventType = EventType.artifactStored
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

    enum CodingKeys: String, CodingKey {
        case artifact, bytes, purpose
        case mediaType = "media_type"
    }
}
