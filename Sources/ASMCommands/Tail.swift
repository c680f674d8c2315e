import AgentSessionManager
import ArgumentParser

extension ASM {
    /// `asm tail`: the last events, and with `--follow` every new one as it commits.
    struct Tail: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show the last events; with --follow, keep printing new ones as they are committed.",
            discussion: """
                Another process may be writing the same file: --follow sees its events within a millisecond or so. \
                --from N starts at sequence N instead of the last --lines events.
                """
        )

        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions

        @Flag(name: [.customShort("f"), .long], help: "Keep following new events.")
        var follow = false

        @Option(name: [.customShort("n"), .long], help: "How many of the last events to show first.")
        var lines: Int = 10

        @Option(help: "Start at this sequence number instead.")
        var from: Int64?

        @Option(help: "Only this session (an id or an unambiguous prefix).")
        var session: String?

        @Option(name: .customLong("type"), help: "Only this event type (repeatable).")
        var types: [String] = []

        func validate() throws {
            guard lines >= 0 else { throw ValidationError("--lines must be zero or more") }
            if let from, from < 0 { throw ValidationError("--from must be zero or more") }
            _ = try eventTypes(types)
        }

        func run() async throws {
            let types = try eventTypes(self.types)
            try await withStore(try await store.openForReading()) { store in
                var filter = EventFilter(types: types)
                if let session { filter.stream = try await resolveSession(session, in: store).stream }
                let start: SequenceNumber
                if let from {
                    start = SequenceNumber(max(from, 1))
                } else {
                    start = try await startOfLast(lines, matching: filter, in: store)
                }
                // Stored pages, then wait for the next commit: the same loop as a subscription,
                // printing the exact stored bytes for --json.
                var cursor = start
                while true {
                    let page = try await store.recordedEvents(from: cursor, limit: 500, filter: filter)
                    for event in page.events {
                        Console.line(output.json ? Formatting.json(event) : Formatting.line(event.decoded()))
                    }
                    cursor = page.scannedThrough.next
                    if page.events.count == 500 { continue }
                    guard follow else { break }
                    Console.flush()
                    guard await store.waitForCommit(after: page.scannedThrough) else { break }
                }
            }
        }

        /// The sequence `count` matching events before the end (walking back page by page).
        private func startOfLast(
            _ count: Int,
            matching filter: EventFilter,
            in store: any EventStore
        ) async throws
            -> SequenceNumber
        {
            let last = try await store.lastSequence()
            guard count > 0 else { return last.next }
            if filter.isEmpty { return SequenceNumber(max(1, last.rawValue - Int64(count) + 1)) }
            // Filtered: collect matching sequences from the start; keep the last `count`.
            var window: [SequenceNumber] = []
            var cursor = SequenceNumber(1)
            while true {
                let page = try await store.recordedEvents(from: cursor, limit: 500, filter: filter)
                window.append(contentsOf: page.events.map(\.sequence))
                if window.count > count { window.removeFirst(window.count - count) }
                if page.events.count < 500 { break }
                cursor = page.scannedThrough.next
            }
            return window.first ?? last.next
        }

    }
}
