import ASMCore
import ASMStore
import AgentSessionManagerTesting
import Foundation
import Subprocess
import SystemPackage
import Testing

/// Expunge: a payload that got in anyway is replaced by a tombstone keeping its digest, the
/// chain still verifies, and the change is recorded and audited.
@Suite struct ExpungeTests {
    /// Text no secret format matches, so it reaches the log as it is.
    static let leaked = "the vault pin is 4412-9931-kestrel-amber"

    /// A session with a user message that leaked something, a run that failed saying it, and
    /// a reply; returns the sequences of the message and the failure.
    static func record(
        _ store: SQLiteEventStore
    ) async throws -> (session: SessionID, message: SequenceNumber, failure: SequenceNumber) {
        let session = SessionID.generate()
        let run = RunID.generate()
        let result = try await store.append(
            [
                NewEvent(SessionCreated(agentID: "a")), NewEvent(SessionActivated()),
                NewEvent(RunRequested(messages: [ChatMessage(role: .user, content: leaked)]), run: run),
                NewEvent(MessageReceived(role: .user, content: leaked), run: run),
                NewEvent(RunStarted(provider: "p"), run: run),
                NewEvent(RunFailed(failure: RunFailure(kind: .apiError, message: "rejected: \(leaked)")), run: run),
            ],
            to: session.stream,
            expectedVersion: .noStream
        )
        return (session, SequenceNumber(result.firstSequence.rawValue + 3), result.lastSequence)
    }

    /// A copy of the log an older build wrote (chain version 1 throughout).
    static func olderLog(in directory: TemporaryDirectory) throws -> String {
        let copy = directory.file("old.sqlite")
        try FileManager.default.copyItem(atPath: PackageFiles.path("Fixtures/logs/multi-provider.sqlite"), toPath: copy)
        return copy
    }

