import ASMCore
import AgentSessionManagerTesting
import Foundation
import Testing

/// `asm export`: a session for people (Markdown) and for other tools (JSON, JSON Lines).
@Suite struct ExportCommandTests {
    private static func sessionID(_ db: String) async throws -> String {
        let sessions = try await ASMProcess.run(["sessions", "--db", db, "--json"])
        return try #require(
            sessions.lines.first.flatMap { line -> String? in
                guard let range = line.range(of: #""id":""#) else { return nil }
                return String(line[range.upperBound...].prefix(36))
            }
        )
    }

    @Test(
        "markdown, json and jsonl carry the runs, tools, decisions, cost and the chain head; jsonl is the log's own lines"
    )
    func formats() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("demo.sqlite")
        let demo = try await ASMProcess.run(["demo", "--db", db, "--pace", "0", "--part", "policies"])
        #expect(demo.exitCode == 0, "\(demo.stderr)")
        let id = try await Self.sessionID(db)
        let events = try await ASMProcess.run(["events", "--db", db, "--json", "--session", id])
        #expect(events.lines.count == 48)
        let lastHash = try #require(
            events.lines.last.flatMap { line -> String? in
                guard let range = line.range(of: #""hash":""#) else { return nil }
                return String(line[range.upperBound...].prefix(64))
            }
        )

        let markdown = try await ASMProcess.run(["export", String(id.prefix(8)), "--db", db])
        #expect(markdown.exitCode == 0, "\(markdown.stderr)")
        let text = markdown.stdout
        #expect(text.hasPrefix("# Session \(id)\n"))
        #expect(text.components(separatedBy: "\n## Run ").count == 4, "one heading per run")
        #expect(text.contains("> Remember: the release code name is Aurora-7."))
        #expect(text.contains("> The release code name is Aurora-7."))
        #expect(text.contains("```json\n{\"command\":\"find Sources -name '*.swift' | wc -l\"}\n```"))
        #expect(text.contains("Tool output:\n```\n42\n```"))
        #expect(text.contains("Continuation: native (asked auto)"))
        #expect(text.contains("Policy org, rule deny:Bash(rm \\*): cancel — Bash \\`rm -rf .build\\` is denied"))
        #expect(text.contains("**Run failed: policy_violation — org:"))
        #expect(text.contains("**Run completed** — 420 input, 12 output tokens, $0.002370 on scripted"), "as asm show")
        #expect(text.contains("chain head was sequence 48, hash `\(lastHash)`"))

        let jsonl = try await ASMProcess.run(["export", id, "--db", db, "--format", "jsonl"])
        #expect(jsonl.exitCode == 0)
        #expect(Array(jsonl.lines.dropFirst()) == events.lines, "the events exactly as asm events --json prints them")
        let header = try #require(
            JSONSerialization.jsonObject(with: Data((jsonl.lines.first ?? "").utf8)) as? [String: Any]
        )
        #expect(header["export"] as? String == "session" && header["session_id"] as? String == id)
        let head = try #require(header["chain_head"] as? [String: Any])
        #expect(head["sequence"] as? Int == 48 && head["hash"] as? String == lastHash)

        let json = try await ASMProcess.run(["export", id, "--db", db, "--format", "json"])
        let document = try #require(JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        #expect((document["events"] as? [Any])?.count == 48)
        #expect(
            (document["runs"] as? [[String: Any]])?.map { $0["status"] as? String } == [
                "completed", "completed", "failed",
            ]
        )
        let usage = try #require(document["usage"] as? [String: Any])
        let byRun = try #require(usage["by_run"] as? [[String: Any]])
        #expect(usage["cost_nano_usd"] as? Int == byRun.compactMap { $0["cost_nano_usd"] as? Int }.reduce(0, +))
    }

    @Test("the export holds the log's redacted text, keeps fences whole, and writes --output whole")
    func redactionAndFences() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let script = directory.file("script.json")
        try Data(
            #"{"steps": [{"text": "Use ```swift``` blocks.", "chunks": 2}, {"tool": "Bash", "input": {"command": "cat x"}, "output": "a ```` b"}]}"#
                .utf8
        ).write(to: URL(fileURLWithPath: script))
        let secret = "ghp_" + String(repeating: "a1B2", count: 9)
        let run = try await ASMProcess.run([
            "run", "--db", db, "--provider", "scripted", "--script", script, "--quiet", "deploy with \(secret)",
        ])
        #expect(run.exitCode == 0, "\(run.stderr)")
        let id = try await Self.sessionID(db)
        let file = directory.file("out.md")
        let written = try await ASMProcess.run(["export", id, "--db", db, "-o", file])
        #expect(written.exitCode == 0 && written.stdout.isEmpty, "\(written.stderr)")
        let text = try String(contentsOfFile: file, encoding: .utf8)
        #expect(!text.contains(secret))
        #expect(text.contains("> deploy with [REDACTED:github-token]"))
        #expect(
            text.contains("> ````text\n> Use ```swift``` blocks.\n> ````"),
            "a fence longer than any backticks inside"
        )
        #expect(text.contains("`````\na ```` b\n`````"))
        for format in ["json", "jsonl"] {
            let other = try await ASMProcess.run(["export", id, "--db", db, "--format", format])
            #expect(!other.stdout.contains(secret) && other.stdout.contains("[REDACTED:github-token]"))
        }
    }

    @Test("a session the log does not hold exits 66; an output that cannot be written exits 64")
    func failures() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        _ = try await ASMProcess.run(["init", "--db", db])
        let missing = try await ASMProcess.run(["export", "01a24c7b-0000-7000-8000-000000000000", "--db", db])
        #expect(missing.exitCode == 66 && missing.stderr.split(separator: "\n").count == 1, "\(missing.stderr)")
        let run = try await ASMProcess.run(["run", "--db", db, "--provider", "scripted", "--quiet", "hi"])
        #expect(run.exitCode == 0)
        let id = try await Self.sessionID(db)
        let unwritable = try await ASMProcess.run(["export", id, "--db", db, "-o", directory.file("no/such/dir/x.md")])
        #expect(unwritable.exitCode == 64 && unwritable.stderr.hasPrefix("asm: "), "\(unwritable.stderr)")
    }
}
