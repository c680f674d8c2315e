import ASMCore
import ASMProviders
import FoundationEssentials
import Testing

@Suite struct CommandTests {
    private func request(
        _ prompt: String = "Fix the bug",
        controls: ProviderControls = ProviderControls(),
        resume: String? = nil,
        model: String? = nil,
        system: String? = nil,
        directory: String? = nil
    ) -> ProviderRequest {
        var request = ProviderRequest(runID: RunID(uuid: .zero), prompt: prompt)
        request.controls = controls
        request.resumeSessionID = resume
        request.model = model
        request.systemPrompt = system
        request.workingDirectory = directory
        return request
    }

    // MARK: Denying the shell: the issue's three compile targets

    @Test("denying bash and shell becomes --disallowedTools Bash for Claude")
    func claudeDeniesBash() {
        let launch = ClaudeCode().launch(for: request(controls: ProviderControls(deniedTools: ["bash", "shell"])))
        #expect(launch.arguments.contains(["--disallowedTools", "Bash"]))
    }

    @Test("denying bash and shell turns off Codex's shell tool and forces a read-only sandbox")
    func codexDeniesShell() {
        let launch = Codex(sandbox: "workspace-write").launch(
            for: request(controls: ProviderControls(deniedTools: ["bash", "shell"]))
        )
        #expect(launch.arguments.contains(["-c", "features.shell_tool=false"]))
        #expect(launch.arguments.contains(["-s", "read-only"]))
        #expect(!launch.arguments.contains("workspace-write"))
    }

    @Test("denying bash and shell gives Amp a settings file that disables and rejects Bash")
    func ampDeniesBash() throws {
        let launch = Amp().launch(for: request(controls: ProviderControls(deniedTools: ["bash", "shell"])))
        let file = try #require(launch.files.first)
        #expect(launch.arguments.contains(["--settings-file", file.placeholder]))
        #expect(!launch.arguments.contains("--dangerously-allow-all"))
        let settings = try JSONValue(parsing: file.contents)
        #expect(settings["amp.tools.disable"] == ["Bash"])
        #expect(settings["amp.permissions"] == [["tool": "Bash", "action": "reject"]])
        #expect(settings["amp.dangerouslyAllowAll"] == false)
    }

    // MARK: A hard whitelist of tools

    @Test("a whitelist is --tools for Claude (empty: no tools) and amp.tools.enable for Amp")
    func whitelist() throws {
        let claude = ClaudeCode().launch(
            for: request(controls: ProviderControls(availableTools: ["read", "grep", "Bash(git *)"]))
        )
        #expect(claude.arguments.contains(["--tools", "Read,Grep,Bash(git *)"]))
        let none = ClaudeCode().launch(for: request(controls: ProviderControls(availableTools: [])))
        #expect(none.arguments.contains(["--tools", ""]))
        #expect(!ClaudeCode().launch(for: request()).arguments.contains("--tools"))

        let amp = Amp().launch(for: request(controls: ProviderControls(availableTools: ["read", "edit"])))
        let file = try #require(amp.files.first)
        let settings = try JSONValue(parsing: file.contents)
        #expect(settings["amp.tools.enable"] == ["Read", "edit_file"])
    }

    @Test("Codex has no whitelist: the shell and web search are turned off when the whitelist leaves them out")
    func codexWhitelist() {
        let readOnly = Codex().launch(for: request(controls: ProviderControls(availableTools: ["read"])))
        #expect(readOnly.arguments.contains(["-c", "features.shell_tool=false"]))
        #expect(readOnly.arguments.contains(["-s", "read-only"]))
        #expect(readOnly.arguments.contains(["-c", #"web_search="disabled""#]))
        let withShell = Codex().launch(
            for: request(controls: ProviderControls(availableTools: ["shell", "web_search"]))
        )
        #expect(!withShell.arguments.contains("features.shell_tool=false"))
        #expect(!withShell.arguments.contains(#"web_search="disabled""#))
    }

    // MARK: Claude

