import ASMCore
import ASMStore
import AgentSessionManagerTesting
import Testing

/// Tampering with the log, as someone with the file and a SQLite shell could.
@Suite struct VerifyTests {
    private func tamper(_ path: String, _ sql: String) throws {
        let connection = try Connection(path: path, mode: .readWrite)
        defer { connection.close() }
        try connection.execute(
            "DROP TRIGGER events_are_append_only_update; DROP TRIGGER events_are_append_only_delete; \(sql)"
        )
    }

    private func withLog(_ body: (String, SQLiteEventStore) async throws -> Void) async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        let store = try SQLiteEventStore(path: path)
        try await SampleHistory(seed: 21, sessions: 3, events: 120).append(to: store)
        let clean = try await store.verify()
        #expect(clean.isIntact && clean.integrity == ["ok"] && clean.firstMismatch == nil)
        try await body(path, store)
        await store.close()
    }

    @Test("editing one payload byte is found at exactly that sequence", arguments: [1, 2, 57, 120])
    func payloadByte(sequence: Int) async throws {
        try await withLog { path, store in
            // Flip one byte inside the payload text, keeping it valid JSON.
            try tamper(
                path,
                "UPDATE events SET payload = substr(payload, 1, 1) || ' ' || substr(payload, 2) WHERE sequence = \(sequence)"
            )
            let report = try await store.verify()
            #expect(report.firstMismatch == SequenceNumber(Int64(sequence)))
            #expect(!report.isIntact)
        }
    }

    @Test(
        "editing a header field is found too",
        arguments: [
            "UPDATE events SET type = 'run.completed' WHERE sequence = 40",
            "UPDATE events SET recorded_at = recorded_at + 1 WHERE sequence = 40",
            "UPDATE events SET stream_version = stream_version + 1000 WHERE sequence = 40",
            "UPDATE events SET run_id = randomblob(16) WHERE sequence = 40",
            "UPDATE events SET hash = zeroblob(32) WHERE sequence = 40",
        ]
    )
    func header(sql: String) async throws {
        try await withLog { path, store in
            try tamper(path, sql)
            #expect(try await store.verify().firstMismatch == 40)
        }
    }

    @Test("a deleted event is reported as a gap")
    func deleted() async throws {
        try await withLog { path, store in
            try tamper(path, "DELETE FROM events WHERE sequence = 30")
            let report = try await store.verify()
            #expect(report.firstGap == 30)
            #expect(report.firstMismatch == 31, "the next event no longer chains to its predecessor")
        }
    }

    @Test("an empty log verifies")
    func empty() async throws {
        try await withTemporaryStore { store in
            let report = try await store.verify()
            #expect(report.isIntact && report.eventsChecked == 0 && report.head == nil)
        }
    }
}
