import AgentSessionManager
import ArgumentParser

extension ASM {
    /// `asm fork SESSION [--at SEQ]`: a new session that continues from a point of another's history.
    struct Fork: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fork a session at a point of its history into a new, active session.",
            discussion: """
                The fork's first event (session.forked) names the session and the sequence it was forked at; \
                its runs continue from the parent's conversation up to there (replayed: a provider's own session \
                is never resumed across a fork) and from nothing after it. A sequence inside a run forks at that \
                run's start; without --at the fork keeps the whole session. Sequences are the ones asm events, \
                asm show --events and asm tail print. Prints the new session's id; asm show lists a session's \
                forks, asm cost --tree rolls their usage up.
                """
        )

        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions

        @Argument(help: "A session id, or an unambiguous prefix of one.")
        var session: String

        @Option(help: "The sequence to fork at (default: the session's last event).")
        var at: Int64?

        @Flag(
            help: """
                Also give the fork a workspace of its own: a git worktree made from the parent's workspace snapshot in \
                force at the fork point; its runs name it with --workspace.
                """
        )
        var worktree = false

        @Option(
            name: .customLong("worktree-dir"),
            help: "Where the fork's worktree goes (default: .asm/worktrees in the repository)."
        )
        var worktreeDirectory: String?

        func validate() throws {
            if let at, at < 1 { throw ValidationError("--at takes a sequence number (1 or more)") }
            if worktreeDirectory != nil, !worktree { throw ValidationError("--worktree-dir goes with --worktree") }
        }

        /// The `--json` line.
        struct Forked: Encodable {
            var sessionID: SessionID
            var parentSessionID: SessionID
            var forkedAt: SequenceNumber
            var workspacePath: String?

            enum CodingKeys: String, CodingKey {
                case sessionID = "session_id"
                case parentSessionID = "parent_session_id"
                case forkedAt = "forked_at"
                case workspacePath = "workspace_path"
            }
        }

        func run() async throws {
            let forked = try await withStore(try await store.openExisting()) { store in
                let parent = try await resolveSession(session, in: store)
                let (fork, forkedAt, made) = try await SessionManager(store: store, providers: [])
                    .fork(
                        parent,
                        at: at.map(SequenceNumber.init(_:)),
                        worktree: worktree ? WorktreeOptions(directory: worktreeDirectory) : nil
                    )
                return Forked(
                    sessionID: fork,
                    parentSessionID: parent,
                    forkedAt: forkedAt,
                    workspacePath: made?.workingDirectory
                )
            }
            if output.json {
                Console.line(Formatting.json(forked))
            } else {
                Console.line(
                    "forked \(forked.sessionID) from \(forked.parentSessionID) at sequence \(forked.forkedAt.rawValue)"
                )
                if let path = forked.workspacePath { Console.line("workspace \(path)") }
            }
        }
    }
}
