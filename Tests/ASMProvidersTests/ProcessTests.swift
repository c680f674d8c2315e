import ASMCore
import ASMProviders
import ASMStore
import AgentSessionManagerTesting
import FoundationEssentials
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The adapters running real subprocesses: a fake CLI that prints captures with timing,
/// exits with the recorded codes and reacts to signals as the real CLIs do.
@Suite(.serialized) struct ProcessTests {
    static let fakeAgent = "\(fixtures)/fake-cli/fake-agent"

    /// A scratch directory for the fake's records and for capture slices.
    final class Scratch: @unchecked Sendable {
        let directory = TemporaryDirectory(prefix: "asm-provider-test")
        var records: String { directory.path }
        func read(_ name: String) -> String? {
            FileManager.default.contents(atPath: directory.file(name)).map { String(decoding: $0, as: UTF8.self) }
        }
        /// Lines `range` of a capture, written to a file.
        func slice(_ capture: String, _ range: Range<Int>) -> String {
            let lines =
                (FileManager.default.contents(atPath: "\(fixtures)/providers/\(capture)").map {
                    String(decoding: $0, as: UTF8.self)
                } ?? "").split(separator: "\n", omittingEmptySubsequences: false)
            let path = directory.file("\(capture)-\(range.lowerBound)-\(range.upperBound)")
            let text = lines[range.clamped(to: 0..<lines.count)].joined(separator: "\n") + "\n"
            _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
            return path
        }
        var pid: Int32? { read("pid").flatMap { Int32($0) } }
        deinit { directory.remove() }
    }

    private func request(
        _ environment: [String: String],
        configure: (inout ProviderRequest) -> Void = { _ in }
    )
        -> ProviderRequest
    {
        var request = ProviderRequest(runID: .generate(), prompt: "What is 2+2?")
        request.environment = environment.mapValues { Optional($0) }
        configure(&request)
        return request
    }

    /// Runs a request to its end, calling `onEvent` for each event.
    private func collect<D: CommandLineDialect>(
        _ provider: CommandLineProvider<D>,
        _ request: ProviderRequest,
        onEvent: (ProviderEvent) async -> Void = { _ in }
    ) async -> [ProviderEvent] {
        var events: [ProviderEvent] = []
        for await event in provider.execute(request) {
            events.append(event)
            await onEvent(event)
        }
        return events
    }

    private func claude(_ dialect: ClaudeCode = ClaudeCode(), lineLimit: Int = 64 << 20) -> ClaudeCodeProvider {
        CommandLineProvider(dialect: dialect, configuration: .init(executable: Self.fakeAgent, lineLimit: lineLimit))
    }

    private func isGone(_ pid: Int32?) -> Bool {
        guard let pid else { return false }
        return kill(pid, 0) != 0 && errno == ESRCH
    }

    // MARK: Runs that end on their own

