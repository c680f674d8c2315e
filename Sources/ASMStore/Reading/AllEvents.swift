public import ASMCore

extension EventStore {
    /// Every event that passes `filter`, oldest first, read in pages (for the analyses that
    /// need a whole history in memory: replay, what-if, traces).
    package func allEvents(_ filter: EventFilter) async throws -> [EventEnvelope] {
        var events: [EventEnvelope] = []
        var cursor = SequenceNumber.zero.next
        while true {
            let page = try await self.events(from: cursor, limit: 2000, filter: filter)
            events += page.events
            guard page.events.count == 2000 else { break }
            cursor = page.scannedThrough.next
        }
        return events
    }
}
