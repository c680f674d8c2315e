import ASMCore
import ASMStore
import AgentSessionManagerTesting
import Testing

/// Full-text search: an index a log turns on, then kept in every append's transaction, on every backend.
@Suite struct SearchTests {
    private static func message(_ text: String, run: RunID, role: MessageRole = .assistant) -> NewEvent {
        NewEvent(MessageReceived(role: role, content: text), run: run)
    }

    /// Two sessions: messages, a tool call with its input and output, a failure.
    private static func history(_ store: any EventStore) async throws -> (SessionID, SessionID, RunID, RunID) {
        let (first, second) = (SessionID.generate(), SessionID.generate())
        let (one, two) = (RunID.generate(), RunID.generate())
        try await store.append(
            [
                message("Deploy the billing service to staging", run: one, role: .user),
                message("I will deploy billing now. Billing is deployed behind a flag.", run: one),
                NewEvent(MessageStreamed(delta: "streamed billing pieces are not indexed"), run: one),
                NewEvent(
                    ToolCallStarted(callID: "c1", name: "Bash", input: ["command": "kubectl rollout restart billing"]),
                    run: one
                ),
                NewEvent(
                    ToolCallCompleted(callID: "c1", name: "Bash", output: "deployment.apps/billing restarted"),
                    run: one
                ),
            ],
            to: first.stream,
            expectedVersion: .noStream
        )
        try await store.append(
            [
                message("Résumé of the café incident", run: two, role: .user),
                NewEvent(
                    RunFailed(failure: RunFailure(kind: .overloaded, message: "upstream overloaded during billing")),
                    run: two
                ),
            ],
            to: second.stream,
            expectedVersion: .noStream
        )
        return (first, second, one, two)
    }

