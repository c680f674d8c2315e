import AgentSessionManager
import ArgumentParser
import FoundationEssentials

/// A run's workspace as its events recorded it.
struct RecordedWorkspace {
    var session: SessionID
    var pre: WorkspaceSnapshotTaken?
    var post: WorkspaceSnapshotTaken?
    var diff: WorkspaceDiffComputed?

    static func load(_ run: RunID, from store: any EventStore) async throws -> RecordedWorkspace {
        guard let summary = try await store.run(run) else {
            throw CommandFailure(.notFound, "no run \(run)")
        }
        var recorded = RecordedWorkspace(session: summary.sessionID)
        let page = try await store.events(
            from: summary.firstSequence,
            limit: 10_000,
            filter: EventFilter(types: [.workspaceSnapshotTaken, .workspaceDiffComputed], run: run)
        )
        for envelope in page.events {
            switch envelope.event {
            case .workspaceSnapshotTaken(let snapshot) where snapshot.phase == "pre": recorded.pre = snapshot
            case .workspaceSnapshotTaken(let snapshot) where snapshot.phase == "post": recorded.post = snapshot
            case .workspaceDiffComputed(let diff): recorded.diff = diff
            default: break
            }
        }
        guard recorded.pre != nil else { throw CommandFailure(.notRecorded, "run \(run) has no workspace snapshots") }
        return recorded
    }

    /// The workspace the snapshots were taken of.
    func workspace(artifacts: String) throws -> any Workspace {
        guard let pre, let strategy = WorkspaceStrategy(rawValue: pre.strategy) else {
            throw CommandFailure(.notRecorded, "the run's workspace snapshot names no known strategy")
        }
        return makeWorkspace(
            WorkspaceOptions(path: pre.path, strategy: strategy, artifactStore: FileArtifactStore(root: artifacts))
        )
    }
}

