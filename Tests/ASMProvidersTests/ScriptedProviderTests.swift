import ASMCore
import ASMProviders
import ASMStore
import FoundationEssentials
import Testing

/// The scripted provider: the same event semantics as the real adapters, deterministically.
struct ScriptedProviderTests {
    private func collect(
        _ provider: ScriptedProvider,
        _ request: ProviderRequest,
        onEvent: (ProviderEvent) async -> Void = { _ in }
    )
        async -> [ProviderEvent]
    {
        var events: [ProviderEvent] = []
        for await event in provider.execute(request) {
            events.append(event)
            await onEvent(event)
        }
        return events
    }

    private func terminals(_ events: [ProviderEvent]) -> Int { events.count { $0.isTerminal } }

    @Test("a script plays as start, deltas, message, tool call, usage and one completion")
    func plays() async {
        let provider = ScriptedProvider(
            script: ProviderScript(
                [
                    .text("Let me look.", chunks: 3),
                    .toolCall(name: "Bash", input: ["command": "ls"], output: "README.md"),
                    .usage(TokenUsage(input: 100, output: 10)),
                    .text("There is a README."),
                    .usage(TokenUsage(input: 150, output: 8, cacheRead: 90), reportedCostUSD: 0.002),
                ],
                providerSessionID: "thread-1",
                tools: ["Bash"]
            )
        )
        let events = await collect(provider, ProviderRequest(runID: .generate(), prompt: "What is here?"))

        #expect(
            events.first
                == .started(
                    RunStarted(
                        provider: "scripted",
                        model: "scripted-1",
                        providerSessionID: "thread-1",
                        tools: ["Bash"]
                    )
                )
        )
        let deltas = events.compactMap { event -> String? in
            if case .streamed(let streamed) = event { return streamed.delta }
            return nil
        }
        #expect(deltas == ["Let ", "me l", "ook.", "There is a README."])
        #expect(
            events.contains(.toolStarted(ToolCallStarted(callID: "call_1", name: "Bash", input: ["command": "ls"])))
        )
        #expect(
            events.contains(
                .toolCompleted(ToolCallCompleted(callID: "call_1", name: "Bash", output: "README.md", isError: false))
            )
        )
        // Usage deltas add up to the run total; the total is never a delta.
        let usage = events.compactMap { event -> TokenUsageUpdated? in
            if case .usage(let usage) = event { return usage }
            return nil
        }
        #expect(
            usage.map(\.total) == [
                TokenUsage(input: 100, output: 10), TokenUsage(input: 250, output: 18, cacheRead: 90),
            ]
        )
        #expect(usage.last?.reportedCostUSD == 0.002)
        #expect(
            events.last
                == .completed(
                    RunCompleted(
                        outputText: "There is a README.",
                        stopReason: "end_turn",
                        providerSessionID: "thread-1"
                    )
                )
        )
        #expect(terminals(events) == 1)
    }

    @Test("the responder sees the request, and every request is kept")
    func respondsToRequest() async {
        let provider = ScriptedProvider { request in
            .reply("You said: \(request.messages.last?.content ?? "")", chunks: 1)
        }
        let run = RunID.generate()
        var request = ProviderRequest(runID: run, prompt: "hello")
        request.model = "big-model"
        request.resumeSessionID = "earlier-thread"
        let events = await collect(provider, request)
        #expect(
            events.first
                == .started(RunStarted(provider: "scripted", model: "big-model", providerSessionID: "earlier-thread"))
        )
        #expect(events.contains(.received(MessageReceived(role: .assistant, content: "You said: hello"))))
        #expect(provider.receivedRequests == [request])
    }

    @Test("a failure first fails before the run starts; later, after it")
    func failures() async {
        let auth = RunFailure(kind: .authentication, message: "Not logged in")
        let early = await collect(
            ScriptedProvider(script: ProviderScript([.fail(auth)])),
            ProviderRequest(runID: .generate(), prompt: "hi")
        )
        #expect(early == [.failed(RunFailed(failure: auth))])

        let overloaded = RunFailure(kind: .overloaded, message: "API Error: 529 overloaded", httpStatus: 529)
        let late = await collect(
            ScriptedProvider(script: ProviderScript([.text("Work"), .fail(overloaded), .text("never")])),
            ProviderRequest(runID: .generate(), prompt: "hi")
        )
        guard case .started = late.first else {
            Issue.record("expected a start first, got \(late)")
            return
        }
        #expect(late.last == .failed(RunFailed(failure: overloaded)))
        #expect(!late.contains(.received(MessageReceived(role: .assistant, content: "never"))))
        #expect(terminals(late) == 1)
    }

    @Test("a crash ends like a process that exited without a result")
    func crash() async {
        let events = await collect(
            ScriptedProvider(
                script: ProviderScript([.text("Half"), .crash(exitCode: 1, stderr: "panic: out of memory")])
            ),
            ProviderRequest(runID: .generate(), prompt: "hi")
        )
        #expect(
            events.last
                == .failure(
                    .processExited,
                    "scripted exited with code 1 without a result",
                    exitCode: 1,
                    stderr: "panic: out of memory"
                )
        )
    }

    @Test("a hung run is cancelled on request, with the reason")
    func cancelHang() async {
        let provider = ScriptedProvider(script: ProviderScript([.text("Thinking"), .hang]))
        let request = ProviderRequest(runID: .generate(), prompt: "hi")
        let events = await collect(provider, request) { event in
            if case .received = event { await provider.cancel(request.runID, reason: .requested) }
        }
        #expect(events.last == .cancelled(RunCancelled(reason: .requested, message: "scripted stopped when asked")))
        #expect(terminals(events) == 1)
    }

    @Test("a cancel during a delay stops the script there")
    func cancelDuringDelay() async {
        let provider = ScriptedProvider(script: ProviderScript([.text("one"), .delay(.seconds(60)), .text("three")]))
        let request = ProviderRequest(runID: .generate(), prompt: "hi")
        let events = await collect(provider, request) { event in
            if case .received(let message) = event, message.content == "one" {
                await provider.cancel(request.runID, reason: .policy)
            }
        }
        #expect(events.last == .cancelled(RunCancelled(reason: .policy, message: "scripted stopped when asked")))
        #expect(!events.contains(.received(MessageReceived(role: .assistant, content: "three"))))
    }

    @Test("deadline and idle timeout end a hung or slow script with a timeout failure")
    func timeouts() async {
        var hung = ProviderRequest(runID: .generate(), prompt: "hi")
        hung.deadline = .milliseconds(30)
        let deadline = await collect(ScriptedProvider(script: ProviderScript([.text("a"), .hang])), hung)
        #expect(deadline.last == .failure(.timeout, "the run's deadline of 30 ms passed"))

        var quiet = ProviderRequest(runID: .generate(), prompt: "hi")
        quiet.idleTimeout = .milliseconds(30)
        let idle = await collect(
            ScriptedProvider(script: ProviderScript([.text("a"), .delay(.seconds(60)), .text("b")])),
            quiet
        )
        #expect(idle.last == .failure(.timeout, "scripted wrote nothing for 30 ms"))
    }

    @Test("stopping the iteration ends the run")
    func consumerLeaves() async throws {
        let provider = ScriptedProvider(script: ProviderScript([.text("a"), .hang]))
        let request = ProviderRequest(runID: .generate(), prompt: "hi")
        for await event in provider.execute(request) {
            if case .started = event { break }
        }
        // A cancel for a run that is gone is ignored.
        await provider.cancel(request.runID, reason: .requested)
    }

    @Test(
        "a capture replays through its decoder exactly as the real CLI's output would",
        // Captures of the host permission protocol need a host answering: the process tests run them.
        arguments: Capture.all.filter { !$0.asks }
    )
    func replaysCaptures(_ capture: Capture) async throws {
        let data = try #require(FileManager.default.contents(atPath: capture.path))
        let script: ProviderScript =
            switch capture.provider {
            case "claude": .replaying(data, decoder: ClaudeStreamDecoder(), outcome: capture.outcome)
            case "codex":
                .replaying(
                    data,
                    decoder: CodexStreamDecoder(model: capture.model, baseline: capture.baseline),
                    outcome: capture.outcome
                )
            default: .replaying(data, decoder: AmpStreamDecoder(), outcome: capture.outcome)
            }
        let events = await collect(
            ScriptedProvider(name: capture.provider, script: script),
            ProviderRequest(runID: .generate(), prompt: "hi")
        )
        #expect(eventLines(events) == eventLines(capture.decode()))
        #expect(terminals(events) == 1)
    }

    @Test("a replay with line delays honours the idle timeout")
    func replayTiming() async throws {
        let data = try #require(FileManager.default.contents(atPath: "\(fixtures)/providers/claude-text.jsonl"))
        var request = ProviderRequest(runID: .generate(), prompt: "hi")
        request.idleTimeout = .milliseconds(20)
        let provider = ScriptedProvider(
            name: "claude",
            script: .replaying(data, decoder: ClaudeStreamDecoder(), lineDelay: .seconds(30))
        )
        let events = await collect(provider, request)
        #expect(events == [.failure(.timeout, "claude wrote nothing for 20 ms")])
    }
}
