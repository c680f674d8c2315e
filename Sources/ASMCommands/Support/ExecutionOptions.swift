import AgentSessionManager
import ArgumentParser
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How runs execute: the provider or router, the policies, limits, continuation and
/// workspace. Shared by `asm run` and `asm serve`.
struct ExecutionOptions: ParsableArguments {
    @Option(help: "claude, codex, amp or scripted.")
    var provider: ProviderChoice?

    @Option(help: "A JSON router configuration: route the run over the providers it names (instead of --provider).")
    var router: String?

    @Option(
        name: .customLong("require"),
        help:
            "With --router: a capability the chosen provider must have, as type or type:name (tool:read, streaming; repeatable)."
    )
    var requirements: [String] = []

    @Option(help: "The model to ask for (passed to the CLI as it is).")
    var model: String?

    @Option(help: "The directory the agent works in (default: the current directory).")
    var cwd: String?

    @Option(name: .customLong("system-prompt"), help: "Replaces the agent's system prompt.")
    var systemPrompt: String?

    @Option(help: "Seconds the whole run may take (not extended by output).")
    var deadline: Double?

    @Option(
        name: .customLong("idle-timeout"),
        help: "Seconds the provider may write nothing before the run is stopped."
    )
    var idleTimeout: Double?

    @Option(
        name: .customLong("approval-timeout"),
        help: "Seconds a tool approval waits for an answer before it is denied (default: 600)."
    )
    var approvalTimeout: Double?

    @Option(name: .customLong("deny-tool"), help: "A tool the agent must not run, e.g. bash (repeatable).")
    var deniedTools: [String] = []

    @Option(
        name: .customLong("allow-tool"),
        help: "A tool pre-approved to run, e.g. read or 'Bash(git *)' (repeatable)."
    )
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

    @Option(help: "off, replay, native or auto: how a run continues its session's conversation.")
    var continuation: ContinuationChoice = .auto

    @Option(name: .customLong("policy"), help: "A JSON policy file (repeatable; stacked in order).")
    var policyFiles: [String] = []

    @Option(help: "A JSON price table to compute costs with (default: the built-in table).")
    var prices: String?

    @Option(help: "Snapshot this directory before and after, record the diff, and run the provider in it.")
    var workspace: String?

    @Option(name: .customLong("workspace-strategy"), help: "git (the default) or hash.")
    var workspaceStrategy: WorkspaceStrategyChoice = .git

    @Option(
        name: .customLong("max-patch-bytes"),
        help: "Keep patches up to this size in the log; larger ones go to the artifact store."
    )
    var maxPatchBytes: Int = 64 << 10

    @Option(help: "The artifact store directory (default: artifacts/ beside the database).")
    var artifacts: String?

    @Flag(
        name: .customLong("rollback-on-failure"),
        help: "Put the workspace back to its pre-run snapshot when the run fails or is cancelled."
    )
    var rollbackOnFailure = false

    @Option(name: .customLong("workspace-ignore"), help: "A glob of paths to leave out of snapshots (repeatable).")
    var workspaceIgnore: [String] = []

    @Option(
        help:
            "none (the default: the agent works in the workspace) or worktree (each run in a git worktree of its own, made from its pre-run snapshot; runs on one repository go at once)."
    )
    var isolation: IsolationChoice = .none

    @Option(
        name: .customLong("worktree-dir"),
        help: "Where run worktrees go (default: .asm/worktrees at the repository's top level, ignored by git)."
    )
    var worktreeDirectory: String?

    @Option(
        name: .customLong("copy-ignored"),
        help: "An ignored file the project needs (.env, config/local.*), copied into each worktree (repeatable)."
    )
    var copyIgnored: [String] = []

    @Option(
        name: .customLong("worktree-after"),
        help: "What happens to a run's worktree when it ends: keep (the default), remove-on-success or remove."
    )
    var worktreeAfter: RetentionChoice = .keep

    enum IsolationChoice: String, ExpressibleByArgument, CaseIterable {
        case none, worktree
    }

    enum RetentionChoice: String, ExpressibleByArgument, CaseIterable {
        case keep
        case removeOnSuccess = "remove-on-success"
        case remove

        var retention: WorktreeRetention {
            switch self {
            case .keep: .keep
            case .removeOnSuccess: .removeOnSuccess
            case .remove: .remove
            }
        }
    }

    enum WorkspaceStrategyChoice: String, ExpressibleByArgument, CaseIterable {
        case git, hash
    }

    enum ProviderChoice: String, ExpressibleByArgument, CaseIterable {
        case claude, codex, amp, scripted
    }

    enum ContinuationChoice: String, ExpressibleByArgument, CaseIterable {
        case off, replay, native, auto
    }

