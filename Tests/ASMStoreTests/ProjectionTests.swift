import ASMCore
import ASMStore
import AgentSessionManagerTesting
import Testing

@Suite struct ProjectionTests {
    @Test("sessions, runs, transcript and usage follow a scripted history", arguments: Backend.all)
    func scripted(backend: Backend) async throws {
        try await backend.withStore { store in
            let session = SessionID.generate()
            let first = RunID.generate()
            let second = RunID.generate()
            try await store.append(
                [
                    NewEvent(SessionCreated(agentID: "reviewer", metadata: ["team": "core"], tags: ["nightly"])),
                    NewEvent(SessionActivated()),
                    NewEvent(
                        RunRequested(
                            messages: [ChatMessage(role: .user, content: "hi")],
                            provider: "claude",
                            model: "sonnet"
                        ),
                        run: first
                    ),
                    NewEvent(MessageReceived(role: .user, content: "hi"), run: first),
                    NewEvent(RunStarted(provider: "claude", model: "sonnet-4", providerSessionID: "s-1"), run: first),
                    NewEvent(MessageReceived(role: .assistant, content: "hello"), run: first),
                    NewEvent(
                        TokenUsageUpdated(
                            delta: TokenUsage(input: 10, output: 5, cacheRead: 100),
                            total: TokenUsage(input: 10, output: 5, cacheRead: 100),
                            costNanoUSD: 1_500,
                            reportedCostUSD: 0.25
                        ),
                        run: first
                    ),
                    NewEvent(
                        TokenUsageUpdated(
                            delta: TokenUsage(input: 1, output: 2),
                            total: TokenUsage(input: 11, output: 7, cacheRead: 100),
                            costNanoUSD: 500,
                            reportedCostUSD: 0.5
                        ),
                        run: first
                    ),
                    NewEvent(RunCompleted(outputText: "hello", providerSessionID: "s-1b"), run: first),
                ],
                to: session.stream,
                expectedVersion: .noStream
            )
            try await store.append(
                [
                    NewEvent(RunStarted(provider: "codex", model: "gpt"), run: second),
                    NewEvent(
                        TokenUsageUpdated(
                            provider: "codex",
                            model: "gpt",
                            delta: TokenUsage(input: 7, reasoning: 3),
                            total: TokenUsage(input: 7, reasoning: 3),
                            costNanoUSD: 70
                        ),
                        run: second
                    ),
                    NewEvent(
                        RunFailed(failure: RunFailure(kind: .rateLimited, message: "slow down", httpStatus: 429)),
                        run: second
                    ),
                    NewEvent(RunCancelled(reason: .requested), run: second),  // after the end: ignored
                    NewEvent(SessionFailed(reason: "gave up")),
                ],
                to: session.stream,
                expectedVersion: .exact(9)
            )

            let summary = try #require(try await store.session(session))
            #expect(
                summary.agentID == "reviewer" && summary.metadata == ["team": "core"] && summary.tags == ["nightly"]
            )
            #expect(summary.status == .failed && summary.failureReason == "gave up")
            #expect(summary.runCount == 2 && summary.eventCount == 14 && summary.version == 14)
            #expect(summary.firstSequence == 1 && summary.lastSequence == 14)

            let runs = try await store.runs(in: session)
            #expect(runs.map(\.id) == [first, second])
            #expect(runs[0].status == .completed && runs[0].provider == "claude" && runs[0].model == "sonnet-4")
            #expect(runs[0].providerSessionID == "s-1b" && runs[0].endSequence == 9 && runs[0].startedAt != nil)
            #expect(
                runs[1].status == .failed && runs[1].failureKind == .rateLimited
                    && runs[1].failureMessage == "slow down"
            )
            #expect(runs[1].cancelReason == nil, "the first terminal fact wins")
            #expect(try await store.run(second)?.firstSequence == 10)

            let transcript = try await store.transcript(of: session)
            #expect(transcript.map(\.content) == ["hi", "hello"])
            #expect(transcript.map(\.role) == [.user, .assistant])
            #expect(transcript.map(\.provider) == ["claude", "claude"])
            #expect(transcript.map(\.runID) == [first, first])

