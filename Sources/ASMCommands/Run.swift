import ArgumentParser
import AgentSessionManager
import Dispatch
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ASM {
    /// `asm run`: one run, in a new session or continuing one, printed live and recorded.
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Execute one run (in a new session, or --session to continue one), print it live and record it.",
            discussion: """
                The provider's CLI is started exactly as a user would start it (claude, codex or amp, found on PATH
                or given by --executable, $ASM_CLAUDE_BIN, $ASM_CODEX_BIN, $ASM_AMP_BIN); its output is normalized,
                redacted and appended to the log as it arrives. `scripted` needs no CLI: it answers from a built-in
                script or from --script FILE.

                --policy FILE (repeatable) stacks JSON policies in order; --deny-tool and --max-budget add a last
                policy named "cli" that cancels. --continuation says how a --session run continues the conversation:
                off, replay (send the transcript), native (resume the provider's own session) or auto (the default).

                Streamed text goes to standard output; tool calls, policy decisions, warnings and the closing summary
                to standard error. Ctrl-C cancels the run the provider's way (the run is recorded as cancelled) and
                exits 130. Exit status: 0 completed, 1 failed (a policy's cancel included), 130 cancelled, 64 usage
                or a bad policy, 66 a missing session, policy, price table or script.
                """)

        @OptionGroup var store: StoreOptions

        @Option(help: "claude, codex, amp or scripted.")
        var provider: ProviderChoice?

        @Option(help: "A JSON router configuration: route the run over the providers it names (instead of --provider).")
        var router: String?

        @Option(name: .customLong("require"), help: "With --router: a capability the chosen provider must have, as type or type:name (tool:read, streaming; repeatable).")
        var requirements: [String] = []

        @Option(help: "The model to ask for (passed to the CLI as it is).")
        var model: String?

        @Option(help: "The directory the agent works in (default: the current directory).")
        var cwd: String?

        @Option(name: .customLong("system-prompt"), help: "Replaces the agent's system prompt.")
        var systemPrompt: String?

        @Option(help: "Seconds the whole run may take (not extended by output).")
        var deadline: Double?

        @Option(name: .customLong("idle-timeout"), help: "Seconds the provider may write nothing before the run is stopped.")
        var idleTimeout: Double?

        @Option(name: .customLong("deny-tool"), help: "A tool the agent must not run, e.g. bash (repeatable).")
        var deniedTools: [String] = []

        @Option(name: .customLong("allow-tool"), help: "A tool pre-approved to run, e.g. read or 'Bash(git *)' (repeatable).")
        var allowedTools: [String] = []

        @Option(help: "The only tools the agent has, comma-separated (\"\" for none), e.g. read,grep.")
        var tools: String?

        @Option(name: .customLong("max-turns"), help: "At most this many model turns, where the CLI enforces it.")
        var maxTurns: Int?

        @Option(name: .customLong("max-budget"), help: "At most this many US dollars, where the CLI enforces it.")
        var maxBudget: Double?

        @Option(help: "The provider CLI to start (a path or a name on PATH).")
        var executable: String?

        @Option(help: "For --provider scripted: a JSON script to play (see README).")
        var script: String?

        @Option(help: "The agent name recorded with the new session.")
        var agent: String = "asm"

        @Option(help: "Continue this session (an id or an unambiguous prefix) instead of starting one.")
        var session: String?

        @Option(help: "off, replay, native or auto: how a --session run continues the conversation.")
        var continuation: ContinuationChoice = .auto

        @Option(name: .customLong("policy"), help: "A JSON policy file (repeatable; stacked in order).")
        var policyFiles: [String] = []

        @Option(help: "Answer policy approval requests: ask (on a terminal), approve or deny (default: ask on a terminal, else deny).")
        var approvals: ApprovalChoice?

        @Option(help: "A JSON price table to compute costs with (default: the built-in table).")
        var prices: String?

        @Option(help: "Snapshot this directory before and after, record the diff, and run the provider in it.")
        var workspace: String?

        @Option(name: .customLong("workspace-strategy"), help: "git (the default) or hash.")
        var workspaceStrategy: WorkspaceStrategyChoice = .git

        @Option(name: .customLong("max-patch-bytes"), help: "Keep patches up to this size in the log; larger ones go to the artifact store.")
        var maxPatchBytes: Int = 64 << 10

        @Option(help: "The artifact store directory (default: artifacts/ beside the database).")
        var artifacts: String?

        @Flag(name: .customLong("rollback-on-failure"), help: "Put the workspace back to its pre-run snapshot when the run fails or is cancelled.")
        var rollbackOnFailure = false

        @Option(name: .customLong("workspace-ignore"), help: "A glob of paths to leave out of snapshots (repeatable).")
        var workspaceIgnore: [String] = []

        enum WorkspaceStrategyChoice: String, ExpressibleByArgument, CaseIterable {
            case git, hash
        }

        @Flag(help: "Print nothing while the run goes on; only the summary.")
        var quiet = false

        @Flag(help: "Print the run's outcome as one JSON object instead of live text and a summary line.")
        var json = false

        @Argument(help: "The prompt; - reads it from standard input.")
        var prompt: String

        enum ProviderChoice: String, ExpressibleByArgument, CaseIterable {
            case claude, codex, amp, scripted
        }

        enum ContinuationChoice: String, ExpressibleByArgument, CaseIterable {
            case off, replay, native, auto
        }

        enum ApprovalChoice: String, ExpressibleByArgument, CaseIterable {
            case ask, approve, deny
        }

        func validate() throws {
            if let deadline, !(deadline > 0) { throw ValidationError("--deadline must be more than zero seconds") }
            if let idleTimeout, !(idleTimeout > 0) { throw ValidationError("--idle-timeout must be more than zero seconds") }
            if let maxTurns, maxTurns < 1 { throw ValidationError("--max-turns must be at least 1") }
            if let maxBudget, !(maxBudget > 0) { throw ValidationError("--max-budget must be more than zero dollars") }
            if (provider == nil) == (router == nil) { throw ValidationError("give one of --provider and --router") }
            if !requirements.isEmpty, router == nil { throw ValidationError("--require needs --router") }
            for requirement in requirements {
                let type = String(requirement.split(separator: ":", maxSplits: 1).first ?? "")
                guard CapabilityRequirement.types.contains(type) else {
                    throw ValidationError(
                        "--require \(requirement): the type must be one of \(CapabilityRequirement.types.sorted().joined(separator: ", "))")
                }
            }
            if script != nil, provider != .scripted, router == nil { throw ValidationError("--script needs --provider scripted") }
            if executable != nil, provider == .scripted || router != nil {
                throw ValidationError("--executable applies to --provider claude, codex or amp")
            }
            if prompt != "-", prompt.allSatisfy(\.isWhitespace) { throw ValidationError("the prompt is empty") }
            if agent.isEmpty { throw ValidationError("--agent needs a name") }
            if session != nil, agent != "asm" { throw ValidationError("--agent names a new session; it does not apply with --session") }
            if workspace == nil, rollbackOnFailure || workspaceStrategy != .git || !workspaceIgnore.isEmpty {
                throw ValidationError("--rollback-on-failure, --workspace-strategy and --workspace-ignore need --workspace")
            }
            if workspace != nil, cwd != nil { throw ValidationError("--workspace is where the provider runs; leave out --cwd") }
            guard maxPatchBytes >= 0 else { throw ValidationError("--max-patch-bytes must be zero or more") }
            if let cwd {
                var status = stat()
                guard stat(cwd, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR else {
                    throw ValidationError("--cwd \(cwd) is not a directory")
                }
            }
        }

        func run() async throws {
            let promptText = try readPrompt()
            let policies = try loadPolicies()
            let priceTable = try loadPriceTable()
            let routerConfig = try router.map(loadRouterConfig)
            let candidates = try routerConfig.map(routedProviders) ?? []
            let single = try provider.map(makeProvider)
            var options = RunOptions(
                provider: single?.name ?? "router", model: model, systemPrompt: systemPrompt, workingDirectory: cwd, policies: policies,
                continuation: ContinuationMode(rawValue: continuation.rawValue) ?? .auto,
                deadline: deadline.map { .milliseconds(Int64(($0 * 1000).rounded())) },
                idleTimeout: idleTimeout.map { .milliseconds(Int64(($0 * 1000).rounded())) },
                preapprovedTools: allowedTools, availableTools: tools.map(Self.toolList), maxTurns: maxTurns,
                requiredCapabilities: requirements.map { text in
                    let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
                    return CapabilityRequirement(type: parts[0], name: parts.count > 1 ? parts[1] : nil)
                })
            options.policies = policies
            let answer = approvals ?? (isatty(0) == 1 ? .ask : .deny)
            if let workspace {
                options.workspace = WorkspaceOptions(
                    path: workspace, strategy: WorkspaceStrategy(rawValue: workspaceStrategy.rawValue) ?? .git, maxPatchBytes: maxPatchBytes,
                    artifactStore: FileArtifactStore(root: artifactRoot(artifacts, database: store.path)), rollbackOnFailure: rollbackOnFailure,
                    ignorePatterns: workspaceIgnore)
                // Checked before anything is written: no session or run for a workspace that cannot be used.
                do {
                    try await makeWorkspace(options.workspace!).prepare()
                } catch {
                    throw CommandFailure("workspace: \(error.message)", status: ExitStatus.usage)
                }
            }

            let (result, written, elapsed) = try await withStore(try store.openOrCreate()) { store in
                var configuration = SessionManager.Configuration()
                configuration.priceTable = priceTable
                let adapter: any ProviderAdapter =
                    if let single { single } else {
                        ProviderRouter(providers: candidates, config: routerConfig ?? RouterConfig(), store: store)
                    }
                let manager = SessionManager(store: store, providers: [adapter], configuration: configuration)
                var written = 0
                let sessionID: SessionID
                if let session {
                    sessionID = try await resolveSession(session, in: store)
                } else {
                    sessionID = try await manager.startSession(agentID: agent, metadata: ["command": "asm run"])
                    written += 2
                }
                let run = try await manager.startRun(in: sessionID, messages: [ChatMessage(role: .user, content: promptText)])
                written += 2
                let interrupts = InterruptHandler { reason in
                    Task { try? await manager.cancel(run, reason: reason) }
                }
                defer { interrupts.restore() }
                let printer = LivePrinter(live: !quiet && !json)
                let approver = Approver(mode: answer, manager: manager)
                let started = ContinuousClock.now
                let result = try await manager.execute(run, options: options) { event in
                    printer.print(event)
                    if case .toolApprovalRequested(let requested) = event { approver.answer(requested) }
                }
                printer.finish()
                return (result, written + result.eventsWritten, ContinuousClock.now - started)
            }
            if json {
                Console.line(Formatting.json(RunReport(result, elapsed: elapsed, eventsWritten: written)))
            } else {
                Console.note(RunReport.line(result, elapsed: elapsed, eventsWritten: written))
            }
            Console.flush()
            switch result.status {
            case .completed: return
            case .cancelled: throw CommandFailure("", status: ExitStatus.cancelled)
            default: throw CommandFailure("", status: ExitStatus.failure)
            }
        }

        /// The --policy files in order, then the "cli" policy from --deny-tool and --max-budget.
        private func loadPolicies() throws -> [Policy] {
            var policies: [Policy] = []
            for file in policyFiles {
                guard let data = FileManager.default.contents(atPath: file) else {
                    throw CommandFailure("cannot read the policy \(file)", status: ExitStatus.noInput)
                }
                do {
                    policies.append(try Policy(json: Array(data)))
                } catch {
                    throw CommandFailure("\(file): \(error)", status: ExitStatus.usage)
                }
            }
            if !deniedTools.isEmpty || maxBudget != nil {
                do {
                    let patterns = try deniedTools.map { text throws(PolicyError) in try ToolPattern(text) }
                    policies.append(
                        Policy(
                            name: "cli", limits: PolicyLimits(maxCostUSD: maxBudget),
                            toolRules: patterns.isEmpty ? [] : [.deny(patterns)], onViolation: .cancel))
                } catch {
                    throw CommandFailure("--deny-tool: \(error)", status: ExitStatus.usage)
                }
            }
            do {
                _ = try PolicyStack(policies)
            } catch {
                throw CommandFailure("the policies cannot be stacked: \(error)", status: ExitStatus.usage)
            }
            return policies
        }

        private func loadPriceTable() throws -> PriceTable {
            guard let prices else { return .standard }
            guard let data = FileManager.default.contents(atPath: prices) else {
                throw CommandFailure("cannot read the price table \(prices)", status: ExitStatus.noInput)
            }
            do {
                return try PriceTable(json: Array(data))
            } catch {
                throw CommandFailure("\(prices): \(error)", status: ExitStatus.usage)
            }
        }

        /// `read, grep,Bash(git *)` → `["read", "grep", "Bash(git *)"]`.
        static func toolList(_ text: String) -> [String] {
            text.split(separator: ",").compactMap { item in
                let trimmed = item.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()
                return trimmed.isEmpty ? nil : String(trimmed)
            }
        }

        private func readPrompt() throws -> String {
            guard prompt == "-" else { return prompt }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = chunk.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                bytes += chunk[..<count]
            }
            let text = String(decoding: bytes, as: UTF8.self)
            guard !text.allSatisfy(\.isWhitespace) else { throw CommandFailure("the prompt on standard input is empty", status: ExitStatus.usage) }
            return text.hasSuffix("\n") ? String(text.dropLast()) : text
        }

        /// The providers a router configuration names (prefer order, then weights), or the
        /// three CLIs when it names none.
        private func routedProviders(_ config: RouterConfig) throws -> [any ProviderAdapter] {
            var names = config.prefer + config.weights.keys.sorted() + config.exclude
            if names.isEmpty { names = ["claude", "codex", "amp"] }
            var seen = Set<String>()
            return try names.filter { seen.insert($0).inserted }.map { name in
                guard let choice = ProviderChoice(rawValue: name) else {
                    throw CommandFailure("the router names \(name), which is not claude, codex, amp or scripted", status: ExitStatus.usage)
                }
                return try makeProvider(choice)
            }
        }

        private func makeProvider(_ provider: ProviderChoice) throws -> any ProviderAdapter {
            switch provider {
            case .claude: return commandLine(ClaudeCode(), variable: "ASM_CLAUDE_BIN")
            case .codex: return commandLine(Codex(), variable: "ASM_CODEX_BIN")
            case .amp: return commandLine(Amp(), variable: "ASM_AMP_BIN")
            case .scripted:
                guard let script else { return ScriptedProvider(respond: Self.builtInScript) }
                guard let data = FileManager.default.contents(atPath: script) else {
                    throw CommandFailure("cannot read the script \(script)", status: ExitStatus.noInput)
                }
                do {
                    return ScriptedProvider(script: try ProviderScript(json: Array(data)))
                } catch {
                    throw CommandFailure("\(script): \(error.message)", status: ExitStatus.usage)
                }
            }
        }

        /// A CLI provider: --executable, else the variable, else the CLI's name on PATH.
        private func commandLine<Dialect: CommandLineDialect>(_ dialect: Dialect, variable: String) -> CommandLineProvider<Dialect> {
            let fromEnvironment = ProcessInfo.processInfo.environment[variable].flatMap { $0.isEmpty ? nil : $0 }
            return CommandLineProvider(dialect: dialect, configuration: .init(executable: executable ?? fromEnvironment))
        }

        /// What `--provider scripted` answers without a script: it says what it is, streamed
        /// word by word.
        @Sendable static func builtInScript(_ request: ProviderRequest) -> ProviderScript {
            let prompt = request.messages.last?.content ?? ""
            let quoted = prompt.count > 200 ? String(prompt.prefix(200)) + "…" : prompt
            let text = "This is the scripted provider: no model was called. You asked: \(quoted)"
            let words = text.split(separator: " ").count
            let promptWords = prompt.split(whereSeparator: \.isWhitespace).count
            return ProviderScript([
                .text(text, chunks: words),
                .usage(TokenUsage(input: Int64(24 + promptWords), output: Int64(words))),
            ])
        }
    }
}
