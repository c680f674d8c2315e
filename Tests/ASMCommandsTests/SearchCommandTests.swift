import AgentSessionManagerTesting
import Foundation
import Testing

/// `asm search`: a log's search index turned on, off and reported; events found by their words.
@Suite struct SearchCommandTests {
    @Test("--index on indexes the log; search names sequence, session, run and type; off drops it; bad queries exit 64")
    func searchAndIndex() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("demo.sqlite")
        let demo = try await ASMProcess.run(["demo", "--db", db, "--pace", "0", "--part", "policies"])
        #expect(demo.exitCode == 0, "\(demo.stderr)")

        // Off until turned on: one line, exit 66, and it says how to turn it on.
        let off = try await ASMProcess.run(["search", "rm -rf", "--db", db])
        #expect(off.exitCode == 66)
        #expect(off.stderr.split(separator: "\n").count == 1)
        #expect(off.stderr.contains("asm search --index on"))
        #expect(
            try await ASMProcess.run(["search", "--index", "status", "--db", db]).lines == [
                "search index off (asm search --index on builds it)"
            ]
        )

        let on = try await ASMProcess.run(["search", "--index", "on", "--db", db])
        #expect(on.exitCode == 0, "\(on.stderr)")
        #expect(on.lines == ["search index on: 12 events indexed; every append now indexes its events"])

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

        // Another process's appends are indexed in their own transaction.
        let again = try await ASMProcess.run(["demo", "--db", db, "--pace", "0", "--part", "policies"])
        #expect(again.exitCode == 0, "\(again.stderr)")
        let status = try await ASMProcess.run(["search", "--index", "status", "--json", "--db", db])
        let reported = try #require(JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any])
        #expect(reported["on"] as? Bool == true && reported["indexed_events"] as? Int == 24)
        #expect(try await ASMProcess.run(["search", "rm -rf", "--db", db]).lines.count == 5)

        #expect(
            try await ASMProcess.run(["search", "--index", "off", "--db", db]).lines == ["search index off (dropped)"]
        )
        #expect(try await ASMProcess.run(["search", "aurora", "--db", db]).exitCode == 66)

        for arguments in [
            ["search", " *** ", "--db", db], ["search", "x", "--type", "run.started", "--db", db],
            ["search", "--db", db], ["search", "x", "--index", "on", "--db", db],
            ["search", "--index", "maybe", "--db", db], ["search", "--index", "on", "--session", "01", "--db", db],
        ] {
            let result = try await ASMProcess.run(arguments)
            #expect(result.exitCode == 64, "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result.stderr)")
        }
    }
}
