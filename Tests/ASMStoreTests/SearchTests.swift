import ASMCore
import ASMStore
import AgentSessionManagerTesting
import Testing

/// Full-text search: a projection kept in the append's transaction, on every backend.
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
        "words, prefixes, sessions and types; hits name sequence, session, run and type; never behind the log",
        arguments: Backend.all
    )
    func search(backend: Backend) async throws {
        try await backend.withStore { store in
            let (first, second, one, two) = try await Self.history(store)

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

            // Rebuilt from the log, the index answers the same.
            let before = try await store.search(try SearchQuery("billing"))
            _ = try await store.rebuildProjections()
            #expect(try await store.search(try SearchQuery("billing")) == before)
        }
    }

    @Test("a query without words, or a limit below one, is refused")
    func invalid() {
        #expect(throws: SearchQuery.Invalid.self) { try SearchQuery("  *** -- ") }
        #expect(throws: SearchQuery.Invalid.self) { try SearchQuery("word", limit: 0) }
        let query = try? SearchQuery("Deploy, billing* now")
        #expect(query?.terms.map(\.word) == ["deploy", "billing", "now"])
        #expect(query?.terms.map(\.isPrefix) == [false, true, false])
    }

    @Test("diacritics fold on SQLite; an expunged message is found no more")
    func sqliteOnly() async throws {
        try await withTemporaryStore { store in
            _ = try await Self.history(store)
            #expect(try await store.search(try SearchQuery("resume cafe")).map(\.sequence.rawValue) == [6])
            try await store.expunge([SequenceNumber(2)], reason: "test", by: "ada")
            #expect(Set(try await store.search(try SearchQuery("billing")).map(\.sequence.rawValue)) == [1, 4, 5, 7])
            #expect(try await store.search(try SearchQuery("flag")).isEmpty)
        }
    }
}
