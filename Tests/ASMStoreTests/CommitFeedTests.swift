import ASMCore
import ASMStore
import AgentSessionManagerTesting
import Synchronization
import Testing

/// Observing this process's commits: exactly what readers will read, refused batches left out.
@Suite struct CommitFeedTests {
    final class Observed: Sendable {
        let envelopes = Mutex<[EventEnvelope]>([])
        func add(_ batch: [EventEnvelope]) { envelopes.withLock { $0 += batch } }
        var all: [EventEnvelope] { envelopes.withLock { $0 } }
    }

    @Test("an observer sees every committed event as the log stores it, in order, and nothing refused")
    func observesCommits() async throws {
        try await withTemporaryStore { store in
            let observed = Observed()
            let observation = try #require(store.observeCommits { observed.add($0) })
            let stream = StreamID.generate()
            // Concurrent appends are grouped into shared transactions; one of them is refused.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<4 {
                    group.addTask {
                        for round in 0..<25 {
                            try await store.append(
                                messages(1 + (round + writer) % 4, prefix: "w\(writer)-"),
                                to: .generate(),
                                expectedVersion: .noStream
                            )
                        }
                    }
                }
                group.addTask {
                    try await store.append(messages(2), to: stream, expectedVersion: .noStream)
                    await #expect(throws: StoreError.self) {
                        try await store.append(messages(3), to: stream, expectedVersion: .noStream)
                    }
                }
                try await group.waitForAll()
            }
            let logged = try await allEvents(store)
            #expect(observed.all == logged)
            #expect(observed.all.map(\.sequence.rawValue) == Array(1...Int64(logged.count)))

            observation.cancel()
            try await store.append(messages(1), to: .generate(), expectedVersion: .any)
            #expect(observed.all.count == logged.count, "a cancelled observation sees nothing more")
        }
    }
}

extension CommitFeedTests {
    @Test("a waiter whose coverage moves with the commits it is handed wakes only for a commit beyond it")
    func movingCoverage() async {
        let covered = Mutex<Int64>(5)
        let (added, registered) = AsyncStream.makeStream(of: Void.self)
        let signal = CommitSignal(onWaiterAdded: { registered.yield() })
        signal.publish(SequenceNumber(5))
        let coverage: @Sendable () -> SequenceNumber = { SequenceNumber(covered.withLock { $0 }) }
        let waiter = Task { await signal.wait(afterCovered: coverage) }
        var additions = added.makeAsyncIterator()
        await additions.next()
        // Sequence 6 reached the waiter's owner another way before it was published.
        covered.withLock { $0 = 6 }
        signal.publish(SequenceNumber(6))
        #expect(signal.hasWaiters, "a commit the waiter already has does not wake it")
        signal.publish(SequenceNumber(7))
        #expect(!signal.hasWaiters)
        #expect(await waiter.value)
        // Coverage behind what is published: no wait at all.
        covered.withLock { $0 = 3 }
        #expect(await signal.wait(afterCovered: coverage))
        #expect(!signal.hasWaiters)
    }
}
