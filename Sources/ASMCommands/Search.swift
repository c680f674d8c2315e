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
                log holds them (already redacted). Each hit names its sequence, session, run and type, with the \
                matching passage; asm show --at SEQ opens the session there.

                A log's search index is off until asm search --index on turns it on: that indexes every event \
                already logged, and from then on every append, from any process, indexes its events in its own \
                transaction, so a search never lags the log (an append of whole messages costs more while it is \
                on; see the README). asm search --index off drops it, asm search --index status reports it. \
                Exit status: 0 (also with no hit), 64 for a query without words, 66 while the index is off.
                """
        )

        enum IndexAction: String, ExpressibleByArgument, CaseIterable {
            case on, off, status
        }

        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions

        @Argument(help: "The words to look for.")
        var query: String?

        @Option(help: "Turn the log's search index on or off, or report it (instead of searching).")
        var index: IndexAction?

        @Option(help: "Only this session (an id or an unambiguous prefix).")
        var session: String?

        @Option(name: .customLong("type"), help: "Only this event type, e.g. tool_call.started (repeatable).")
        var types: [String] = []

        @Option(help: "At most this many hits.")
        var limit = 20

        func validate() throws {
            switch (query, index) {
            case (nil, nil): throw ValidationError("give the words to look for, or --index on|off|status")
            case (.some, .some): throw ValidationError("--index takes no query")
            default: break
            }
            if index != nil, session != nil || !types.isEmpty {
                throw ValidationError("--index takes no --session or --type")
            }
        }

        func run() async throws {
            if let index {
                try await run(index)
                return
            }
            let query = self.query ?? ""
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
                for hit in hits { Console.line(Formatting.json(hit)) }
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

        private func run(_ action: IndexAction) async throws {
            let status: SearchIndexStatus
            switch action {
            case .status: status = try await withStore(try await store.openForReading()) { try await $0.searchIndex() }
            case .on, .off:
                status = try await withStore(try await store.openExisting()) {
                    try await $0.setSearchIndex(action == .on)
                }
            }
            if output.json {
                Console.line(Formatting.json(status))
                return
            }
            switch (action, status.isOn) {
            case (.on, _):
                Console.line(
                    "search index on: \(status.indexedEvents) events indexed; every append now indexes its events"
                )
            case (.off, _): Console.line("search index off (dropped)")
            case (_, true): Console.line("search index on: \(status.indexedEvents) events indexed")
            case (_, false): Console.line("search index off (asm search --index on builds it)")
            }
        }
    }
}
