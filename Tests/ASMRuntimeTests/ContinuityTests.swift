import ASMCore
import ASMProviders
import ASMRuntime
import ASMStore
import Testing

/// Continuing a conversation across runs, in every mode.
struct ContinuityTests {
    /// Run 1 establishes the code; run 2 asks for it in `mode`.
    private func secondRun(
        _ mode: ContinuationMode,
        provider: RememberingProvider
    ) async throws -> (first: RunResult, second: RunResult, applied: [ContinuationApplied], requests: [ProviderRequest])
    {
        var outcome: (RunResult, RunResult, [ContinuationApplied], [ProviderRequest])?
        try await withHarness([provider]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let first = try await h.manager.run(
                "Remember: the code is X-42.",
                in: session,
                options: RunOptions(provider: provider.name)
            )
            let second = try await h.manager.run(
                "What is the code?",
                in: session,
                options: RunOptions(provider: provider.name, continuation: mode)
            )
            let applied = try await h.events(of: second.runID).compactMap { envelope -> ContinuationApplied? in
                if case .continuationApplied(let applied) = envelope.event { return applied }
                return nil
            }
            outcome = (first, second, applied, provider.receivedRequests)
        }
        let (first, second, applied, requests) = try #require(outcome)
        return (first, second, applied, requests)
    }

    @Test("replay: the second prompt carries what the first run established")
    func replay() async throws {
        let (_, second, applied, requests) = try await secondRun(.replay, provider: RememberingProvider())
        #expect(second.outputText == "The code is X-42.")
        let request = try #require(requests.last)
        #expect(request.resumeSessionID == nil)
        #expect(
            request.messages.map(\.content) == [
                "Remember: the code is X-42.", "The code is X-42.", "What is the code?",
            ]
        )
        #expect(request.promptText.contains("X-42"))
        #expect(
            applied == [
                ContinuationApplied(
                    requested: "replay",
                    applied: "replay",
                    reason: "replaying 2 earlier messages",
                    messageCount: 2,
                    truncated: false
                )
            ]
        )
    }

    @Test("native: the second run resumes the first run's provider session, and the prompt is only the question")
    func native() async throws {
        let (first, second, applied, requests) = try await secondRun(.native, provider: RememberingProvider())
        let session = try #require(first.providerSessionID)
        #expect(requests.last?.resumeSessionID == session)
        #expect(requests.last?.messages.map(\.content) == ["What is the code?"])
        #expect(second.outputText == "The code is X-42.", "the provider remembered through its own session")
        #expect(second.providerSessionID == session)
        #expect(applied.map(\.applied) == ["native"] && applied.first?.providerSessionID == session)
        #expect(
            requests.last?.resumeUsageBaseline == TokenUsage(input: 100, output: 10),
            "the session's usage so far, for thread-cumulative providers"
        )
    }

    @Test("auto: native when the provider can resume, else replay")
    func auto() async throws {
        let resumable = try await secondRun(.auto, provider: RememberingProvider())
        #expect(resumable.applied.map(\.applied) == ["native"] && resumable.second.outputText == "The code is X-42.")
        let replaying = try await secondRun(.auto, provider: RememberingProvider(resumesNatively: false))
        #expect(replaying.applied.map(\.applied) == ["replay"] && replaying.second.outputText == "The code is X-42.")
        #expect(replaying.applied.first?.reason == "auto: memo cannot resume natively, replaying 2 earlier messages")
    }

    @Test("off: the second run knows nothing of the first")
    func off() async throws {
        let (_, second, applied, requests) = try await secondRun(.off, provider: RememberingProvider())
        #expect(second.outputText == "I do not know any code.")
        #expect(requests.last?.resumeSessionID == nil && requests.last?.messages.count == 1)
        #expect(applied.map(\.applied) == ["off"])
    }

    @Test("a resume that silently starts a fresh provider session is recorded")
    func freshSessionVisible() async throws {
        let (first, second, applied, _) = try await secondRun(
            .native,
            provider: RememberingProvider(ignoresResume: true)
        )
        #expect(second.outputText == "I do not know any code.")
        #expect(applied.map(\.applied) == ["native", "fresh"])
        #expect(
            applied.last?.reason
                == "memo started session \(second.providerSessionID ?? "") instead of resuming \(first.providerSessionID ?? "")"
        )
    }

    @Test("native with nothing to resume starts fresh, and says why")
    func nativeFirstRun() {
        let plan = ContinuationPlanner.plan(
            mode: .native,
            provider: "claude",
            resumesNatively: true,
            run: .generate(),
            transcript: [],
            priorRuns: []
        )
        #expect(plan.applied == .off)
        #expect(
            plan.reason == "native asked for, but no earlier claude session in this session to resume: starting fresh"
        )
    }

    // MARK: Truncation

    private func transcript(_ contents: [(MessageRole, String)]) -> [TranscriptEntry] {
        contents.enumerated().map { index, entry in
            TranscriptEntry(
                sequence: SequenceNumber(Int64(index + 1)),
                sessionID: SessionID(uuid: .zero),
                runID: RunID(uuid: .zero),
                role: entry.0,
                provider: "claude",
                content: entry.1
            )
        }
    }

    @Test(
        "replay keeps the newest turns within the limits, starting at a user message",
        arguments: [
            (ContinuationLimits(maxMessages: 3, maxCharacters: nil), ["q2", "a2"], true),
            (ContinuationLimits(maxMessages: 4, maxCharacters: nil), ["q1", "a1", "q2", "a2"], true),
            (ContinuationLimits(maxMessages: nil, maxCharacters: 6), ["q2", "a2"], true),
            (ContinuationLimits(maxMessages: nil, maxCharacters: 12), ["q1", "a1", "q2", "a2"], true),
            (ContinuationLimits(maxMessages: nil, maxCharacters: nil, maxApproximateTokens: 1), ["q2", "a2"], true),
            (
                ContinuationLimits(maxMessages: nil, maxCharacters: nil),
                ["q0 long question", "a0", "q1", "a1", "q2", "a2"], false
            ),
        ]
    )
    func truncation(limits: ContinuationLimits, kept: [String], truncated: Bool) {
        let entries = transcript([
            (.user, "q0 long question"), (.assistant, "a0"), (.user, "q1"), (.assistant, "a1"), (.user, "q2"),
            (.assistant, "a2"),
        ])
        // The last user message here belongs to no run; the next run is a different one.
        let plan = ContinuationPlanner.plan(
            mode: .replay,
            provider: "claude",
            resumesNatively: false,
            run: .generate(),
            transcript: entries,
            priorRuns: [],
            limits: limits
        )
        #expect(plan.history.map(\.content) == kept)
        #expect(plan.truncated == truncated)
        #expect(plan.event.messageCount == kept.count && plan.event.truncated == truncated)
        #expect(plan.reason.hasSuffix("older turns cut to fit") == truncated)
    }

    @Test("the run's own messages and other roles are not replayed")
    func replaySkipsOwnRun() {
        let run = RunID.generate()
        var entries = transcript([(.user, "earlier"), (.assistant, "answer"), (.system, "note")])
        entries.append(
            TranscriptEntry(
                sequence: SequenceNumber(9),
                sessionID: SessionID(uuid: .zero),
                runID: run,
                role: .user,
                provider: nil,
                content: "now"
            )
        )
        let plan = ContinuationPlanner.plan(
            mode: .replay,
            provider: "claude",
            resumesNatively: true,
            run: run,
            transcript: entries,
            priorRuns: []
        )
        #expect(plan.history.map(\.content) == ["earlier", "answer"])
    }
}
