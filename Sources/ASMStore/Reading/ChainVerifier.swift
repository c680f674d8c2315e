import ASMCore

/// Walks the hash chain from the first event and checks the file's integrity.
enum ChainVerifier {
    /// Recomputes each event's hash from its stored bytes and the recomputed previous hash.
    ///
    /// The first event whose stored hash differs is reported: an edited payload, header
    /// or hash shows up at exactly its own sequence. A missing sequence is reported as a gap.
    /// - Complexity: O(events), plus SQLite's `integrity_check` of the whole file.
    static func verify(
        _ connection: Connection,
        progress: (@Sendable (WorkProgress) -> Void)? = nil
    ) throws -> VerificationReport {
        let total = progress == nil ? 0 : try SQLiteSnapshot(connection: connection).lastSequence().rawValue
        let statement = try connection.prepare("SELECT \(EventRows.columns) FROM events ORDER BY sequence")
        var previous = EventHash.genesis
        var expectedSequence: Int64 = 1
        var checked = 0
        var firstMismatch: SequenceNumber?
        var firstGap: SequenceNumber?
        var input: [UInt8] = []
        input.reserveCapacity(1024)
        while try statement.step() {
            let sequence = statement.int64(at: 0)
            if sequence != expectedSequence, firstGap == nil { firstGap = SequenceNumber(expectedSequence) }
            expectedSequence = sequence + 1
            input.removeAll(keepingCapacity: true)
            HashChainInput.append(
                previous: previous,
                sequence: SequenceNumber(sequence),
                id: statement.uuid(at: 1) ?? .zero,
                stream: statement.uuid(at: 2) ?? .zero,
                streamVersion: StreamVersion(statement.int64(at: 3)),
                run: statement.uuid(at: 4),
                type: statement.bytes(at: 5),
                schemaVersion: statement.int(at: 6),
                recordedAt: Timestamp(microseconds: statement.int64(at: 8)),
                payload: statement.bytes(at: 7),
                to: &input
            )
            let computed = WriteTransaction.sha256(input)
            if EventHash(bytes: statement.bytes(at: 9)) != computed, firstMismatch == nil {
                firstMismatch = SequenceNumber(sequence)
            }
            previous = computed
            checked += 1
            if let progress, checked % WorkProgress.interval == 0 {
                progress(WorkProgress(done: checked, total: Int(total)))
            }
        }
        progress?(WorkProgress(done: checked, total: Int(total)))
        let integrity = try connection.query("PRAGMA integrity_check").compactMap { $0.first?.textValue }
        return VerificationReport(
            eventsChecked: checked,
            firstMismatch: firstMismatch,
            firstGap: firstGap,
            integrity: integrity,
            head: checked > 0 ? previous : nil
        )
    }
}
