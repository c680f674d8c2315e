import ASMCore
import ASMProviders
import ASMRuntime
import ASMStore
import ASMWorkspace
import AgentSessionManagerTesting
import FoundationEssentials
import Synchronization
import Testing

/// An agent that writes a file named after its prompt in the directory it runs in, notes
/// what it saw there, and finishes only once `together` runs have started, so runs that
/// can go at once must.
final class WorktreeWriter: ProviderAdapter {
    let name = "writer"
    let capabilities = ProviderCapabilities(
        streamsText: false,
        reportsToolCalls: true,
        resumesNatively: false,
        interrupts: true,
        toolGate: .beforeRun
    )
    private struct State {
        var started = 0
        var waiting: [CheckedContinuation<Void, Never>] = []
        var directories: [String: String] = [:]
        var seen: [String: [String: String]] = [:]
    }
    private let state = Mutex(State())
    let together: Int
    /// Files whose contents each run notes, relative to its directory.
    let looksAt: [String]

    init(together: Int = 1, looksAt: [String] = []) {
        self.together = together
        self.looksAt = looksAt
    }

    func directory(of prompt: String) -> String? { state.withLock { $0.directories[prompt] } }
    func seen(by prompt: String) -> [String: String] { state.withLock { $0.seen[prompt] ?? [:] } }

    func execute(_ request: ProviderRequest) -> ProviderEventStream {
        let prompt = request.messages.last?.content ?? "run"
        let directory = request.workingDirectory ?? "."
        var seen: [String: String] = [:]
        for file in looksAt {
            if let data = FileManager.default.contents(atPath: directory + "/" + file) {
                seen[file] = String(decoding: data, as: UTF8.self)
            }
        }
        let file = prompt.replacing(" ", with: "-") + ".txt"
        _ = FileManager.default.createFile(atPath: directory + "/" + file, contents: Data("\(prompt)\n".utf8))
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.directories[prompt] = directory
            state.seen[prompt] = seen
            state.started += 1
            guard state.started >= together else { return [] }
            defer { state.waiting = [] }
            return state.waiting
        }
        for waiter in ready { waiter.resume() }
        let (stream, continuation) = AsyncStream<ProviderEvent>.makeStream()
        Task {
            continuation.yield(.started(RunStarted(provider: "writer", model: "w-1")))
            continuation.yield(
                .toolStarted(ToolCallStarted(callID: "c1", name: "Write", input: ["file_path": .string(file)]))
            )
            await withCheckedContinuation { waiter in
                let now = self.state.withLock { state -> Bool in
                    if state.started >= self.together { return true }
                    state.waiting.append(waiter)
                    return false
                }
                if now { waiter.resume() }
            }
            continuation.yield(.toolCompleted(ToolCallCompleted(callID: "c1", name: "Write", output: "ok")))
            continuation.yield(.completed(RunCompleted(outputText: "wrote \(file)")))
            continuation.finish()
        }
        return ProviderEventStream(stream)
    }

    func cancel(_ run: RunID, reason: CancelReason) async {}
}

/// Runs in git worktrees of their own: made from the user's state, isolated from each other
/// and from the user's checkout, their changes applied back on request, removed without loss.
@Suite(.serialized) struct WorktreeTests {
    private func options(_ path: String, _ worktree: WorktreeOptions = WorktreeOptions()) -> RunOptions {
        RunOptions(provider: "writer", workspace: WorkspaceOptions(path: path, worktree: worktree))
    }

    private func diff(_ result: RunResult) -> [String] { (result.workspaceDiff?.changes ?? []).map(\.path).sorted() }