            let byRun = try await store.usage(by: .run, session: session)
            #expect(byRun.count == 2)
            let claude = try #require(byRun.first { $0.runID == first })
            #expect(claude.tokens == TokenUsage(input: 11, output: 7, cacheRead: 100))
            #expect(claude.costNanoUSD == 2_000 && claude.reportedCostNanoUSD == 500_000_000)
            #expect(claude.provider == "claude" && claude.model == "sonnet-4")
            let byProvider = try await store.usage(by: .provider, session: nil)
            #expect(byProvider.map(\.provider) == ["claude", "codex"])
            #expect(byProvider[1].tokens.reasoning == 3 && byProvider[1].costNanoUSD == 70)
            let bySession = try await store.usage(by: .session, session: nil)
            #expect(bySession.count == 1 && bySession[0].runs == 2 && bySession[0].tokens.input == 18)
        }
    }

    @Test("sessions list most recent activity first, filtered by status")
    func sessionList() async throws {
        try await withTemporaryStore { store in
            var ids: [SessionID] = []
            for index in 0..<3 {
                let id = SessionID.generate()
                ids.append(id)
                try await store.append(
                    NewEvent(SessionCreated(agentID: "a\(index)")),
                    to: id.stream,
                    expectedVersion: .noStream
                )
            }
            try await store.append(NewEvent(SessionActivated()), to: ids[0].stream)
            #expect(try await store.sessions(status: nil, limit: 10).map(\.id) == [ids[0], ids[2], ids[1]])
            #expect(try await store.sessions(status: .active, limit: 10).map(\.id) == [ids[0]])
            #expect(try await store.sessions(status: nil, limit: 1).count == 1)
            #expect(try await store.session(.generate()) == nil)
        }
    }

    /// The projection tables as plain rows, for comparing inline upkeep with a rebuild.
    private func tables(_ path: String) throws -> [String: [[DatabaseValue]]] {
        let connection = try Connection(path: path, mode: .readWrite)
        defer { connection.close() }
        var result: [String: [[DatabaseValue]]] = [:]
        for (table, key) in [
            ("sessions", "session_id"), ("runs", "run_id"), ("transcript", "session_id, sequence"),
            ("usage", "run_id, provider, model"), ("projection_checkpoints", "name"),
        ] {
            result[table] = try connection.query("SELECT * FROM \(table) ORDER BY \(key)")
        }
        return result
    }

    @Test(
        "rebuilt projections equal the ones kept inline, over long random histories",
        arguments: [UInt64(1), 77, 4242]
    )
    func rebuildEqualsInline(seed: UInt64) async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        let store = try SQLiteEventStore(path: path)
        try await SampleHistory(seed: seed, sessions: 30, events: 3_000).append(to: store)
        let inline = try tables(path)
        #expect((inline["transcript"]?.count ?? 0) > 100, "the history exercises the transcript")
        #expect((inline["usage"]?.count ?? 0) > 20, "and usage")
        let report = try await store.rebuildProjections()
        #expect(report.events == Int(try await store.lastSequence().rawValue))
        let rebuilt = try tables(path)
        for table in inline.keys.sorted() {
            #expect(inline[table] == rebuilt[table], "seed \(seed): \(table) differs after a rebuild")
        }
        await store.close()
    }

    @Test("a writer rebuilds projections whose checkpoint or version does not match the log")
    func staleProjectionsRebuiltOnOpen() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        let store = try SQLiteEventStore(path: path)
        try await SampleHistory(seed: 9, sessions: 5, events: 300).append(to: store)
        await store.close()
        let expected = try tables(path)
        let connection = try Connection(path: path, mode: .readWrite)
        try connection.execute(
            "DELETE FROM transcript; DELETE FROM runs; UPDATE projection_checkpoints SET version = 0 WHERE name = 'runs'"
        )
        connection.close()
        let reopened = try SQLiteEventStore(path: path)
        await reopened.close()
        #expect(try tables(path) == expected)
    }
}

