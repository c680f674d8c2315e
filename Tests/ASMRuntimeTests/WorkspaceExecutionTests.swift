import ASMCore
import ASMPolicy
import ASMProviders
import ASMRuntime
import ASMStore
import ASMWorkspace
import AgentSessionManagerTesting
import FoundationEssentials
import Testing

/// Runs with a workspace: snapshots, the diff in the log and in the result, patches in the
/// store, rollback after a failure and after a policy's cancel.
@Suite(.serialized) struct WorkspaceExecutionTests {
    /// A provider that "edits" the repository when its tool call starts (as an agent's tool would).
    private func run(
        _ h: Harness,
        _ repository: ScratchRepository,
        steps: [ProviderScript.Step],
        options: WorkspaceOptions,
        policies: [Policy] = [],
        edit: @escaping @Sendable (ScratchRepository) -> Void = Self.edit
    ) async throws -> RunResult {
        let session = try await h.manager.startSession(agentID: "a")
        return try await h.manager.run(
            "change things",
            in: session,
            options: RunOptions(provider: "scripted", policies: policies, workspace: options)
        ) {
            event in
            if case .toolCallStarted = event { edit(repository) }
        }
    }

    @Sendable static func edit(_ repository: ScratchRepository) {
        repository.write("README.md", "# Project\n\nRewritten.\n")
        repository.write("src/added.swift", "let added = true\n")
        repository.remove("src/main.swift")
    }

    static let tool = ProviderScript.Step.toolCall(name: "Edit", input: ["file_path": "README.md"], output: "ok")

