import ArgumentParser
import AgentSessionManager

extension ASM {
    /// `asm demo`: records a small scripted session and shows it.
    struct Demo: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record a small scripted session in the database and show it.",
            discussion: """
                Creates the database if needed (--db honoured), appends a session with one run while a live
                subscription prints each event as it commits, then shows the projections and verifies the chain.
                """)

        @OptionGroup var store: StoreOptions

        @Option(help: "Milliseconds between scripted events (0 for none).")
        var pace: Int = 40

        func validate() throws {
            guard pace >= 0 else { throw ValidationError("--pace must be zero or more") }
        }

        func run() async throws {
            try await withStore(try store.openOrCreate()) { store in
                let session = SessionID.generate()
                let run = RunID.generate()
                let start = try await store.lastSequence()
                Console.line("database \(store.path)")
                Console.line("session  \(session)")
                Console.line("")
                Console.line("live")
                Console.flush()

                let script = Self.script(run: run)
                // A subscriber in its own task prints events as they commit.
                let follower = Task {
                    var seen = 0
                    for try await envelope in store.subscribe(from: start.next, filter: .session(session)) {
                        Console.line(Formatting.line(envelope))
                        Console.flush()
                        seen += 1
                        if seen == script.count { break }
                    }
                }
                var expected = ExpectedVersion.noStream
                for event in script {
                    let result = try await store.append([event], to: session.stream, expectedVersion: expected)
                    expected = .exact(result.lastVersion)
                    if pace > 0 { try await Task.sleep(for: .milliseconds(pace)) }
                }
                try await follower.value

                Console.line("")
                guard let summary = try await store.session(session) else {
                    throw CommandFailure("the session projection is missing")
                }
                Show.print(
                    summary, runs: try await store.runs(in: session), transcript: try await store.transcript(of: session),
                    usage: try await store.usage(by: .run, session: session))
                Console.line("")
                let report = try await store.verify()
                Console.line(
                    "verify: \(report.eventsChecked) events, chain "
                        + (report.firstMismatch == nil && report.firstGap == nil ? "intact" : "BROKEN")
                        + ", integrity \(report.integrity.joined(separator: "; "))")
                Console.line("")
                Console.line("next: asm show \(session.description.prefix(8)) --events   asm tail --follow   asm verify")
            }
        }

        /// One scripted run: a question, streamed thinking, a tool call, an answer, usage.
        static func script(run: RunID) -> [NewEvent] {
            let question = "How many Swift files are in Sources/?"
            return [
                NewEvent(SessionCreated(agentID: "demo", metadata: ["purpose": "demo"], tags: ["demo"])),
                NewEvent(SessionActivated()),
                NewEvent(RunRequested(messages: [ChatMessage(role: .user, content: question)], provider: "scripted"), run: run),
                NewEvent(MessageReceived(role: .user, content: question), run: run),
                NewEvent(RunStarted(provider: "scripted", model: "scripted-1", providerSessionID: "demo-thread", tools: ["Bash"]), run: run),
                NewEvent(MessageStreamed(messageID: "m1", delta: "Let me count "), run: run),
                NewEvent(MessageStreamed(messageID: "m1", delta: "them with a shell command."), run: run),
                NewEvent(
                    ToolCallStarted(callID: "call_1", name: "Bash", input: ["command": "find Sources -name '*.swift' | wc -l"]),
                    run: run),
                NewEvent(ToolCallCompleted(callID: "call_1", name: "Bash", output: "42", exitCode: 0), run: run),
                NewEvent(MessageReceived(messageID: "m2", role: .assistant, content: "There are 42 Swift files in Sources/."), run: run),
                NewEvent(
                    TokenUsageUpdated(
                        provider: "scripted", model: "scripted-1",
                        delta: TokenUsage(input: 812, output: 64, cacheRead: 2048),
                        total: TokenUsage(input: 812, output: 64, cacheRead: 2048)),
                    run: run),
                NewEvent(RunCompleted(outputText: "There are 42 Swift files in Sources/.", stopReason: "end_turn", turns: 2), run: run),
                NewEvent(SessionCompleted(summary: "answered one question")),
            ]
        }
    }
}