    @Test("an expunged payload becomes a tombstone; the chain verifies before and after; who and why are recorded")
    func expunge() async throws {
        try await withTemporaryStore { store in
            let (session, message, failure) = try await Self.record(store)
            let before = try await store.verify()
            #expect(before.isIntact)
            #expect(
                before.chainVersions == [VerificationReport.ChainVersion(version: 2, firstSequence: SequenceNumber(1))]
            )
            let last = try await store.lastSequence()

            let record = try await store.expunge([failure, message], reason: "pasted a vault pin", by: "ada")
            #expect(record.sequences == [message, failure] && record.digests.allSatisfy { $0.hasPrefix("sha256:") })
            #expect(try await store.lastSequence() == SequenceNumber(last.rawValue + 1))

            let after = try await store.verify()
            #expect(after.isIntact, "\(after)")
            #expect(after.expunged.map(\.sequence) == [message, failure])
            #expect(after.expunged.allSatisfy { $0.reason == "pasted a vault pin" && $0.by == "ada" })
            #expect(after.head != before.head)

            let events = try await store.stream(session.stream, fromVersion: StreamVersion(1), limit: 100)
            let tombstoned = events.filter {
                if case .opaque(let opaque) = $0.event, case .expunged = opaque.reason { true } else { false }
            }
            #expect(tombstoned.map(\.sequence) == [message, failure])
            // Structure is kept: the run still failed, the transcript still has the message's place.
            let run = try #require(try await store.runs(in: session).first)
            #expect(run.status == .failed && run.failureMessage == "(expunged)")
            let recorded = try await store.recordedEvents(from: .zero, limit: 100, filter: .all)
            #expect(
                !recorded.events.contains {
                    String(decoding: $0.payload, as: UTF8.self).contains("4412-9931") == true
                        && $0.type != .runRequested
                }
            )
        }
    }

    @Test("after a checkpoint and VACUUM the expunged bytes are gone from the file")
    func bytesLeaveTheFile() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        let store = try SQLiteEventStore(path: path)
        let (_, message, failure) = try await Self.record(store)
        // The request and the failure hold the same text: expunge them too.
        try await store.expunge([message, SequenceNumber(message.rawValue - 1), failure], reason: "leak", by: "ada")
        await store.close()
        let connection = try Connection(path: path, mode: .readWrite)
        try connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        try connection.execute("VACUUM")
        connection.close()
        for file in [path, path + "-wal"] {
            let bytes = Array((try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data())
            #expect(bytes.firstRange(of: Array("kestrel-amber".utf8)) == nil, "\(file)")
        }
        let reopened = try SQLiteEventStore(path: path)
        #expect(try await reopened.verify().isIntact)
        await reopened.close()
    }

    @Test(
        "a second expunge, a structural event, an unknown sequence and an empty reason are refused and change nothing"
    )
    func refusals() async throws {
        try await withTemporaryStore { store in
            let (_, message, _) = try await Self.record(store)
            try await store.expunge([message], reason: "leak", by: "ada")
            let last = try await store.lastSequence()
            let head = try await store.verify().head
            let again = await #expect(throws: StoreError.self) {
                try await store.expunge([message], reason: "x", by: "b")
            }
            #expect(again?.code == .invalidArgument && again?.message.contains("already expunged") == true)
            let structural = await #expect(throws: StoreError.self) {
                try await store.expunge([SequenceNumber(message.rawValue + 1)], reason: "x", by: "b")
            }
            #expect(structural?.message.contains("run.started") == true)
            let missing = await #expect(throws: StoreError.self) {
                try await store.expunge([SequenceNumber(9999)], reason: "x", by: "b")
            }
            #expect(missing?.code == .notFound)
            await #expect(throws: StoreError.self) { try await store.expunge([message], reason: "  ", by: "b") }
            #expect(try await store.lastSequence() == last)
            #expect(try await store.verify().head == head)
        }
    }

    @Test("the table refuses any other change of a payload, even with the triggers' own words")
    func triggers() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        let store = try SQLiteEventStore(path: path)
        let (_, message, _) = try await Self.record(store)
        await store.close()
        let connection = try Connection(path: path, mode: .readWrite)
        defer { connection.close() }
        #expect(throws: (any Error).self) {
            try connection.execute("UPDATE events SET payload = '{}' WHERE sequence = \(message.rawValue)")
        }
        #expect(throws: (any Error).self) { try connection.execute("DELETE FROM events WHERE sequence = 1") }
        #expect(throws: (any Error).self) { try connection.execute("DELETE FROM chain_versions") }
    }

    @Test("a payload replaced without its event.expunged record fails verification, even with the right digest")
    func unrecordedTombstone() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        let store = try SQLiteEventStore(path: path)
        let (_, message, _) = try await Self.record(store)
        await store.close()
        let connection = try Connection(path: path, mode: .readWrite)
        let payload = try #require(
            try connection.scalar("SELECT payload FROM events WHERE sequence = ?", [.integer(message.rawValue)])?
                .textValue
        )
        // The true digest, so the chain itself still links: only the missing record tells.
        let file = directory.file("payload")
        try Data(payload.utf8).write(to: URL(fileURLWithPath: file))
        let sum = try await Subprocess.run(
            .name("sha256sum"),
            arguments: [file],
            output: .string(limit: 1024),
            error: .discarded
        )
        let digest = "sha256:" + String(sum.standardOutput.prefix(64))
        let tombstone = String(decoding: Tombstone.payload(digest: digest), as: UTF8.self)
        try connection.execute(
            "INSERT INTO expunged (sequence, digest, tombstone, recorded_at) VALUES (?, ?, ?, 0)",
            [.integer(message.rawValue), .text(digest), .text(tombstone)]
        )
        try connection.execute(
            "UPDATE events SET payload = ? WHERE sequence = ?",
            [.text(tombstone), .integer(message.rawValue)]
        )
        connection.close()
        let reopened = try SQLiteEventStore(path: path)
        let report = try await reopened.verify()
        #expect(report.firstMismatch == message)
        #expect(report.expunged.isEmpty)
        await reopened.close()
    }

    @Test(
        "an older log verifies as it was, moves to chain version 2 on its next append, and only newer events can be expunged"
    )
    func olderLog() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let copy = try ExpungeTests.olderLog(in: directory)
        let store = try SQLiteEventStore(path: copy)
        let before = try await store.verify()
        #expect(before.isIntact)
        #expect(before.chainVersions == [VerificationReport.ChainVersion(version: 1, firstSequence: SequenceNumber(1))])
        let old = try await store.lastSequence()
        let refused = await #expect(throws: StoreError.self) { try await store.expunge([old], reason: "x", by: "b") }
        #expect(refused?.message.contains("hash chain version 1") == true)

        let (_, message, _) = try await Self.record(store)
        let upgraded = try await store.events(from: old.next, limit: 1, filter: .all).events.first
        #expect(upgraded?.event == .chainUpgraded(ChainUpgraded(fromVersion: 1, toVersion: 2)))
        let after = try await store.verify()
        #expect(after.isIntact)
        #expect(
            after.chainVersions == [
                VerificationReport.ChainVersion(version: 1, firstSequence: SequenceNumber(1)),
                VerificationReport.ChainVersion(version: 2, firstSequence: SequenceNumber(old.rawValue + 2)),
            ]
        )
        try await store.expunge([message], reason: "leak", by: "ada")
        #expect(try await store.verify().isIntact)
        await store.close()
    }
}

