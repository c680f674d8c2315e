import AgentSessionManager
import ArgumentParser

extension ASM {
    /// `asm events`: lists events in log order.
    struct Events: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List events in log order.",
            discussion: "Filters combine: --session S --type run.started lists the run starts of one session."
        )

        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions

        @Option(help: "Start at this sequence number.")
        var from: Int64 = 1

        @Option(help: "Stop after this many events (0 for all).")
        var limit: Int = 0

        @Option(help: "Only this session (an id or an unambiguous prefix).")
        var session: String?

        @Option(help: "Only this run.")
        var run: String?

        @Option(name: .customLong("type"), help: "Only this event type (repeatable).")
        var types: [String] = []

        func validate() throws {
            guard from >= 0 else { throw ValidationError("--from must be zero or more") }
            guard limit >= 0 else { throw ValidationError("--limit must be zero or more") }
            if let run, RunID(run) == nil { throw ValidationError("--run needs a run id (a UUID)") }
            _ = try eventTypes(types)
        }

        func run() async throws {
            let types = try eventTypes(self.types)
            try await withStore(try await store.openForReading()) { store in
                var filter = EventFilter(types: types, run: run.flatMap(RunID.init))
                if let session { filter.stream = try await resolveSession(session, in: store).stream }
                var cursor = SequenceNumber(max(from, 1))
                var printed = 0
                while limit == 0 || printed < limit {
                    let pageSize = limit == 0 ? 500 : min(500, limit - printed)
                    let page = try await store.recordedEvents(from: cursor, limit: pageSize, filter: filter)
                    for event in page.events {
                        Console.line(output.json ? Formatting.json(event) : Formatting.line(event.decoded()))
                    }
                    printed += page.events.count
                    if page.events.count < pageSize { break }
                    cursor = page.scannedThrough.next
                }
            }
        }
    }
}
