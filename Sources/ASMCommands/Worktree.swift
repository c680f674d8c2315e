import AgentSessionManager
import ArgumentParser
import FoundationEssentials

extension ASM {
    /// `asm worktree`: the worktrees of runs with worktree isolation.
    struct WorktreeCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "worktree",
            abstract: "List, apply and remove the git worktrees runs worked in (--isolation worktree).",
            discussion: """
                A run with --isolation worktree works in a git worktree of its own, made from its pre-run snapshot. \
                Its changes stay there until asm worktree apply brings them to the main checkout. Applying and \
                removing are events of the run, so asm show and replay know where every run's changes went.
                """,
            subcommands: [List.self, Apply.self, Remove.self, Prune.self]
        )

        /// `asm worktree list`.
        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "List runs' worktrees: run, session, path, base snapshot and state.",
                discussion: """
                    The state is active (its run executes there), kept (its run ended; changes not applied), applied, \
                    or removed (recorded, or its directory is gone: asm worktree prune records that). --json prints \
                    one object per line with run_id, session_id, path, working_directory, repository, base_snapshot, \
                    base, post_snapshot, retention, run_status and state.
                    """
            )

            @OptionGroup var store: StoreOptions
            @OptionGroup var output: OutputOptions

            func run() async throws {
                try await withStore(try await store.openForReading()) { store in
                    for worktree in try await Worktrees(store: store).list() {
                        if output.json {
                            var writer = JSONWriter()
                            var object = writer.beginObject()
                            writer.field("run_id", worktree.runID.description, in: &object)
                            writer.field("session_id", worktree.sessionID.description, in: &object)
                            writer.field("path", worktree.path, in: &object)
                            writer.field("working_directory", worktree.workingDirectory, in: &object)
                            writer.field("repository", worktree.repository, in: &object)
                            writer.field("base_snapshot", worktree.baseSnapshot, in: &object)
                            writer.field("base", worktree.base, in: &object)
                            writer.field("post_snapshot", worktree.postSnapshot, in: &object)
                            writer.field("retention", worktree.retention.rawValue, in: &object)
                            writer.field("run_status", worktree.runStatus.rawValue, in: &object)
                            writer.field("state", worktree.state.rawValue, in: &object)
                            writer.endObject(object)
                            Console.line(String(decoding: writer.bytes, as: UTF8.self))
                        } else {
                            Console.line(
                                "\(worktree.runID)  \(worktree.state.rawValue.padding(to: 7))  \(worktree.path)  from \(worktree.baseSnapshot)  (run \(worktree.runStatus.rawValue), \(worktree.retention.rawValue))"
                            )
                        }
                    }
                }
            }
        }

        /// `asm worktree apply RUN`.
        struct Apply: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Apply a run's changes (its base snapshot to its post snapshot) to the main checkout.",
                discussion: """
                    All or nothing: the patch is checked against the checkout as it is (git apply --check), so changes \
                    that do not apply cleanly, or uncommitted changes of yours that conflict with them, refuse it with \
                    one line and change nothing. --3way falls back to a three-way merge instead: as git apply --3way, it \
                    records the merge in the index and may leave conflicts to resolve (exit 1, saying so).
                    """
            )

            @OptionGroup var store: StoreOptions

            @Argument(help: "The run (an id or an unambiguous prefix).")
            var run: String

            @Flag(name: .customLong("3way"), help: "Fall back to a three-way merge where git can.")
            var threeWay = false

            func run() async throws {
                try await withStore(try await store.openExisting()) { store in
                    let runID = try await resolveRun(run, in: store)
                    let applied = try await Worktrees(store: store).apply(runID, threeWay: threeWay)
                    Console.line(
                        "applied \(Formatting.count(applied.files, "file")) of run \(runID) to \(applied.to) (\(applied.fromSnapshot) → \(applied.toSnapshot))"
                    )
                }
            }
        }

        /// `asm worktree remove RUN`.
        struct Remove: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Remove a run's worktree, after snapshotting its state so no change is lost.",
                discussion: """
                    The whole worktree's state is kept as the run's final snapshot (refs/asm/snapshots/RUN/final) before \
                    the directory goes; both are recorded. Ignored files in it are not kept. A run still executing keeps \
                    its worktree.
                    """
            )

            @OptionGroup var store: StoreOptions

            @Argument(help: "The run (an id or an unambiguous prefix).")
            var run: String

            func run() async throws {
                try await withStore(try await store.openExisting()) { store in
                    let runID = try await resolveRun(run, in: store)
                    let removed = try await Worktrees(store: store).remove(runID)
                    Console.line("removed \(removed.path); its last state is snapshot \(removed.lastSnapshot ?? "-")")
                }
            }
        }

        /// `asm worktree prune`.
        struct Prune: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Record worktrees whose directories are gone, and remove those their retention lets go.",
                discussion: """
                    A worktree whose run has ended is removed (after its state is snapshotted) when its retention is \
                    remove, or remove-on-success and its run completed; one whose directory is gone is pruned from git \
                    and recorded. Worktrees kept by their retention stay, including those of runs whose process died \
                    (asm recover closes the run; its worktree keeps the changes).
                    """
            )

            @OptionGroup var store: StoreOptions

            func run() async throws {
                try await withStore(try await store.openExisting()) { store in
                    let removed = try await Worktrees(store: store).prune()
                    for event in removed { Console.line("removed \(event.path): \(event.reason)") }
                    Console.line("\(Formatting.count(removed.count, "worktree")) removed")
                }
            }
        }
    }
}