/// The README's hash-chain recipe, run by Python on a log of each chain version.
@Suite struct ChainRecipeTests {
    static let python = ["/usr/bin/python3", "/usr/local/bin/python3"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// The Python block that follows "In Python, for both:" in the README.
    static func recipe() throws -> String {
        let readme = URL(fileURLWithPath: PackageFiles.path("README.md"))
        let text = try String(contentsOf: readme, encoding: .utf8)
        guard let anchor = text.range(of: "In Python, for both:"),
            let start = text.range(of: "```python\n", range: anchor.upperBound..<text.endIndex),
            let end = text.range(of: "```", range: start.upperBound..<text.endIndex)
        else { return "" }
        return String(text[start.upperBound..<end.lowerBound])
    }

    static func run(_ script: String, on path: String) async throws -> (Int32?, String) {
        let python = try #require(Self.python)
        let code = script.replacingOccurrences(of: "\".asm/asm.sqlite\"", with: "\"\(path)\"") + "\nprint('verified')\n"
        let result = try await Subprocess.run(
            .path(FilePath(python)),
            arguments: ["-c", code],
            output: .string(limit: 1 << 16),
            error: .string(limit: 1 << 16)
        )
        var status: Int32?
        if case .exited(let code) = result.terminationStatus { status = code }
        return (status, result.standardOutput + result.standardError)
    }

    @Test(
        "the README's recipe verifies an older log, its upgrade, and a log with expunged events",
        .enabled(if: python != nil)
    )
    func recipeVerifies() async throws {
        let script = try Self.recipe()
        #expect(script.contains("chain_versions"))
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let copy = try ExpungeTests.olderLog(in: directory)
        var (status, output) = try await Self.run(script, on: copy)
        #expect(status == 0 && output.contains("verified"), "\(output)")

        let store = try SQLiteEventStore(path: copy)
        let (_, message, failure) = try await ExpungeTests.record(store)
        try await store.expunge([message, failure], reason: "leak", by: "ada")
        await store.close()
        (status, output) = try await Self.run(script, on: copy)
        #expect(status == 0 && output.contains("verified"), "\(output)")

        // And it notices an edit.
        let connection = try Connection(path: copy, mode: .readWrite)
        try connection.execute(
            "DROP TRIGGER events_are_append_only_update; UPDATE events SET payload = '{\"x\":1}' WHERE sequence = 3"
        )
        connection.close()
        (status, output) = try await Self.run(script, on: copy)
        #expect(status != 0 && output.contains("hash mismatch at sequence 3"))
    }
}
