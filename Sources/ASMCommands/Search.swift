import AgentSessionManager
import ArgumentParser

extension ASM {
    /// `asm search QUERY`: events found by their words, best first.
    struct Search: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Find events by what was said and done: prompts, messages, tools, their input and output.",
            discussion: """
                Every word must occur (case and, on SQLite, diacritics do not matter); a word ending in * matches \
                as a prefix; anything but letters and digits separates words. Indexed: whole messages, prompts included \
                (not streamed pieces), tool names with their input, tool output, refusals and run failures, as the \
                log holds them (already redacted). The index is a projection kept in the append's transaction, so a \
                search never lags the log. Each hit names its sequence, session, run and type, with the matching \
                passage; asm show --at SEQ opens the session there. Exit status: 0 (also with no hit), 64 for a \
                query without words.
                """
        )

        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions

        @Argument(help: "The words to look for.")
        var query: String

        @Option(help: "Only this session (an id or an unambiguous prefix).")
        var session: String?

        @Option(name: .customLong("type"), help: "Only this event type, e.g. tool_call.started (repeatable).")
        var types: [String] = []

        @Option(help: "At most this many hits.")
        var limit = 20

        struct Hit: Encodable {
            var sequence: Int64
            var sessionID: String
            var runID: String?
            var type: String
            var snippet: String
            var score: Double

            enum CodingKeys: String, CodingKey {
                case sequence, type, snippet, score
                case sessionID = "session_id"
                case runID = "run_id"
            }
        }

        func run() async throws {
            let unknown = types.filter { !SearchQuery.searchableTypes.map(\.rawValue).contains($0) }
            if let type = unknown.first {
                throw CommandFailure(
                    .invalidArgument,
                    "--type \(type) is not searched; searched are "
                        + SearchQuery.searchableTypes.map(\.rawValue).joined(separator: ", ")
                )
            }
            let hits = try await withStore(try await store.openForReading()) { store in
                var sessionID: SessionID?
                if let session { sessionID = try await resolveSession(session, in: store) }
                let search: SearchQuery
                do {
                    search = try SearchQuery(
                        query,
                        session: sessionID,
                        types: types.map { EventType($0) },
                        limit: limit
                    )
                } catch let error as SearchQuery.Invalid {
                    throw CommandFailure(.invalidArgument, error.message)
                }
                return try await store.search(search)
            }
            if output.json {
                for hit in hits {
                    Console.line(
                        Formatting.json(
                            Hit(
                                sequence: hit.sequence.rawValue,
                                sessionID: hit.sessionID.description,
                                runID: hit.runID?.description,
                                type: hit.type.rawValue,
                                snippet: hit.snippet,
                                score: hit.score
                            )
                        )
                    )
                }
                return
            }
            if hits.isEmpty {
                Console.line("no events match")
                return
            }
            var rows = [["SEQ", "SESSION", "RUN", "TYPE", "MATCH"]]
            for hit in hits {
                rows.append([
                    String(hit.sequence.rawValue), Formatting.short(hit.sessionID.uuid),
                    hit.runID.map { Formatting.short($0.uuid) } ?? "-", hit.type.rawValue,
                    Formatting.clip(hit.snippet.split(whereSeparator: { $0.isNewline }).joined(separator: " "), 100),
                ])
            }
            Formatting.table(rows, rightAligned: [0]).forEach(Console.line)
        }
    }
}
