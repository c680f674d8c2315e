import ASMCore
import ASMStore
import AgentSessionManagerTesting
import Dispatch
import Testing

@Suite struct ReadTests {
    @Test("pages cover the log exactly once, whatever the page size", arguments: Backend.all)
    func paging(backend: Backend) async throws {
        try await backend.withStore { store in
            try await SampleHistory(seed: 3, sessions: 5, events: 250).append(to: store)
            let last = try await store.lastSequence()
            for size in [1, 7, 100, 1000] {
                var seen: [Int64] = []
                var cursor = SequenceNumber(1)
                while true {
                    let page = try await store.events(from: cursor, limit: size, filter: .all)
                    seen.append(contentsOf: page.events.map(\.sequence.rawValue))
                    if page.events.count < size {
                        #expect(page.scannedThrough == last)
                        break
                    }
                    #expect(page.scannedThrough == page.events.last?.sequence)
                    cursor = page.scannedThrough.next
                }
                #expect(seen == Array(1...last.rawValue), "page size \(size)")
            }
        }
    }

    @Test("filters by type, session and run return exactly the matching events, in order", arguments: Backend.all)
    func filters(backend: Backend) async throws {
        try await backend.withStore { store in
            let history = SampleHistory(seed: 5, sessions: 4, events: 400)
            try await history.append(to: store)
            let everything = try await allEvents(store)
            let session = everything[everything.count / 2].stream
            let run = try #require(everything.last { $0.runID != nil && $0.stream == session }?.runID)
            let filters: [EventFilter] = [
                EventFilter(types: [.messageReceived]), EventFilter(types: [.runStarted, .runFailed, "future.fact"]),
                EventFilter(stream: session), EventFilter(run: run),
                EventFilter(types: [.messageReceived], stream: session),
                EventFilter(types: [.tokenUsageUpdated], run: run), EventFilter(stream: .generate()),
                EventFilter(stream: .generate(), run: run),
            ]
            for filter in filters {
                let expected = everything.filter { filter.matches(type: $0.type, stream: $0.stream, run: $0.runID) }
                let pagedSmall = try await collect(store, filter: filter, pageSize: 3)
                #expect(pagedSmall.map(\.sequence) == expected.map(\.sequence), "\(filter)")
                #expect(try await allEvents(store, filter: filter).map(\.sequence) == expected.map(\.sequence))
            }
        }
    }

    @Test("a snapshot read sees one point of the log while others append", arguments: Backend.all)
    func snapshot(backend: Backend) async throws {
        try await backend.withStore { store in
            let history = SampleHistory(seed: 7, sessions: 2, events: 60)
            try await history.append(to: store)
            let session = try #require(try await allEvents(store).last?.stream)
            let firstRead = DispatchSemaphore(value: 0)
            let appended = DispatchSemaphore(value: 0)
            // The body runs on the readers' queue, so it may block while the test appends.
            let reading = Task {
                try await store.read { snapshot in
                    let before = try snapshot.lastSequence()
                    let streamBefore = try snapshot.stream(session, fromVersion: StreamVersion(1), limit: 1000).count
                    firstRead.signal()
                    appended.wait()
                    let after = try snapshot.lastSequence()
                    let page = try snapshot.events(from: before.next, limit: 10, filter: .all)
                    let streamAfter = try snapshot.stream(session, fromVersion: StreamVersion(1), limit: 1000).count
                    return (before, after, page.events.count, streamBefore, streamAfter)
                }
            }
            await withCheckedContinuation { continuation in
                DispatchQueue.global().async {
                    firstRead.wait()
                    continuation.resume()
                }
            }
            let landed = try await store.append(
                NewEvent(MessageReceived(role: .user, content: "later")),
                to: session,
                expectedVersion: .any
            )
            appended.signal()
            let (before, after, newer, streamBefore, streamAfter) = try await reading.value
            #expect(after == before)
            #expect(newer == 0)
            #expect(streamAfter == streamBefore)
            #expect(landed.lastSequence > before)
            #expect(try await store.lastSequence() == landed.lastSequence)
        }
    }

    private func collect(_ store: some EventStore, filter: EventFilter, pageSize: Int) async throws -> [EventEnvelope] {
        var result: [EventEnvelope] = []
        var cursor = SequenceNumber(1)
        let last = try await store.lastSequence()
        while true {
            let page = try await store.events(from: cursor, limit: pageSize, filter: filter)
            result.append(contentsOf: page.events)
            // Filtered pages still move the cursor over what they skipped.
            #expect(page.scannedThrough >= cursor || page.events.isEmpty)
            if page.events.count < pageSize {
                #expect(page.scannedThrough == last)
                return result
            }
            cursor = page.scannedThrough.next
        }
    }

    @Test("a stream reads from a version, in order", arguments: Backend.all)
    func streamReads(backend: Backend) async throws {
        try await backend.withStore { store in
            let a = StreamID.generate()
            let b = StreamID.generate()
            for round in 0..<5 {
                try await store.append(messages(3, prefix: "a\(round)-"), to: a, expectedVersion: .any)
                try await store.append(messages(2, prefix: "b\(round)-"), to: b, expectedVersion: .any)
            }
            let fromSix = try await store.stream(a, fromVersion: 6, limit: 100)
            #expect(fromSix.map(\.streamVersion.rawValue) == Array(6...15))
            #expect(fromSix.allSatisfy { $0.stream == a })
            #expect(try await store.stream(a, fromVersion: 1, limit: 4).count == 4)
            #expect(try await store.stream(.generate(), fromVersion: 1, limit: 4).isEmpty)
            #expect(try await store.streamVersion(of: b) == 10)
        }
    }

    @Test("stored events read back exactly as written: header, type, version, payload bytes, hash")
    func recorded() async throws {
        try await withTemporaryStore { store in
            let session = SessionID.generate()
            let run = RunID.generate()
            let event = NewEvent(RunStarted(provider: "claude", model: "sonnet"), run: run)
            let result = try await store.append(event, to: session.stream)
            let page = try await store.recordedEvents(from: 1, limit: 10, filter: .all)
            let recorded = try #require(page.events.first)
            #expect(recorded.id == event.id && recorded.runID == run && recorded.stream == session.stream)
            #expect(recorded.type == .runStarted && recorded.schemaVersion == 1 && recorded.streamVersion == 1)
            #expect(recorded.recordedAt == result.recordedAt)
            #expect(recorded.payloadText == #"{"model":"sonnet","provider":"claude"}"#)
            #expect(recorded.decoded().event == event.event)
        }
    }

    @Test("a read limit must be positive")
    func limits() async throws {
        try await withTemporaryStore { store in
            let error = await #expect(throws: StoreError.self) {
                try await store.events(from: 1, limit: 0, filter: .all)
            }
            #expect(error?.code == .invalidArgument)
        }
    }
}
