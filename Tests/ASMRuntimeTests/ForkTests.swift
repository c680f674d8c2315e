import ASMCore
import ASMProviders
import ASMRuntime
import ASMStore
import ASMWorkspace
import AgentSessionManagerTesting
import FoundationEssentials
import Testing

/// Forking a session at a point of its history: the fork's runs continue from the parent's
/// conversation up to there, and from nothing after it.
struct ForkTests {
    private func messages(_ request: ProviderRequest?) -> [String] { request?.messages.map(\.content) ?? [] }

    @Test("a run in a fork recalls what was told before the fork point and not what was told after")
    func continuity() async throws {
        let provider = RememberingProvider()
        try await withHarness([provider]) { h in
            let options = RunOptions(provider: provider.name, continuation: .auto)
            let parent = try await h.manager.startSession(agentID: "a")
            let told = try await h.manager.run("Remember: the code is X-42.", in: parent, options: options)
            let toldEnd = try #require(try await h.store.run(told.runID)?.endSequence)
            let later = try await h.manager.run("Forget it: the code is now X-99.", in: parent, options: options)
            let laterRun = try #require(try await h.store.run(later.runID))

            // At the end of the first run, and inside the second (which forks at its start).
            let (fork, forkedAt, _) = try await h.manager.fork(parent, at: toldEnd)
            #expect(forkedAt == toldEnd)
            let inside = try await h.manager.fork(parent, at: SequenceNumber(laterRun.firstSequence.rawValue + 2))
            #expect(inside.forkedAt == SequenceNumber(laterRun.firstSequence.rawValue - 1))

            let asked = try await h.manager.run("What is the code?", in: fork, options: options)
            #expect(asked.outputText == "The code is X-42.")
            let request = try #require(provider.receivedRequests.last)
            #expect(request.resumeSessionID == nil, "the parent's provider session went on past the fork point")
            #expect(messages(request) == ["Remember: the code is X-42.", "The code is X-42.", "What is the code?"])

            // A fork of the fork inherits both conversations, each up to its own fork point.
            let (grandchild, _, _) = try await h.manager.fork(fork)
            _ = try await h.manager.run("And again?", in: grandchild, options: options)
            #expect(
                messages(provider.receivedRequests.last) == [
                    "Remember: the code is X-42.", "The code is X-42.", "What is the code?", "The code is X-42.",
                    "And again?",
                ]
            )

            // The parent goes on from its own history.
            _ = try await h.manager.run("What is the code now?", in: parent, options: options)
            #expect(provider.receivedRequests.last?.resumeSessionID == told.providerSessionID)

            // The fork's first event says where it came from.
            let first = try #require(try await h.events(fork).first)
            guard case .sessionForked(let forked) = first.event else {
                Issue.record("the fork's first event is \(first.type)")
                return
            }
            #expect(forked.parentSessionID == parent && forked.forkedAt == toldEnd && forked.agentID == "a")
            let tree = try await h.store.read { snapshot in
                (try snapshot.forks(from: parent).map(\.sessionID), try snapshot.fork(of: grandchild)?.parentSessionID)
            }
            #expect(tree.0 == [fork, inside.session] && tree.1 == fork)
        }
    }

    @Test("a fork point outside the session, or a session that does not exist, is refused before anything is written")
    func refusals() async throws {
        try await withHarness([RememberingProvider()]) { h in
            let other = try await h.manager.startSession(agentID: "other")
            let session = try await h.manager.startSession(agentID: "a")
            let before = try await h.store.lastSequence()
            let early = await #expect(throws: SessionManagerError.self) {
                _ = try await h.manager.fork(session, at: SequenceNumber(1))
            }
            #expect(early?.code == .invalidArgument)
            let late = await #expect(throws: SessionManagerError.self) {
                _ = try await h.manager.fork(other, at: before)
            }
            #expect(late?.code == .invalidArgument)
            let missing = await #expect(throws: SessionManagerError.self) {
                _ = try await h.manager.fork(.generate())
            }
            #expect(missing?.code == .sessionNotFound)
            #expect(try await h.store.lastSequence() == before)
        }
    }

    @Test("the fork point of a sequence inside overlapping runs is the start of the earliest")
    func forkPoint() throws {
        let session = SessionSummary(
            id: .generate(),
            agentID: "a",
            status: .active,
            metadata: [:],
            tags: [],
            createdAt: .init(microseconds: 0),
            updatedAt: .init(microseconds: 0),
            firstSequence: 10,
            lastSequence: 60,
            version: 30,
            runCount: 2,
            failureReason: nil
        )
        func run(_ first: Int64, _ end: Int64?) -> RunSummary {
            RunSummary(
                id: .generate(),
                sessionID: session.id,
                status: end == nil ? .running : .completed,
                provider: "p",
                model: nil,
                providerSessionID: nil,
                requestedAt: .init(microseconds: 0),
                startedAt: nil,
                endedAt: nil,
                firstSequence: SequenceNumber(first),
                endSequence: end.map(SequenceNumber.init(_:)),
                failureKind: nil,
                failureMessage: nil,
                cancelReason: nil
            )
        }
        let runs = [run(12, 50), run(20, 30), run(55, nil)]
        #expect(try ForkPoint.resolve(11, in: session, runs: runs) == 11)
        #expect(try ForkPoint.resolve(12, in: session, runs: runs) == 11)
        #expect(try ForkPoint.resolve(25, in: session, runs: runs) == 11)
        #expect(try ForkPoint.resolve(50, in: session, runs: runs) == 50, "a run's end event ends it")
        #expect(try ForkPoint.resolve(58, in: session, runs: runs) == 54)
        #expect(throws: SessionManagerError.self) { try ForkPoint.resolve(9, in: session, runs: runs) }
        #expect(throws: SessionManagerError.self) { try ForkPoint.resolve(61, in: session, runs: runs) }
    }
}

