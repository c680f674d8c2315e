import ASMCore
import ASMStore
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

    /// Claude's own output (a capture with every text, tool input, tool output and result
    /// replaced by the corpus) through the CLI process edge: the fake CLI prints it, `asm run`
    /// records it, and a subscriber reading the log from its start sees what `asm events` does.
    @Test("no format of the corpus reaches the terminal, asm events, a subscription or the file through a CLI")
    func corpusThroughClaude() async throws {
        let entries = try Self.corpus()
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let all = entries.map(\.text).joined(separator: "\n")
        let capture = directory.file("leaky-claude.jsonl")
        try Self.leakyClaudeCapture(all).write(toFile: capture, atomically: true, encoding: .utf8)
        let run = try await ASMProcess.run(
            ["run", "--provider", "claude", "--db", db, "Use these:\n" + all],
            environment: ["ASM_CLAUDE_BIN": PackageFiles.path("Fixtures/fake-cli/fake-agent"), "FAKE_FIXTURE": capture]
        )
        #expect(run.exitCode == 0, "\(run.stderr)")
        let events = try await ASMProcess.run(["events", "--db", db, "--json"])
        #expect(events.stdout.contains(#""type":"tool_call.completed""#))
        // A subscriber from the start: backfill through the end of the log.
        let store = try SQLiteEventStore(path: db)
        let last = try await store.lastSequence()
        var subscribed = ""
        for try await envelope in store.subscribe(from: .zero) {
            subscribed += Formatting.json(envelope) + "\n"
            if envelope.sequence >= last { break }
        }
        await store.close()
        let database = String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: db))) ?? Data(), as: UTF8.self)
        let wal = String(decoding: (try? Data(contentsOf: URL(fileURLWithPath: db + "-wal"))) ?? Data(), as: UTF8.self)
        var leaked: [String] = []
        for entry in entries {
            for (place, text) in [
                ("stdout", run.stdout), ("stderr", run.stderr), ("events", events.stdout),
                ("subscription", subscribed), ("file", database), ("wal", wal),
            ] where text.contains(entry.secret) {
                leaked.append("\(place): \(entry.secret.prefix(24))…")
            }
        }
        #expect(leaked.isEmpty, "\(leaked.count) leaks: \(leaked.prefix(10))")
        #expect(subscribed.contains("[REDACTED:github-token]"))
    }

    /// `claude-tool.jsonl` with its streamed text (cut into many deltas), messages, tool
    /// input (streamed and whole), tool output and result all replaced by `text`.
    static func leakyClaudeCapture(_ text: String) throws -> String {
        let template = try String(
            contentsOfFile: PackageFiles.path("Fixtures/providers/claude-tool.jsonl"),
            encoding: .utf8
        )
        let input = String(decoding: try JSONSerialization.data(withJSONObject: ["command": text]), as: UTF8.self)
        let characters = Array(text)
        let chunks = stride(from: 0, to: characters.count, by: 37).map {
            String(characters[$0..<min($0 + 37, characters.count)])
        }
        var lines: [String] = []
        var replaced: Set<String> = []  // "message/index" blocks whose deltas are written already
        func emit(_ object: [String: Any]) throws {
            lines.append(String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
        }
        for line in template.split(separator: "\n") {
            guard var object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                continue
            }
            if var event = object["event"] as? [String: Any], var delta = event["delta"] as? [String: Any],
                let kind = delta["type"] as? String, kind == "text_delta" || kind == "input_json_delta"
            {
                let block = "\(object["api_message_id"] ?? "")/\(event["index"] ?? "")"
                guard !replaced.contains(block) else { continue }
                replaced.insert(block)
                for piece in kind == "text_delta" ? chunks : [input] {
                    delta[kind == "text_delta" ? "text" : "partial_json"] = piece
                    event["delta"] = delta
                    object["event"] = event
                    try emit(object)
                }
                continue
            }
            if var message = object["message"] as? [String: Any], let content = message["content"] as? [[String: Any]] {
                message["content"] = content.map { item -> [String: Any] in
                    var item = item
                    switch item["type"] as? String {
                    case "text": item["text"] = text
                    case "tool_use": item["input"] = ["command": text]
                    case "tool_result": item["content"] = text
                    default: break
                    }
                    return item
                }
                object["message"] = message
            }
            if var result = object["tool_use_result"] as? [String: Any] {
                result["stdout"] = text
                object["tool_use_result"] = result
            }
            if object["result"] is String { object["result"] = text }
            try emit(object)
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
