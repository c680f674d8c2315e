import AgentSessionManager
import FoundationEssentials
internal import Synchronization

extension ASM.Demo {
    /// The two runs of the server part: a prompt each, in its own repository.
    static let serverRuns: [(label: String, workspace: String, prompt: String)] = [
        ("api", "api", "Add a health endpoint and document it."),
        ("web", "web", "Add a footer with the version to the home page."),
    ]

    /// Two runs at once on a session server, each in its own git workspace; a subscriber
    /// disconnects mid-way and resumes from its cursor; each run's diff is shown.
    func serverSession(_ store: any EventStore, adapter: any ProviderAdapter) async throws {
        let agent: any ProviderAdapter = provider == .scripted ? DemoEditor(pace: .milliseconds(pace)) : adapter
        let manager = SessionManager(store: store, providers: [agent])
        let server = try await SessionServer.start(
            manager: manager,
            agentID: "demo-server",
            metadata: ["purpose": "demo"],
            tags: ["demo", "server"],
            configuration: .init(
                defaultOptions: RunOptions(provider: agent.name, deadline: .seconds(600)),
                maxConcurrentRuns: 2
            )
        )
        let session = server.session
        let first =
            try await store.stream(session.stream, fromVersion: StreamVersion(1), limit: 1).first?.sequence ?? .zero

        // One repository beside the database; each run works in a git worktree of its own,
        // so both go at once.
        let project = besideDatabase(
            "demo-workspaces/" + Formatting.short(session.uuid),
            database: self.store.sideFileBase
        )
        var files: [String: String] = [:]
        for run in Self.serverRuns { files.merge(DemoEditor.initialFiles(run.workspace)) { $1 } }
        try await createGitRepository(at: project, files: files, message: "Start the project")
        var option = server.configuration.defaultOptions
        option.workspace = WorkspaceOptions(
            path: project,
            artifactStore: FileArtifactStore(root: artifactRoot(nil, database: self.store.sideFileBase)),
            rollbackOnFailure: true,
            worktree: WorktreeOptions()
        )
        let options = Self.serverRuns.map { _ in option }

        Console.line("server   session \(session), up to 2 runs at once")
        Console.line("workspace \(project) (git; each run in a worktree of its own, so both run at once)")
        Console.line("")
        Console.line("live (one subscriber; it disconnects after 12 events and resumes from its cursor)")
        Console.flush()

        let labels = Mutex<[RunID: String]>([:])
        let subscriber = Task {
            var seen: [EventEnvelope] = []
            var cursor = first
            var reconnected = false
            while true {
                var ended = true
                for try await envelope in server.subscribe(from: cursor) {
                    seen.append(envelope)
                    cursor = envelope.sequence.next
                    let label = envelope.runID.flatMap { run in labels.withLock { $0[run] } }
                    Console.line(Formatting.serverLine(envelope, run: label))
                    Console.flush()
                    if seen.count == 12, !reconnected {
                        ended = false
                        break
                    }
                }
                if ended { return seen }
                reconnected = true
                Console.line(
                    "         … subscriber disconnected after sequence \(cursor.rawValue - 1); the runs go on …"
                )
                if pace > 0 { try? await Task.sleep(for: .milliseconds(pace * 6)) }
                Console.line("         … resubscribed from sequence \(cursor) (last seen + 1) …")
                Console.flush()
            }
        }

        var runs: [RunID] = []
        for (index, run) in Self.serverRuns.enumerated() {
            let id = try await server.submitRun(
                [ChatMessage(role: .user, content: run.prompt)],
                options: options[index]
            )
            labels.withLock { $0[id] = run.label }
            runs.append(id)
        }
        await server.drain()
        let seen = try await subscriber.value

        let logged = try await store.stream(session.stream, fromVersion: StreamVersion(1), limit: 100_000)
        let exact = seen.map(\.sequence) == logged.map(\.sequence)
        Console.line("")
        Console.line(
            "subscriber: \(seen.count) events across the disconnect, "
                + (exact ? "no gap and no duplicate (same sequences as the log)" : "MISMATCH with the log")
        )
        let order = seen.compactMap(\.runID)
        let switches = zip(order, order.dropFirst()).filter { $0 != $1 }.count
        Console.line("interleaving: the two runs' events alternated \(Formatting.count(switches, "time")) in the log")
        Console.line("")
        Console.line("workspace diffs")
        for (index, run) in runs.enumerated() {
            let result = try await server.result(of: run)
            let label = Self.serverRuns[index].label
            guard let diff = result.workspaceDiff else {
                Console.line("  \(label): \(result.status), no diff recorded")
                continue
            }
            let files = (diff.changes ?? []).map { "\($0.change) \($0.path)" }.joined(separator: ", ")
            Console.line(
                "  \(label): \(result.status) · \(Formatting.count(diff.filesChanged, "file")) changed, +\(diff.insertions) -\(diff.deletions) · \(files)"
            )
            for line in (diff.patch ?? "").split(separator: "\n").prefix(20) {
                Console.line("      \(line)")
            }
        }
        Console.line("")
        Console.line("bringing the changes back (asm worktree apply RUN)")
        let worktrees = Worktrees(store: store)
        for (index, run) in runs.enumerated() where try await server.result(of: run).status == .completed {
            let applied = try await worktrees.apply(run)
            Console.line(
                "  \(Self.serverRuns[index].label): \(Formatting.count(applied.files, "file")) applied to \(applied.to)"
            )
        }
        Console.line("")
        Console.line(
            "next: asm show \(session.description.prefix(8)) --events   asm worktree list   asm diff <run>   asm serve --help"
        )
        if !exact { throw CommandFailure(.verificationFailed, "demo: the subscriber's events do not match the log") }
    }
}

