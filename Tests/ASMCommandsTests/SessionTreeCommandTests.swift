import AgentSessionManagerTesting
import Foundation
import Testing

/// `asm run --parent-session`: a session started under another; `asm show` and `asm cost --tree` with it.
@Suite struct SessionTreeCommandTests {
    private func object(_ line: String?) throws -> [String: Any] {
        try #require(JSONSerialization.jsonObject(with: Data((line ?? "").utf8)) as? [String: Any])
    }

    @Test("a session started by a tool call of another's run names it; show lists it; cost --tree rolls it up")
    func parentShowAndTree() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("demo.sqlite")
        let demo = try await ASMProcess.run(["demo", "--db", db, "--pace", "0", "--part", "policies"])
        #expect(demo.exitCode == 0, "\(demo.stderr)")
        let parent = try #require(
            try object(try await ASMProcess.run(["sessions", "--db", db, "--json"]).lines.first)["id"] as? String
        )
        let shownParent = try object(try await ASMProcess.run(["show", parent, "--db", db, "--json"]).stdout)
        let runs = try #require(shownParent["runs"] as? [[String: Any]])
        let parentRun = try #require(runs.first?["id"] as? String)

        let run = try await ASMProcess.run([
            "run", "--db", db, "--provider", "scripted", "--agent", "coder", "--parent-session",
            String(parent.prefix(8)),
            "--parent-run", parentRun, "--parent-call", "toolu_1", "--json", "Fix the failing test.",
        ])
        #expect(run.exitCode == 0, "\(run.stderr)")
        let child = try #require(try object(run.lines.last)["session_id"] as? String)

        let shown = try await ASMProcess.run(["show", parent, "--db", db])
        #expect(shown.stdout.contains("\nchildren\n  \(child) (tool call toolu_1 of run \(parentRun))\n"))
        let shownChild = try await ASMProcess.run(["show", child, "--db", db])
        #expect(shownChild.lines.contains("  parent    \(parent) (tool call toolu_1 of run \(parentRun))"))
        let childJSON = try object(try await ASMProcess.run(["show", child, "--db", db, "--json"]).stdout)
        let link = try #require(childJSON["parent"] as? [String: Any])
        #expect(link["parent_session_id"] as? String == parent && link["parent_run_id"] as? String == parentRun)
        #expect(link["parent_call_id"] as? String == "toolu_1")

        let tree = try await ASMProcess.run(["cost", "--tree", "--session", parent, "--db", db, "--json"])
        #expect(tree.exitCode == 0, "\(tree.stderr)")
        let rows = try tree.lines.map(object)
        #expect(rows.map { $0["depth"] as? Int } == [0, 1])
        #expect(rows[0]["relation"] == nil && rows[1]["relation"] as? String == "tool_call")
        #expect(rows[1]["session_id"] as? String == child && rows[1]["parent_call_id"] as? String == "toolu_1")
        #expect(rows[0]["runs"] as? Int == 3 && rows[0]["tree_runs"] as? Int == 4)
        let text = try await ASMProcess.run(["cost", "--tree", "--session", parent, "--db", db])
        #expect(
            text.lines.count == 3 && text.lines[2].contains("└ \(child)") && text.lines[2].contains("tool call toolu_1")
        )

        for (arguments, code) in [
            (["run", "--db", db, "--provider", "scripted", "--parent-run", parentRun, "x"], 64),
            (["run", "--db", db, "--provider", "scripted", "--parent-session", parent, "--parent-call", "c", "x"], 64),
            (["run", "--db", db, "--provider", "scripted", "--parent-session", parent, "--session", parent, "x"], 64),
            (["run", "--db", db, "--provider", "scripted", "--parent-session", "ffffffff", "x"], 66),
        ] {
            let result = try await ASMProcess.run(arguments)
            #expect(result.exitCode == Int32(code), "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result.stderr)")
        }
        let after = try await ASMProcess.run(["sessions", "--db", db, "--json"])
        #expect(after.lines.count == 2, "a refused run writes no session")
    }
}
