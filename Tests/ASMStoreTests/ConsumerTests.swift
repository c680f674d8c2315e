import ASMCore
import ASMStore
import AgentSessionManagerTesting
import Testing

@Suite struct ConsumerTests {
    @Test("a new consumer starts where asked and its registration is recorded", arguments: Backend.all)
    func registration(backend: Backend) async throws {
        try await backend.withStore { store in
            try await store.append(messages(5), to: .generate(), expectedVersion: .any)
            let beginning = try await store.consumer(named: "from-start", startingAt: .beginning)
            let end = try await store.consumer(named: "from-end", startingAt: .end)
            let registeredAt = try await store.lastSequence()
            let middle = try await store.consumer(named: "from-3", startingAt: .after(3))
            #expect(try await beginning.position() == 0)
            #expect(try await end.position() == registeredAt, "its own registration is behind it")
            #expect(registeredAt == 7, "5 messages, then two registrations")
            #expect(try await middle.position() == 3)
            // Asking again for an existing consumer keeps its position.
            let again = try await store.consumer(named: "from-3", startingAt: .beginning)
            #expect(try await again.position() == 3)
            let recorded = try await allEvents(store, filter: EventFilter(types: [.consumerCheckpointed]))
            #expect(recorded.count == 3)
            #expect(recorded.allSatisfy { $0.stream == .consumers })
        }
    }

