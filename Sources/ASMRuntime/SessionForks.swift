public import ASMCore
public import ASMStore
public import ASMWorkspace

extension SessionManager {
    /// Forks `session` at `sequence`: a new, active session whose first event
    /// (`session.forked`) names the parent and the parent's last event it keeps, and whose
    /// conversation is the parent's up to there — its runs continue from it exactly as if
    /// those runs had happened in it (by replay: a provider's own session holds what came
    /// after the fork point too, so it is never resumed across one).
    ///
    /// A sequence inside a run (after its request, before its end) forks at that run's start:
    /// the fork keeps only runs that had ended. `nil` forks after the session's last event.
    /// Any session can be forked, whatever its state, and forks can be forked.
    ///
    /// - Returns: the fork, and the sequence it was forked at.
    /// - Throws: ``SessionManagerError`` `sessionNotFound`, or `invalidArgument` for a sequence
    ///   before the session's first event or after its last.
    ///
    /// With `worktree`, the fork also gets a workspace of its own: a git worktree made from the
    /// parent's workspace snapshot in force at the fork point (the last one a run that had
    /// ended there took), recorded in `session.forked` (`workspace_snapshot`, `workspace_path`);
    /// its runs name that path as their workspace.
    ///
    /// - Returns: the fork, the sequence it was forked at, and its worktree when asked for.
    /// - Throws: ``SessionManagerError`` `sessionNotFound`, or `invalidArgument` for a sequence
    ///   before the session's first event or after its last, or (with `worktree`) when the
    ///   parent had no git workspace snapshot by then; `workspaceFailed` when git refuses.
    public func fork(
        _ session: SessionID,
        at sequence: SequenceNumber? = nil,
        worktree: WorktreeOptions? = nil
    ) async throws -> (session: SessionID, forkedAt: SequenceNumber, worktree: Worktree?) {
        let (parent, runs) = try await store.read { snapshot in
            (try snapshot.session(session), try snapshot.runs(in: session))
        }
        guard let parent else { throw SessionManagerError(.sessionNotFound, "no session \(session)") }
        let forkedAt = try ForkPoint.resolve(sequence ?? parent.lastSequence, in: parent, runs: runs)
        let fork = SessionID.generate()
        var made: (snapshot: WorkspaceSnapshotTaken, worktree: Worktree)?
        if let worktree {
            let ended = Set(runs.filter { ($0.endSequence.map { $0 <= forkedAt } ?? false) }.map(\.id))
            let taken = try await store.allEvents(EventFilter(types: [.workspaceSnapshotTaken], stream: session.stream))
            let inForce = taken.last { $0.sequence <= forkedAt && $0.runID.map(ended.contains) == true }
            guard let inForce, case .workspaceSnapshotTaken(let snapshot) = inForce.event else {
                throw SessionManagerError(
                    .invalidArgument,
                    "session \(session) has no workspace snapshot by sequence \(forkedAt.rawValue) to fork a worktree from"
                )
            }
            guard snapshot.strategy == WorkspaceStrategy.git.rawValue, let base = snapshot.reference else {
                throw SessionManagerError(
                    .invalidArgument,
                    "the workspace snapshot in force at sequence \(forkedAt.rawValue) is a \(snapshot.strategy) snapshot: only git snapshots make worktrees"
                )
            }
            do {
                let created = try await GitWorktrees.create(
                    for: snapshot.path,
                    base: base,
                    name: "fork-\(fork.uuid.description.prefix(8))",
                    options: worktree
                )
                made = (snapshot, created)
            } catch {
                throw SessionManagerError(
                    .workspaceFailed,
                    "cannot make the fork's worktree from snapshot \(snapshot.snapshotID)",
                    underlying: error
                )
            }
        }
        do {
            try await store.append(
                [
                    NewEvent(
                        SessionForked(
                            parentSessionID: session,
                            forkedAt: forkedAt,
                            agentID: parent.agentID,
                            metadata: parent.metadata,
                            tags: parent.tags,
                            workspaceSnapshot: made?.snapshot.snapshotID,
                            workspacePath: made?.worktree.workingDirectory
                        )
                    ),
                    NewEvent(SessionActivated()),
                ],
                to: fork.stream,
                expectedVersion: .noStream
            )
        } catch {
            // Nothing recorded: nothing left behind.
            if let made { try? await GitWorktrees.remove(made.worktree.path, repository: made.worktree.repository) }
            throw error
        }
        return (fork, forkedAt, made?.worktree)
    }
}

/// Where a fork keeps its parent's history up to. Pure.
public enum ForkPoint {
    /// The parent's last event a fork asked for at `sequence` keeps: `sequence` itself, or
    /// the event before the earliest run that `sequence` falls inside (requested, not yet
    /// ended there).
    public static func resolve(
        _ sequence: SequenceNumber,
        in session: SessionSummary,
        runs: [RunSummary]
    ) throws(SessionManagerError) -> SequenceNumber {
        guard sequence >= session.firstSequence else {
            throw SessionManagerError(
                .invalidArgument,
                "sequence \(sequence.rawValue) is before session \(session.id)'s first event (\(session.firstSequence.rawValue))"
            )
        }
        guard sequence <= session.lastSequence else {
            throw SessionManagerError(
                .invalidArgument,
                "sequence \(sequence.rawValue) is after session \(session.id)'s last event (\(session.lastSequence.rawValue))"
            )
        }
        let inside = runs.filter { run in
            run.firstSequence <= sequence && (run.endSequence.map { sequence < $0 } ?? true)
        }
        guard let first = inside.map(\.firstSequence).min() else { return sequence }
        return SequenceNumber(first.rawValue - 1)
    }
}

