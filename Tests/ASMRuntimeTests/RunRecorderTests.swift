import ASMCore
import ASMProviders
import ASMRuntime
import ASMStore
import AgentSessionManagerTesting
import Synchronization
import Testing

/// Recording provider runs in the log.
struct RunRecorderTests {
    private func types(_ envelopes: [EventEnvelope]) -> [String] { envelopes.map { $0.event.type.rawValue } }

    @Test("a run is recorded as request, user message, every provider event and one terminal event; projections follow")
    func recordsCompletedRun() async throws {
        try await withTemporaryStore { store in
            let recorder = RunRecorder(store: store)
            let session = try await recorder.startSession(agentID: "reviewer", tags: ["t"])
            let provider = ScriptedProvider(
                script: ProviderScript([
                    .text("Let me look.", chunks: 2),
                    .toolCall(name: "Bash", input: ["command": "ls"], output: "README.md"),
                    .usage(TokenUsage(input: 100, output: 20, cacheRead: 50), reportedCostUSD: 0.01),
                    .text("A README."),
                ], providerSessionID: "thread-9"))
            var request = ProviderRequest(runID: .generate(), prompt: "What is here?")
            request.model = "m1"
            request.environment = ["SECRET_TOKEN": "hunter2-secret-value"]
            let seen = EventCounter()
            let run = try await recorder.record(request, provider: provider, in: session.id, metadata: ["ticket": "42"]) { _ in
                seen.add()
            }

            #expect(run.status == .completed)
            #expect(run.outputText == "A README.")
            #expect(run.providerSessionID == "thread-9")
            #expect(run.usage == TokenUsage(input: 100, output: 20, cacheRead: 50))
            #expect(run.reportedCostUSD == 0.01)

            let events = try await store.stream(session.id.stream, fromVersion: StreamVersion(1), limit: 100)
            #expect(types(events) == [
                "session.created", "session.activated", "run.requested", "message.received", "run.started",
                "message.streamed", "message.streamed", "message.received", "tool_call.started", "tool_call.completed",
                "token_usage.updated", "message.streamed", "message.received", "run.completed",
            ])
            #expect(run.eventsWritten == events.count - session.eventsWritten)
            #expect(seen.value == events.count - session.eventsWritten - 2)
            #expect(events.dropFirst(2).allSatisfy { $0.runID == request.runID })
            #expect(run.firstSequence == events[2].sequence && run.lastSequence == events.last?.sequence)
            guard case .runRequested(let requested) = events[2].event else {
                Issue.record("expected the request third")
                return
            }
            #expect(requested.provider == "scripted" && requested.model == "m1" && requested.metadata == ["ticket": "42"])

            // The environment reaches the provider, never the log.
            #expect(provider.receivedRequests.first?.environment["SECRET_TOKEN"] == "hunter2-secret-value")
            let page = try await store.recordedEvents(from: .zero, limit: 1000, filter: EventFilter())
            #expect(!page.events.contains { String(decoding: $0.payload, as: UTF8.self).contains("hunter2") })