    @Test("after a restart a consumer resumes right after its last acknowledged sequence")
    func resumesAfterRestart() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        do {
            let store = try SQLiteEventStore(path: path)
            try await store.append(messages(10), to: .generate(), expectedVersion: .any)
            let consumer = try await store.consumer(named: "indexer", startingAt: .beginning)
            let batch = try #require(
                try await consumer.nextBatch(filter: EventFilter(types: [.messageReceived]), limit: 4)
            )
            #expect(batch.events.map(\.sequence.rawValue) == [1, 2, 3, 4])
            try await consumer.acknowledge(batch)
            // Handled but not acknowledged when the process "stops":
            _ = try await consumer.nextBatch(after: batch.through, limit: 3)
            await store.close()
        }
        let store = try SQLiteEventStore(path: path)
        let consumer = try await store.consumer(named: "indexer", startingAt: .end)
        let batch = try #require(
            try await consumer.nextBatch(filter: EventFilter(types: [.messageReceived]), limit: 100, wait: false)
        )
        #expect(batch.events.first?.sequence == 5, "at least once: unacknowledged events come again")
        #expect(batch.events.count == 6)
        await store.close()
    }

    @Test("checkpoints never move backwards, and cannot pass the end of the log")
    func forwardOnly() async throws {
        try await withTemporaryStore { store in
            try await store.append(messages(10), to: .generate(), expectedVersion: .any)
            let consumer = try await store.consumer(named: "c", startingAt: .beginning)
            try await consumer.acknowledge(through: 8)
            try await consumer.acknowledge(through: 3)
            #expect(try await consumer.position() == 8)
            // 10 messages and the registration: the log ends at 11.
            try await consumer.acknowledge(through: 11)
            try await consumer.acknowledge(through: 8)
            #expect(try await consumer.position() == 11)
            let error = await #expect(throws: StoreError.self) { try await consumer.acknowledge(through: 12) }
            #expect(error?.code == .invalidArgument)
            #expect(try await consumer.position() == 11)
        }
    }

    @Test("a reset moves the checkpoint either way and is itself an event")
    func reset() async throws {
        try await withTemporaryStore { store in
            try await store.append(messages(10), to: .generate(), expectedVersion: .any)
            let consumer = try await store.consumer(named: "c", startingAt: .end)
            try await consumer.reset(to: 2, reason: "reprocess after a bug fix")
            #expect(try await consumer.position() == 2)
            let resets = try await allEvents(store, filter: EventFilter(types: [.consumerReset]))
            #expect(resets.count == 1)
            guard case .consumerReset(let reset) = resets.first?.event else {
                Issue.record("expected a reset event")
                return
            }
            #expect(reset == ConsumerReset(consumer: "c", from: 11, to: 2, reason: "reprocess after a bug fix"))
            let batch = try #require(
                try await consumer.nextBatch(filter: EventFilter(types: [.messageReceived]), wait: false)
            )
            #expect(batch.events.first?.sequence == 3)
            let error = await #expect(throws: StoreError.self) {
                try await store.resetConsumer("nobody", to: 1, reason: nil)
            }
            #expect(error?.code == .notFound)
        }
    }

    @Test("the checkpoint advances over events the consumer's filter skips")
    func skipsFiltered() async throws {
        try await withTemporaryStore { store in
            let consumer = try await store.consumer(named: "runs-only", startingAt: .beginning)
            try await store.append(messages(7), to: .generate(), expectedVersion: .any)
            let filter = EventFilter(types: [.runStarted])
            let batch = try #require(try await consumer.nextBatch(filter: filter, wait: false))
            #expect(batch.events.isEmpty)
            try await consumer.acknowledge(batch)
            #expect(try await consumer.position() == 8, "7 skipped messages and the registration event")
        }
    }

    @Test("consumers work on an empty log, a tiny one, and wait on an idle one")
    func smallLogs() async throws {
        try await withTemporaryStore { store in
            let consumer = try await store.consumer(named: "c", startingAt: .beginning)
            // The registration event is the only event; filtered out, the log is empty for it.
            let empty = try #require(
                try await consumer.nextBatch(filter: EventFilter(types: [.messageReceived]), wait: false)
            )
            #expect(empty.events.isEmpty)
            try await consumer.acknowledge(empty)
            let waiting = Task { try await consumer.nextBatch(filter: EventFilter(types: [.messageReceived])) }
            try await store.append(messages(1), to: .generate(), expectedVersion: .any)
            let batch = try #require(try await waiting.value)
            #expect(batch.events.map(\.sequence) == [2])
            try await consumer.acknowledge(batch)
            #expect(try await consumer.position() == 2)
        }
    }

    @Test("a consumer's own writes commit together with its checkpoint, or not at all")
    func exactlyOnce() async throws {
        try await withTemporaryStore { store in
            try await store.append(messages(6), to: .generate(), expectedVersion: .any)
            let consumer = try await store.consumer(named: "projector", startingAt: .beginning)
            try await store.acknowledge(consumer: "projector", through: 0) { tx in
                try tx.execute("CREATE TABLE IF NOT EXISTS seen (sequence INTEGER PRIMARY KEY)", [])
            }
            let batch = try #require(
                try await consumer.nextBatch(filter: EventFilter(types: [.messageReceived]), limit: 3)
            )
            struct Crash: Error {}
            await #expect(throws: Crash.self) {
                try await consumer.acknowledge(batch) { tx in
                    for event in batch.events {
                        try tx.execute("INSERT INTO seen VALUES (?)", [.integer(event.sequence.rawValue)])
                    }
                    throw Crash()
                }
            }
            #expect(try await consumer.position() == 0, "the failed batch moved nothing")
            try await consumer.acknowledge(batch) { tx in
                for event in batch.events {
                    try tx.execute("INSERT INTO seen VALUES (?)", [.integer(event.sequence.rawValue)])
                }
                let count = try tx.query("SELECT count(*) FROM seen", [])
                #expect(count == [[.integer(3)]])
            }
            #expect(try await consumer.position() == 3)
        }
    }

    @Test("a consumer's writes cannot touch the log, the projections or the transaction")
    func protectedTables() async throws {
        try await withTemporaryStore { store in
            try await store.append(messages(2), to: .generate(), expectedVersion: .any)
            let consumer = try await store.consumer(named: "c", startingAt: .beginning)
            for sql in [
                "INSERT INTO events (sequence) VALUES (99)", "DELETE FROM sessions",
                "UPDATE consumers SET position = 0",
                "DROP TABLE transcript", "COMMIT", "PRAGMA foreign_keys = OFF", "DROP VIEW usage_by_model",
                "CREATE TABLE asm_search (x)", "CREATE VIEW asm_mine AS SELECT 1",
            ] {
                let error = await #expect(throws: StoreError.self) {
                    try await consumer.acknowledge(ConsumerBatch(consumer: "c", events: [], through: 2)) { tx in
                        try tx.execute(sql, [])
                    }
                }
                #expect(error?.code == .sqlite, "\(sql)")
            }
            #expect(try await consumer.position() == 0)
            #expect(try await store.verify().isIntact)
        }
    }

    @Test("one live instance per consumer: a second store is refused until the first lets go", arguments: Backend.all)
    func oneLiveInstance(backend: Backend) async throws {
        try await backend.withTwoStores { first, second in
            try await first.append(messages(4), to: .generate(), expectedVersion: .noStream)
            let here = try await first.consumer(named: "indexer", startingAt: .beginning)
            let there = try await second.consumer(named: "indexer", startingAt: .beginning)

            // Iterating claims it: the other store can neither claim nor acknowledge.
            var iterator = here.batches(limit: 2).makeAsyncIterator()
            let batch = try #require(try await iterator.next())
            #expect(batch.events.count == 2)
            let refused = await #expect(throws: StoreError.self) { try await there.claim() }
            #expect(refused?.code == .consumerBusy)
            #expect(refused?.description.contains("indexer") == true)
            let refusedAck = await #expect(throws: StoreError.self) {
                try await there.acknowledge(through: SequenceNumber(3))
            }
            #expect(refusedAck?.code == .consumerBusy)
            #expect(try await second.consumerPosition("indexer") == 0, "a refused acknowledgement moves nothing")
            let otherLoop = await #expect(throws: StoreError.self) {
                var elsewhere = there.batches().makeAsyncIterator()
                _ = try await elsewhere.next()
            }
            #expect(otherLoop?.code == .consumerBusy)

            // The holder acknowledges; claiming again is free; another name is independent.
            try await here.acknowledge(batch)
            try await here.claim()
            #expect(try await second.consumerPosition("indexer") == batch.through)
            try await second.consumer(named: "other", startingAt: .beginning).claim()

            // Once the holder lets go, the other store takes over and goes on from the checkpoint.
            await here.release()
            try await there.claim()
            let next = try #require(try await there.nextBatch(limit: 10, wait: false))
            #expect(next.events.first?.sequence == batch.through.next)
            try await there.acknowledge(next)
            let refusedBack = await #expect(throws: StoreError.self) { try await here.acknowledge(through: .zero) }
            #expect(refusedBack?.code == .consumerBusy)
            await there.release()
            try await here.acknowledge(through: next.through)  // nobody runs it: an acknowledgement may
            withExtendedLifetime(iterator) {}
        }
    }

    @Test("consumer names are validated and unknown consumers are not found")
    func names() async throws {
        try await withTemporaryStore { store in
            for name in ["", String(repeating: "n", count: 129), "bad\u{07}name"] {
                let error = await #expect(throws: StoreError.self) {
                    _ = try await store.consumer(named: name, startingAt: .end)
                }
                #expect(error?.code == .invalidArgument)
            }
            let error = await #expect(throws: StoreError.self) { _ = try await store.consumerPosition("missing") }
            #expect(error?.code == .notFound)
            _ = try await store.consumer(named: "a", startingAt: .end)
            _ = try await store.consumer(named: "b", startingAt: .beginning)
            let statuses = try await store.consumers()
            #expect(statuses.map(\.name) == ["a", "b"])
            #expect(statuses.map(\.lag) == [1, 2])
        }
    }

    @Test("batches keep their own cursor, so an unacknowledged loop still moves on")
    func batchSequence() async throws {
        try await withTemporaryStore { store in
            let consumer = try await store.consumer(named: "c", startingAt: .beginning)
            try await store.append(messages(25), to: .generate(), expectedVersion: .any)
            var sequences: [Int64] = []
            for try await batch in consumer.batches(filter: EventFilter(types: [.messageReceived]), limit: 10) {
                sequences += batch.events.map(\.sequence.rawValue)
                if sequences.count == 25 { break }
            }
            #expect(sequences == Array(2...26))
            #expect(try await consumer.position() == 0)
        }
    }
}