    @Test(
        "off until turned on; then words, prefixes, sessions and types, never behind the log, rebuilt equal",
        arguments: Backend.all
    )
    func search(backend: Backend) async throws {
        try await backend.withStore { store in
            let (first, second, one, two) = try await Self.history(store)

            // A log starts without the index: a search says so, the status says off.
            #expect(try await store.searchIndex() == SearchIndexStatus(isOn: false, indexedEvents: 0))
            let off = await #expect(throws: StoreError.self) { try await store.search(try SearchQuery("billing")) }
            #expect(off?.code == .noSearchIndex)

            // Turning it on indexes what is already logged (6 events with text; the delta has none).
            #expect(try await store.setSearchIndex(true) == SearchIndexStatus(isOn: true, indexedEvents: 6))
            #expect(try await store.setSearchIndex(true) == SearchIndexStatus(isOn: true, indexedEvents: 6))

            let billing = try await store.search(try SearchQuery("billing"))
            #expect(Set(billing.map(\.sequence.rawValue)) == [1, 2, 4, 5, 7], "every event holding the word, no delta")
            #expect(billing.first?.sequence == SequenceNumber(2), "the message that says it three times ranks first")
            let hit = try #require(billing.first { $0.sequence == SequenceNumber(4) })
            #expect(hit.sessionID == first && hit.runID == one && hit.type == .toolCallStarted)
            #expect(hit.snippet.contains("[billing]"))

            #expect(
                try await store.search(try SearchQuery("deploy billing")).map(\.sequence.rawValue).sorted() == [1, 2]
            )
            #expect(try await store.search(try SearchQuery("deploy*")).map(\.sequence.rawValue).sorted() == [1, 2, 5])
            #expect(try await store.search(try SearchQuery("kubectl rollout")).map(\.type) == [.toolCallStarted])
            #expect(
                try await store.search(try SearchQuery("billing", session: second)).map { $0.runID } == [two],
                "only the second session"
            )
            #expect(
                try await store.search(try SearchQuery("billing", types: [.toolCallCompleted, .runFailed]))
                    .map(\.sequence.rawValue).sorted() == [5, 7]
            )
            #expect(try await store.search(try SearchQuery("billing", limit: 2)).count == 2)
            #expect(try await store.search(try SearchQuery("nowhere")).isEmpty)
            #expect(try await store.search(try SearchQuery("incident")).map(\.sequence.rawValue) == [6])

            // A new event is found as soon as its append returns.
            try await store.append(
                [Self.message("a zeppelin appears", run: two)],
                to: second.stream,
                expectedVersion: .any
            )
            #expect(try await store.search(try SearchQuery("zeppelin")).map(\.sequence.rawValue) == [8])
            #expect(try await store.searchIndex() == SearchIndexStatus(isOn: true, indexedEvents: 7))

            // Rebuilt from the log, the index answers the same.
            let before = try await store.search(try SearchQuery("billing"))
            _ = try await store.rebuildProjections()
            #expect(try await store.search(try SearchQuery("billing")) == before)

            // Off drops it (the log keeps every event); on again indexes everything, later events included.
            #expect(try await store.setSearchIndex(false) == SearchIndexStatus(isOn: false, indexedEvents: 0))
            try await store.append(
                [Self.message("a second zeppelin while the index is off", run: two)],
                to: second.stream,
                expectedVersion: .any
            )
            await #expect(throws: StoreError.self) { try await store.search(try SearchQuery("zeppelin")) }
            #expect(try await store.lastSequence() == SequenceNumber(9))
            #expect(try await store.setSearchIndex(true) == SearchIndexStatus(isOn: true, indexedEvents: 8))
            #expect(try await store.search(try SearchQuery("zeppelin")).map(\.sequence.rawValue).sorted() == [8, 9])
        }
    }

    @Test(
        "turned on by one store, the index is kept by another's appends (another process or host)",
        arguments: Backend.all
    )
    func keptByEveryWriter(backend: Backend) async throws {
        try await backend.withTwoStores { first, second in
            let session = SessionID.generate()
            let run = RunID.generate()
            try await second.append(
                [Self.message("before the index", run: run)],
                to: session.stream,
                expectedVersion: .noStream
            )
            _ = try await first.setSearchIndex(true)
            try await second.append(
                [Self.message("after the index: quokka", run: run)],
                to: session.stream,
                expectedVersion: .any
            )
            #expect(try await first.search(try SearchQuery("quokka")).map(\.sequence.rawValue) == [2])
            #expect(try await second.search(try SearchQuery("index")).map(\.sequence.rawValue).sorted() == [1, 2])
        }
    }

    @Test("a query without words, or a limit below one, is refused")
    func invalid() {
        #expect(throws: SearchQuery.Invalid.self) { try SearchQuery("  *** -- ") }
        #expect(throws: SearchQuery.Invalid.self) { try SearchQuery("word", limit: 0) }
        let query = try? SearchQuery("Deploy, billing* now")
        #expect(query?.terms.map(\.word) == ["deploy", "billing", "now"])
        #expect(query?.terms.map(\.isPrefix) == [false, true, false])
        // A letter that joins the quote after it into one character: the quote still separates.
        let joined = try? SearchQuery("\u{0D4E}\"x'y")
        #expect(joined?.terms.map(\.word) == ["\u{0D4E}", "x", "y"])
    }

    @Test("a query whose characters join letters with quotes or operators finds, never fails", arguments: Backend.all)
    func quotesNeverReachTheQueryLanguage(backend: Backend) async throws {
        try await backend.withStore { store in
            _ = try await Self.history(store)
            _ = try await store.setSearchIndex(true)
            for text in ["\u{0D4E}\" billing", "\u{0D4E}' billing", "\u{0D4E}& billing", "billing\u{0D4E}|"] {
                #expect(try await store.search(try SearchQuery(text)).isEmpty, "\(text)")
            }
        }
    }

    @Test("diacritics fold on SQLite; an expunged message is found no more")
    func sqliteOnly() async throws {
        try await withTemporaryStore { store in
            _ = try await Self.history(store)
            _ = try await store.setSearchIndex(true)
            #expect(try await store.search(try SearchQuery("resume cafe")).map(\.sequence.rawValue) == [6])
            try await store.expunge([SequenceNumber(2)], reason: "test", by: "ada")
            #expect(Set(try await store.search(try SearchQuery("billing")).map(\.sequence.rawValue)) == [1, 4, 5, 7])
            #expect(try await store.search(try SearchQuery("flag")).isEmpty)
            #expect(try await store.searchIndex().indexedEvents == 5)
        }
    }
}
