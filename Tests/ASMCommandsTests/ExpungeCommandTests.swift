import AgentSessionManagerTesting
import Testing

@testable import ASMCommands

/// `asm expunge` from the command line, and `asm verify` reporting what it did.
@Suite struct ExpungeCommandTests {
    @Test("expunge asks for --yes, refuses what it cannot do with its exit code, and verify reports the expunge")
    func expunge() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("demo.sqlite")
        _ = try await ASMProcess.run(["demo", "--db", db, "--pace", "0", "--part", "policies"])
        // Sequence 13 is an assistant message in the demo's log; 7 is run.started.
        let unconfirmed = try await ASMProcess.run(["expunge", "13", "--reason", "pasted a secret", "--db", db])
        #expect(unconfirmed.exitCode == 64 && unconfirmed.stderr.contains("--yes"))
        let structural = try await ASMProcess.run(["expunge", "7", "--reason", "x", "--yes", "--db", db])
        #expect(structural.exitCode == 64, "\(structural.stderr)")
        let missing = try await ASMProcess.run(["expunge", "9999", "--reason", "x", "--yes", "--db", db])
        #expect(missing.exitCode == 66)

        let done = try await ASMProcess.run([
            "expunge", "13", "--reason", "pasted a secret", "--by", "ops", "--yes", "--db", db,
        ])
        #expect(done.exitCode == 0, "\(done.stderr)")
        #expect(done.stdout.hasPrefix("expunged 13 (sha256:"))
        let verify = try await ASMProcess.run(["verify", "--db", db])
        #expect(verify.exitCode == 0)
        #expect(verify.stdout.contains("chain: version 2 from 1"))
        #expect(verify.stdout.contains("expunged: 1 event") && verify.stdout.contains("13 by ops"))
        let json = try await ASMProcess.run(["verify", "--db", db, "--json"])
        #expect(json.stdout.contains(#""expunged":[{"sequence":13,"#) && json.stdout.contains(#""ok":true"#))
        let again = try await ASMProcess.run(["expunge", "13", "--reason", "x", "--yes", "--db", db])
        #expect(again.exitCode == 64 && again.stderr.contains("already expunged"))
    }

    /// A policy decision made from a tool call whose payload was expunged cannot be
    /// re-derived: replay says so instead of calling the recorded decision a mismatch.
    @Test("replay --verify names decisions whose input was expunged, and does not call them mismatches")
    func replayAfterExpunge() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("demo.sqlite")
        _ = try await ASMProcess.run(["demo", "--db", db, "--pace", "0", "--part", "policies"])
        // Sequence 45 is the `rm -rf .build` call the org policy denies at 46.
        let expunged = try await ASMProcess.run(["expunge", "45", "--reason", "x", "--yes", "--db", db])
        #expect(expunged.exitCode == 0, "\(expunged.stderr)")
        let replay = try await ASMProcess.run(["replay", "--verify", "--db", db])
        #expect(replay.exitCode == 0, "\(replay.stdout)")
        #expect(replay.lines.first?.hasPrefix("NOT RE-DERIVED at sequence 46 (run ") == true)
        #expect(replay.lines.first?.hasSuffix(", policy): its input at sequence 45 was expunged") == true)
        #expect(
            replay.lines.last
                == "replayed 3 runs: 4 policy decisions, 0 routing decisions, 0 breaker changes; all match "
                + "(1 not re-derived: an input was expunged)"
        )
        let json = try await ASMProcess.run(["replay", "--verify", "--db", db, "--json"])
        #expect(json.stdout.contains(#""mismatches":0"#) && json.stdout.contains(#""unverifiable":1"#))
    }
}