/// The scripted agent of the server part: it streams a plan, then "writes" files with a
/// Write tool whose effect lands in the run's workspace, as a real agent's tool would.
final class DemoEditor: ProviderAdapter {
    let name = "scripted"
    let capabilities: ProviderCapabilities
    private let inner: ScriptedProvider

    init(pace: Duration) {
        let inner = ScriptedProvider(name: "scripted") { request in DemoEditor.script(for: request, pace: pace) }
        self.inner = inner
        capabilities = inner.capabilities
    }

    static func initialFiles(_ workspace: String) -> [String: String] {
        switch workspace {
        case "api":
            ["README.md": "# API\n\nEndpoints:\n- GET /users\n", "Sources/Routes.swift": "let routes = [\"/users\"]\n"]
        default: ["index.html": "<html>\n<body>\n<h1>Home</h1>\n</body>\n</html>\n"]
        }
    }

    static func script(for request: ProviderRequest, pace: Duration) -> ProviderScript {
        let prompt = request.messages.last?.content ?? ""
        let pause: [ProviderScript.Step] = pace > .zero ? [.delay(pace)] : []
        func write(_ path: String, _ content: String) -> ProviderScript.Step {
            .toolCall(
                name: "Write",
                input: ["file_path": .string(path), "content": .string(content)],
                output: "wrote \(path)"
            )
        }
        var steps: [ProviderScript.Step]
        if prompt.contains("health") {
            steps =
                [.text("I'll add a /health route and list it in the README.", chunks: 5)] + pause
                + [write("Sources/Health.swift", "func health() -> String { \"ok\" }\n")] + pause
                + [write("README.md", "# API\n\nEndpoints:\n- GET /users\n- GET /health\n")] + pause
                + [.text("Added GET /health and documented it.", chunks: 3)]
        } else {
            steps =
                [.text("I'll add a footer with the version to index.html.", chunks: 5)] + pause
                + [write("index.html", "<html>\n<body>\n<h1>Home</h1>\n<footer>v1.4.0</footer>\n</body>\n</html>\n")]
                + pause
                + [.text("The home page now has a footer.", chunks: 3)]
        }
        steps += pause + [.usage(TokenUsage(input: 900, output: 80))]
        return ProviderScript(
            steps,
            providerSessionID: "scripted-\(request.runID.description.suffix(12))",
            model: "scripted-1"
        )
    }

    func execute(_ request: ProviderRequest) -> ProviderEventStream {
        let events = inner.execute(request)
        let directory = request.workingDirectory
        let (stream, continuation) = AsyncStream<ProviderEvent>.makeStream()
        let task = Task {
            for await event in events {
                if case .toolStarted(let call) = event, call.name == "Write", let directory,
                    let path = call.input["file_path"]?.stringValue, let content = call.input["content"]?.stringValue
                {
                    Self.write(content, to: directory + "/" + path)
                }
                continuation.yield(event)
            }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return ProviderEventStream(stream)
    }

    func cancel(_ run: RunID, reason: CancelReason) async {
        await inner.cancel(run, reason: reason)
    }

    private static func write(_ content: String, to path: String) {
        if let slash = path.lastIndex(of: "/") {
            try? FileManager.default.createDirectory(atPath: String(path[..<slash]), withIntermediateDirectories: true)
        }
        try? Data(content.utf8).write(to: URL(fileURLWithPath: path))
    }
}
