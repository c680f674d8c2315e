import ASMCore
import AgentSessionManagerTesting
import Foundation
import Testing

@testable import ASMCommands

/// The whole corpus of secret formats through `asm run` — in the prompt, in streamed text cut
/// into chunks, in a tool's input and output, and in a crash's stderr — reaches neither the
/// terminal, nor `asm events --json`, nor the database file or its write-ahead log.
@Suite struct SecretCorpusCommandTests {
    struct Entry: Decodable {
        var secret: String
        var text: String
    }

    static func corpus() throws -> [Entry] {
        struct Corpus: Decodable { var formats: [Entry] }
        let url = URL(fileURLWithPath: PackageFiles.path("Fixtures/secrets/corpus.json"))
        return try JSONDecoder().decode(Corpus.self, from: Data(contentsOf: url)).formats
    }

    @Test("no format of the corpus reaches the terminal, asm events or the file")
    func corpusThroughRun() async throws {
        let entries = try Self.corpus()
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let all = entries.map(\.text).joined(separator: "\n")
        let script: JSONValue = .object([
            JSONMember(
                "steps",
                .array([
                    .object([JSONMember("text", .string(all)), JSONMember("chunks", 97)]),
                    .object([
                        JSONMember("tool", "Bash"), JSONMember("input", .object([JSONMember("command", .string(all))])),
                        JSONMember("output", .string(all)),
                    ]),
                    .object([
                        JSONMember(
                            "crash",
                            .object([JSONMember("exit_code", 1), JSONMember("stderr", .string(all))])
                        )
                    ]),
                ])
            )
        ])
        let scriptPath = directory.file("leaky.json")
        try Data(try script.jsonBytes()).write(to: URL(fileURLWithPath: scriptPath))
        let run = try await ASMProcess.run([
            "run", "--provider", "scripted", "--script", scriptPath, "--db", db, "Use these:\n" + all,
        ])
        #expect(run.exitCode == 1, "\(run.stderr)")
        let events = try await ASMProcess.run(["events", "--db", db, "--json"])
        let database = String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: db))) ?? Data(), as: UTF8.self)
        let wal = String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: db + "-wal"))) ?? Data(), as: UTF8.self)
        var leaked: [String] = []
        for entry in entries {
            for (place, text) in [
                ("stdout", run.stdout), ("stderr", run.stderr), ("events", events.stdout), ("file", database),
                ("wal", wal),
            ] where text.contains(entry.secret) {
                leaked.append("\(place): \(entry.secret.prefix(24))…")
            }
        }
        #expect(leaked.isEmpty, "\(leaked.count) leaks: \(leaked.prefix(10))")
        #expect(events.stdout.contains("[REDACTED:github-token]"))
    }
}
