import AgentSessionManagerTesting
import Foundation
import Testing

/// `asm show --at SEQ`: the session holding an event, opened there.
@Suite struct ShowAtCommandTests {
    @Test("show --at opens the session holding the event and marks it among its neighbours; bad sequences are refused")
    func showAt() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("demo.sqlite")
        let demo = try await ASMProcess.run(["demo", "--db", db, "--pace", "0", "--part", "policies"])
        #expect(demo.exitCode == 0, "\(demo.stderr)")

        let shown = try await ASMProcess.run(["show", "--at", "45", "--db", db])
        #expect(shown.exitCode == 0, "\(shown.stderr)")
        #expect(shown.stdout.hasPrefix("session "))
        #expect(shown.stdout.contains("\naround sequence 45\n"))
        #expect(shown.lines.contains { $0.hasPrefix(">      45  ") && $0.contains("tool_call.requested") })
        #expect(shown.lines.filter { $0.hasPrefix(">") }.count == 1)

        for (arguments, code) in [
            (["show", "--at", "999", "--db", db], 66), (["show", "--db", db], 64),
            (["show", "--at", "0", "--db", db], 64),
        ] {
            let result = try await ASMProcess.run(arguments)
            #expect(result.exitCode == Int32(code), "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments)")
        }
    }
}
