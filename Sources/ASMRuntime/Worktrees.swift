public import ASMCore
public import ASMStore
public import ASMWorkspace
import FoundationEssentials

/// A run's worktree as the log and the disk know it.
public struct WorktreeSummary: Hashable, Sendable {
    public enum State: String, Hashable, Sendable {
        /// Its run is executing in it.
        case active
        /// Its run has ended; it is there, its changes not applied.
        case kept
        /// Its run's changes were applied to the main checkout; it is still there.
        case applied
        /// Removed (recorded), or its directory is gone.
        case removed
    }

    public var runID: RunID
    public var sessionID: SessionID
    public var path: String
    public var workingDirectory: String
    public var repository: String
    public var baseSnapshot: String
    /// The base snapshot's commit.
    public var base: String
    public var retention: WorktreeRetention
    public var state: State
    /// The run's post snapshot (id and commit), once taken.
    public var postSnapshot: String?
    public var post: String?
    public var runStatus: RunStatus
}

/// The worktrees of runs with worktree isolation: listed from the log (and checked on disk),
/// their changes applied to the main checkout, removed, pruned. Each application and removal
/// is an event of the run.
public struct Worktrees: Sendable {
    public let store: any EventStore

    public init(store: any EventStore) {
        self.store = store
    }

    private static let types: Set<EventType> = [
        .workspaceWorktreeCreated, .workspaceWorktreeApplied, .workspaceWorktreeRemoved, .workspaceSnapshotTaken,
    ]

    /// What the log says of the runs' worktrees.
    private struct Fold {
        var created: [(RunID, WorkspaceWorktreeCreated)] = []
        var applied: Set<RunID> = []
        var removed: Set<RunID> = []
        var posts: [RunID: WorkspaceSnapshotTaken] = [:]
    }

    private func fold() async throws -> Fold {
        var fold = Fold()
        var cursor = SequenceNumber.zero.next
        while true {
            let page = try await store.events(from: cursor, limit: 2000, filter: EventFilter(types: Self.types))
            for envelope in page.events {
                guard let run = envelope.runID else { continue }
                switch envelope.event {
                case .workspaceWorktreeCreated(let event): fold.created.append((run, event))
                case .workspaceWorktreeApplied: fold.applied.insert(run)
                case .workspaceWorktreeRemoved: fold.removed.insert(run)
                case .workspaceSnapshotTaken(let snapshot) where snapshot.phase == "post": fold.posts[run] = snapshot
                default: break
                }
            }
            guard page.events.count == 2000 else { break }
            cursor = page.scannedThrough.next
        }
        return fold
    }

    /// Every run's worktree, oldest first. One whose directory is gone is `removed`, recorded
    /// or not (``prune()`` records it).
    public func list() async throws -> [WorktreeSummary] {
        try await list(try await fold())
    }

    private func list(_ fold: Fold) async throws -> [WorktreeSummary] {
        var summaries: [WorktreeSummary] = []
        for (run, event) in fold.created {
            guard let summary = try await store.run(run) else { continue }
            let state: WorktreeSummary.State
            if fold.removed.contains(run) || !FileManager.default.fileExists(atPath: event.path) {
                state = .removed
            } else if !summary.status.isTerminal {
                state = .active
            } else {
                state = fold.applied.contains(run) ? .applied : .kept
            }
            summaries.append(
                WorktreeSummary(
                    runID: run,
                    sessionID: summary.sessionID,
                    path: event.path,
                    workingDirectory: event.workingDirectory,
                    repository: event.repository,
                    baseSnapshot: event.baseSnapshot,
                    base: event.base,
                    retention: WorktreeRetention(rawValue: event.retention) ?? .keep,
                    state: state,
                    postSnapshot: fold.posts[run]?.snapshotID,
                    post: fold.posts[run]?.reference,
                    runStatus: summary.status
                )
            )
        }
        return summaries
    }

    /// The worktree of `run`.
    /// - Throws: ``SessionManagerError`` `runNotFound` when the run had none.
    public func worktree(of run: RunID) async throws -> WorktreeSummary {
        guard let summary = try await list().first(where: { $0.runID == run }) else {
            throw SessionManagerError(.runNotFound, "run \(run) has no worktree")
        }
        return summary
    }