    @Test(
        "a Claude run through the process gives the same events as its capture; the prompt goes in as a user frame after the handshake and standard input closes after the result"
    )
    func claudeRun() async throws {
        let scratch = Scratch()
        let capture = try #require(Capture.all.first { $0.file == "claude-tool.jsonl" })
        let events = await collect(
            claude(),
            request(["FAKE_FIXTURE": capture.path, "FAKE_RECORD": scratch.records]) { $0.model = "sonnet" }
        )
        #expect(eventLines(events) == eventLines(capture.decode()))
        let written = try (scratch.read("stdin") ?? "").split(separator: "\n").map {
            try JSONValue(parsing: Array($0.utf8))
        }
        #expect(written.map { $0["type"]?.stringValue } == ["control_request", "user"])
        #expect(written.first?["request"]?["subtype"]?.stringValue == "initialize")
        #expect(written.last?["message"]?["content"]?.stringValue == "What is 2+2?")
        #expect(
            scratch.read("args")?.split(separator: "\n").map(String.init) == [
                "-p", "--output-format", "stream-json", "--verbose", "--input-format", "stream-json",
                "--include-partial-messages", "--model", "sonnet",
            ]
        )
        #expect(isGone(scratch.pid))
    }

    @Test("a Claude run in print mode gets the prompt as text on a standard input closed at once")
    func claudeRunPrint() async throws {
        let scratch = Scratch()
        let capture = try #require(Capture.all.first { $0.file == "claude-tool.jsonl" })
        let events = await collect(
            claude(ClaudeCode(inputMode: .print)),
            request(["FAKE_FIXTURE": capture.path, "FAKE_RECORD": scratch.records]) { $0.model = "sonnet" }
        )
        #expect(eventLines(events) == eventLines(capture.decode()))
        #expect(scratch.read("stdin") == "What is 2+2?")
        #expect(
            scratch.read("args")?.split(separator: "\n").map(String.init) == [
                "-p", "--output-format", "stream-json", "--verbose", "--include-partial-messages", "--model", "sonnet",
            ]
        )
        #expect(isGone(scratch.pid))
    }

    @Test("a Codex run gets its prompt as the last argument and a closed standard input")
    func codexRun() async throws {
        let scratch = Scratch()
        let provider = CommandLineProvider(dialect: Codex(), configuration: .init(executable: Self.fakeAgent))
        let events = await collect(
            provider,
            request(["FAKE_FIXTURE": "\(fixtures)/providers/codex-tool.jsonl", "FAKE_RECORD": scratch.records])
        )
        #expect(
            events.last
                == .completed(
                    RunCompleted(
                        outputText: "The directory contains `README.md` and `main.swift`.",
                        providerSessionID: "01a20ff0-5540-7061-b2b1-94ba85f05a07"
                    )
                )
        )
        #expect(scratch.read("stdin") == "")
        #expect(scratch.read("args")?.hasSuffix("--\nWhat is 2+2?") == true)
    }

    @Test("Amp's settings file exists with mode 0600 while it runs and is removed afterwards")
    func ampSettingsFile() async throws {
        let scratch = Scratch()
        let provider = CommandLineProvider(dialect: Amp(), configuration: .init(executable: Self.fakeAgent))
        let events = await collect(
            provider,
            request(["FAKE_FIXTURE": "\(fixtures)/providers/amp-text.jsonl", "FAKE_RECORD": scratch.records]) {
                $0.controls = ProviderControls(deniedTools: ["bash", "shell"])
            }
        )
        #expect(events.last?.isTerminal == true)
        if case .completed = events.last {
        } else {
            Issue.record("expected a completed run, got \(String(describing: events.last))")
        }
        #expect(scratch.read("settings-mode") == "600")
        #expect(scratch.read("settings")?.contains(#""amp.tools.disable":["Bash"]"#) == true)
        let path = try #require(scratch.read("settings-path"))
        #expect(!FileManager.default.fileExists(atPath: path), "the settings file outlived the run")
        #expect(scratch.read("stdin") == "What is 2+2?")
    }

    @Test("a process that exits without a result fails with its exit code and standard error")
    func crashWithoutResult() async {
        let scratch = Scratch()
        let events = await collect(
            claude(),
            request([
                "FAKE_FIXTURE": scratch.slice("claude-text.jsonl", 0..<4), "FAKE_EXIT": "3",
                "FAKE_STDERR": "Error: the API key sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789 is invalid",
            ])
        )
        guard case .failed(let failed) = events.last else {
            Issue.record("expected a failure, got \(String(describing: events.last))")
            return
        }
        #expect(failed.failure.kind == .processExited && failed.failure.exitCode == 3)
        // As the CLI wrote it: the engine redacts before anything is recorded.
        #expect(
            failed.failure.stderr == "Error: the API key sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123456789 is invalid"
        )
        #expect(failed.failure.message.hasPrefix("claude exited with code 3 without a result"))
        #expect(events.contains { if case .started = $0 { true } else { false } })
    }

    @Test("non-JSON lines are skipped; a line that starts like JSON but is not is a warning, and the run goes on")
    func garbage() async {
        let events = await collect(
            claude(),
            request(["FAKE_FIXTURE": "\(fixtures)/providers/claude-usage.jsonl", "FAKE_GARBAGE": "1"])
        )
        let warnings = events.compactMap { event -> ProviderWarning? in
            if case .warning(let w) = event { w } else { nil }
        }
        #expect(warnings.count == 1)
        #expect(warnings.first?.excerpt == "{this is not json")
        if case .completed = events.last {
        } else {
            Issue.record("the run did not complete: \(String(describing: events.last))")
        }
    }

    @Test("lines of several MiB are read whole")
    func hugeLine() async {
        let events = await collect(
            claude(),
            request(["FAKE_FIXTURE": "\(fixtures)/providers/claude-usage.jsonl", "FAKE_HUGE_LINE": String(6 << 20)])
        )
        if case .completed = events.last {
        } else {
            Issue.record("the run did not complete: \(String(describing: events.last))")
        }
    }

    @Test("a line over the limit fails the run as invalid output and stops the process")
    func lineOverLimit() async {
        let scratch = Scratch()
        let events = await collect(
            claude(lineLimit: 1 << 20),
            request([
                "FAKE_FIXTURE": "\(fixtures)/providers/claude-usage.jsonl", "FAKE_HUGE_LINE": String(3 << 20),
                "FAKE_HANG": "1", "FAKE_RECORD": scratch.records,
            ])
        )
        #expect(events.last == .failure(.invalidOutput, "claude wrote a line longer than 1048576 bytes"))
        #expect(isGone(scratch.pid))
    }

    @Test(
        "a missing binary is one clear failure before anything else",
        arguments: ["/nonexistent/bin/claude", "claude-not-installed"]
    )
    func missingBinary(executable: String) async {
        let provider = CommandLineProvider(dialect: ClaudeCode(), configuration: .init(executable: executable))
        let events = await collect(provider, request([:]))
        #expect(events.count == 1)
        guard case .failed(let failed) = events.first else {
            Issue.record("expected a failure")
            return
        }
        #expect(failed.failure.kind == .missingBinary)
        #expect(failed.failure.message.contains(executable))
    }

    // MARK: Stopping

    @Test(
        "cancelling Claude in print mode sends SIGINT; its abort result makes the run cancelled, with the partial message kept"
    )
    func cancelClaude() async throws {
        let scratch = Scratch()
        let provider = claude(ClaudeCode(inputMode: .print))
        let request = request([
            "FAKE_FIXTURE": scratch.slice("claude-cancel-sigint.jsonl", 0..<7), "FAKE_DELAY": "0.05", "FAKE_HANG": "1",
            "FAKE_ON_SIGINT": "abort", "FAKE_ABORT_TAIL": scratch.slice("claude-cancel-sigint.jsonl", 7..<13),
            "FAKE_RECORD": scratch.records,
        ])
        let events = await collect(provider, request) { event in
            if case .streamed = event { await provider.cancel(request.runID, reason: .requested) }
        }
        #expect(
            events.last == .cancelled(RunCancelled(reason: .requested, message: "claude stopped (aborted_streaming)"))
        )
        #expect(
            events.contains(
                .received(
                    MessageReceived(
                        messageID: "msg_01f4eab4d1b87646d2ad52be",
                        role: .assistant,
                        content: "Counting: one, two,"
                    )
                )
            )
        )
        #expect(isGone(scratch.pid))
        // Cancelling again, or after the end, is harmless.
        await provider.cancel(request.runID, reason: .requested)
    }

    @Test("cancelling Codex sends SIGINT; it exits 1 with no terminal event, and the run is cancelled")
    func cancelCodex() async throws {
        let scratch = Scratch()
        let provider = CommandLineProvider(dialect: Codex(), configuration: .init(executable: Self.fakeAgent))
        let request = request([
            "FAKE_FIXTURE": "\(fixtures)/providers/codex-cancel-sigint.jsonl", "FAKE_HANG": "1",
            "FAKE_ON_SIGINT": "exit1",
            "FAKE_RECORD": scratch.records,
        ])
        let events = await collect(provider, request) { event in
            if case .started = event { await provider.cancel(request.runID, reason: .policy) }
        }
        #expect(
            events.last
                == .cancelled(
                    RunCancelled(reason: .policy, message: "codex exited with code 1 after the run was cancelled")
                )
        )
        #expect(isGone(scratch.pid))
    }

    @Test("cancelling Amp sends SIGTERM, and the run is cancelled")
    func cancelAmp() async throws {
        let scratch = Scratch()
        let provider = CommandLineProvider(dialect: Amp(), configuration: .init(executable: Self.fakeAgent))
        let request = request([
            "FAKE_FIXTURE": scratch.slice("amp-text.jsonl", 0..<2), "FAKE_HANG": "1", "FAKE_RECORD": scratch.records,
        ])
        let events = await collect(provider, request) { event in
            if case .started = event { await provider.cancel(request.runID, reason: .requested) }
        }
        #expect(
            events.last
                == .cancelled(
                    RunCancelled(reason: .requested, message: "amp exited with code 143 after the run was cancelled")
                )
        )
        #expect(isGone(scratch.pid))
    }

    @Test("a process that ignores SIGINT and SIGTERM is killed after the grace periods")
    func escalation() async throws {
        let scratch = Scratch()
        let provider = claude(ClaudeCode(gracePeriod: .milliseconds(200), inputMode: .print))
        let request = request([
            "FAKE_FIXTURE": scratch.slice("claude-text.jsonl", 0..<1), "FAKE_HANG": "1", "FAKE_ON_SIGINT": "ignore",
            "FAKE_ON_SIGTERM": "ignore", "FAKE_RECORD": scratch.records,
        ])
        let started = ContinuousClock.now
        let events = await collect(provider, request) { event in
            if case .started = event { await provider.cancel(request.runID, reason: .shutdown) }
        }
        #expect(
            events.last
                == .cancelled(
                    RunCancelled(
                        reason: .shutdown,
                        message: "claude was stopped by signal 9 after the run was cancelled"
                    )
                )
        )
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(isGone(scratch.pid))
    }

    @Test("the total deadline ends a hung process and says so")
    func deadline() async throws {
        let scratch = Scratch()
        let request = request([
            "FAKE_FIXTURE": scratch.slice("claude-text.jsonl", 0..<1), "FAKE_HANG": "1", "FAKE_RECORD": scratch.records,
        ]) {
            $0.deadline = .milliseconds(400)
        }
        let events = await collect(claude(ClaudeCode(gracePeriod: .milliseconds(200))), request)
        guard case .failed(let failed) = events.last else {
            Issue.record("expected a failure, got \(String(describing: events.last))")
            return
        }
        #expect(failed.failure.kind == .timeout)
        #expect(failed.failure.message == "the run's deadline of 400 ms passed")
        #expect(isGone(scratch.pid))
    }

    @Test("the deadline is total: steady output does not extend it")
    func deadlineNotRearmed() async throws {
        let scratch = Scratch()
        let request = request([
            "FAKE_FIXTURE": "\(fixtures)/providers/claude-tool.jsonl", "FAKE_DELAY": "0.1",
            "FAKE_RECORD": scratch.records,
        ]) {
            $0.deadline = .milliseconds(600)
            $0.idleTimeout = .seconds(5)
        }
        let events = await collect(claude(ClaudeCode(gracePeriod: .milliseconds(200))), request)
        guard case .failed(let failed) = events.last else {
            Issue.record("expected the deadline to end the run, got \(String(describing: events.last))")
            return
        }
        #expect(failed.failure.kind == .timeout && failed.failure.message.contains("deadline"))
    }

    @Test("the idle timeout ends a process that stops writing, and steady output keeps it alive")
    func idleTimeout() async throws {
        let scratch = Scratch()
        let quiet = request([
            "FAKE_FIXTURE": scratch.slice("claude-text.jsonl", 0..<2), "FAKE_HANG": "1", "FAKE_RECORD": scratch.records,
        ]) {
            $0.idleTimeout = .milliseconds(300)
        }
        let events = await collect(claude(ClaudeCode(gracePeriod: .milliseconds(200), inputMode: .print)), quiet)
        // Claude exits 130 on the SIGINT that ends it; the exit code is kept with the reason.
        #expect(events.last == .failure(.timeout, "claude wrote nothing for 300 ms", exitCode: 130))
        #expect(isGone(scratch.pid))

        let steady = request(["FAKE_FIXTURE": "\(fixtures)/providers/claude-tool.jsonl", "FAKE_DELAY": "0.05"]) {
            $0.idleTimeout = .milliseconds(500)
        }
        let completed = await collect(claude(), steady)
        if case .completed = completed.last {
        } else {
            Issue.record("steady output should not time out: \(String(describing: completed.last))")
        }
    }

    @Test(
        "cancelling Claude in stream-json mode sends its interrupt request, not a signal; the aborted turn's result makes the run cancelled"
    )
    func cancelClaudeByRequest() async throws {
        let scratch = Scratch()
        let provider = claude()
        let request = request([
            "FAKE_FIXTURE": scratch.slice("claude-stream-input-interrupt.jsonl", 0..<6), "FAKE_DELAY": "0.05",
            "FAKE_HANG": "1", "FAKE_ON_SIGINT": "exit1",
            "FAKE_INTERRUPT_TAIL": scratch.slice("claude-stream-input-interrupt.jsonl", 6..<16),
            "FAKE_RECORD": scratch.records,
        ])
        let events = await collect(provider, request) { event in
            if case .streamed = event { await provider.cancel(request.runID, reason: .requested) }
        }
        #expect(
            events.last == .cancelled(RunCancelled(reason: .requested, message: "claude stopped (aborted_streaming)"))
        )
        #expect(scratch.read("stdin")?.contains(#""subtype":"interrupt""#) == true)
        #expect(isGone(scratch.pid))
    }

    /// A run of a permission capture whose questions are answered by `answer`.
    private func heldRun(
        _ capture: String,
        _ scratch: Scratch,
        environment: [String: String] = [:],
        configure: (inout ProviderRequest) -> Void = { _ in },
        provider: ClaudeCodeProvider? = nil,
        answer: @escaping @Sendable (ToolPermissionRequest) async -> Void
    ) async -> [ProviderEvent] {
        var variables = [
            "FAKE_FIXTURE": "\(fixtures)/providers/\(capture)", "FAKE_RECORD": scratch.records,
            "FAKE_ANSWERS": scratch.directory.file("answers"),
            "FAKE_ON_ALLOW": "echo ran > \(scratch.directory.file("ran"))",
        ]
        variables.merge(environment) { $1 }
        let request = request(variables) {
            $0.asksBeforeTools = true
            configure(&$0)
        }
        return await collect(provider ?? claude(), request) { event in
            if case .toolPermission(let question) = event { await answer(question) }
        }
    }

    @Test("a held tool allowed by the host runs after the answer, which carries its input back")
    func heldToolAllowed() async throws {
        let scratch = Scratch()
        let capture = try #require(Capture.all.first { $0.file == "claude-permission-stdio-allow.jsonl" })
        let events = await heldRun(capture.file, scratch) { $0.answer(.allow) }
        #expect(eventLines(events) == eventLines(capture.decode()))
        #expect(scratch.read("ran") == "ran\n")
        let answers = scratch.read("answers") ?? ""
        #expect(answers.contains(#""request_id":"6337f417-9cb9-491d-adb0-b34fe7195e00""#))
        #expect(answers.contains(#""behavior":"allow","updatedInput":{"command":"echo hi > perm.txt""#))
        #expect(scratch.read("args")?.contains("--permission-prompt-tool\nstdio") == true)
        #expect(isGone(scratch.pid))
    }

    @Test("a held tool denied by the host never runs and never starts; the run goes on to its result")
    func heldToolDenied() async throws {
        let scratch = Scratch()
        let capture = try #require(Capture.all.first { $0.file == "claude-permission-stdio-deny.jsonl" })
        // Paced like a real CLI: host lines that arrive between capture lines are kept, not lost.
        let events = await heldRun(capture.file, scratch, environment: ["FAKE_DELAY": "0.01"]) {
            $0.answer(.deny("denied by policy team (deny:bash)"))
        }
        #expect(eventLines(events) == eventLines(capture.decode()))
        #expect(!events.contains { if case .toolStarted = $0 { true } else { false } })
        #expect(scratch.read("ran") == nil)
        #expect(
            scratch.read("answers")?.contains(#""behavior":"deny","message":"denied by policy team (deny:bash)""#)
                == true
        )
        guard case .completed = events.last else {
            Issue.record("expected the run to complete, got \(String(describing: events.last))")
            return
        }
    }

    @Test("waiting for a late answer is not silence: the idle timeout counts from the answer")
    func heldToolLateAnswer() async throws {
        let scratch = Scratch()
        // The watchdog's clock stands still until the question comes, then jumps ten idle
        // timeouts ahead; the answer comes once the watchdog has looked at the jumped clock.
        let clock = SteppedClock()
        var configuration = CommandLineProvider<ClaudeCode>.Configuration(executable: Self.fakeAgent)
        configuration.monotonicNow = { clock.now() }
        let events = await heldRun(
            "claude-permission-stdio-allow.jsonl",
            scratch,
            configure: { $0.idleTimeout = .milliseconds(100) },
            provider: CommandLineProvider(dialect: ClaudeCode(), configuration: configuration),
            answer: { question in
                clock.jump(by: .seconds(1))
                await clock.looked(times: 3)
                question.answer(.allow)
            }
        )
        guard case .completed = events.last else {
            Issue.record("expected the run to complete, got \(String(describing: events.last))")
            return
        }
        #expect(scratch.read("ran") == "ran\n")
    }

    @Test("cancelling while a tool waits interrupts the CLI; the tool never starts and the run ends cancelled")
    func heldToolCancelled() async throws {
        let scratch = Scratch()
        let provider = claude()
        let request = request([
            "FAKE_FIXTURE": "\(fixtures)/providers/claude-permission-stdio-allow.jsonl", "FAKE_RECORD": scratch.records,
            "FAKE_ON_ALLOW": "echo ran > \(scratch.directory.file("ran"))",
        ]) { $0.asksBeforeTools = true }
        var question: ToolPermissionRequest?
        let events = await collect(provider, request) { event in
            if case .toolPermission(let asked) = event {
                question = asked
                await provider.cancel(request.runID, reason: .requested)
            }
        }
        #expect(
            events.last == .cancelled(RunCancelled(reason: .requested, message: "claude stopped (aborted_streaming)"))
        )
        #expect(!events.contains { if case .toolStarted = $0 { true } else { false } })
        // Settled once the process was gone, so nothing waits on it.
        if case .deny? = question?.answered {} else { Issue.record("the question was left open") }
        #expect(scratch.read("ran") == nil)
        #expect(isGone(scratch.pid))
    }

    @Test("when the host stops reading, standard input closes: a CLI waiting for an answer sees its end and exits")
    func inputClosedWhileAsking() async throws {
        let scratch = Scratch()
        let request = request([
            "FAKE_FIXTURE": "\(fixtures)/providers/claude-permission-stdio-allow.jsonl",
            "FAKE_HUGE_LINE": String(3 << 20),
            "FAKE_ON_SIGINT": "ignore",
            "FAKE_RECORD": scratch.records, "FAKE_ON_ALLOW": "echo ran > \(scratch.directory.file("ran"))",
        ]) { $0.asksBeforeTools = true }
        let events = await collect(claude(ClaudeCode(gracePeriod: .seconds(30)), lineLimit: 1 << 20), request)
        guard case .failed(let failed) = events.last else {
            Issue.record("expected a failure, got \(String(describing: events.last))")
            return
        }
        #expect(failed.failure.kind == .invalidOutput)
        #expect(failed.failure.stderr?.hasPrefix("stdin closed while can_use_tool 6337f417") == true)
        // It ignored SIGINT, asked, found its input closed, and exited on its own before SIGTERM.
        #expect(scratch.read("stdin")?.contains(#""subtype":"initialize""#) == true)
        #expect(scratch.read("ran") == nil)
        #expect(isGone(scratch.pid))
    }

    @Test("a consumer that stops listening stops the process")
    func consumerLeaves() async throws {
        let scratch = Scratch()
        let provider = claude(ClaudeCode(gracePeriod: .milliseconds(200)))
        let request = request([
            "FAKE_FIXTURE": scratch.slice("claude-text.jsonl", 0..<1), "FAKE_HANG": "1", "FAKE_RECORD": scratch.records,
        ])
        for await event in provider.execute(request) {
            if case .started = event { break }
        }
        // The process is stopped once the iteration ends.
        await provider.waitUntilStopped(request.runID)
        #expect(!provider.isRunning(request.runID))
        #expect(isGone(scratch.pid))
    }
}

