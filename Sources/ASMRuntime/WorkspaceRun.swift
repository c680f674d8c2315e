import ASMCore
import ASMWorkspace

/// A run's workspace: checked and snapshotted before the provider starts, snapshotted,
/// diffed and (on failure, when asked) rolled back after it ends.
struct WorkspaceRun: Sendable {
    let workspace: any Workspace
    let run: RunID
    let pre: WorkspaceSnapshot
    /// Held from before the pre snapshot until the run's workspace events are made.
    let lock: WorkspaceLock

    /// The directory the provider runs in.
    var path: String { workspace.options.path }

    /// Checks the workspace and takes the pre-run snapshot; throws before anything is recorded.
    /// - Throws: ``SessionManagerError``: `workspaceInUse` when another run holds the
    ///   workspace, `workspaceFailed` (the `WorkspaceError` as its cause) when it cannot be
    ///   used or snapshotted, `invalidArgument` for options that contradict.
    static func start(_ options: WorkspaceOptions, run: RunID) async throws(SessionManagerError) -> WorkspaceRun {
        if options.rollbackOnFailure, options.strategy == .hash, options.artifactStore == nil {
            throw SessionManagerError(
                .invalidArgument,
                "workspace: rolling back a hash snapshot needs an artifact store to keep file contents in"
            )
        }
        let workspace = makeWorkspace(options)
        let lock: WorkspaceLock
        do {
            try await workspace.prepare()
            lock = try WorkspaceLock.acquire(options.path, holder: "run \(run)")
        } catch {
            throw SessionManagerError(
                error.code == .inUse ? .workspaceInUse : .workspaceFailed,
                error.message,
                underlying: error
            )
        }
        do {
            let pre = try await workspace.snapshot(phase: "pre", label: "\(run)/pre")
            return WorkspaceRun(workspace: workspace, run: run, pre: pre, lock: lock)
        } catch {
            lock.release()
            throw SessionManagerError(
                .workspaceFailed,
                "the pre-run snapshot failed: \(error.message)",
                underlying: error
            )
        }
    }

    /// The events that record the pre-run snapshot.
    var opening: [SessionEvent] {
        manifestStored(pre) + [.workspaceSnapshotTaken(pre.event)]
    }

    /// Post-run snapshot, diff (the patch inline up to the cap, else in the artifact store),
    /// and the rollback when the run did not complete and rollback was asked for. A failure
    /// here is recorded as a warning: the run's own outcome stands.
    func finish(_ terminal: SessionEvent) async -> [SessionEvent] {
        defer { lock.release() }
        let options = workspace.options
        var events: [SessionEvent] = []
        do {
            let post = try await workspace.snapshot(phase: "post", label: "\(run)/post")
            events += manifestStored(post)
            events.append(.workspaceSnapshotTaken(post.event))
            let changes = try await workspace.diff(from: pre, to: post)
            var inline: String?
            var artifact: String?
            if let patch = changes.patch {
                if patch.count <= options.maxPatchBytes, let text = String(validating: patch, as: UTF8.self) {
                    inline = text
                } else if let store = options.artifactStore {
                    let reference = try await store.put(patch)
                    artifact = reference.description
                    events.append(
                        .artifactStored(
                            ArtifactStored(
                                artifact: reference.description,
                                bytes: Int64(patch.count),
                                mediaType: "text/x-diff",
                                purpose: "patch"
                            )
                        )
                    )
                }
            }
            events.append(
                .workspaceDiffComputed(
                    WorkspaceDiffComputed(
                        fromSnapshot: pre.id,
                        toSnapshot: post.id,
                        filesChanged: changes.files.count,
                        insertions: changes.insertions,
                        deletions: changes.deletions,
                        hasPatch: changes.patch != nil,
                        patch: inline,
                        artifact: artifact,
                        patchBytes: Int64(changes.patch?.count ?? 0),
                        changes: Array(changes.files.prefix(1000))
                    )
                )
            )
            let failed: Bool =
                switch terminal {
                case .runFailed, .runCancelled: true
                default: false
                }
            if failed, options.rollbackOnFailure, !changes.files.isEmpty {
                let report = try await workspace.restore(to: pre, from: post, label: "\(run)/rollback")
                events.append(
                    .workspaceRolledBack(
                        WorkspaceRolledBack(
                            toSnapshot: pre.id,
                            safetyReference: report.safetyReference,
                            restored: report.restored,
                            removed: report.removed,
                            unrestorable: report.unrestorable.isEmpty ? nil : report.unrestorable
                        )
                    )
                )
            }
        } catch {
            events.append(
                .providerWarning(
                    ProviderWarning(provider: "workspace", message: "the workspace could not be finished: \(error)")
                )
            )
        }
        return events
    }

    /// A hash snapshot's manifest, when it was kept in the store.
    private func manifestStored(_ snapshot: WorkspaceSnapshot) -> [SessionEvent] {
        guard snapshot.strategy == .hash, workspace.options.artifactStore != nil else { return [] }
        return [
            .artifactStored(
                ArtifactStored(
                    artifact: snapshot.reference,
                    bytes: 0,
                    mediaType: "application/json",
                    purpose: "manifest"
                )
            )
        ]
    }
}
