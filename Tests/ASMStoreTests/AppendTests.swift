import ASMCore
import ASMStore
import AgentSessionManagerTesting
import Testing

/// The append contract every backend must honour.
@Suite struct AppendTests {
    @Test("a batch lands contiguously, in order, with stream versions from 1", arguments: Backend.all)
    func contiguous(backend: Backend) async throws {
        try await backend.withStore { store in
            let session = SessionID.generate()
            let result = try await store.append(messages(3), to: session.stream, expectedVersion: .noStream)
            #expect(result.firstSequence == 1 && result.lastSequence == 3)
            #expect(result.firstVersion == 1 && result.lastVersion == 3)
            #expect(!result.wasAlreadyCommitted)
            let events = try await allEvents(store)
            #expect(events.map(\.sequence.rawValue) == [1, 2, 3])
            #expect(events.map(\.streamVersion.rawValue) == [1, 2, 3])
            #expect(events.map(\.event) == messages(3).map(\.event))
        }
    }

    @Test(
        "expected versions are checked against the stream",
        arguments: Backend.all,
        [
            (ExpectedVersion.any, true), (.noStream, false), (.streamExists, true), (.exact(2), true),
            (.exact(1), false), (.exact(3), false), (.exact(.none), false),
            // Others appended after version 1, but none of the named types: accepted.
            (.noneSince(1, types: [.sessionCompleted, .sessionArchived]), true),
            (.noneSince(1, types: [.messageReceived]), false), (.noneSince(2, types: [.messageReceived]), true),
            (.noneSince(3, types: []), false),
        ]
    )
    func expectedVersion(backend: Backend, check: (expected: ExpectedVersion, accepted: Bool)) async throws {
        let (expected, accepted) = check
        try await backend.withStore { store in
            let stream = StreamID.generate()
            try await store.append(messages(2), to: stream, expectedVersion: .noStream)
            if accepted {
                let result = try await store.append(messages(1), to: stream, expectedVersion: expected)
                #expect(result.lastVersion == 3)
            } else {
                let error = await #expect(throws: StoreError.self) {
                    try await store.append(messages(1), to: stream, expectedVersion: expected)
                }
                #expect(error?.code == .versionConflict)
                #expect(error?.stream == stream)
                #expect(try await store.streamVersion(of: stream) == 2, "a conflict writes nothing")
            }
        }
    }

    @Test("a stream that does not exist satisfies noStream and exact(0), not streamExists", arguments: Backend.all)
    func emptyStream(backend: Backend) async throws {
        try await backend.withStore { store in
            let error = await #expect(throws: StoreError.self) {
                try await store.append(messages(1), to: .generate(), expectedVersion: .streamExists)
            }
            #expect(error?.code == .versionConflict)
            try await store.append(messages(1), to: .generate(), expectedVersion: .exact(.none))
            try await store.append(messages(1), to: .generate(), expectedVersion: .noStream)
            #expect(try await store.lastSequence() == 2)
        }
    }

    @Test("retrying a committed batch returns its original positions and writes nothing", arguments: Backend.all)
    func idempotentRetry(backend: Backend) async throws {
        try await backend.withStore { store in
            let stream = StreamID.generate()
            try await store.append(messages(2, prefix: "before"), to: stream, expectedVersion: .noStream)
            let batch = messages(3)
            let first = try await store.append(batch, to: stream, expectedVersion: .exact(2))
            try await store.append(messages(1, prefix: "after"), to: stream, expectedVersion: .exact(5))
            // The retry's expected version is stale; it must still be recognized as the same batch.
            let retry = try await store.append(batch, to: stream, expectedVersion: .exact(2))
            #expect(retry.wasAlreadyCommitted)
            #expect(retry.firstSequence == first.firstSequence && retry.lastSequence == first.lastSequence)
            #expect(retry.firstVersion == first.firstVersion && retry.lastVersion == first.lastVersion)
            #expect(retry.recordedAt == first.recordedAt)
            #expect(try await store.lastSequence() == 6)
        }
    }

    @Test("a batch that repeats some committed ids, but not as that batch, is refused whole", arguments: Backend.all)
    func partialOverlap(backend: Backend) async throws {
        try await backend.withStore { store in
            let stream = StreamID.generate()
            let committed = messages(2)
            try await store.append(committed, to: stream, expectedVersion: .noStream)
            let cases: [[NewEvent]] = [
                messages(1) + [committed[0]],  // an old id in second place
                [committed[0], committed[1]] + messages(1),  // the old batch plus more
                [committed[1], committed[0]],  // the old events in another order
                [
                    NewEvent(id: committed[0].id, runID: nil, event: .sessionActivated(SessionActivated())),
                    committed[1],
                ],
            ]
            for batch in cases {
                let error = await #expect(throws: StoreError.self) {
                    try await store.append(batch, to: stream, expectedVersion: .any)
                }
                #expect(error?.code == .idempotencyConflict)
            }
            #expect(try await store.lastSequence() == 2)
            // Events that are all committed, contiguously and unchanged, are a retry.
            let tail = try await store.append([committed[1]], to: stream, expectedVersion: .any)
            #expect(tail.wasAlreadyCommitted && tail.firstSequence == 2)
        }
    }

    @Test("the same id in another stream is a conflict, not a retry", arguments: Backend.all)
    func idInOtherStream(backend: Backend) async throws {
        try await backend.withStore { store in
            let batch = messages(1)
            try await store.append(batch, to: .generate(), expectedVersion: .any)
            let error = await #expect(throws: StoreError.self) {
                try await store.append(batch, to: .generate(), expectedVersion: .any)
            }
            #expect(error?.code == .idempotencyConflict)
        }
    }

    @Test("invalid batches are refused before anything is written", arguments: Backend.all)
    func invalidBatches(backend: Backend) async throws {
        try await backend.withStore { store in
            let stream = StreamID.generate()
            try await store.append(messages(1), to: stream, expectedVersion: .noStream)
            func refused(_ batch: [NewEvent], _ code: StoreError.Code) async {
                let error = await #expect(throws: StoreError.self) {
                    try await store.append(batch, to: stream, expectedVersion: .any)
                }
                #expect(error?.code == code, "\(String(describing: error))")
            }
            await refused([], .invalidArgument)
            let repeated = messages(1)[0]
            await refused([repeated, repeated], .invalidArgument)
            func opaque(_ type: EventType, _ payload: [UInt8]) -> NewEvent {
                NewEvent(.opaque(OpaqueEvent(type: type, schemaVersion: 1, payload: payload)))
            }
            await refused(messages(2) + [opaque("x.y", Array("{not json".utf8))], .invalidEvent)
            await refused(
                messages(2) + [opaque("x.y", [0x7B, 0x22, 0xC3, 0x28, 0x22, 0x3A, 0x31, 0x7D])],
                .invalidEvent
            )
            await refused(messages(2) + [opaque("x.y", Array("[1,2]".utf8))], .invalidEvent)
            await refused(messages(2) + [opaque("Not A Type", Array("{}".utf8))], .invalidEvent)
            let nan = NewEvent(TokenUsageUpdated(delta: .zero, total: .zero, reportedCostUSD: .nan))
            await refused(messages(2) + [nan], .invalidEvent)
            #expect(try await store.lastSequence() == 1)
            #expect(try await store.verify().isIntact)
        }
    }

    @Test("an event over the size limit is refused, and none of its batch is written")
    func tooLarge() async throws {
        var configuration = SQLiteEventStore.Configuration()
        configuration.maximumEventBytes = 1000
        try await withTemporaryStore(configuration: configuration) { store in
            let big = NewEvent(MessageReceived(role: .user, content: String(repeating: "x", count: 1000)))
            let error = await #expect(throws: StoreError.self) {
                try await store.append(messages(3) + [big], to: .generate(), expectedVersion: .any)
            }
            #expect(error?.code == .eventTooLarge)
            #expect(error?.description.contains("limit is 1000") == true)
            #expect(try await store.lastSequence() == .zero)
            let fits = NewEvent(MessageReceived(role: .user, content: String(repeating: "x", count: 900)))
            try await store.append(fits, to: .generate())
        }
    }

    @Test("payloads of several MiB are stored and read back when the limit allows")
    func largePayloads() async throws {
        var configuration = SQLiteEventStore.Configuration()
        configuration.maximumEventBytes = 8 << 20
        try await withTemporaryStore(configuration: configuration) { store in
            let content = String(repeating: "0123456789abcdef", count: 4 << 16)  // 4 MiB
            try await store.append(NewEvent(MessageReceived(role: .assistant, content: content)), to: .generate())
            let read = try await allEvents(store)
            #expect(read.count == 1)
            guard case .messageReceived(let message) = read.first?.event else {
                Issue.record("expected a message")
                return
            }
            #expect(message.content == content)
        }
    }

    @Test("events of unknown types are stored and read back whole", arguments: Backend.all)
    func opaqueRoundTrip(backend: Backend) async throws {
        try await backend.withStore { store in
            let payload = Array(#"{"a":[1,{"b":null}],"ünï":"cödé"}"#.utf8)
            let event = OpaqueEvent(type: "vendor.new_fact", schemaVersion: 4, payload: payload)
            try await store.append(NewEvent(.opaque(event)), to: .generate())
            let read = try #require(try await allEvents(store).first)
            #expect(
                read.event
                    == .opaque(
                        OpaqueEvent(type: "vendor.new_fact", schemaVersion: 4, payload: payload, reason: .unknownType)
                    )
            )
            let recorded = try await store.recordedEvents(from: 1, limit: 1, filter: .all).events[0]
            #expect(recorded.payload == payload && recorded.schemaVersion == 4)
        }
    }

    @Test("the sequence is gap-free and recording times never go backwards, even when the clock does")
    func monotonic() async throws {
        let clock = ManualClock()
        var configuration = SQLiteEventStore.Configuration()
        configuration.clock = clock
        try await withTemporaryStore(configuration: configuration) { store in
            let stream = StreamID.generate()
            try await store.append(messages(2), to: stream, expectedVersion: .any)
            clock.advance(by: .seconds(-60))
            try await store.append(messages(2), to: stream, expectedVersion: .any)
            clock.advance(by: .seconds(120))
            try await store.append(messages(2), to: stream, expectedVersion: .any)
            let events = try await allEvents(store)
            #expect(events.map(\.sequence.rawValue) == Array(1...6))
            let times = events.map(\.recordedAt)
            #expect(times == times.sorted())
            #expect(times[2] == times[1], "a clock that went back records the previous time")
            #expect(times[4] > times[3])
        }
    }

    @Test("every appended event links into a hash chain that verifies", arguments: Backend.all)
    func chain(backend: Backend) async throws {
        try await backend.withStore { store in
            try await SampleHistory(seed: 11, sessions: 4, events: 300).append(to: store)
            let report = try await store.verify()
            #expect(report.isIntact)
            #expect(report.eventsChecked == Int(try await store.lastSequence().rawValue))
            let last = try await allEvents(store).last
            #expect(report.head == last?.hash)
        }
    }

    @Test("appending to a closed store fails with closed")
    func closed() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(path: directory.file("x.sqlite"))
        await store.close()
        let error = await #expect(throws: StoreError.self) {
            try await store.append(messages(1), to: .generate(), expectedVersion: .any)
        }
        #expect(error?.code == .closed)
    }

    @Test("a breaker change derived from a state another change of that provider has superseded is refused, whole")
    func staleBreakerChange() async throws {
        try await withTemporaryStore { store in
            func change(_ provider: String, since: Int64) -> NewEvent {
                NewEvent(
                    ProviderHealthChanged(
                        provider: provider,
                        previous: "closed",
                        current: "open",
                        reason: "1 consecutive failure",
                        consecutiveFailures: 1,
                        stateSequence: SequenceNumber(since)
                    )
                )
            }
            let first = SessionID.generate()
            let second = SessionID.generate()
            try await store.append(messages(2), to: first.stream, expectedVersion: .noStream)
            try await store.append(messages(2), to: second.stream, expectedVersion: .noStream)
            // Both derived from the state through sequence 4; the first one in wins.
            try await store.append([change("claude", since: 4)], to: first.stream, expectedVersion: .any)
            var refused: StoreError?
            do {
                try await store.append(
                    messages(1) + [change("claude", since: 4)],
                    to: second.stream,
                    expectedVersion: .any
                )
            } catch let error as StoreError {
                refused = error
            }
            #expect(refused?.code == .staleBreakerChange)
            #expect(refused?.description.contains("the breaker of claude changed at sequence 5") == true)
            #expect(try await store.lastSequence() == SequenceNumber(5), "nothing of the refused batch was written")
            // Another provider's change, or one derived from the state after the first, goes in.
            try await store.append([change("codex", since: 4)], to: second.stream, expectedVersion: .any)
            try await store.append([change("claude", since: 6)], to: second.stream, expectedVersion: .any)
            #expect(try await store.lastSequence() == SequenceNumber(7))
        }
    }
}
