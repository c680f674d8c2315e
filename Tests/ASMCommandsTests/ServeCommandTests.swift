import ASMCore
import ASMStore
import AgentSessionManagerTesting
import ArgumentParser
import Foundation
import Subprocess
import SystemPackage
import Testing

@testable import ASMCommands

/// `asm serve`, as an operator runs it: run requests on its input, events on its output.
@Suite(.serialized) struct ServeCommandTests {
    private func runs(_ db: String) async throws -> [RunSummary] {
        let store = try SQLiteEventStore(path: db)
        defer { Task { await store.close() } }
        guard let session = try await store.sessions(limit: 10).first else { return [] }
        return try await store.runs(in: session.id)
    }

    /// `asm serve` with three requests whose runs hang after their first words, two at a
    /// time; `signal` is sent once both running runs have streamed.
    private func serveHanging(
        _ directory: TemporaryDirectory,
        _ db: String,
        until signal: Signal
    ) async throws -> (status: TerminationStatus, stderr: String) {
        let script = directory.file("hang.json")
        FileManagerShim.write(script, #"{"steps": [{"text": "working"}, {"hang": true}]}"#)
        let input = directory.file("requests.jsonl")
        FileManagerShim.write(input, (1...3).map { Self.request("job \($0)") }.joined(separator: "\n") + "\n")
        let result = try await Subprocess.run(
            .path(FilePath(ASMProcess.executable)),
            arguments: [
                "serve", "--db", db, "--provider", "scripted", "--script", script, "--max-concurrent", "2", "--input",
                input,
            ],
            environment: .inherit.updating(["ASM_DB": nil]),
            input: .none,
            output: .sequence,
            error: .string(limit: 1 << 16)
        ) { execution in
            var started = 0
            var signalled = false
            for try await line in execution.standardOutput.strings(separatedBy: .unicodeScalarSequence(["\n"])) {
                if line.contains("message.streamed") { started += 1 }
                if started == 2, !signalled {
                    signalled = true
                    try execution.send(signal: signal)
                }
            }
        }
        return (result.terminationStatus, result.standardError ?? "")
    }

    private static func request(_ prompt: String, options: String? = nil) -> String {
        #"{"messages": [{"role": "user", "content": "\#(prompt)"}]"# + (options.map { #", "options": \#($0)"# } ?? "")
            + "}"
    }

    @Test(
        "serve runs the requests of its input concurrently, queues beyond the limit, reports bad lines and exits when done"
    )
    func servesInput() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let input = directory.file("requests.jsonl")
        FileManagerShim.write(
            input,
            [
                Self.request("first"), "{not json", Self.request("second", options: #"{"model": "scripted-2"}"#),
                Self.request("third"),
                #"{"messages": [{"role": "user", "content": "x"}], "options": {"colour": "red"}}"#,
            ].joined(separator: "\n") + "\n"
        )
        let result = try await ASMProcess.run([
            "serve", "--db", db, "--provider", "scripted", "--max-concurrent", "2", "--input", input,
        ])
        #expect(result.exitCode == 1, "two lines were rejected")
        #expect(result.stderr.contains("asm: input line 2: invalid JSON: syntax: "))
        #expect(result.stderr.contains(#"asm: input line 5: unknown option: "colour" (known: "#))
        #expect(result.stderr.contains("served 3 runs (3 completed), 2 requests rejected;"))
        let queued = result.lines.filter { $0.contains("run.queued") }
        #expect(
            queued.count == 1 && queued[0].contains("run 3")
                && queued[0].contains("position 1: concurrency limit of 2 reached")
        )
        #expect(result.lines.filter { $0.contains("run.completed") }.count == 3)

        let runs = try await runs(db)
        #expect(runs.map(\.status) == [.completed, .completed, .completed])
        #expect(runs[1].model == "scripted-2", "per-run options override the command's")
        #expect(try await ASMProcess.run(["verify", "--db", db]).exitCode == 0)
    }

