import AgentSessionManager
import ArgumentParser

extension ASM {
    /// `asm show SESSION`: one session's projection rows, transcript and usage.
    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show a session: its state, runs, transcript and usage."
        )

        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions

        @Argument(help: "A session id, or an unambiguous prefix of one (not needed with --at).")
        var session: String?

        @Flag(help: "Also list the session's events.")
        var events = false

        @Option(help: "Open the session holding this sequence and list the events around it (asm search names them).")
        var at: Int64?

        func validate() throws {
            if session == nil, at == nil { throw ValidationError("name a session, or a sequence with --at") }
            if let at, at < 1 { throw ValidationError("--at takes a sequence number (1 or more)") }
        }

        /// The `--json` document.
        struct Document: Encodable, Sendable {
            var session: SessionSummary
            /// Where the session was forked from, when it is a fork.
            var forkedFrom: SessionFork?
            /// The worktree the fork was given, when it was (`asm fork --worktree`).
            var forkWorkspacePath: String?
            /// The sessions forked from it, oldest first.
            var forks: [SessionFork]
            /// The session it was started under (a sub-agent's, a tool call's), when it names one.
            var parent: SessionParent?
            /// The sessions started under it, oldest first.
            var children: [SessionParent]
            var runs: [RunSummary]
            var transcript: [TranscriptEntry]
            var usage: [UsageSummary]

            enum CodingKeys: String, CodingKey {
                case session
                case forkedFrom = "forked_from"
                case forkWorkspacePath = "fork_workspace_path"
                case forks, parent, children, runs, transcript, usage
            }
        }

        func run() async throws {
            try await withStore(try await store.openForReading()) { store in
                var focus: EventEnvelope?
                if let at {
                    focus = try await store.events(from: SequenceNumber(at), limit: 1, filter: .all).events.first
                    guard let event = focus, event.sequence == SequenceNumber(at) else {
                        throw CommandFailure(.notFound, "no event \(at)")
                    }
                }
                let id: SessionID
                if let session {
                    id = try await resolveSession(session, in: store)
                    if let focus, focus.stream != id.stream {
                        throw CommandFailure(.invalidArgument, "event \(focus.sequence) is not in session \(id)")
                    }
                } else {
                    id = SessionID(uuid: focus?.stream.uuid ?? .zero)
                }
                // One snapshot: the session, its runs, transcript, usage and tree edges agree.
                let read = try await store.read { snapshot -> Document? in
                    guard let summary = try snapshot.session(id) else { return nil }
                    let forkedFrom = try snapshot.fork(of: id)
                    var forkWorkspacePath: String?
                    if let forkedFrom,
                        case .sessionForked(let forked)? = try snapshot.events(
                            from: forkedFrom.sequence,
                            limit: 1,
                            filter: EventFilter(stream: id.stream)
                        ).events.first?.event
                    {
                        forkWorkspacePath = forked.workspacePath
                    }
                    return Document(
                        session: summary,
                        forkedFrom: forkedFrom,
                        forkWorkspacePath: forkWorkspacePath,
                        forks: try snapshot.forks(from: id),
                        parent: try snapshot.parent(of: id),
                        children: try snapshot.children(of: id),
                        runs: try snapshot.runs(in: id),
                        transcript: try snapshot.transcript(of: id),
                        usage: try snapshot.usage(by: .run, session: id)
                    )
                }
                guard let document = read else {
                    throw CommandFailure(
                        .notFound,
                        focus.map { "event \($0.sequence) belongs to no session" } ?? "no session \(id)"
                    )
                }
                let summary = document.session
                if output.json {
                    Console.line(Formatting.json(document))
                    return
                }
                Self.print(
                    summary,
                    runs: document.runs,
                    transcript: document.transcript,
                    usage: document.usage,
                    forkedFrom: document.forkedFrom,
                    forkWorkspacePath: document.forkWorkspacePath,
                    forks: document.forks,
                    parent: document.parent,
                    children: document.children
                )
                if let focus, !events {
                    Console.line("")
                    Console.line("around sequence \(focus.sequence)")
                    let from = max(1, focus.streamVersion.rawValue - 5)
                    for event in try await store.stream(id.stream, fromVersion: StreamVersion(from), limit: 11) {
                        Console.line((event.sequence == focus.sequence ? "> " : "  ") + Formatting.line(event))
                    }
                }
                if events {
                    Console.line("")
                    Console.line("events")
                    for event in try await store.stream(id.stream, fromVersion: 1, limit: Int(summary.version.rawValue))
                    {
                        Console.line(Formatting.line(event))
                    }
                }
            }
        }

        /// How a session was started under its parent: by which run and tool call.
        private static func origin(_ link: SessionParent) -> String {
            switch (link.parentRunID, link.parentCallID) {
            case (let run?, let call?): " (tool call \(call) of run \(run))"
            case (let run?, nil): " (sub-agent of run \(run))"
            default: " (sub-agent)"
            }
        }

        static func print(
            _ session: SessionSummary,
            runs: [RunSummary],
            transcript: [TranscriptEntry],
            usage: [UsageSummary],
            forkedFrom: SessionFork? = nil,
            forkWorkspacePath: String? = nil,
            forks: [SessionFork] = [],
            parent: SessionParent? = nil,
            children: [SessionParent] = []
        ) {
            Console.line("session \(session.id)")
            Console.line("  agent     \(session.agentID)")
            Console.line("  status    \(session.status)" + (session.failureReason.map { " (\($0))" } ?? ""))
            if !session.tags.isEmpty { Console.line("  tags      \(session.tags.joined(separator: ", "))") }
            for (key, value) in session.metadata.sorted(by: { $0.key < $1.key }) {
                Console.line("  \(key): \(value)")
            }
            if let forkedFrom {
                Console.line(
                    "  forked    from \(forkedFrom.parentSessionID) at sequence \(forkedFrom.forkedAt.rawValue)"
                )
            }
            if let forkWorkspacePath { Console.line("  worktree  \(forkWorkspacePath)") }
            if let parent { Console.line("  parent    \(parent.parentSessionID)" + Self.origin(parent)) }
            Console.line("  created   \(session.createdAt)")
            Console.line("  updated   \(session.updatedAt)")
            Console.line(
                "  events    \(session.eventCount) (sequences \(session.firstSequence)…\(session.lastSequence))"
            )
            if !forks.isEmpty {
                Console.line("")
                Console.line("forks")
                for fork in forks {
                    Console.line("  \(fork.sessionID) (at sequence \(fork.forkedAt.rawValue))")
                }
            }
            if !children.isEmpty {
                Console.line("")
                Console.line("children")
                for child in children { Console.line("  \(child.sessionID)" + Self.origin(child)) }
            }
            Console.line("")
            Console.line("runs")
            if runs.isEmpty { Console.line("  none") }
            var rows = [["  RUN", "STATUS", "PROVIDER", "MODEL", "STARTED", "ENDED", "DETAIL"]]
            for run in runs {
                let detail =
                    run.failureKind.map { "\($0): \(Formatting.clip(run.failureMessage ?? "", 40))" }
                    ?? run.cancelReason.map { "cancelled: \($0)" } ?? ""
                rows.append([
                    "  " + run.id.description, run.status.rawValue, run.provider ?? "-", run.model ?? "-",
                    run.startedAt?.description ?? "-", run.endedAt?.description ?? "-", detail,
                ])
            }
            if !runs.isEmpty { Formatting.table(rows).forEach(Console.line) }
            Console.line("")
            Console.line("transcript")
            if transcript.isEmpty { Console.line("  empty") }
            for entry in transcript {
                let provider = entry.provider.map { " (\($0))" } ?? ""
                Console.line("  [\(entry.sequence)] \(entry.role)\(provider): \(Formatting.clip(entry.content, 100))")
            }
            Console.line("")
            Console.line("usage")
            if usage.isEmpty { Console.line("  none") }
            for row in usage {
                let tokens = row.tokens
                Console.line(
                    "  \(row.provider ?? "-")/\(row.model ?? "-"): \(tokens.input) in, \(tokens.output) out, "
                        + "\(tokens.cacheRead) cache read, \(tokens.cacheWrite) cache write; "
                        + "cost \(Formatting.usd(nano: row.costNanoUSD))"
                        + (row.reportedCostNanoUSD.map { " (provider reported \(Formatting.usd(nano: $0)))" } ?? "")
                )
            }
        }
    }
}