    /// Applies the run's changes (its base snapshot to its post snapshot) to the main
    /// checkout, all or nothing, and records it.
    /// - Throws: ``SessionManagerError`` `illegalTransition` while the run executes or when it left
    ///   no post snapshot; `workspaceFailed` when the changes do not apply (nothing changed).
    @discardableResult
    public func apply(_ run: RunID, threeWay: Bool = false) async throws -> WorkspaceWorktreeApplied {
        let worktree = try await worktree(of: run)
        guard worktree.state != .active else {
            throw SessionManagerError(.illegalTransition, "run \(run) is still executing in its worktree")
        }
        guard let post = worktree.post, let postSnapshot = worktree.postSnapshot else {
            throw SessionManagerError(.illegalTransition, "run \(run) left no post snapshot to apply")
        }
        let files: Int
        do throws(WorkspaceError) {
            // No run may be changing (or rolling back) the checkout meanwhile.
            let lock = try WorkspaceLock.acquire(worktree.repository, holder: "applying run \(run)")
            defer { lock.release() }
            files = try await GitWorktrees.apply(
                from: worktree.base,
                to: post,
                into: worktree.repository,
                threeWay: threeWay
            )
        } catch {
            throw SessionManagerError(
                error.code == .inUse ? .workspaceInUse : .workspaceFailed,
                error.message,
                underlying: error
            )
        }
        let event = WorkspaceWorktreeApplied(
            path: worktree.path,
            to: worktree.repository,
            fromSnapshot: worktree.baseSnapshot,
            toSnapshot: postSnapshot,
            files: files,
            threeWay: threeWay ? true : nil
        )
        try await store.append([NewEvent(event, run: run)], to: worktree.sessionID.stream, expectedVersion: .any)
        return event
    }

    /// Removes the run's worktree after snapshotting its state (`<run>/final`, recorded), so
    /// no change made in it is lost; records the removal.
    /// - Throws: ``SessionManagerError`` `illegalTransition` while the run executes or when it is
    ///   already removed.
    @discardableResult
    public func remove(_ run: RunID, reason: String = "asked") async throws -> WorkspaceWorktreeRemoved {
        let worktree = try await worktree(of: run)
        switch worktree.state {
        case .active: throw SessionManagerError(.illegalTransition, "run \(run) is still executing in its worktree")
        case .removed: throw SessionManagerError(.illegalTransition, "run \(run)'s worktree is already removed")
        case .kept, .applied: break
        }
        return try await retire(worktree, reason: reason)
    }

    /// Records the worktrees whose directories are gone, and removes those whose run has
    /// ended and whose retention says so (after snapshotting them). Worktrees kept by their
    /// retention (`keep`, or a run that did not complete under `remove_on_success`) stay.
    public func prune() async throws -> [WorkspaceWorktreeRemoved] {
        var removed: [WorkspaceWorktreeRemoved] = []
        let fold = try await fold()
        for worktree in try await list(fold) where !fold.removed.contains(worktree.runID) {
            switch worktree.state {
            case .active:
                continue
            case .removed:
                // Gone from disk: git forgets it too.
                try? await GitWorktrees.remove(worktree.path, repository: worktree.repository)
                let event = WorkspaceWorktreeRemoved(
                    path: worktree.path,
                    reason: "its directory was gone",
                    lastSnapshot: worktree.postSnapshot
                )
                try await store.append(
                    [NewEvent(event, run: worktree.runID)],
                    to: worktree.sessionID.stream,
                    expectedVersion: .any
                )
                removed.append(event)
            case .kept, .applied:
                let due =
                    switch worktree.retention {
                    case .keep: false
                    case .removeOnSuccess: worktree.runStatus == .completed
                    case .remove: true
                    }
                guard due else { continue }
                removed.append(try await retire(worktree, reason: "its run ended (\(worktree.retention.rawValue))"))
            }
        }
        return removed
    }

    private func retire(_ worktree: WorktreeSummary, reason: String) async throws -> WorkspaceWorktreeRemoved {
        let final: WorkspaceSnapshot
        do {
            final = try await GitWorktrees.retire(
                worktree.path,
                repository: worktree.repository,
                label: "\(worktree.runID)/final"
            )
        } catch {
            throw SessionManagerError(.workspaceFailed, error.message, underlying: error)
        }
        let event = WorkspaceWorktreeRemoved(path: worktree.path, reason: reason, lastSnapshot: final.id)
        try await store.append(
            [NewEvent(final.event, run: worktree.runID), NewEvent(event, run: worktree.runID)],
            to: worktree.sessionID.stream,
            expectedVersion: .any
        )
        return event
    }
}