            let summary = try #require(try await store.run(request.runID))
            #expect(summary.status == .completed && summary.provider == "scripted" && summary.providerSessionID == "thread-9")
            let transcript = try await store.transcript(of: session.id)
            #expect(transcript.map(\.content) == ["What is here?", "Let me look.", "A README."])
            let usage = try await store.usage(by: .run, session: session.id)
            #expect(usage.first?.tokens == TokenUsage(input: 100, output: 20, cacheRead: 50))
            #expect(usage.first?.reportedCostNanoUSD == 10_000_000)
        }
    }

    @Test("failed and cancelled runs are recorded with their reasons")
    func recordsFailures() async throws {
        try await withTemporaryStore { store in
            let recorder = RunRecorder(store: store)
            let session = try await recorder.startSession(agentID: "a")

            let limited = RunFailure(kind: .rateLimited, message: "API Error: 429", httpStatus: 429)
            let failed = try await recorder.record(
                ProviderRequest(runID: .generate(), prompt: "one"),
                provider: ScriptedProvider(script: ProviderScript([.text("partial"), .fail(limited)])), in: session.id)
            #expect(failed.status == .failed && failed.failure == limited)
            let failedRow = try #require(try await store.run(failed.runID))
            #expect(failedRow.status == .failed && failedRow.failureKind == .rateLimited)

            let hanging = ScriptedProvider(script: ProviderScript([.text("thinking"), .hang]))
            let request = ProviderRequest(runID: .generate(), prompt: "two")
            let cancelled = try await recorder.record(request, provider: hanging, in: session.id) { event in
                if case .received = event { await hanging.cancel(request.runID, reason: .requested) }
            }
            #expect(cancelled.status == .cancelled && cancelled.cancelReason == .requested)
            let cancelledRow = try #require(try await store.run(request.runID))
            #expect(cancelledRow.status == .cancelled && cancelledRow.cancelReason == .requested)

            let missing = try await recorder.record(
                ProviderRequest(runID: .generate(), prompt: "three"),
                provider: CommandLineProvider(dialect: ClaudeCode(), configuration: .init(executable: "/nonexistent/claude")),
                in: session.id)
            #expect(missing.status == .failed && missing.failure?.kind == .missingBinary)
            #expect(try await store.runs(in: session.id).map(\.status) == [.failed, .cancelled, .failed])
        }
    }

    @Test("a provider whose events end without a terminal event still ends the run, as invalid output")
    func providerWithoutTerminal() async throws {
        try await withTemporaryStore { store in
            let recorder = RunRecorder(store: store)
            let session = try await recorder.startSession(agentID: "a")
            let run = try await recorder.record(
                ProviderRequest(runID: .generate(), prompt: "x"), provider: EndlessProvider(), in: session.id)
            #expect(run.status == .failed && run.failure?.kind == .invalidOutput)
            #expect(try await store.run(run.runID)?.status == .failed)
        }
    }

    @Test("a burst of deltas is written whole and in order, in fewer transactions than events")
    func burst() async throws {
        try await withTemporaryStore { store in
            let recorder = RunRecorder(store: store)
            let session = try await recorder.startSession(agentID: "a")
            let text = String(repeating: "abcdefghij", count: 200)
            let before = store.committedTransactions
            let run = try await recorder.record(
                ProviderRequest(runID: .generate(), prompt: "x"),
                provider: ScriptedProvider(script: ProviderScript([.text(text, chunks: 500)])), in: session.id)
            let events = try await store.events(from: .zero, limit: 10_000, filter: EventFilter(run: run.runID)).events
            let deltas = events.compactMap { envelope -> String? in
                if case .messageStreamed(let streamed) = envelope.event { return streamed.delta }
                return nil
            }
            #expect(deltas.count == 500 && deltas.joined() == text)
            #expect(run.eventsWritten == events.count)
            #expect(store.committedTransactions - before < events.count)
        }
    }

    @Test("when the log stops accepting writes, the provider is stopped and the error is thrown")
    func writeFailureStopsProvider() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let store = try SQLiteEventStore(path: directory.file("asm.sqlite"))
        let recorder = RunRecorder(store: store)
        let session = try await recorder.startSession(agentID: "a")
        let provider = ScriptedProvider(script: ProviderScript([.text("a"), .hang]))
        let request = ProviderRequest(runID: .generate(), prompt: "x")
        await #expect(throws: StoreError.self) {
            _ = try await recorder.record(request, provider: provider, in: session.id) { event in
                if case .started = event { await store.close() }
            }
        }
    }
}

/// Counts callbacks.
private final class EventCounter: Sendable {
    private let count = Mutex(0)
    func add() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}

/// A provider that breaks the contract: its events end without a terminal event.
private struct EndlessProvider: ProviderAdapter {
    var name: String { "broken" }
    var capabilities: ProviderCapabilities {
        ProviderCapabilities(streamsText: false, reportsToolCalls: false, resumesNatively: false, interrupts: false, toolGate: .observeOnly)
    }
    func execute(_ request: ProviderRequest) -> ProviderEventStream {
        .finished([.started(RunStarted(provider: "broken")), .received(MessageReceived(role: .assistant, content: "hi"))])
    }
    func cancel(_ run: RunID, reason: CancelReason) async {}
}