/// A monotonic clock that stands still until it jumps, and tells when it has been read since.
final class SteppedClock: Sendable {
    private struct State {
        var now: UInt64 = 1_000_000_000
        var readsSinceJump = 0
        var waiters: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }
    private let state = Mutex(State())

    func now() -> UInt64 {
        let (now, ready) = state.withLock { state -> (UInt64, [CheckedContinuation<Void, Never>]) in
            state.readsSinceJump += 1
            let ready = state.waiters.filter { $0.count <= state.readsSinceJump }.map(\.continuation)
            state.waiters.removeAll { $0.count <= state.readsSinceJump }
            return (state.now, ready)
        }
        for waiter in ready { waiter.resume() }
        return now
    }

    func jump(by duration: Duration) {
        state.withLock { state in
            state.now +=
                UInt64(duration.components.seconds) * 1_000_000_000
                + UInt64(duration.components.attoseconds / 1_000_000_000)
            state.readsSinceJump = 0
        }
    }

    /// Returns once the clock has been read `times` times since the last jump.
    func looked(times: Int) async {
        await withCheckedContinuation { continuation in
            let now = state.withLock { state -> Bool in
                if state.readsSinceJump >= times { return true }
                state.waiters.append((times, continuation))
                return false
            }
            if now { continuation.resume() }
        }
    }
}
