public import ASMCore
public import ASMStore

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
    public func fork(
        _ session: SessionID,
        at sequence: SequenceNumber? = nil
    ) async throws -> (session: SessionID, forkedAt: SequenceNumber) {
        let (parent, runs) = try await store.read { snapshot in
            (try snapshot.session(session), try snapshot.runs(in: session))
        }
        guard let parent else { throw SessionManagerError(.sessionNotFound, "no session \(session)") }
        let forkedAt = try ForkPoint.resolve(sequence ?? parent.lastSequence, in: parent, runs: runs)
        let fork = SessionID.generate()
        try await store.append(
            [
                NewEvent(
                    SessionForked(
                        parentSessionID: session,
                        forkedAt: forkedAt,
                        agentID: parent.agentID,
                        metadata: parent.metadata,
                        tags: parent.tags
                    )
                ),
                NewEvent(SessionActivated()),
            ],
            to: fork.stream,
            expectedVersion: .noStream
        )
        return (fork, forkedAt)
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