    @Test("--json prints each event exactly as asm tail --json does")
    func json() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let input = directory.file("requests.jsonl")
        FileManagerShim.write(input, Self.request("one") + "\n" + Self.request("two") + "\n")
        let served = try await ASMProcess.run([
            "serve", "--db", db, "--provider", "scripted", "--json", "--input", input,
        ])
        #expect(served.exitCode == 0, "\(served.stderr)")
        let tail = try await ASMProcess.run(["tail", "--db", db, "--json", "--from", "1"])
        #expect(served.lines.count > 20)
        #expect(served.lines == tail.lines)
    }

    @Test(
        "a server killed with SIGKILL: the next one on the file records its running and queued runs abandoned and says so"
    )
    func killedServer() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let killed = try await serveHanging(directory, db, until: .kill)
        #expect(killed.status == .signaled(SIGKILL))
        #expect(try await runs(db).map(\.status) == [.running, .running, .queued])

        let empty = directory.file("empty.jsonl")
        FileManagerShim.write(empty, "")
        let restarted = try await ASMProcess.run([
            "serve", "--db", db, "--provider", "scripted", "--input", empty, "--session",
            try #require(try await runs(db).first?.sessionID.description),
        ])
        #expect(restarted.exitCode == 0, "\(restarted.stderr)")
        let runs = try await runs(db)
        #expect(runs.map(\.status) == [.failed, .failed, .failed])
        #expect(runs.allSatisfy { $0.failureKind == .abandoned })
        #expect(
            restarted.stderr.hasPrefix(
                "recorded 3 runs as abandoned (the process running them ended without recording the end; resubmit to run again): "
                    + runs.map(\.id.description).joined(separator: ", ") + "\n"
            )
        )
        #expect(try await ASMProcess.run(["verify", "--db", db]).exitCode == 0)
    }

    @Test(
        "Ctrl-C shuts the server down: running runs are cancelled the provider's way, queued ones recorded as cancelled"
    )
    func interrupt() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let result = try await serveHanging(directory, db, until: .interrupt)
        #expect(result.status == .exited(130))
        #expect(result.stderr.contains("shutting down: cancelling the runs…"))
        #expect(result.stderr.contains("served 3 runs (3 cancelled)"))
        let runs = try await runs(db)
        #expect(runs.map(\.status) == [.cancelled, .cancelled, .cancelled])
        #expect(runs.filter { $0.startedAt == nil }.count == 1, "the queued run never started")
    }

    @Test(
        "the demo's server part: two concurrent runs in one repository, a subscriber that resumes from its cursor, a diff per run, both applied"
    )
    func demoServer() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("demo.sqlite")
        let demo = try await ASMProcess.run(["demo", "--db", db, "--pace", "0", "--part", "server"])
        #expect(demo.exitCode == 0, "\(demo.stderr)")
        #expect(demo.stdout.contains("… subscriber disconnected after sequence 12; the runs go on …"))
        #expect(demo.stdout.contains("… resubscribed from sequence 13 (last seen + 1) …"))
        #expect(demo.stdout.contains("no gap and no duplicate (same sequences as the log)"))
        #expect(
            demo.stdout.contains(
                "  api: completed · 2 files changed, +2 -0 · modified README.md, added Sources/Health.swift"
            )
        )
        #expect(demo.stdout.contains("  web: completed · 1 file changed, +1 -0 · modified index.html"))
        #expect(demo.stdout.contains("+<footer>v1.4.0</footer>"))
        // One repository, a worktree per run: both changes come back to it.
        #expect(demo.stdout.contains("  api: 2 files applied to "))
        #expect(demo.stdout.contains("  web: 1 file applied to "))
        let worktrees = try await ASMProcess.run(["worktree", "list", "--json", "--db", db])
        #expect(worktrees.lines.count == 2 && worktrees.lines.allSatisfy { $0.contains(#""state":"applied""#) })
        #expect(try await ASMProcess.run(["verify", "--db", db]).exitCode == 0)
        let replay = try await ASMProcess.run(["replay", "--db", db, "--verify"])
        #expect(replay.exitCode == 0 && replay.stdout.hasPrefix("replayed 2 runs"), "\(replay.stdout)")
        #expect(try await runs(db).map(\.status) == [.completed, .completed])
    }

    @Test("serve refuses bad arguments and a missing input file before anything is written")
    func refusals() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let missing = try await ASMProcess.run([
            "serve", "--db", db, "--provider", "scripted", "--input", directory.file("none.jsonl"),
        ])
        #expect(missing.exitCode == 66 && missing.stderr.hasPrefix("asm: missing file: cannot read the input"))
        #expect(!FileManager.default.fileExists(atPath: db))
        for arguments in [
            ["serve", "--provider", "scripted", "--max-concurrent", "0"],
            ["serve", "--provider", "scripted", "--json", "--quiet"],
            ["serve"], ["serve", "--provider", "scripted", "--approvals", "ask"],
        ] {
            #expect(throws: (any Error).self) { _ = try ASM.parseAsRoot(arguments) }
        }
    }
}
