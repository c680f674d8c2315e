import AgentSessionManagerTesting
import Foundation
import Testing

/// `asm search` and `asm show --at`: find an event by its words, open its session there.
@Suite struct SearchCommandTests {
    @Test("search names sequence, session, run and type; show --at opens the session there; bad queries exit 64")
    func searchAndOpen() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("demo.sqlite")
        let demo = try await ASMProcess.run(["demo", "--db", db, "--pace", "0", "--part", "policies"])
        #expect(demo.exitCode == 0, "\(demo.stderr)")

        let table = try await ASMProcess.run(["search", "rm -rf", "--db", db])
        #expect(table.exitCode == 0, "\(table.stderr)")
        #expect(table.lines.first == "SEQ  SESSION   RUN       TYPE                 MATCH")
        #expect(table.lines.count == 3)
        #expect(table.lines.dropFirst().first?.hasPrefix(" 45  ") == true)
        #expect(
            table.lines.dropFirst().first?.contains(#"tool_call.requested  Bash {"command":"[rm] -[rf] .build"}"#)
                == true
        )
        #expect(table.lines.last?.contains("run.failed") == true)

        let json = try await ASMProcess.run(["search", "aurora", "--db", db, "--json", "--type", "message.received"])
        #expect(json.lines.count == 3, "the prompt, the note and the answer that name it")
        for line in json.lines {
            let hit = try #require(JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(hit["type"] as? String == "message.received")
            #expect((hit["snippet"] as? String)?.contains("[Aurora]") == true)
            #expect((hit["session_id"] as? String)?.count == 36 && (hit["run_id"] as? String)?.count == 36)
        }
        #expect(try await ASMProcess.run(["search", "zeppelin", "--db", db]).stdout == "no events match\n")

        let shown = try await ASMProcess.run(["show", "--at", "45", "--db", db])
        #expect(shown.exitCode == 0, "\(shown.stderr)")
        #expect(shown.stdout.contains("\naround sequence 45\n"))
        #expect(shown.lines.contains { $0.hasPrefix(">      45  ") && $0.contains("tool_call.requested") })

        for (arguments, code) in [
            (["search", " *** ", "--db", db], 64), (["search", "x", "--type", "run.started", "--db", db], 64),
            (["show", "--at", "999", "--db", db], 66), (["show", "--db", db], 64),
        ] {
            let result = try await ASMProcess.run(arguments)
            #expect(result.exitCode == Int32(code), "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments)")
        }
    }
}
