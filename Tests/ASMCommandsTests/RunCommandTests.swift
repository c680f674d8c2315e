import ASMCore
import ASMStore
import AgentSessionManagerTesting
import ArgumentParser
import Foundation
import Subprocess
import SystemPackage
import Testing

@testable import ASMCommands

/// `asm run`, as a user runs it: the scripted provider and a fake CLI standing in for claude.
@Suite(.serialized) struct RunCommandTests {
    static let fixtures = PackageFiles.path("Fixtures")
    static let fakeAgent = "\(fixtures)/fake-cli/fake-agent"

    /// The database's only session's runs.
    private func runs(_ db: String) async throws -> [RunSummary] {
        let store = try SQLiteEventStore(path: db)
        defer { Task { await store.close() } }
        let sessions = try await store.sessions(limit: 10)
        guard let session = sessions.first else { return [] }
        return try await store.runs(in: session.id)
    }

    @Test("a scripted run prints its text live, ends with a summary line and is recorded")
    func scripted() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let result = try await ASMProcess.run(["run", "--provider", "scripted", "--db", db, "What is 2+2?"])
        #expect(result.exitCode == 0, "\(result.stderr)")
        #expect(result.stdout == "This is the scripted provider: no model was called. You asked: What is 2+2?\n")
        let summary = result.stderr.split(separator: "\n").last.map(String.init) ?? ""
        #expect(summary.hasPrefix("completed in "))
        #expect(
            summary.contains(
                " · scripted scripted-1 · tokens 27 in, 14 out · cost $0.000291 (standard-2026-11) · 20 events written · session "
            )
        )

        let runs = try await runs(db)
        #expect(runs.map(\.status) == [.completed])
        let verify = try await ASMProcess.run(["verify", "--db", db])
        #expect(verify.exitCode == 0)
    }

    @Test("--json prints the outcome as one object; the prompt can come from standard input")
    func json() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let promptFile = directory.file("prompt.txt")
        FileManagerShim.write(promptFile, "Explain the log.\n")
        let result = try await Subprocess.run(
            .path(FilePath(ASMProcess.executable)),
            arguments: ["run", "--provider", "scripted", "--db", db, "--json", "-"],
            environment: .inherit.updating(["ASM_DB": nil]),
            input: .fileDescriptor(.init(rawValue: open(promptFile, O_RDONLY)), closeAfterSpawningProcess: true),
            output: .string(limit: 1 << 20),
            error: .string(limit: 1 << 16)
        )
        #expect(result.terminationStatus == .exited(0))
        let line = result.standardOutput
        #expect(
            line.hasPrefix(
                #"{"schema_version":1,"status":"completed","provider":"scripted","attempts":1,"model":"scripted-1","#
            )
        )
        #expect(
            line.contains(
                #""output_text":"This is the scripted provider: no model was called. You asked: Explain the log.""#
            )
        )
        #expect(line.contains(#""events_written":21"#))
        #expect(line.contains(#""policy":"none","violations":[],"continuation":"off""#))
        #expect(line.split(separator: "\n").count == 1)
    }

    @Test("claude runs through its CLI: text on standard output; tool calls, our cost and Claude's on standard error")
    func claudeThroughCLI() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let result = try await ASMProcess.run(
            [
                "run", "--provider", "claude", "--db", db, "--model", "sonnet", "--deny-tool", "webfetch", "--tools",
                "read, grep", "List the files",
            ],
            environment: [
                "ASM_CLAUDE_BIN": Self.fakeAgent, "FAKE_FIXTURE": "\(Self.fixtures)/providers/claude-tool.jsonl",
                "FAKE_RECORD": directory.path,
            ]
        )
        #expect(result.exitCode == 0, "\(result.stderr)")
        #expect(result.stdout == "I'll list the files.\nThe directory contains `README.md` and `main.swift`.\n")
        #expect(result.stderr.contains(#"· Bash {"command":"ls","description":"List files in current directory"}"#))
        #expect(result.stderr.contains("cost $0.029999 (standard-2026-11), claude reported $0.029999"))
        #expect(result.stderr.contains("policy accepted (cli)"))
        let args = (try? String(contentsOfFile: directory.file("args"), encoding: .utf8)) ?? ""
        #expect(
            args.contains("--model\nsonnet") && args.contains("--disallowedTools\nWebFetch")
                && args.contains("--tools\nRead,Grep")
        )
        #expect(try await runs(db).first?.providerSessionID != nil)
    }

    @Test(
        "a failed run exits 1 with the failure in the summary",
        arguments: [
            (
                ["run", "--provider", "claude", "--executable", "/nonexistent/claude", "hi"], "failed in ",
                "missing_binary: claude is not installed: no executable at /nonexistent/claude"
            ),
            (
                ["run", "--provider", "codex", "--executable", "codex-is-not-here", "hi"], "failed in ",
                #"missing_binary: codex is not installed: no executable "codex-is-not-here" on PATH"#
            ),
        ]
    )
    func failures(arguments: [String], prefix: String, failure: String) async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let result = try await ASMProcess.run(arguments + ["--db", directory.file("asm.sqlite")])
        #expect(result.exitCode == 1)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.hasPrefix(prefix) && result.stderr.contains(" — \(failure) · "), "\(result.stderr)")
        #expect(try await runs(directory.file("asm.sqlite")).map(\.status) == [.failed])
    }

    @Test("a script file drives the scripted provider; a bad one is refused before anything is written")
    func scriptFiles() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let script = directory.file("limited.json")
        FileManagerShim.write(
            script,
            #"""
            {"steps": [{"text": "Working on it"}, {"tool": "Bash", "input": {"command": "make"}, "output": "ok"},
                       {"fail": {"kind": "rate_limited", "message": "API Error: 429 rate limited", "http_status": 429}}]}
            """#
        )
        let limited = try await ASMProcess.run([
            "run", "--provider", "scripted", "--script", script, "--db", db, "build it",
        ])
        #expect(limited.exitCode == 1)
        #expect(limited.stdout == "Working on it\n")
        #expect(
            limited.stderr.contains("failed in ")
                && limited.stderr.contains(" — rate_limited: API Error: 429 rate limited · ")
        )

        let bad = directory.file("bad.json")
        FileManagerShim.write(bad, #"{"steps": [{"text": "fine"}, {"teleport": true}]}"#)
        let refused = try await ASMProcess.run(["run", "--provider", "scripted", "--script", bad, "--db", db, "x"])
        #expect(refused.exitCode == 64)
        #expect(
            refused.stderr
                == "asm: invalid script: \(bad): step 2: unknown step; expected one of text, tool, usage, warning, delay_ms, hang, fail, crash\n"
        )

        let missing = try await ASMProcess.run([
            "run", "--provider", "scripted", "--script", directory.file("nope.json"), "--db", db, "x",
        ])
        #expect(missing.exitCode == 66)
        #expect(try await runs(db).count == 1, "a refused script must not start a run")
    }

    @Test("Ctrl-C cancels the run the provider's way, records it as cancelled and exits 130")
    func interrupt() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let result = try await Subprocess.run(
            .path(FilePath(ASMProcess.executable)),
            arguments: ["run", "--provider", "claude", "--db", db, "hi"],
            environment: .inherit.updating([
                "ASM_DB": nil, "ASM_CLAUDE_BIN": Self.fakeAgent,
                "FAKE_FIXTURE": "\(Self.fixtures)/providers/claude-text.jsonl",
                "FAKE_HANG": "1", "FAKE_ON_SIGINT": "abort", "FAKE_RECORD": directory.path,
                "FAKE_ABORT_TAIL": "\(Self.fixtures)/providers/claude-cancel-sigint.jsonl",
            ]),
            input: .none,
            output: .sequence,
            error: .string(limit: 1 << 16)
        ) { execution in
            var printed: [String] = []
            for try await line in execution.standardOutput.strings(separatedBy: .unicodeScalarSequence(["\n"])) {
                printed.append(line)
                // The answer is out and the fake CLI now hangs: interrupt it as a user would.
                if line.contains("2 + 2 = 4") { try execution.send(signal: .interrupt) }
            }
            return printed
        }
        #expect(result.terminationStatus == .exited(130))
        #expect(result.closureResult.first == "Hello! 2 + 2 = 4.")
        #expect(result.standardError.contains("cancelling the run…"))
        #expect(result.standardError.contains("cancelled in "))
        #expect(try await runs(db).map(\.status) == [.cancelled])
        #expect(try await runs(db).first?.cancelReason == .requested)
        // The CLI process is gone.
        let pid = Int32((try? String(contentsOfFile: directory.file("pid"), encoding: .utf8)) ?? "") ?? 0
        #expect(pid > 0 && kill(pid, 0) != 0)
    }

    @Test(
        "invalid run arguments are refused before anything runs",
        arguments: [
            ["run", "hi"], ["run", "--provider", "gemini", "hi"], ["run", "--provider", "scripted"],
            ["run", "--provider", "scripted", "  "], ["run", "--provider", "claude", "--deadline", "0", "hi"],
            ["run", "--provider", "claude", "--idle-timeout=-1", "hi"],
            ["run", "--provider", "scripted", "--approval-timeout", "0", "hi"],
            ["run", "--provider", "claude", "--script", "s.json", "hi"],
            ["run", "--provider", "scripted", "--executable", "x", "hi"],
            ["run", "--provider", "codex", "--max-turns", "0", "hi"],
            ["run", "--provider", "amp", "--cwd", "/nonexistent/dir", "hi"],
            ["run", "--provider", "amp", "--max-budget", "0", "hi"],
            ["run", "--provider", "scripted", "--continuation", "sometimes", "hi"],
            ["run", "--provider", "scripted", "--approvals", "maybe", "hi"],
            ["run", "--provider", "scripted", "--session", "abc", "--agent", "other", "hi"], ["cost", "--by", "week"],
        ]
    )
    func invalid(arguments: [String]) {
        #expect(throws: (any Error).self) { _ = try ASM.parseAsRoot(arguments) }
    }
}