extension ProjectionTests {
    @Test(
        "a fork is a session of its own that names its parent and fork point, both ways, and survives a rebuild",
        arguments: Backend.all
    )
    func forks(backend: Backend) async throws {
        try await backend.withStore { store in
            let parent = SessionID.generate()
            try await store.append(
                [
                    NewEvent(SessionCreated(agentID: "planner", metadata: ["team": "core"], tags: ["nightly"])),
                    NewEvent(SessionActivated()),
                    NewEvent(MessageReceived(role: .user, content: "before")),
                ],
                to: parent.stream,
                expectedVersion: .noStream
            )
            var children: [SessionID] = []
            for point in [SequenceNumber(2), SequenceNumber(3)] {
                let child = SessionID.generate()
                try await store.append(
                    [
                        NewEvent(
                            SessionForked(
                                parentSessionID: parent,
                                forkedAt: point,
                                agentID: "planner",
                                metadata: ["team": "core"],
                                tags: ["nightly"]
                            )
                        ),
                        NewEvent(SessionActivated()),
                    ],
                    to: child.stream,
                    expectedVersion: .noStream
                )
                children.append(child)
            }
            let forked = children
            func tree() async throws -> [SessionFork?] {
                try await store.read { snapshot in
                    var tree = [try snapshot.fork(of: parent)]
                    for child in forked { tree.append(try snapshot.fork(of: child)) }
                    for fork in try snapshot.forks(from: parent) { tree.append(fork) }
                    return tree
                }
            }
            let forks = try await tree()
            #expect(forks[0] == nil, "the parent is no fork")
            #expect(forks[1] == SessionFork(sessionID: children[0], parentSessionID: parent, forkedAt: 2, sequence: 4))
            #expect(forks[2] == SessionFork(sessionID: children[1], parentSessionID: parent, forkedAt: 3, sequence: 6))
            #expect(Array(forks[3...]) == [forks[1], forks[2]], "the parent's forks, oldest first")
            let child = try #require(try await store.session(children[0]))
            #expect(child.agentID == "planner" && child.status == .active && child.tags == ["nightly"])
            #expect(child.metadata == ["team": "core"] && child.firstSequence == 4)
            _ = try await store.rebuildProjections()
            #expect(try await tree() == forks)
        }
    }

    @Test(
        "a session started under another names its parent, run and tool call, both ways, and survives a rebuild",
        arguments: Backend.all
    )
    func parents(backend: Backend) async throws {
        try await backend.withStore { store in
            let (parent, subAgent, toolWork) = (SessionID.generate(), SessionID.generate(), SessionID.generate())
            let run = RunID.generate()
            try await store.append(
                [NewEvent(SessionCreated(agentID: "lead")), NewEvent(RunRequested(messages: []), run: run)],
                to: parent.stream,
                expectedVersion: .noStream
            )
            try await store.append(
                [NewEvent(SessionCreated(agentID: "researcher", parentSessionID: parent, parentRunID: run))],
                to: subAgent.stream,
                expectedVersion: .noStream
            )
            try await store.append(
                [
                    NewEvent(
                        SessionCreated(
                            agentID: "coder",
                            parentSessionID: parent,
                            parentRunID: run,
                            parentCallID: "toolu_7"
                        )
                    )
                ],
                to: toolWork.stream,
                expectedVersion: .noStream
            )
            func links() async throws -> [SessionParent?] {
                try await store.read { snapshot in
                    [
                        try snapshot.parent(of: parent), try snapshot.parent(of: subAgent),
                        try snapshot.parent(of: toolWork),
                    ]
                        + (try snapshot.children(of: parent)).map { $0 }
                        + (try snapshot.children(of: subAgent)).map { $0 }
                }
            }
            let found = try await links()
            let sub = SessionParent(
                sessionID: subAgent,
                parentSessionID: parent,
                parentRunID: run,
                parentCallID: nil,
                sequence: 3
            )
            let tool = SessionParent(
                sessionID: toolWork,
                parentSessionID: parent,
                parentRunID: run,
                parentCallID: "toolu_7",
                sequence: 4
            )
            #expect(found == [nil, sub, tool, sub, tool], "the parent has none; its children oldest first")
            #expect(sub.relation == .subAgent && tool.relation == .toolCall)
            #expect(try await store.session(toolWork)?.agentID == "coder")
            _ = try await store.rebuildProjections()
            #expect(try await links() == found)
        }
    }
}