/// What a session inherits from the sessions it was forked from: their transcripts up to
/// each fork point, and the runs that had ended there.
struct Inheritance {
    var transcript: [TranscriptEntry] = []
    var runs: [RunSummary] = []

    init(of session: SessionID, in snapshot: any LogSnapshot) throws {
        var cut = SequenceNumber(Int64.max)
        var current = session
        var visited: Set<SessionID> = [session]
        while let fork = try snapshot.fork(of: current), visited.insert(fork.parentSessionID).inserted {
            cut = min(cut, fork.forkedAt)
            let kept = try snapshot.runs(in: fork.parentSessionID).filter { run in
                run.startedAt != nil && run.firstSequence <= cut && (run.endSequence.map { $0 <= cut } ?? false)
            }
            let keptRuns = Set(kept.map(\.id))
            transcript += try snapshot.transcript(of: fork.parentSessionID).filter { entry in
                entry.sequence <= cut && (entry.runID.map(keptRuns.contains) ?? true)
            }
            runs += kept
            current = fork.parentSessionID
        }
        transcript.sort { $0.sequence < $1.sequence }
        runs.sort { $0.firstSequence < $1.firstSequence }
    }
}

/// A session and the sessions under it — forks made from it, sessions started under it (sub-
/// agents, a tool call's work) — and under those, with usage, cost and failed runs rolled up
/// the tree: a fold over the sessions, forks, parents, runs and usage projections, read in one
/// snapshot.
public struct SessionTree: Sendable {
    public var session: SessionSummary
    /// Where the session was forked from (also for the root, when it is a fork itself).
    public var fork: SessionFork?
    /// The session it was started under (also for the root), when it was not forked.
    public var parent: SessionParent?
    /// The session's own runs, failed runs, tokens and cost (not its children's).
    public var runs: Int
    public var failedRuns: Int
    public var tokens: TokenUsage
    public var costNanoUSD: Int64
    /// Its forks and the sessions started under it, oldest first.
    public var children: [SessionTree]

    /// How the session hangs under its parent; `nil` for a session that has none.
    public var relation: SessionParent.Relation? { fork != nil ? .fork : parent?.relation }
    /// The session it hangs under, by fork or by parent.
    public var parentSessionID: SessionID? { fork?.parentSessionID ?? parent?.parentSessionID }

    /// Everything under and including this session.
    public var treeRuns: Int { runs + children.reduce(0) { $0 + $1.treeRuns } }
    public var treeFailedRuns: Int { failedRuns + children.reduce(0) { $0 + $1.treeFailedRuns } }
    public var treeTokens: TokenUsage { children.reduce(tokens) { $0 + $1.treeTokens } }
    public var treeCostNanoUSD: Int64 { children.reduce(costNanoUSD) { $0 + $1.treeCostNanoUSD } }

    /// The tree rooted at `root`.
    /// - Throws: ``SessionManagerError`` `sessionNotFound`; ``StoreError`` when the log cannot be read.
    public static func read(_ root: SessionID, from store: any EventStore) async throws -> SessionTree {
        try await store.read { snapshot in
            var visited: Set<SessionID> = []
            guard
                let tree = try node(
                    root,
                    fork: try snapshot.fork(of: root),
                    parent: try snapshot.parent(of: root),
                    in: snapshot,
                    visited: &visited
                )
            else {
                throw SessionManagerError(.sessionNotFound, "no session \(root)")
            }
            return tree
        }
    }

    private static func node(
        _ id: SessionID,
        fork: SessionFork?,
        parent: SessionParent?,
        in snapshot: any LogSnapshot,
        visited: inout Set<SessionID>
    ) throws -> SessionTree? {
        guard visited.insert(id).inserted, let session = try snapshot.session(id) else { return nil }
        let runs = try snapshot.runs(in: id)
        let usage = try snapshot.usage(by: .session, session: id)
        var edges: [(sequence: SequenceNumber, child: SessionID, fork: SessionFork?, parent: SessionParent?)] = []
        edges += try snapshot.forks(from: id).map { ($0.sequence, $0.sessionID, $0, nil) }
        edges += try snapshot.children(of: id).map { ($0.sequence, $0.sessionID, nil, $0) }
        var children: [SessionTree] = []
        for edge in edges.sorted(by: { $0.sequence < $1.sequence }) {
            if let tree = try node(edge.child, fork: edge.fork, parent: edge.parent, in: snapshot, visited: &visited) {
                children.append(tree)
            }
        }
        return SessionTree(
            session: session,
            fork: fork,
            parent: parent,
            runs: runs.count,
            failedRuns: runs.filter { $0.status == .failed }.count,
            tokens: usage.reduce(.zero) { $0 + $1.tokens },
            costNanoUSD: usage.reduce(0) { $0 + $1.costNanoUSD },
            children: children
        )
    }

    /// The sessions depth first (a session before its children), with their depth.
    public var flattened: [(depth: Int, tree: SessionTree)] {
        var result: [(Int, SessionTree)] = [(0, self)]
        for child in children { result += child.flattened.map { ($0.depth + 1, $0.tree) } }
        return result
    }
}