    func validate() throws {
        // More than zero, and at most a year (a longer one cannot be a moment in time).
        let limit = RunRequest.maxSeconds
        if let deadline, !(deadline > 0 && deadline <= limit) {
            throw ValidationError("--deadline must be more than zero seconds and at most \(Int(limit))")
        }
        if let approvalTimeout, !(approvalTimeout > 0 && approvalTimeout <= limit) {
            throw ValidationError("--approval-timeout must be more than zero seconds and at most \(Int(limit))")
        }
        if let idleTimeout, !(idleTimeout > 0 && idleTimeout <= limit) {
            throw ValidationError("--idle-timeout must be more than zero seconds and at most \(Int(limit))")
        }
        if let maxTurns, maxTurns < 1 { throw ValidationError("--max-turns must be at least 1") }
        if let maxBudget, !(maxBudget > 0) { throw ValidationError("--max-budget must be more than zero dollars") }
        if (provider == nil) == (router == nil) { throw ValidationError("give one of --provider and --router") }
        if !requirements.isEmpty, router == nil { throw ValidationError("--require needs --router") }
        for requirement in requirements {
            let type = String(requirement.split(separator: ":", maxSplits: 1).first ?? "")
            guard CapabilityRequirement.types.contains(type) else {
                throw ValidationError(
                    "--require \(requirement): the type must be one of \(CapabilityRequirement.types.sorted().joined(separator: ", "))"
                )
            }
        }
        if script != nil, provider != .scripted, router == nil {
            throw ValidationError("--script needs --provider scripted")
        }
        if executable != nil, provider == .scripted || router != nil {
            throw ValidationError("--executable applies to --provider claude, codex or amp")
        }
        if workspace == nil, rollbackOnFailure || workspaceStrategy != .git || !workspaceIgnore.isEmpty {
            throw ValidationError("--rollback-on-failure, --workspace-strategy and --workspace-ignore need --workspace")
        }
        if isolation == .none, worktreeDirectory != nil || !copyIgnored.isEmpty || worktreeAfter != .keep {
            throw ValidationError("--worktree-dir, --copy-ignored and --worktree-after need --isolation worktree")
        }
        if isolation == .worktree, workspace == nil || workspaceStrategy != .git {
            throw ValidationError("--isolation worktree needs --workspace (git strategy)")
        }
        if workspace != nil, cwd != nil {
            throw ValidationError("--workspace is where the provider runs; leave out --cwd")
        }
        guard maxPatchBytes >= 0 else { throw ValidationError("--max-patch-bytes must be zero or more") }
        if let cwd {
            var status = stat()
            guard stat(cwd, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR else {
                throw ValidationError("--cwd \(cwd) is not a directory")
            }
        }
    }

    /// What the options load to, before a store is open.
    struct Loaded {
        var options: RunOptions
        var priceTable: PriceTable
        var single: (any ProviderAdapter)?
        var routerConfig: RouterConfig?
        var candidates: [any ProviderAdapter]

        /// A session manager whose runs go to the one provider, or to a router over several.
        func manager(store: any EventStore, configuration: SessionManager.Configuration) -> SessionManager {
            if let single { return SessionManager(store: store, providers: [single], configuration: configuration) }
            let router = ProviderRouter(providers: candidates, config: routerConfig ?? RouterConfig())
            return SessionManager(store: store, providers: [], routers: [router], configuration: configuration)
        }
    }

    /// Reads the policy, price, router and script files and builds the run options; nothing
    /// is written.
    func load(database: String) throws -> Loaded {
        let policies = try loadPolicies()
        let priceTable = try loadPriceTable()
        let routerConfig = try router.map(loadRouterConfig)
        let candidates = try routerConfig.map(routedProviders) ?? []
        let single = try provider.map(makeProvider)
        var options = RunOptions(
            provider: single?.name ?? "router",
            model: model,
            systemPrompt: systemPrompt,
            workingDirectory: cwd,
            policies: policies,
            continuation: ContinuationMode(rawValue: continuation.rawValue) ?? .auto,
            deadline: deadline.map { .seconds(roundedToMilliseconds: $0) },
            idleTimeout: idleTimeout.map { .seconds(roundedToMilliseconds: $0) },
            preapprovedTools: allowedTools,
            availableTools: tools.map(Self.toolList),
            maxTurns: maxTurns,
            requiredCapabilities: requirements.map { text in
                let parts = text.split(separator: ":", maxSplits: 1).map(String.init)
                return CapabilityRequirement(type: parts[0], name: parts.count > 1 ? parts[1] : nil)
            }
        )
        if let workspace { options.workspace = workspaceOptions(workspace, database: database) }
        if let approvalTimeout { options.approvalTimeout = .seconds(roundedToMilliseconds: approvalTimeout) }
        return Loaded(
            options: options,
            priceTable: priceTable,
            single: single,
            routerConfig: routerConfig,
            candidates: candidates
        )
    }

    /// The workspace options for a path, with this command's strategy, limits and store.
    func workspaceOptions(_ path: String, database: String) -> WorkspaceOptions {
        WorkspaceOptions(
            path: path,
            strategy: WorkspaceStrategy(rawValue: workspaceStrategy.rawValue) ?? .git,
            maxPatchBytes: maxPatchBytes,
            artifactStore: FileArtifactStore(root: artifactRoot(artifacts, database: database)),
            rollbackOnFailure: rollbackOnFailure,
            ignorePatterns: workspaceIgnore,
            worktree: isolation == .worktree
                ? WorktreeOptions(
                    directory: worktreeDirectory,
                    copyIgnored: copyIgnored,
                    retention: worktreeAfter.retention
                )
                : nil
        )
    }

    /// Checks a workspace can be used before anything is written: the ``WorkspaceError``
    /// says why not (not a directory or a work tree: exit 64). A workspace another run holds
    /// is refused here too (exit 75), though it may still be taken between this check and
    /// the run's start.
    static func prepare(_ workspace: WorkspaceOptions, checkLock: Bool = true) async throws(WorkspaceError) {
        try await makeWorkspace(workspace).prepare()
        // A run in a worktree of its own does not claim the workspace.
        if checkLock, workspace.worktree == nil {
            try WorkspaceLock.acquire(workspace.path, holder: "a check").release()
        }
    }

    /// The --policy files in order, then the "cli" policy from --deny-tool and --max-budget.
    private func loadPolicies() throws -> [Policy] {
        var policies: [Policy] = []
        for file in policyFiles {
            let bytes = try contents(of: file, "the policy")
            do {
                policies.append(try Policy(json: bytes))
            } catch {
                var error = error
                error.path = file
                throw error
            }
        }
        if !deniedTools.isEmpty || maxBudget != nil {
            do {
                let patterns = try deniedTools.map { text throws(PolicyError) in try ToolPattern(text) }
                policies.append(
                    Policy(
                        name: "cli",
                        limits: PolicyLimits(maxCostUSD: maxBudget),
                        toolRules: patterns.isEmpty ? [] : [.deny(patterns)],
                        onViolation: .cancel
                    )
                )
            } catch {
                throw CommandFailure(.invalidArgument, "--deny-tool: \(error.message)", underlying: error)
            }
        }
        // A conflict names the policies (`conflict: shell is both denied and allowed (policies org and team)`).
        _ = try PolicyStack(policies)
        return policies
    }

    private func loadPriceTable() throws -> PriceTable {
        guard let prices else { return .standard }
        let bytes = try contents(of: prices, "the price table")
        do {
            return try PriceTable(json: bytes)
        } catch {
            var error = error
            error.path = prices
            throw error
        }
    }

    /// `read, grep,Bash(git *)` → `["read", "grep", "Bash(git *)"]`.
    static func toolList(_ text: String) -> [String] {
        text.split(separator: ",").compactMap { item in
            let trimmed = item.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()
            return trimmed.isEmpty ? nil : String(trimmed)
        }
    }

    /// The providers a router configuration names (prefer order, then weights), or the
    /// three CLIs when it names none.
    private func routedProviders(_ config: RouterConfig) throws -> [any ProviderAdapter] {
        var names = config.prefer + config.weights.keys.sorted() + config.exclude
        if names.isEmpty { names = ["claude", "codex", "amp"] }
        var seen = Set<String>()
        return try names.filter { seen.insert($0).inserted }.map { name in
            guard let choice = ProviderChoice(rawValue: name) else {
                throw CommandFailure(
                    .invalidArgument,
                    "the router names \(name), which is not claude, codex, amp or scripted"
                )
            }
            return try makeProvider(choice)
        }
    }

    private func makeProvider(_ provider: ProviderChoice) throws -> any ProviderAdapter {
        switch provider {
        case .claude: return commandLine(try Self.claudeDialect(), variable: "ASM_CLAUDE_BIN")
        case .codex: return commandLine(Codex(), variable: "ASM_CODEX_BIN")
        case .amp: return commandLine(Amp(), variable: "ASM_AMP_BIN")
        case .scripted:
            guard let script else { return ScriptedProvider(respond: Self.builtInScript) }
            let bytes = try contents(of: script, "the script")
            do {
                return ScriptedProvider(script: try ProviderScript(json: bytes))
            } catch {
                var error = error
                error.path = script
                throw error
            }
        }
    }

    /// Claude Code in the input mode `ASM_CLAUDE_INPUT` names (`stream-json`, the default,
    /// or `print` for CLIs older than 2.0).
    static func claudeDialect() throws -> ClaudeCode {
        guard let text = ProcessInfo.processInfo.environment["ASM_CLAUDE_INPUT"], !text.isEmpty else {
            return ClaudeCode()
        }
        guard let mode = ClaudeCode.InputMode(rawValue: text) else {
            throw CommandFailure(.invalidArgument, "ASM_CLAUDE_INPUT is \(text), not stream-json or print")
        }
        return ClaudeCode(inputMode: mode)
    }

    /// A CLI provider: --executable, else the variable, else the CLI's name on PATH.
    private func commandLine<Dialect: CommandLineDialect>(
        _ dialect: Dialect,
        variable: String
    ) -> CommandLineProvider<Dialect> {
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