extension ASM {
    /// `asm diff RUN`: the patch a run made in its workspace.
    struct Diff: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the patch a run made in its workspace.",
            discussion: """
                The patch is printed from the log when it was kept inline, else from the artifact store (--artifacts, \
                default: artifacts/ beside the database), else re-made from the run's git snapshots. A hash-strategy \
                run has no patch: its changed files are listed instead.
                """
        )

        @OptionGroup var store: StoreOptions

        @Argument(help: "The run (an id or an unambiguous prefix).")
        var run: String

        @Option(help: "The artifact store directory (default: artifacts/ beside the database).")
        var artifacts: String?

        @Flag(help: "List the changed files instead of the patch.")
        var stat = false

        func run() async throws {
            try await withStore(try await store.openForReading()) { store in
                let runID = try await resolveRun(run, in: store)
                let recorded = try await RecordedWorkspace.load(runID, from: store)
                guard let diff = recorded.diff else {
                    throw CommandFailure(.notRecorded, "run \(runID) has no workspace diff (it may not have ended)")
                }
                if stat || !diff.hasPatch {
                    for change in diff.changes ?? [] {
                        let code = change.change == "added" ? "A" : change.change == "deleted" ? "D" : "M"
                        let lines =
                            change.binary == true
                            ? "binary" : change.insertions.map { "+\($0) -\(change.deletions ?? 0)" } ?? ""
                        Console.line("\(code) \(change.path)" + (lines.isEmpty ? "" : "  \(lines)"))
                    }
                    Console.line(
                        "\(Formatting.count(diff.filesChanged, "file")) changed, \(Formatting.count(diff.insertions, "insertion")), \(Formatting.count(diff.deletions, "deletion"))"
                    )
                    return
                }
                if let patch = diff.patch {
                    Console.write(patch, to: 1)
                    return
                }
                let root = artifactRoot(artifacts, database: self.store.sideFileBase)
                if let artifact = diff.artifact {
                    // An artifact error says what went wrong (exit 66 when the store does not have it).
                    let bytes = try await FileArtifactStore(root: root).get(try ArtifactReference(artifact))
                    Console.write(String(decoding: bytes, as: UTF8.self), to: 1)
                    return
                }
                // Not kept: make it again from the snapshots.
                let workspace = try recorded.workspace(artifacts: root)
                guard let pre = recorded.pre, let post = recorded.post else {
                    throw CommandFailure(.notRecorded, "run \(runID) has no post-run snapshot")
                }
                let changes = try await workspace.diff(
                    from: try await workspace.recorded(pre),
                    to: try await workspace.recorded(post)
                )
                Console.write(String(decoding: changes.patch ?? [], as: UTF8.self), to: 1)
            }
        }
    }

    /// `asm workspace`: acts on runs' workspaces.
    struct WorkspaceCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "workspace",
            abstract: "Act on a run's workspace.",
            subcommands: [Restore.self]
        )

        /// `asm workspace restore RUN --to pre|post`.
        struct Restore: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Put a run's workspace back to its pre- or post-run snapshot.",
                discussion: """
                    Refuses when the directory has changes not recorded in either of the run's snapshots, unless --force; \
                    the state before the restore is kept first (a git ref under refs/asm/safety/, or a manifest in the \
                    artifact store). The restore is recorded as a workspace.rolled_back event of the run.
                    """
            )

            @OptionGroup var store: StoreOptions

            @Argument(help: "The run (an id or an unambiguous prefix).")
            var run: String

            @Option(help: "pre or post.")
            var to: Phase

            @Flag(help: "Restore even if the directory has changes no snapshot of the run recorded.")
            var force = false

            @Option(help: "The artifact store directory (default: artifacts/ beside the database).")
            var artifacts: String?

            enum Phase: String, ExpressibleByArgument, CaseIterable {
                case pre, post
            }

            func run() async throws {
                try await withStore(try await store.openExisting()) { store in
                    let runID = try await resolveRun(run, in: store)
                    let recorded = try await RecordedWorkspace.load(runID, from: store)
                    let workspace = try recorded.workspace(
                        artifacts: artifactRoot(artifacts, database: self.store.sideFileBase)
                    )
                    guard let targetEvent = to == .pre ? recorded.pre : recorded.post else {
                        throw CommandFailure(.notRecorded, "run \(runID) has no \(to.rawValue)-run snapshot")
                    }
                    let report: RestoreReport
                    do {  // A workspace error says what went wrong (exit 75 when another run holds it).
                        // No run may change the directory while it is put back.
                        let lock = try WorkspaceLock.acquire(targetEvent.path, holder: "asm workspace restore")
                        defer { lock.release() }
                        let target = try await workspace.recorded(targetEvent)
                        let label = "\(runID)/restore-\(SystemClock().now().microseconds)"
                        let current = try await workspace.snapshot(phase: "restore", label: label)
                        var known = [target]
                        if let other = to == .pre ? recorded.post : recorded.pre {
                            known.append(try await workspace.recorded(other))
                        }
                        var recordedState = false
                        for snapshot in known where try await workspace.sameState(current, snapshot) {
                            recordedState = true
                        }
                        guard recordedState || force else {
                            throw CommandFailure(
                                .refused,
                                "\(targetEvent.path) has changes that no snapshot of run \(runID) recorded; --force restores anyway (the current state is kept first)"
                            )
                        }
                        report = try await workspace.restore(to: target, from: current, label: label)
                    }
                    let event = WorkspaceRolledBack(
                        toSnapshot: targetEvent.snapshotID,
                        safetyReference: report.safetyReference,
                        restored: report.restored,
                        removed: report.removed,
                        unrestorable: report.unrestorable.isEmpty ? nil : report.unrestorable
                    )
                    try await store.append(
                        [NewEvent(event, run: runID)],
                        to: recorded.session.stream,
                        expectedVersion: .streamExists
                    )
                    Console.line(
                        "restored \(targetEvent.path) to \(targetEvent.snapshotID): \(Formatting.count(report.restored, "file")) put back, \(report.removed) removed"
                            + (report.safetyReference.map { "; the state before is kept at \($0)" } ?? "")
                    )
                    for path in report.unrestorable { Console.line("not restorable: \(path)") }
                }
            }
        }
    }
}
