import Testing
import ASMCore
import ASMStore
import AgentSessionManagerTesting

@Test func smoke() async throws {
    try await withTemporaryStore { store in
        let session = SessionID.generate()
        let run = RunID.generate()
        let r1 = try await store.append([
            NewEvent(SessionCreated(agentID: "agent", metadata: ["b": "2", "a": "1"], tags: ["t"])),
            NewEvent(SessionActivated()),
            NewEvent(RunRequested(messages: [ChatMessage(role: .user, content: "hi")]), run: run),
            NewEvent(RunStarted(provider: "scripted", model: "m1"), run: run),
            NewEvent(MessageReceived(role: .assistant, content: "hello"), run: run),
            NewEvent(TokenUsageUpdated(delta: TokenUsage(input: 5, output: 7), total: TokenUsage(input: 5, output: 7), costNanoUSD: 1234), run: run),
            NewEvent(RunCompleted(outputText: "hello"), run: run),
        ], to: session.stream, expectedVersion: .noStream)
        print(r1)
        let page = try await store.events(from: .zero, limit: 100, filter: .all)
        for e in page.events { print(e.sequence, e.type, e.streamVersion, e.hash) }
        print(try await store.session(session) as Any)
        print(try await store.runs(in: session))
        print(try await store.transcript(of: session))
        print(try await store.usage(by: .provider))
        let v = try await store.verify()
        print(v)
        #expect(v.isIntact)
        do {
            _ = try await store.append([NewEvent(SessionActivated())], to: session.stream, expectedVersion: .exact(3))
            Issue.record("expected conflict")
        } catch let e as StoreError {
            print(e)
        }
        let rebuilt = try await store.rebuildProjections()
        print(rebuilt)
        print(try await store.session(session) as Any)
    }
}
