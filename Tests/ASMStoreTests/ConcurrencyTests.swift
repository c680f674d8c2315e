import ASMCore
import ASMStore
import AgentSessionManagerTesting
import Dispatch
import Testing

@Suite struct ConcurrencyTests {
    @Test(
        "many tasks appending to one stream with expected versions: no lost or doubled versions",
        arguments: Backend.all
    )
    func oneStream(backend: Backend) async throws {
        try await backend.withStore { store in
            let stream = StreamID.generate()
            let writers = 8
            let batchesPerWriter = 15
            let conflicts = try await withThrowingTaskGroup(of: Int.self) { group in
                for writer in 0..<writers {
                    group.addTask {
                        var conflicts = 0
                        for batch in 0..<batchesPerWriter {
                            let events = messages(1 + (writer + batch) % 3, prefix: "w\(writer)b\(batch)-")
                            // Optimistic concurrency: read the version, append expecting it, retry on conflict.
                            while true {
                                let version = try await store.streamVersion(of: stream)
                                do {
                                    let result = try await store.append(
                                        events,
                                        to: stream,
                                        expectedVersion: .exact(version)
                                    )
                                    #expect(result.firstVersion.rawValue == version.rawValue + 1)
                                    break
                                } catch let error as StoreError where error.code == .versionConflict {
                                    conflicts += 1
                                }
                            }
                        }
                        return conflicts
                    }
                }
                return try await group.reduce(0, +)
            }
            let events = try await allEvents(store)
            let expectedCount = (0..<writers).flatMap { w in (0..<batchesPerWriter).map { 1 + (w + $0) % 3 } }.reduce(
                0,
                +
            )
            #expect(events.count == expectedCount)
            #expect(events.map(\.streamVersion.rawValue) == Array(1...Int64(expectedCount)))
            #expect(events.map(\.sequence.rawValue) == Array(1...Int64(expectedCount)))
            // Each batch is contiguous: its events carry consecutive positions.
            var batches: [String: [Int64]] = [:]
            for event in events {
                guard case .messageReceived(let message) = event.event else { continue }
                let key = String(message.content.prefix { $0 != "-" })
                batches[key, default: []].append(event.sequence.rawValue)
            }
            for (key, positions) in batches {
                #expect(positions == Array(positions[0]...(positions[0] + Int64(positions.count) - 1)), "\(key)")
            }
            #expect(try await store.verify().isIntact)
            _ = conflicts
        }
    }

    @Test("concurrent appends to many streams are all committed, each batch whole", arguments: Backend.all)
    func manyStreams(backend: Backend) async throws {
        try await backend.withStore { store in
            let streams = (0..<10).map { _ in StreamID.generate() }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for (index, stream) in streams.enumerated() {
                    group.addTask {
                        var expected = ExpectedVersion.noStream
                        for round in 0..<20 {
                            let result = try await store.append(
                                messages(1 + (index + round) % 5),
                                to: stream,
                                expectedVersion: expected
                            )
                            #expect(
                                result.lastSequence.rawValue - result.firstSequence.rawValue == result.lastVersion
                                    .rawValue - result.firstVersion.rawValue
                            )
                            expected = .exact(result.lastVersion)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let events = try await allEvents(store)
            #expect(events.map(\.sequence.rawValue) == Array(1...Int64(events.count)))
            for stream in streams {
                let versions = events.filter { $0.stream == stream }.map(\.streamVersion.rawValue)
                #expect(versions == Array(1...Int64(versions.count)))
            }
            #expect(try await store.verify().isIntact)
        }
    }

    @Test("appends made while a commit is in flight are grouped into one shared transaction")
    func groupCommit() async throws {
        var configuration = SQLiteEventStore.Configuration()
        configuration.inlineCommits = false  // commits run on the writer's queue, so one can be held open
        try await withTemporaryStore(configuration: configuration) { store in
            _ = try await store.consumer(named: "gate", startingAt: .beginning)
            let gate = DispatchSemaphore(value: 0)
            let (entered, announce) = AsyncStream<Void>.makeStream()
            // A write that holds the writer inside its transaction until released.
            let held = Task {
                try await store.acknowledge(consumer: "gate", through: 0) { _ in
                    announce.yield()
                    gate.wait()
                }
            }
            for await _ in entered { break }
            let before = store.committedTransactions
            let appends = Task {
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for _ in 0..<200 {
                        group.addTask {
                            try await store.append(messages(2), to: .generate(), expectedVersion: .noStream)
                        }
                    }
                    try await group.waitForAll()
                }
            }
            while store.pendingWrites < 200 { await Task.yield() }
            gate.signal()
            try await held.value
            try await appends.value
            // The held transaction, then all 200 appends together.
            #expect(store.committedTransactions - before == 2)
            #expect(try await store.lastSequence() == 401)
            #expect(try await store.verify().isIntact)
        }
    }

    @Test("in a shared commit, one batch's conflict does not touch the others")
    func isolationInGroup() async throws {
        var configuration = SQLiteEventStore.Configuration()
        configuration.inlineCommits = false  // every append joins a group on the writer queue
        try await withTemporaryStore(configuration: configuration) { store in
            let contested = StreamID.generate()
            try await store.append(messages(1), to: contested, expectedVersion: .noStream)
            let outcomes = try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<40 {
                    group.addTask {
                        let stream = index % 2 == 0 ? contested : StreamID.generate()
                        do {
                            try await store.append(messages(3), to: stream, expectedVersion: .exact(1))
                            return true
                        } catch let error as StoreError where error.code == .versionConflict {
                            return false
                        }
                    }
                }
                return try await group.reduce(into: [Bool]()) { $0.append($1) }
            }
            // Exactly one append to the contested stream can win; the 20 to fresh streams
            // expected version 1 of streams that have none, so they all conflict.
            #expect(outcomes.filter { $0 }.count == 1)
            #expect(try await store.streamVersion(of: contested) == 4)
            #expect(try await store.lastSequence() == 4)
            #expect(try await store.verify().isIntact)
        }
    }
}
