import ASMCore
import ASMWorkspace

/// A run's workspace: checked and snapshotted before the provider starts, snapshotted,
/// diffed and (on failure, when asked) rolled back after it ends.
///
/// With worktree isolation the pre snapshot is the user's checkout (read only), the run gets
/// a git worktree made from it, and everything after happens in that worktree; the user's
/// checkout is not locked, so runs on one repository go at once.
struct WorkspaceRun: Sendable {
    /// Where the run works: the workspace, or its worktree.
    let workspace: any Workspace
    let run: RunID
    let pre: WorkspaceSnapshot
    /// Held from before the pre snapshot (the worktree: from its creation) until the run's
    /// workspace events are made.
    let lock: WorkspaceLock
    let worktree: Worktree?
    let retention: WorktreeRetention?

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
        if let isolation = options.worktree {
            return try await startIsolated(options, isolation, run: run)
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
            return WorkspaceRun(workspace: workspace, run: run, pre: pre, lock: lock, worktree: nil, retention: nil)
        } catch {
            lock.release()
            throw SessionManagerError(
                .workspaceFailed,
                "the pre-run snapshot failed: \(error.message)",
                underlying: error
            )
        }
    }

    /// The pre snapshot of the user's checkout, then a worktree of the run's own made from it.
    private static func startIsolated(
        _ options: WorkspaceOptions,
        _ isolation: WorktreeOptions,
        run: RunID
    ) async throws(SessionManagerError) -> WorkspaceRun {
        guard options.strategy == .git else {
            throw SessionManagerError(.invalidArgument, "workspace: worktree isolation needs the git strategy")
        }
        let main = makeWorkspace(options)
        let pre: WorkspaceSnapshot
        let worktree: Worktree
        let lock: WorkspaceLock
        do throws(WorkspaceError) {
            try await main.prepare()
            try await GitWorktrees.prepare(for: main.options.path, options: isolation)
            pre = try await main.snapshot(phase: "pre", label: "\(run)/pre")
            worktree = try await GitWorktrees.create(
                for: main.options.path,
                base: pre.reference,
                name: run.description,
                options: isolation
            )
            do throws(WorkspaceError) {
                lock = try WorkspaceLock.acquire(worktree.workingDirectory, holder: "run \(run)")
            } catch {
                try? await GitWorktrees.remove(worktree.path, repository: worktree.repository)
                throw error
            }
        } catch {
            throw SessionManagerError(
                .workspaceFailed,
                "the run's worktree could not be made: \(error.message)",
                underlying: error
            )
        }
        var inside = options
        inside.path = worktree.workingDirectory
        inside.worktree = nil
        return WorkspaceRun(
            workspace: makeWorkspace(inside),
            run: run,
            pre: pre,
            lock: lock,
            worktree: worktree,
            retention: isolation.retention
        )
    }

    /// The events that record the pre-run snapshot (and the worktree made from it).
    var opening: [SessionEvent] {
        var events = manifestStored(pre) + [.workspaceSnapshotTaken(pre.event)]
        if let worktree {
            events.append(
                .workspaceWorktreeCreated(
                    WorkspaceWorktreeCreated(
                        path: worktree.path,
                        workingDirectory: worktree.workingDirectory,
                        repository: worktree.repository,
                        baseSnapshot: pre.id,
                        base: worktree.base,
                        retention: (retention ?? .keep).rawValue,
                        copiedIgnored: worktree.copiedIgnored.isEmpty ? nil : worktree.copiedIgnored
                    )
                )
            )
        }
        return events
    }

    /// Post-run snapshot, diff (the patch inline up to the cap, else in the artifact store),
    /// and the rollback when the run did not complete and rollback was asked for. A failure
    /// here is recorded as a warning: the run's own outcome stands.
    func finish(_ terminal: SessionEvent) async -> [SessionEvent] {
        defer { lock.release() }
        let options = workspace.options
        var events: [SessionEvent] = []
        var captured = false
        do {
            let post = try await workspace.snapshot(phase: "post", label: "\(run)/post")
            captured = true
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
        events += await retire(terminal, captured: captured)
        return events
    }

    /// Removes the run's worktree when its retention says so, once its post snapshot was taken.
    private func retire(_ terminal: SessionEvent, captured: Bool) async -> [SessionEvent] {
        guard let worktree, let retention, captured else { return [] }
        let completed = if case .runCompleted = terminal { true } else { false }
        switch retention {
        case .keep: return []
        case .removeOnSuccess where !completed: return []
        case .removeOnSuccess, .remove: break
        }
        let final: WorkspaceSnapshot
        do {
            final = try await GitWorktrees.retire(worktree.path, repository: worktree.repository, label: "\(run)/final")
        } catch {
            return [
                .providerWarning(
                    ProviderWarning(provider: "workspace", message: "the run's worktree was kept: \(error)")
                )
            ]
        }
        return [
            .workspaceSnapshotTaken(final.event),
            .workspaceWorktreeRemoved(
                WorkspaceWorktreeRemoved(
                    path: worktree.path,
                    reason: completed ? "the run completed" : "the run ended",
                    lastSnapshot: final.id
                )
            ),
        ]
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