extension ForkTests {
    @Test("a fork's worktree holds the parent's workspace as it was at the fork point, not what came after")
    func worktree() async throws {
        let repository = try await ScratchRepository.make()
        defer { repository.directory.remove() }
        let writer = WorktreeWriter()
        try await withHarness([writer]) { h in
            let options = RunOptions(provider: "writer", workspace: WorkspaceOptions(path: repository.path))
            let parent = try await h.manager.startSession(agentID: "a")
            let first = try await h.manager.run("first step", in: parent, options: options)
            let firstEnd = try #require(try await h.store.run(first.runID)?.endSequence)
            _ = try await h.manager.run("second step", in: parent, options: options)
            #expect(repository.exists("first-step.txt") && repository.exists("second-step.txt"))

            let worktrees = TemporaryDirectory()
            defer { worktrees.remove() }
            let (fork, _, made) = try await h.manager.fork(
                parent,
                at: firstEnd,
                worktree: WorktreeOptions(directory: worktrees.path)
            )
            let tree = try #require(made)
            #expect(FileManager.default.fileExists(atPath: tree.workingDirectory + "/first-step.txt"))
            #expect(!FileManager.default.fileExists(atPath: tree.workingDirectory + "/second-step.txt"))
            let opening = try #require(try await h.events(fork).first)
            guard case .sessionForked(let forked) = opening.event else {
                Issue.record("the fork's first event is \(opening.type)")
                return
            }
            #expect(forked.workspacePath == tree.workingDirectory && forked.workspaceSnapshot != nil)

            // The fork's runs work there; the parent's workspace is left alone.
            let next = try await h.manager.run(
                "third step",
                in: fork,
                options: RunOptions(provider: "writer", workspace: WorkspaceOptions(path: tree.workingDirectory))
            )
            #expect(next.status == .completed)
            #expect(FileManager.default.fileExists(atPath: tree.workingDirectory + "/third-step.txt"))
            #expect(!repository.exists("third-step.txt"))

            // A session without a workspace has nothing to fork one from.
            let plain = try await h.manager.startSession(agentID: "b")
            let refused = await #expect(throws: SessionManagerError.self) {
                _ = try await h.manager.fork(plain, worktree: WorktreeOptions(directory: worktrees.path))
            }
            #expect(refused?.code == .invalidArgument)
        }
    }
}
