import AgentSessionManagerTesting
import Foundation
import Testing

/// `asm fork`, the forks in `asm show`, and `asm cost --tree`.
@Suite struct ForkCommandTests {
    private func object(_ line: String?) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data((line ?? "").utf8)) as? [String: Any])
    }

    @Test("a fork continues the parent's conversation up to the fork point; show lists it; cost --tree rolls it up")
    func forkShowAndTree() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("demo.sqlite")
        let demo = try await ASMProcess.run(["demo", "--db", db, "--pace", "0", "--part", "policies"])
        #expect(demo.exitCode == 0, "\(demo.stderr)")
        let listed = try object(try await ASMProcess.run(["sessions", "--db", db, "--json"]).lines.first)
        let parent = try #require(listed["id"] as? String)

        // Sequence 36 is the third run's request: the fork keeps the first two runs.
        let forked = try await ASMProcess.run(["fork", parent, "--at", "36", "--db", db, "--json"])
        #expect(forked.exitCode == 0, "\(forked.stderr)")
        let fork = try object(forked.lines.first)
        let child = try #require(fork["session_id"] as? String)
        #expect(fork["parent_session_id"] as? String == parent && fork["forked_at"] as? Int == 35)

        let run = try await ASMProcess.run([
            "run", "--db", db, "--provider", "scripted", "--session", child, "--json", "What is the release code name?",
        ])
        #expect(run.exitCode == 0, "\(run.stderr)")
        let events = try await ASMProcess.run(["events", "--db", db, "--session", child, "--json"])
        let applied = try events.lines.map(object).first { $0["type"] as? String == "continuation.applied" }
        let payload = try #require(applied?["payload"] as? [String: Any])
        #expect(payload["applied"] as? String == "replay" && payload["message_count"] as? Int == 5)

        let shown = try await ASMProcess.run(["show", parent, "--db", db])
        #expect(shown.stdout.contains("\nforks\n  \(child) (at sequence 35)\n"))
        let shownChild = try object(try await ASMProcess.run(["show", child, "--db", db, "--json"]).stdout)
        let from = try #require(shownChild["forked_from"] as? [String: Any])
        #expect(from["parent_session_id"] as? String == parent && from["forked_at"] as? Int == 35)

        let tree = try await ASMProcess.run(["cost", "--tree", "--session", parent, "--db", db, "--json"])
        #expect(tree.exitCode == 0, "\(tree.stderr)")
        let rows = try tree.lines.map(object)
        #expect(rows.map { $0["depth"] as? Int } == [0, 1])
        #expect(rows[0]["runs"] as? Int == 3 && rows[0]["tree_runs"] as? Int == 4)
        #expect(rows[0]["failed_runs"] as? Int == 1 && rows[0]["tree_failed_runs"] as? Int == 1)
        #expect(rows[1]["session_id"] as? String == child && rows[1]["runs"] as? Int == 1)
        let own = try #require(rows[0]["cost_usd"] as? Double)
        let forkCost = try #require(rows[1]["cost_usd"] as? Double)
        let total = try #require(rows[0]["tree_cost_usd"] as? Double)
        #expect(forkCost > 0 && abs(total - (own + forkCost)) < 1e-9)

        for (arguments, code) in [
            (["fork", parent, "--at", "999", "--db", db], 64), (["fork", parent, "--at", "0", "--db", db], 64),
            (["fork", "ffffffff", "--db", db], 66), (["cost", "--tree", "--db", db], 64),
            // The policies demo runs without a workspace: no snapshot to make a worktree from.
            (["fork", parent, "--worktree", "--db", db], 64),
            (["fork", parent, "--worktree-dir", "x", "--db", db], 64),
        ] {
            let result = try await ASMProcess.run(arguments)
            #expect(result.exitCode == Int32(code), "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments)")
        }
    }

    @Test("fork --worktree makes the fork a worktree from the parent's workspace snapshot; show names it")
    func forkWorktree() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let repository = try await ScratchRepository.make()
        defer { repository.directory.remove() }
        let db = directory.file("work.sqlite")
        let run = try await ASMProcess.run([
            "run", "--db", db, "--provider", "scripted", "--workspace", repository.path, "--json", "look around",
        ])
        #expect(run.exitCode == 0, "\(run.stderr)")
        let listed = try object(try await ASMProcess.run(["sessions", "--db", db, "--json"]).lines.first)
        let parent = try #require(listed["id"] as? String)
        let forked = try await ASMProcess.run([
            "fork", parent, "--worktree", "--worktree-dir", directory.file("trees"), "--db", db, "--json",
        ])
        #expect(forked.exitCode == 0, "\(forked.stderr)")
        let fork = try object(forked.lines.first)
        let path = try #require(fork["workspace_path"] as? String)
        #expect(path.hasPrefix(directory.file("trees")) && FileManager.default.fileExists(atPath: path + "/README.md"))
        let child = try #require(fork["session_id"] as? String)
        let shown = try await ASMProcess.run(["show", child, "--db", db])
        #expect(shown.stdout.contains("\n  worktree  \(path)\n"), "\(shown.stdout)")
    }
}
