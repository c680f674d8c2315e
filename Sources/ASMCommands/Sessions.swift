import AgentSessionManager
import ArgumentParser

extension ASM {
    /// `asm sessions`: the sessions projection.
    struct Sessions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List sessions, most recently active first.")

        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions

        @Option(help: "Only sessions in this status (created, active, completed, failed, archived).")
        var status: String?

        @Option(help: "At most this many sessions.")
        var limit: Int = 50

        func validate() throws {
            guard limit > 0 else { throw ValidationError("--limit must be positive") }
        }

        func run() async throws {
            try await withStore(try await store.openForReading()) { store in
                let sessions = try await store.sessions(status: status.map(SessionStatus.init(rawValue:)), limit: limit)
                if output.json {
                    for session in sessions { Console.line(Formatting.json(session)) }
                    return
                }
                guard !sessions.isEmpty else {
                    Console.line("no sessions")
                    return
                }
                var rows = [["SESSION", "AGENT", "STATUS", "RUNS", "EVENTS", "LAST ACTIVITY"]]
                for session in sessions {
                    rows.append([
                        session.id.description, session.agentID, session.status.rawValue, String(session.runCount),
                        String(session.eventCount), session.updatedAt.description,
                    ])
                }
                Formatting.table(rows, rightAligned: [3, 4]).forEach(Console.line)
            }
        }
    }
}
