import ASMCore
import ASMStore
import AgentSessionManagerTesting
import ArgumentParser
import Foundation
import Testing

@testable import ASMCommands

/// `asm run --router`, `asm providers` and `asm replay`.
@Suite(.serialized) struct RouterCommandTests {
    static let fixtures = RunCommandTests.fixtures

    private func write(_ directory: TemporaryDirectory, _ name: String, _ text: String) -> String {
        let path = directory.file(name)
        FileManagerShim.write(path, text)
        return path
    }

    /// claude and codex are not installed; scripted answers.
    static let missingCLIs = ["ASM_CLAUDE_BIN": "/nonexistent/claude", "ASM_CODEX_BIN": "/nonexistent/codex"]

    @Test(
        "a router fails over past missing CLIs, opens their breakers, skips them next time, and replay verifies it all"
    )
    func routeFailoverAndReplay() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let router = write(
            directory,
            "router.json",
            #"{"strategy": "prefer", "prefer": ["claude", "codex", "scripted"], "max_attempts": 3, "circuit_breaker": {"failure_threshold": 1, "cooldown_ms": 600000}}"#
        )

        let first = try await ASMProcess.run(
            ["run", "--router", router, "--db", db, "hello"],
            environment: Self.missingCLIs
        )
        #expect(first.exitCode == 0, "\(first.stderr)")
        #expect(first.stdout == "This is the scripted provider: no model was called. You asked: hello\n")
        #expect(first.stderr.contains("routed to claude (attempt 1, prefer)"))
        #expect(
            first.stderr.contains(
                "claude failed (missing_binary: claude is not installed: no executable at /nonexistent/claude); failing over to codex"
            )
        )
        #expect(first.stderr.contains("breaker claude: closed → open until "))
        #expect(
            first.stderr.contains(
                "routed to scripted (attempt 3, prefer; left out claude: already_tried, codex: already_tried)"
            )
        )
        #expect(first.stderr.contains("· scripted scripted-1 (attempt 3) · "))

        let second = try await ASMProcess.run(
            ["run", "--router", router, "--db", db, "again", "--json"],
            environment: Self.missingCLIs
        )
        #expect(second.exitCode == 0)
        #expect(second.stdout.contains(#""provider":"scripted","attempts":1,"#))

        let providers = try await ASMProcess.run(["providers", "--db", db])
        #expect(providers.exitCode == 0, "\(providers.stderr)")
        let rows = providers.lines.map { $0.split(separator: " ").joined(separator: " ") }
        #expect(
            rows.contains {
                $0.hasPrefix("claude open 1 ") && $0.contains("1 consecutive failure (last missing_binary")
            }
        )
        #expect(rows.contains { $0.hasPrefix("codex open 1 ") })
        #expect(rows.contains("scripted closed 0 - - -"))
        // As of the first decision, before anything failed.
        let decided = try await ASMProcess.run(["events", "--db", db, "--type", "routing.decided", "--json"])
        let firstSequence = try #require(
            decided.lines.first.flatMap { line -> String? in
                guard let range = line.range(of: #""sequence":"#) else { return nil }
                return String(line[range.upperBound...].prefix { $0.isNumber })
            }
        )
        let before = try await ASMProcess.run(["providers", "--db", db, "--at", firstSequence, "--json"])
        #expect(before.lines.allSatisfy { !$0.contains(#""breaker":"open""#) })

        let replay = try await ASMProcess.run(["replay", "--db", db, "--verify"])
        #expect(replay.exitCode == 0, "\(replay.stdout)\(replay.stderr)")
        #expect(
            replay.stdout == "replayed 2 runs: 0 policy decisions, 6 routing decisions, 2 breaker changes; all match\n"
        )

        // An edited decision is found, with a structured diff.
        let connection = try Connection(path: db, mode: .readWrite)
        try connection.execute(
            #"DROP TRIGGER events_are_append_only_update; UPDATE events SET payload = replace(payload, '"chosen":"claude"', '"chosen":"codex"') WHERE sequence = \#(firstSequence)"#
        )
        connection.close()
        let broken = try await ASMProcess.run(["replay", "--db", db, "--verify"])
        #expect(broken.exitCode == 1)
        #expect(broken.stdout.hasPrefix("MISMATCH at sequence \(firstSequence) (run "))
        #expect(broken.stdout.contains("routing): the decision re-derived from the log differs"))
        #expect(
            broken.stdout.contains(#"  expected: {"type":"routing.decided","payload":{"attempt":1,"#)
                && broken.stdout.contains(#""chosen":"claude""#)
        )
        #expect(
            broken.stdout.contains(#"  recorded: {"type":"routing.decided","payload":"#)
                && broken.stdout.contains(#""chosen":"codex""#)
        )
        let json = try await ASMProcess.run(["replay", "--db", db, "--json"])
        #expect(json.exitCode == 0, "without --verify a mismatch is reported, not an error")
        #expect(
            json.lines.first?.contains(#""kind":"routing""#) == true
                && json.lines.last?.contains(#""consistent":false"#) == true
        )
    }

    @Test("replay --router prints each attempt another router would have sent elsewhere, and a summary")
    func routerWhatIf() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("fixture.sqlite")
        let data = try #require(FileManager.default.contents(atPath: "\(Self.fixtures)/logs/multi-provider.sqlite"))
        _ = FileManager.default.createFile(atPath: db, contents: data)
        let amp = directory.file("amp.json")
        try Data(
            #"{"strategy": "prefer", "prefer": ["amp", "codex", "claude"], "max_attempts": 3, "circuit_breaker": {"failure_threshold": 2, "cooldown_ms": 150}, "sticky_ttl_ms": 600000}"#
                .utf8
        ).write(to: URL(fileURLWithPath: amp))
        let text = try await ASMProcess.run(["replay", "--db", db, "--router", amp])
        #expect(text.exitCode == 0, "\(text.stderr)")
        #expect(text.lines.filter { $0.contains("would have gone to amp (prefer)") }.count == 5)
        #expect(
            text.lines.last
                == "what if router \(amp): 6 routed runs, 7 decisions, 5 would have gone differently (5 elsewhere)"
        )
        let json = try await ASMProcess.run(["replay", "--db", db, "--router", amp, "--json"])
        #expect(json.lines.count == 6)
        #expect(
            json.lines.first?.contains(#""kind":"elsewhere","attempt":1,"recorded":"claude","proposed":"amp""#) == true
        )
        let bad = directory.file("bad.json")
        try Data(#"{"max_attempts": 0}"#.utf8).write(to: URL(fileURLWithPath: bad))
        for (arguments, code) in [
            (["replay", "--db", db, "--router", bad], 64),
            (["replay", "--db", db, "--router", directory.file("no.json")], 66),
            (["replay", "--db", db, "--router", amp, "--verify"], 64),
        ] {
            let result = try await ASMProcess.run(arguments)
            #expect(result.exitCode == Int32(code), "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments)")
        }
    }

    @Test("the recorded multi-provider log in Fixtures/ replays clean from the command line")
    func fixtureReplay() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("fixture.sqlite")
        let data = try #require(FileManager.default.contents(atPath: "\(Self.fixtures)/logs/multi-provider.sqlite"))
        _ = FileManager.default.createFile(atPath: db, contents: data)
        let replay = try await ASMProcess.run(["replay", "--db", db, "--verify"])
        #expect(replay.exitCode == 0, "\(replay.stdout)")
        #expect(replay.stdout.hasSuffix("all match\n"))
        let demo = directory.file("demo.sqlite")
        _ = try await ASMProcess.run(["demo", "--db", demo, "--pace", "0", "--part", "policies"])
        let demoReplay = try await ASMProcess.run(["replay", "--db", demo, "--verify"])
        #expect(
            demoReplay.stdout
                == "replayed 3 runs: 4 policy decisions, 0 routing decisions, 0 breaker changes; all match\n"
        )
    }

    @Test(
        "a bad router file is refused naming the file and key",
        arguments: [
            (#"{"strategy": "fastest"}"#, #"strategy: must be "prefer" or "weighted""#, 64),
            (
                #"{"prefer": ["claude", "gemini"]}"#,
                "the router names gemini, which is not claude, codex, amp or scripted", 64
            ),
            (#"{"max_attempts": 0}"#, "max_attempts: must be at least 1", 64),
        ]
    )
    func badRouter(text: String, message: String, status: Int32) async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let file = write(directory, "router.json", text)
        let result = try await ASMProcess.run(["run", "--router", file, "--db", directory.file("x.sqlite"), "hi"])
        #expect(result.exitCode == status)
        #expect(result.stderr.contains(message), "\(result.stderr)")
        let missing = try await ASMProcess.run([
            "run", "--router", directory.file("none.json"), "--db", directory.file("x.sqlite"), "hi",
        ])
        #expect(missing.exitCode == 66)
    }

    @Test(
        "run takes one of --provider and --router",
        arguments: [
            ["run", "hi"], ["run", "--provider", "claude", "--router", "r.json", "hi"],
            ["run", "--router", "r.json", "--executable", "x", "hi"],
            ["providers", "--at", "0"], ["run", "--provider", "claude", "--require", "tool:read", "hi"],
            ["run", "--router", "r.json", "--require", "magic:x", "hi"],
        ]
    )
    func exclusive(arguments: [String]) {
        #expect(throws: (any Error).self) { _ = try ASM.parseAsRoot(arguments) }
    }
}
