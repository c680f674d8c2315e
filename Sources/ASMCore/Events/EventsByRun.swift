extension [EventEnvelope] {
    /// The events of each run, runs in the order of their first event; events without a run left out.
    package func groupedByRun() -> [(run: RunID, events: [EventEnvelope])] {
        var byRun: [RunID: [EventEnvelope]] = [:]
        var order: [RunID] = []
        for envelope in self {
            guard let run = envelope.runID else { continue }
            if byRun[run] == nil { order.append(run) }
            byRun[run, default: []].append(envelope)
        }
        return order.map { ($0, byRun[$0] ?? []) }
    }
}