    @Test(
        "Claude's command in print mode: stream-json output with --verbose, partial messages, the prompt as text on a closed standard input"
    )
    func claudeBasics() {
        let launch = ClaudeCode(inputMode: .print).launch(for: request("What is 2+2?"))
        #expect(
            launch.arguments == ["-p", "--output-format", "stream-json", "--verbose", "--include-partial-messages"]
        )
        #expect(launch.standardInput == Array("What is 2+2?".utf8))
        #expect(!launch.keepsInputOpen && launch.interruptInput == nil)
        #expect(launch.stopSequence.map(\.signal) == [.interrupt, .terminate, .kill])
        #expect(!ClaudeCode(inputMode: .print).capabilities.holdsTools)
    }

    @Test(
        "Claude's command by default: the initialize handshake and the prompt as a user frame on an open standard input, interrupt as a control request"
    )
    func claudeStreamInput() throws {
        let launch = ClaudeCode().launch(for: request("What is 2+2?"))
        #expect(
            launch.arguments == [
                "-p", "--output-format", "stream-json", "--verbose", "--input-format", "stream-json",
                "--include-partial-messages",
            ]
        )
        #expect(launch.keepsInputOpen)
        let lines = try (launch.standardInput ?? []).split(separator: 0x0A).map { try JSONValue(parsing: Array($0)) }
        #expect(lines.count == 2)
        #expect(lines.first?["type"]?.stringValue == "control_request")
        #expect(lines.first?["request"]?["subtype"]?.stringValue == "initialize")
        #expect(lines.last?["type"]?.stringValue == "user")
        #expect(lines.last?["message"]?["content"]?.stringValue == "What is 2+2?")
        let interrupt = try JSONValue(parsing: Array((launch.interruptInput ?? []).dropLast()))
        #expect(interrupt["request"]?["subtype"]?.stringValue == "interrupt")
        #expect(ClaudeCode().capabilities.holdsTools)

        var asking = request("What is 2+2?")
        asking.asksBeforeTools = true
        #expect(ClaudeCode().launch(for: asking).arguments.contains(["--permission-prompt-tool", "stdio"]))
        #expect(!ClaudeCode(inputMode: .print).launch(for: asking).arguments.contains("--permission-prompt-tool"))
    }

    @Test(
        "Claude's answers to can_use_tool are the control responses of the captures: allow with the input, deny with the reason"
    )
    func claudeReplies() throws {
        let call = ToolCallStarted(
            callID: "toolu_1",
            name: "Bash",
            input: .object([
                JSONMember("command", "echo hi > perm.txt"), JSONMember("description", "Run echo hi > perm.txt"),
            ])
        )
        for (capture, verdict) in [
            ("allow", ToolPermissionRequest.Verdict.allow), ("deny", .deny("denied by policy team (deny:bash)")),
        ] {
            let captured = try #require(
                FileManager.default.contents(
                    atPath: "\(fixtures)/providers/claude-permission-stdio-\(capture).stdin.jsonl"
                )
            )
            let expected = try JSONValue(parsing: Array(try #require(captured.split(separator: 0x0A).last)))
            let id = try #require(expected["response"]?["request_id"]?.stringValue)
            let question = ToolPermissionRequest(call: call, providerRequestID: id)
            let line = try #require(ClaudeCode().reply(to: question, verdict))
            #expect(line.last == 0x0A && !line.dropLast().contains(0x0A))
            #expect(try JSONValue(parsing: Array(line.dropLast())) == expected)
        }
        #expect(ClaudeCode().reply(to: ToolPermissionRequest(call: call), .allow) == nil)
    }

    @Test("Claude's command carries model, system prompt, resume (with =), limits and tool rules")
    func claudeOptions() {
        let controls = ProviderControls(
            deniedTools: ["Bash(rm *)", "web_fetch"],
            allowedTools: ["read", "Edit", "Bash(git *)"],
            maxTurns: 4,
            maxBudgetUSD: 0.5
        )
        let launch = ClaudeCode(includePartialMessages: false, permissionMode: "dontAsk").launch(
            for: request(controls: controls, resume: "-starts-with-dash", model: "sonnet", system: "Be terse.")
        )
        #expect(
            launch.arguments == [
                "-p", "--output-format", "stream-json", "--verbose", "--input-format", "stream-json", "--model",
                "sonnet",
                "--system-prompt",
                "Be terse.",
                "--resume=-starts-with-dash", "--max-turns", "4", "--max-budget-usd", "0.5", "--disallowedTools",
                "Bash(rm *),WebFetch", "--allowedTools", "Read,Edit,Bash(git *)", "--permission-mode", "dontAsk",
            ]
        )
    }

    // MARK: Codex

    @Test("Codex's command: exec --json, the prompt last after --, standard input closed")
    func codexBasics() {
        let launch = Codex().launch(for: request("-rm everything?", model: "gpt-5.5", directory: "/work/repo"))
        #expect(
            launch.arguments == [
                "exec", "--json", "--skip-git-repo-check", "-C", "/work/repo", "-m", "gpt-5.5", "--", "-rm everything?",
            ]
        )
        #expect(launch.standardInput == nil)
        #expect(launch.stopSequence.first?.signal == .interrupt)
    }

    @Test("Codex resumes a thread with `resume ID PROMPT` and passes the system prompt as TOML")
    func codexResumeAndInstructions() {
        let launch = Codex().launch(for: request("And 3+3?", resume: "01a20ff0-34e3", system: "Say \"hi\"\nthen stop"))
        #expect(launch.arguments.suffix(3) == ["resume", "01a20ff0-34e3", "And 3+3?"])
        #expect(launch.arguments.contains(["-c", #"developer_instructions="Say \"hi\"\nthen stop""#]))
    }

    @Test("Codex turns off web search when it is denied")
    func codexWebSearch() {
        let launch = Codex().launch(for: request(controls: ProviderControls(deniedTools: ["web_search"])))
        #expect(launch.arguments.contains(["-c", "web_search=\"disabled\""]))
        #expect(!launch.arguments.contains("features.shell_tool=false"))
    }

    // MARK: Amp

    @Test("Amp's command: execute with stream-json, the prompt on standard input, stopped by SIGTERM")
    func ampBasics() {
        let launch = Amp().launch(for: request("say PONG"))
        #expect(launch.arguments == ["--execute", "--stream-json"])
        #expect(launch.standardInput == Array("say PONG\n".utf8))
        #expect(launch.files.isEmpty)
        #expect(launch.stopSequence.map(\.signal) == [.terminate, .kill])
    }

    @Test("Amp continues a thread with `threads continue ID`, and allowed tools become allow rules")
    func ampResumeAndAllow() throws {
        let launch = Amp().launch(
            for: request(controls: ProviderControls(allowedTools: ["read", "edit"]), resume: "T-123")
        )
        #expect(Array(launch.arguments.prefix(5)) == ["threads", "continue", "T-123", "--execute", "--stream-json"])
        let settings = try JSONValue(parsing: try #require(launch.files.first).contents)
        #expect(
            settings["amp.permissions"] == [
                ["tool": "Read", "action": "allow"], ["tool": "edit_file", "action": "allow"],
            ]
        )
        #expect(settings["amp.tools.disable"] == nil)
    }

    // MARK: Prompts

    @Test("a replayed conversation becomes one prompt ending with the new message")
    func replayPrompt() {
        var request = request()
        request.messages = [
            ChatMessage(role: .user, content: "Remember: the code is X-42."),
            ChatMessage(role: .assistant, content: "Noted."),
            ChatMessage(role: .user, content: "What is the code?"),
        ]
        let prompt = request.promptText
        #expect(prompt.contains("[user]\nRemember: the code is X-42."))
        #expect(prompt.contains("[assistant]\nNoted."))
        #expect(prompt.hasSuffix("Now respond to this user message:\nWhat is the code?"))
    }

    @Test(
        "a question the CLI withdraws is settled as denied; calls it left unsettled when it died are recorded as started"
    )
    func withdrawnAndUnsettled() throws {
        let capture = try #require(
            FileManager.default.contents(atPath: "\(fixtures)/providers/claude-permission-stdio-allow.jsonl")
        )
        let lines = capture.split(separator: 0x0A).map(Array.init)
        var decoder = ClaudeStreamDecoder(asksBeforeTools: true)
        var questions: [ToolPermissionRequest] = []
        // Up to and including the can_use_tool question.
        for line in lines.prefix(5) {
            for case .toolPermission(let question) in decoder.decode(line: line) { questions.append(question) }
        }
        let question = try #require(questions.first)
        _ = decoder.decode(
            line: Array(#"{"type":"control_cancel_request","request_id":"\#(question.providerRequestID ?? "")"}"#.utf8)
        )
        #expect(question.answered == .deny("the CLI withdrew the question"))

        // A call the CLI runs without asking, and then the CLI dies before its result.
        var silent = ClaudeStreamDecoder(asksBeforeTools: true)
        for line in lines.prefix(4) { _ = silent.decode(line: line) }
        let events = silent.finish(ProcessOutcome(termination: .exited(137)))
        #expect(events.contains { if case .toolStarted(let call) = $0 { call.name == "Bash" } else { false } })
        #expect(events.last?.isTerminal == true)
    }
}
