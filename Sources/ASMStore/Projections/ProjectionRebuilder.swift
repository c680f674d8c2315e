import ASMCore

/// Re-derives every projection from the log alone.
enum ProjectionRebuilder {
    /// Empties the projection tables and replays every event through the projector (and
    /// indexes the log again when its search index is on).
    ///
    /// Runs inside the caller's write transaction, so readers see either the old tables or
    /// the rebuilt ones.
    /// - Complexity: O(events).
    static func rebuild(
        _ connection: Connection,
        projector: Projector,
        progress: (@Sendable (WorkProgress) -> Void)? = nil
    ) throws -> RebuildReport {
        let total = progress == nil ? 0 : try SQLiteSnapshot(connection: connection).lastSequence().rawValue
        try projector.clear()
        let statement = try connection.prepare("SELECT \(EventRows.columns) FROM events ORDER BY sequence")
        let codec = EventCodec()
        var count = 0
        var last: Int64 = 0
        while try statement.step() {
            let envelope = EventRows.envelope(statement, codec: codec)
            try projector.apply(
                envelope.event,
                Projector.Header(
                    sequence: envelope.sequence.rawValue,
                    stream: envelope.stream.uuid,
                    version: envelope.streamVersion.rawValue,
                    run: envelope.runID?.uuid,
                    recordedAt: envelope.recordedAt.microseconds
                )
            )
            count += 1
            last = envelope.sequence.rawValue
            if let progress, count % WorkProgress.interval == 0 {
                progress(WorkProgress(done: count, total: Int(total)))
            }
        }
        progress?(WorkProgress(done: count, total: Int(total)))
        try SearchIndex.refill(connection)
        try projector.setCheckpoints(Projector.keptInline)
        return RebuildReport(events: count, projections: Projector.versions, throughSequence: SequenceNumber(last))
    }
}
