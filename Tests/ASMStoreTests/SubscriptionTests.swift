import ASMCore
import ASMStore
import AgentSessionManagerTesting
import Testing

@Suite struct SubscriptionTests {
    @Test(
        "a subscription replays the backfill, then delivers live events, without gaps or repeats",
        arguments: Backend.all
    )
    func backfillThenLive(backend: Backend) async throws {
        try await backend.withStore { store in
            let stream = StreamID.generate()
            try await store.append(messages(250), to: stream, expectedVersion: .any)
            let total = 1_000
            let reader = Task {
                var sequences: [Int64] = []
                for try await envelope in store.subscribe(from: 1, pageSize: 64) {
                    sequences.append(envelope.sequence.rawValue)
                    if sequences.count == total { break }
                }
                return sequences
            }
            // Appends race the switch from backfill to live: several writers, batches of mixed size.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<3 {
                    group.addTask {
                        var written = 0
                        let share = writer == 0 ? 250 : 250
                        while written < share {
                            let size = min(share - written, 1 + (written * 7 + writer) % 9)
                            try await store.append(messages(size), to: .generate(), expectedVersion: .any)
                            written += size
                        }
                    }
                }
                try await group.waitForAll()
            }
            let sequences = try await reader.value
            #expect(sequences == Array(1...Int64(total)))
        }
    }

    @Test("a subscription started in the future waits, then starts exactly there")
    func startsInTheFuture() async throws {
        try await withTemporaryStore { store in
            let reader = Task {
                var first: SequenceNumber?
                for try await envelope in store.subscribe(from: 5) {
                    first = envelope.sequence
                    break
                }
                return first
            }
            for _ in 0..<6 { try await store.append(messages(1), to: .generate(), expectedVersion: .any) }
            #expect(try await reader.value == 5)
        }
    }

    @Test("a filtered subscription delivers only matching events and keeps going past others")
    func filtered() async throws {
        try await withTemporaryStore { store in
            let session = SessionID.generate()
            let reader = Task {
                var types: [EventType] = []
                for try await envelope in store.subscribe(
                    from: 1,
                    filter: EventFilter(types: [.runStarted], stream: session.stream)
                ) {
                    types.append(envelope.type)
                    if types.count == 2 { break }
                }
                return types
            }
            for round in 0..<20 {
                try await store.append(messages(5), to: .generate(), expectedVersion: .any)
                try await store.append(messages(2), to: session.stream, expectedVersion: .any)
                if round == 3 || round == 17 {
                    try await store.append(
                        NewEvent(RunStarted(provider: "p\(round)"), run: .generate()),
                        to: session.stream
                    )
                }
            }
            #expect(try await reader.value == [.runStarted, .runStarted])
        }
    }

    /// Subscribes in a task that reports each event it reads.
    private func reader(_ store: SQLiteEventStore) -> (Task<Int, any Error>, AsyncStream<Int>) {
        let (progress, report) = AsyncStream<Int>.makeStream()
        let task = Task {
            var count = 0
            defer { report.finish() }
            for try await _ in store.subscribe(from: 1) {
                count += 1
                report.yield(count)
            }
            return count
        }
        return (task, progress)
    }

    @Test("cancelling the consuming task ends the subscription")
    func cancellation() async throws {
        try await withTemporaryStore { store in
            try await store.append(messages(3), to: .generate(), expectedVersion: .any)
            let (task, progress) = reader(store)
            for await count in progress where count == 3 { break }
            task.cancel()
            #expect(try await task.value == 3)
        }
    }

    @Test("closing the store ends waiting subscriptions")
    func closing() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(path: directory.file("x.sqlite"))
        let (task, progress) = reader(store)
        try await store.append(messages(2), to: .generate(), expectedVersion: .any)
        for await count in progress where count == 2 { break }
        await store.close()
        switch await task.result {
        case .success(let count): #expect(count == 2)
        case .failure(let error): #expect((error as? StoreError)?.code == .closed)
        }
    }

    @Test("a subscriber that disconnects and resumes from its last sequence + 1 misses nothing")
    func resume() async throws {
        try await withTemporaryStore { store in
            let writer = Task {
                for _ in 0..<300 {
                    try await store.append(messages(Int.random(in: 1...4)), to: .generate(), expectedVersion: .any)
                }
            }
            var seen: [Int64] = []
            var cursor = SequenceNumber(1)
            var generator = SeededGenerator(seed: 99)
            while seen.count < 600 {
                // Read a random number of events, then drop the subscription.
                let take = Int.random(in: 1...40, using: &generator)
                var taken = 0
                for try await envelope in store.subscribe(
                    from: cursor,
                    pageSize: Int.random(in: 1...50, using: &generator)
                ) {
                    seen.append(envelope.sequence.rawValue)
                    cursor = envelope.sequence.next
                    taken += 1
                    if taken == take { break }
                }
            }
            try await writer.value
            #expect(seen == Array(1...Int64(seen.count)))
        }
    }
}