    @Test(
        "a completed run records pre and post snapshots and the diff with its patch, and runs the provider in the workspace"
    )
    func completed() async throws {
        let repository = try await ScratchRepository.make()
        defer { repository.directory.remove() }
        let provider = ScriptedProvider(script: ProviderScript([Self.tool, .text("Done.")]))
        try await withHarness([provider]) { h in
            let result = try await run(
                h,
                repository,
                steps: [],
                options: WorkspaceOptions(path: repository.path, rollbackOnFailure: true)
            )
            #expect(result.status == .completed)
            let diff = try #require(result.workspaceDiff)
            #expect(
                diff.filesChanged == 3 && diff.insertions == 2 && diff.deletions == 3 && diff.hasPatch
                    && diff.artifact == nil
            )
            #expect(diff.patch?.contains("+Rewritten.") == true)
            #expect(diff.changes?.map(\.change).sorted() == ["added", "deleted", "modified"])
            #expect(result.workspaceRollback == nil, "a completed run is not rolled back")
            #expect(repository.exists("src/added.swift"))
            let types = try await h.types(of: result.runID)
            #expect(
                types.filter { $0.hasPrefix("workspace.") } == [
                    "workspace.snapshot_taken", "workspace.snapshot_taken", "workspace.diff_computed",
                ]
            )
            #expect(types.last == "run.completed")
            let cwd = try #require(provider.receivedRequests.first?.workingDirectory)
            #expect(cwd.hasSuffix(repository.path.split(separator: "/").last.map(String.init) ?? "-"))
        }
    }

    @Test("a patch of a file holding a secret is redacted in the log; the exact change stays in the git snapshot")
    func patchWithSecret() async throws {
        let repository = try await ScratchRepository.make()
        defer { repository.directory.remove() }
        let token = "ghp_" + String(repeating: "aB3dE5fG7h", count: 4)
        let provider = ScriptedProvider(script: ProviderScript([Self.tool, .text("Done.")]))
        try await withHarness([provider]) { h in
            let result = try await run(
                h,
                repository,
                steps: [],
                options: WorkspaceOptions(path: repository.path),
                edit: { $0.write("deploy.env", "GITHUB_TOKEN=\(token)\n") }
            )
            #expect(result.status == .completed)
            let stored = try await h.store.recordedEvents(
                from: .zero,
                limit: 1000,
                filter: EventFilter(run: result.runID)
            )
            let diff = try #require(stored.events.first { $0.type == .workspaceDiffComputed })
            let text = String(decoding: diff.payload, as: UTF8.self)
            #expect(!text.contains(token) && text.contains("[REDACTED:github-token]"))
            // The change itself is untouched, and its exact form is in the post snapshot's commit.
            #expect(repository.read("deploy.env") == "GITHUB_TOKEN=\(token)\n")
            let snapshots = try await h.events(of: result.runID).compactMap { envelope -> WorkspaceSnapshotTaken? in
                if case .workspaceSnapshotTaken(let taken) = envelope.event { return taken }
                return nil
            }
            let post = try #require(snapshots.last?.reference)
            #expect(try await repository.git("show", "\(post):deploy.env").contains(token))
        }
    }

    @Test("a failed run is rolled back to its pre-run snapshot, and the rollback is recorded before the failure")
    func rollbackOnFailure() async throws {
        let repository = try await ScratchRepository.make()
        defer { repository.directory.remove() }
        let original = repository.read("README.md")
        let before = try await repository.state()
        let provider = ScriptedProvider(
            script: ProviderScript([Self.tool, .fail(RunFailure(kind: .overloaded, message: "529"))])
        )
        try await withHarness([provider]) { h in
            let result = try await run(
                h,
                repository,
                steps: [],
                options: WorkspaceOptions(path: repository.path, rollbackOnFailure: true)
            )
            #expect(result.status == .failed)
            let rollback = try #require(result.workspaceRollback)
            #expect(
                rollback.restored == 2 && rollback.removed == 1
                    && rollback.safetyReference?.hasPrefix("refs/asm/safety/") == true
            )
            #expect(
                repository.read("README.md") == original && repository.exists("src/main.swift")
                    && !repository.exists("src/added.swift")
            )
            #expect(try await repository.state() == before, "HEAD, index, stash and status are as before the run")
            let types = try await h.types(of: result.runID)
            #expect(
                Array(types.suffix(4)) == [
                    "workspace.snapshot_taken", "workspace.diff_computed", "workspace.rolled_back", "run.failed",
                ]
            )
        }
    }

    @Test("a run a policy cancels is rolled back too")
    func rollbackOnPolicyCancel() async throws {
        let repository = try await ScratchRepository.make()
        defer { repository.directory.remove() }
        let provider = ScriptedProvider(
            script: ProviderScript([
                Self.tool, .toolCall(name: "Bash", input: ["command": "rm -rf /"], output: ""), .text("x"),
            ])
        )
        try await withHarness([provider]) { h in
            let org = Policy(name: "org", toolRules: [.deny([try ToolPattern("Bash(rm *)")])], onViolation: .cancel)
            let result = try await run(
                h,
                repository,
                steps: [],
                options: WorkspaceOptions(path: repository.path, rollbackOnFailure: true),
                policies: [org]
            )
            #expect(result.status == .failed && result.failure?.kind == .policyViolation)
            #expect(
                result.workspaceRollback != nil && repository.exists("src/main.swift")
                    && !repository.exists("src/added.swift")
            )
        }
    }

    @Test("a patch over the inline cap goes to the artifact store, and the event keeps its reference")
    func largePatch() async throws {
        let repository = try await ScratchRepository.make()
        let artifacts = TemporaryDirectory()
        defer {
            repository.directory.remove()
            artifacts.remove()
        }
        let store = FileArtifactStore(root: artifacts.path)
        let provider = ScriptedProvider(script: ProviderScript([Self.tool, .text("Done.")]))
        try await withHarness([provider]) { h in
            let options = WorkspaceOptions(path: repository.path, maxPatchBytes: 100, artifactStore: store)
            let result = try await run(h, repository, steps: [], options: options)
            let diff = try #require(result.workspaceDiff)
            #expect(diff.patch == nil && diff.patchBytes > 100)
            let reference = try ArtifactReference(try #require(diff.artifact))
            let patch = String(decoding: try await store.get(reference), as: UTF8.self)
            #expect(patch.contains("+Rewritten.") && Int64(patch.utf8.count) == diff.patchBytes)
            let stored = try await h.events(of: result.runID).compactMap { envelope -> ArtifactStored? in
                if case .artifactStored(let stored) = envelope.event { return stored }
                return nil
            }
            #expect(
                stored == [
                    ArtifactStored(
                        artifact: reference.description,
                        bytes: diff.patchBytes,
                        mediaType: "text/x-diff",
                        purpose: "patch"
                    )
                ]
            )
        }
    }

    @Test("a workspace that is not a git work tree is refused before anything is recorded")
    func notARepository() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let provider = ScriptedProvider(script: .reply("hi"))
        try await withHarness([provider]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let run = try await h.manager.startRun(in: session, messages: [ChatMessage(role: .user, content: "x")])
            let before = try await h.store.lastSequence()
            await #expect(throws: SessionManagerError.self) {
                _ = try await h.manager.execute(
                    run,
                    options: RunOptions(provider: "scripted", workspace: WorkspaceOptions(path: directory.path))
                )
            }
            #expect(try await h.store.lastSequence() == before && provider.receivedRequests.isEmpty)
            #expect(try await h.manager.run(run)?.status == .requested, "the run can still be executed")
        }
    }

    @Test("the hash strategy works on a plain directory and rolls back from the store")
    func hashStrategy() async throws {
        let tree = ScratchRepository()
        let artifacts = TemporaryDirectory()
        defer {
            tree.directory.remove()
            artifacts.remove()
        }
        tree.write("README.md", "# Plain\n")
        tree.write("src/main.swift", "print(1)\n")
        let provider = ScriptedProvider(
            script: ProviderScript([Self.tool, .fail(RunFailure(kind: .timeout, message: "deadline"))])
        )
        try await withHarness([provider]) { h in
            let options = WorkspaceOptions(
                path: tree.path,
                strategy: .hash,
                artifactStore: FileArtifactStore(root: artifacts.path),
                rollbackOnFailure: true
            )
            let result = try await run(h, tree, steps: [], options: options)
            #expect(result.workspaceDiff?.filesChanged == 3 && result.workspaceDiff?.hasPatch == false)
            #expect(
                result.workspaceRollback?.restored == 2 && tree.read("README.md") == "# Plain\n"
                    && !tree.exists("src/added.swift")
            )
        }
        let refused = ScriptedProvider(script: .reply("hi"))
        try await withHarness([refused]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            await #expect(
                throws: SessionManagerError(
                    .invalidArgument,
                    "workspace: rolling back a hash snapshot needs an artifact store to keep file contents in"
                )
            ) {
                _ = try await h.manager.run(
                    "x",
                    in: session,
                    options: RunOptions(
                        provider: "scripted",
                        workspace: WorkspaceOptions(path: tree.path, strategy: .hash, rollbackOnFailure: true)
                    )
                )
            }
        }
    }

    @Test("a workspace another run holds is refused before anything runs, and free again once a run ends")
    func workspaceInUse() async throws {
        let repository = try await ScratchRepository.make()
        defer { repository.directory.remove() }
        let provider = ScriptedProvider(script: ProviderScript([.text("Done.")]))
        try await withHarness([provider]) { h in
            let session = try await h.manager.startSession(agentID: "a")
            let options = RunOptions(provider: "scripted", workspace: WorkspaceOptions(path: repository.path))
            let lock = try WorkspaceLock.acquire(repository.path, holder: "run elsewhere")
            let run = try await h.manager.startRun(in: session, messages: [ChatMessage(role: .user, content: "x")])
            do {
                _ = try await h.manager.execute(run, options: options)
                Issue.record("a held workspace was used")
            } catch let error as SessionManagerError {
                #expect(error.code == .workspaceInUse && error.message.contains("is in use by pid"))
            }
            #expect(try await h.types(of: run) == ["run.requested", "message.received"], "nothing ran")
            lock.release()
            #expect(try await h.manager.execute(run, options: options).status == .completed)
            // The run gave the workspace back when it ended.
            try WorkspaceLock.acquire(repository.path, holder: "after").release()
        }
    }
}
