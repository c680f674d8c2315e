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
        let version2From =
            try connection.scalar("SELECT first_sequence FROM chain_versions WHERE version = 2")?
            .integerValue ?? .max
        var expunged: [Int64: (digest: String, tombstone: [UInt8])] = [:]
        for row in try connection.query("SELECT sequence, digest, tombstone FROM expunged") {
            guard let sequence = row[0].integerValue, let digest = row[1].textValue, let tombstone = row[2].textValue
            else { continue }
            expunged[sequence] = (digest, Array(tombstone.utf8))
        }
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
            var digest: EventHash?
            if sequence >= version2From {
                // Version 2: the payload's digest; an expunged payload is its tombstone,
                // which keeps the digest of what it replaced.
                let payload = statement.bytes(at: 7)
                digest = WriteTransaction.sha256(payload)
                if let record = expunged[sequence] {
                    if payload.elementsEqual(record.tombstone), let kept = EventHash(hex: record.digest) {
                        digest = kept
                    } else if firstMismatch == nil {
                        firstMismatch = SequenceNumber(sequence)
                    }
                }
            }
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
                payloadDigest: digest,
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
        var report = VerificationReport(
            eventsChecked: checked,
            firstMismatch: firstMismatch,
            firstGap: firstGap,
            integrity: integrity,
            head: checked > 0 ? previous : nil
        )
        if version2From != 1 { report.chainVersions.append(.init(version: 1, firstSequence: SequenceNumber(1))) }
        if version2From != .max {
            report.chainVersions.append(.init(version: 2, firstSequence: SequenceNumber(version2From)))
        }
        report.expunged = try expungeRecords(connection).filter { expunged[$0.sequence.rawValue] != nil }
        // A tombstone no `event.expunged` record accounts for is tampering.
        let recorded = Set(report.expunged.map(\.sequence.rawValue))
        if report.firstMismatch == nil, let orphan = expunged.keys.filter({ !recorded.contains($0) }).min() {
            report.firstMismatch = SequenceNumber(orphan)
        }
        return report
    }

    /// What the `event.expunged` events say, one entry per expunged event.
    static func expungeRecords(_ connection: Connection) throws -> [VerificationReport.ExpungedEvent] {
        var records: [VerificationReport.ExpungedEvent] = []
        for row in try connection.query(
            "SELECT sequence, payload FROM events WHERE type = 'event.expunged' ORDER BY sequence"
        ) {
            guard let at = row[0].integerValue, let text = row[1].textValue,
                let record = try? EventExpunged.decode(json: Array(text.utf8))
            else { continue }
            for (index, sequence) in record.sequences.enumerated() {
                records.append(
                    .init(
                        sequence: sequence,
                        digest: index < record.digests.count ? record.digests[index] : "",
                        reason: record.reason,
                        by: record.by,
                        recordedIn: SequenceNumber(at)
                    )
                )
            }
        }
        return records
    }
}