    @Test(
        "two runs on one repository on a server go at once, each in its worktree; each diff holds only its file; the checkout is untouched until applied"
    )
    func concurrentRuns() async throws {
        let repository = try await ScratchRepository.make()
        defer { repository.directory.remove() }
        let before = try await repository.state()
        let writer = WorktreeWriter(together: 2)
        try await withHarness([writer]) { h in
            let server = try await SessionServer.start(
                manager: h.manager,
                agentID: "pair",
                configuration: .init(defaultOptions: options(repository.path), maxConcurrentRuns: 2)
            )
            let tests = try await server.submitRun("add tests")
            let lint = try await server.submitRun("fix lint")
            let first = try await server.result(of: tests)
            let second = try await server.result(of: lint)
            await server.drain()
            #expect(first.status == .completed && second.status == .completed)
            #expect(diff(first) == ["add-tests.txt"])
            #expect(diff(second) == ["fix-lint.txt"])
            // Both started before either ended: the log says they ran at once.
            let log = try await h.store.events(from: .zero, limit: 10_000, filter: EventFilter()).events
            let starts = log.filter { $0.type == .runStarted }.map(\.sequence)
            let ends = log.filter { $0.type == .runCompleted }.map(\.sequence)
            #expect(starts.count == 2 && ends.count == 2 && (starts.max() ?? .zero) < (ends.min() ?? .zero))
            #expect(try await repository.state() == before, "HEAD, index, stash, branches and status unmoved")
            #expect(!repository.exists("add-tests.txt") && !repository.exists("fix-lint.txt"))

            let worktrees = Worktrees(store: h.store)
            #expect(try await worktrees.list().map(\.state) == [.kept, .kept])
            try await worktrees.apply(tests)
            try await worktrees.apply(lint)
            #expect(
                repository.read("add-tests.txt") == "add tests\n" && repository.read("fix-lint.txt") == "fix lint\n"
            )
            #expect(try await worktrees.list().map(\.state) == [.applied, .applied])
            // Again: the changes are there already, so it does not apply; nothing changes.
            let status = try await repository.git("status", "--porcelain")
            await #expect(throws: SessionManagerError.self) { try await worktrees.apply(tests) }
            #expect(try await repository.git("status", "--porcelain") == status)
            #expect(try await ReplayVerifier(store: h.store).verify().isConsistent)
        }
    }

    @Test("a conflicting apply is refused with one line and changes nothing")
    func conflictingApply() async throws {
        let repository = try await ScratchRepository.make()
        defer { repository.directory.remove() }
        let writer = WorktreeWriter()
        try await withHarness([writer]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let result = try await h.manager.run("notes", in: session, options: options(repository.path))
            // Meanwhile the user wrote the same file differently.
            repository.write("notes.txt", "mine\n")
            let status = try await repository.git("status", "--porcelain")
            do {
                try await Worktrees(store: h.store).apply(result.runID)
                Issue.record("a conflicting apply went through")
            } catch let error as SessionManagerError {
                #expect(error.code == .workspaceFailed)
                #expect(error.message.hasPrefix("the run's changes do not apply cleanly to"))
                #expect(!error.message.contains("\n"))
            }
            #expect(repository.read("notes.txt") == "mine\n")
            #expect(try await repository.git("status", "--porcelain") == status)
            #expect(try await Worktrees(store: h.store).list().first?.state == .kept)
        }
    }

    @Test("apply waits for no one: while a run holds the checkout it is refused as in use, and changes nothing")
    func applyWhileCheckoutBusy() async throws {
        let repository = try await ScratchRepository.make()
        defer { repository.directory.remove() }
        try await withHarness([WorktreeWriter()]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let result = try await h.manager.run("later", in: session, options: options(repository.path))
            let plainRun = try WorkspaceLock.acquire(repository.path, holder: "run elsewhere")
            do {
                try await Worktrees(store: h.store).apply(result.runID)
                Issue.record("applied while another run held the checkout")
            } catch let error as SessionManagerError {
                #expect(error.code == .workspaceInUse)
            }
            #expect(!repository.exists("later.txt"))
            plainRun.release()
            try await Worktrees(store: h.store).apply(result.runID)
            #expect(repository.read("later.txt") == "later\n")
        }
    }

    @Test("a new worktree holds the user's uncommitted and untracked changes, and only the ignored files asked for")
    func userStateAndIgnoredFiles() async throws {
        let repository = try await ScratchRepository.make()
        defer { repository.directory.remove() }
        repository.write("README.md", "# Project\n\nEdited, not committed.\n")
        repository.write("draft.md", "untracked\n")
        repository.write(".env", "TOKEN=local\n")
        repository.write(".gitignore", "*.log\nbuild/\n.env\n")
        // A database kept in the repository, as `asm` run from its top level keeps it.
        repository.write(".asm/asm.sqlite", "not a snapshot's business")
        let writer = WorktreeWriter(looksAt: ["README.md", "draft.md", "notes.txt", "debug.log", ".env"])
        try await withHarness([writer]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let result = try await h.manager.run(
                "one",
                in: session,
                options: options(repository.path, WorktreeOptions(copyIgnored: [".env"]))
            )
            let seen = writer.seen(by: "one")
            #expect(seen["README.md"] == "# Project\n\nEdited, not committed.\n")
            #expect(seen["draft.md"] == "untracked\n")
            #expect(seen["notes.txt"] == "staged\n")
            #expect(seen[".env"] == "TOKEN=local\n", "copied as asked")
            #expect(seen["debug.log"] == nil, "ignored files stay out unless asked for")
            let directory = try #require(writer.directory(of: "one"))
            #expect(directory.hasPrefix(repository.path + "/.asm/worktrees/"))
            // The worktrees never show in the user's status, and asm's own files are in no
            // snapshot, from the very first run on.
            #expect(!(try await repository.git("status", "--porcelain")).contains(".asm"))
            #expect(!FileManager.default.fileExists(atPath: directory + "/.asm/asm.sqlite"))
            let pre = try await repository.git("ls-tree", "-r", "--name-only", "refs/asm/snapshots/\(result.runID)/pre")
            #expect(!pre.contains(".asm/"))
        }
    }

    @Test(
        "a workspace in a subdirectory works in the same subdirectory of the worktree; its diff and apply stay inside it"
    )
    func subdirectory() async throws {
        let repository = try await ScratchRepository.make()
        defer { repository.directory.remove() }
        let writer = WorktreeWriter()
        try await withHarness([writer]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let result = try await h.manager.run("sub", in: session, options: options(repository.path + "/src"))
            #expect(writer.directory(of: "sub")?.hasSuffix("/src") == true)
            #expect(diff(result) == ["sub.txt"])
            // Whatever the user's diff settings, the patch applies.
            try await repository.git("config", "diff.noprefix", "true")
            try await repository.git("config", "diff.mnemonicPrefix", "true")
            try await Worktrees(store: h.store).apply(result.runID)
            #expect(repository.read("src/sub.txt") == "sub\n")
        }
    }

    @Test("a repository without commits gets worktrees too")
    func noCommits() async throws {
        let repository = ScratchRepository()
        defer { repository.directory.remove() }
        try await repository.git("init", "-q", "-b", "main")
        repository.write("start.txt", "first\n")
        let writer = WorktreeWriter(looksAt: ["start.txt"])
        try await withHarness([writer]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let result = try await h.manager.run("fresh", in: session, options: options(repository.path))
            #expect(result.status == .completed)
            #expect(writer.seen(by: "fresh")["start.txt"] == "first\n")
            #expect(diff(result) == ["fresh.txt"])
            try await Worktrees(store: h.store).apply(result.runID)
            #expect(repository.read("fresh.txt") == "fresh\n")
        }
    }

    @Test(
        "remove after the run: the worktree goes once its state is in the post snapshot; remove by hand snapshots first"
    )
    func retentionAndRemoval() async throws {
        let repository = try await ScratchRepository.make()
        defer { repository.directory.remove() }
        let writer = WorktreeWriter()
        try await withHarness([writer]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let gone = try await h.manager.run(
                "gone",
                in: session,
                options: options(repository.path, WorktreeOptions(retention: .remove))
            )
            let directory = try #require(writer.directory(of: "gone"))
            #expect(!FileManager.default.fileExists(atPath: directory))
            #expect(try await h.types(of: gone.runID).contains("workspace.worktree_removed"))
            // Its changes are still there to apply.
            try await Worktrees(store: h.store).apply(gone.runID)
            #expect(repository.read("gone.txt") == "gone\n")

            let kept = try await h.manager.run("kept", in: session, options: options(repository.path))
            let keptDirectory = try #require(writer.directory(of: "kept"))
            // A change after the run, by hand: removing keeps it in the final snapshot.
            _ = FileManager.default.createFile(atPath: keptDirectory + "/late.txt", contents: Data("late\n".utf8))
            let worktrees = Worktrees(store: h.store)
            let removed = try await worktrees.remove(kept.runID)
            #expect(removed.lastSnapshot == "\(kept.runID)/final")
            #expect(!FileManager.default.fileExists(atPath: keptDirectory))
            let final = try await repository.git("show", "refs/asm/snapshots/\(kept.runID)/final:late.txt")
            #expect(final == "late\n")
            #expect(try await worktrees.list().map(\.state) == [.removed, .removed])
            await #expect(throws: SessionManagerError.self) { try await worktrees.remove(kept.runID) }
            #expect(try await worktrees.prune().isEmpty, "nothing left to prune")
        }
    }

    @Test("a worktree whose directory vanished is listed as removed, and prune records it")
    func vanished() async throws {
        let repository = try await ScratchRepository.make()
        defer { repository.directory.remove() }
        let writer = WorktreeWriter()
        try await withHarness([writer]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let result = try await h.manager.run("lost", in: session, options: options(repository.path))
            try FileManager.default.removeItem(atPath: try #require(writer.directory(of: "lost")))
            let worktrees = Worktrees(store: h.store)
            #expect(try await worktrees.list().map(\.state) == [.removed])
            let pruned = try await worktrees.prune()
            #expect(pruned.map(\.reason) == ["its directory was gone"])
            #expect(try await h.types(of: result.runID).last == "workspace.worktree_removed")
            #expect(!(try await repository.git("worktree", "list")).contains("lost"))
        }
    }
}
