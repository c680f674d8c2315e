import ASMCore
import ASMStore
import AgentSessionManagerTesting
import Foundation
import Testing

@testable import ASMCommands

/// `asm run` with policies, continuation and approvals, and `asm cost`.
@Suite(.serialized) struct SessionCommandTests {
    static let fixtures = RunCommandTests.fixtures
    static let fakeAgent = RunCommandTests.fakeAgent

    private func write(_ directory: TemporaryDirectory, _ name: String, _ text: String) -> String {
        let path = directory.file(name)
        FileManagerShim.write(path, text)
        return path
    }

    private func sessionID(_ db: String) async throws -> String {
        let sessions = try await ASMProcess.run(["sessions", "--db", db, "--json"])
        let line = try #require(sessions.lines.first)
        let range = try #require(line.range(of: #""id":""#))
        return String(line[range.upperBound...].prefix(36))
    }

    @Test("stacked policy files cancel a run whose CLI runs a denied tool, and say which policy and rule")
    func policyFiles() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let org = write(
            directory,
            "org.json",
            #"{"name": "org", "limits": {"max_total_tokens": 1000000}, "on_violation": "warn"}"#
        )
        let team = write(
            directory,
            "team.json",
            #"{"name": "team", "tool_rules": [{"deny": ["bash"]}], "on_violation": "cancel"}"#
        )
        let result = try await ASMProcess.run(
            ["run", "--provider", "claude", "--db", db, "--policy", org, "--policy", team, "List the files"],
            environment: [
                "ASM_CLAUDE_BIN": Self.fakeAgent, "FAKE_FIXTURE": "\(Self.fixtures)/providers/claude-tool.jsonl",
                "FAKE_RECORD": directory.path,
            ]
        )
        #expect(result.exitCode == 1, "\(result.stderr)")
        #expect(result.stderr.contains("policies org + team (stack "))
        #expect(result.stderr.contains("policy team deny:bash → cancel (observed): Bash `ls` is denied by bash (team)"))
        #expect(result.stderr.contains("failed in "))
        #expect(result.stderr.contains(" — policy_violation: team: Bash `ls` is denied by bash (team) · "))
        #expect(result.stderr.contains("policy cancelled (org+team)"))
        // The stack reached the CLI as flags too.
        let args = (try? String(contentsOfFile: directory.file("args"), encoding: .utf8)) ?? ""
        #expect(args.contains("--disallowedTools\nBash"))
        let events = try await ASMProcess.run(["events", "--db", db, "--type", "policy.violated", "--json"])
        #expect(events.lines.count == 1 && events.stdout.contains(#""policy":"team","rule":"deny:bash""#))
    }

    @Test(
        "a malformed, impossible or contradictory policy is refused naming the file and key, before anything is written",
        arguments: [
            (
                #"{"name": "x", "limits": {"max_cost": 1}}"#, "unknown key",
                "limits.max_cost: expected one of max_total_tokens, max_cost_usd, max_duration_ms, max_tool_calls"
            ),
            (
                #"{"name": "x", "limits": {"max_cost_usd": 0}}"#, "invalid value",
                "limits.max_cost_usd: must be more than zero dollars"
            ),
            (
                #"{"name": "x", "tool_rules": [{"allow": []}]}"#, "invalid value",
                "tool_rules[0].allow: an empty allow list allows nothing; deny the tools instead"
            ),
            (
                #"{"name": "x", "on_violation": "shrug"}"#, "invalid value",
                #"on_violation: must be "cancel", "warn" or "request_approval""#
            ),
            (#"{"name": "x""#, "invalid JSON", "syntax: "),
        ]
    )
    func badPolicy(text: String, code: String, message: String) async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let file = write(directory, "policy.json", text)
        let db = directory.file("asm.sqlite")
        let result = try await ASMProcess.run(["run", "--provider", "scripted", "--db", db, "--policy", file, "hi"])
        #expect(result.exitCode == 64)
        #expect(result.stderr.hasPrefix("asm: \(code): \(file): \(message)"), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: db), "nothing may be written for a refused policy")
    }

    @Test("policies that contradict each other across files, and a missing file, are refused")
    func stackRefused() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let deny = write(directory, "a.json", #"{"name": "a", "tool_rules": [{"deny": ["bash"]}]}"#)
        let allow = write(directory, "b.json", #"{"name": "b", "tool_rules": [{"allow": ["Bash"]}]}"#)
        let both = try await ASMProcess.run([
            "run", "--provider", "scripted", "--db", directory.file("x.sqlite"), "--policy", deny, "--policy", allow,
            "hi",
        ])
        #expect(both.exitCode == 64)
        #expect(both.stderr == "asm: conflict: bash is both denied and allowed (policies a and b)\n")
        let missing = try await ASMProcess.run([
            "run", "--provider", "scripted", "--db", directory.file("x.sqlite"), "--policy",
            directory.file("none.json"), "hi",
        ])
        #expect(
            missing.exitCode == 66
                && missing.stderr == "asm: missing file: cannot read the policy \(directory.file("none.json"))\n"
        )
    }

    @Test("--session continues a session: replay sends the transcript, and show lists both runs")
    func continueSession() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let first = try await ASMProcess.run([
            "run", "--provider", "scripted", "--db", db, "Remember: the code is X-42.",
        ])
        #expect(first.exitCode == 0)
        let session = try await sessionID(db)
        let second = try await ASMProcess.run(
            [
                "run", "--provider", "scripted", "--db", db, "--session", String(session.prefix(8)), "--continuation",
                "replay", "What is the code?",
            ])
        #expect(second.exitCode == 0, "\(second.stderr)")
        #expect(second.stderr.contains("continuation replay: replaying 2 earlier messages"))
        #expect(second.stderr.contains("· continuation replay · "))
        let show = try await ASMProcess.run(["show", String(session.prefix(8)), "--db", db, "--json"])
        #expect(show.stdout.components(separatedBy: #""status":"completed""#).count - 1 == 2)
        let events = try await ASMProcess.run(["events", "--db", db, "--type", "continuation.applied", "--json"])
        #expect(events.lines.count == 2 && events.lines.last?.contains(#""message_count":2"#) == true)

        let unknown = try await ASMProcess.run([
            "run", "--provider", "scripted", "--db", db, "--session", "ffffffff", "x",
        ])
        #expect(unknown.exitCode == 66 && unknown.stderr == "asm: not found: no session matches ffffffff\n")
    }

    @Test("--approvals answers a held tool: approve lets it run, deny keeps it from running")
    func approvals() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let policy = write(
            directory,
            "ask.json",
            #"{"name": "ask", "tool_rules": [{"deny": ["Bash(make deploy*)"]}], "on_violation": "request_approval"}"#
        )
        let script = write(
            directory,
            "deploy.json",
            #"{"steps": [{"tool": "Bash", "input": {"command": "make deploy"}, "output": "deployed"}, {"text": "Done."}]}"#
        )
        for (answer, runs) in [("approve", true), ("deny", false)] {
            let db = directory.file("\(answer).sqlite")
            let result = try await ASMProcess.run(
                [
                    "run", "--provider", "scripted", "--script", script, "--db", db, "--policy", policy, "--approvals",
                    answer, "Deploy",
                ])
            #expect(result.exitCode == 0, "\(result.stderr)")
            #expect(result.stderr.contains("approval ") && result.stderr.contains(" requested: Bash waits"))
            #expect(
                result.stderr.contains(
                    answer == "approve" ? "approved by asm --approvals approve" : "denied by asm --approvals deny"
                )
            )
            let started = try await ASMProcess.run(["events", "--db", db, "--type", "tool_call.started"])
            #expect(started.lines.count == (runs ? 1 : 0))
        }
    }

    @Test("asm cost rolls usage up by session, provider and model, and recomputes with another price table")
    func cost() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        _ = try await ASMProcess.run(
            ["run", "--provider", "claude", "--db", db, "hi"],
            environment: [
                "ASM_CLAUDE_BIN": Self.fakeAgent, "FAKE_FIXTURE": "\(Self.fixtures)/providers/claude-tool.jsonl",
            ]
        )
        _ = try await ASMProcess.run(["run", "--provider", "scripted", "--db", db, "What is 2+2?"])
        let cost = try await ASMProcess.run(["cost", "--db", db])
        #expect(cost.exitCode == 0, "\(cost.stderr)")
        #expect(
            cost.stdout.contains("by session") && cost.stdout.contains("by provider")
                && cost.stdout.contains("by model")
        )
        let collapsed = cost.stdout.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        #expect(collapsed.contains("claude 1 10 79 29696 5300 $0.029999 $0.029999"))
        #expect(collapsed.contains("scripted 1 27 14 0 0 $0.000291 -"))
        #expect(cost.stdout.contains("  claude-sonnet-4-5-20250929"))

        let prices = write(
            directory,
            "prices.json",
            #"{"version": "half", "prices": [{"provider": "*", "model": "claude-sonnet-4", "input": 1.5, "output": 7.5, "cache_read": 0.15, "cache_write": 1.875}]}"#
        )
        let recomputed = try await ASMProcess.run([
            "cost", "--db", db, "--by", "provider", "--prices", prices, "--json",
        ])
        #expect(recomputed.lines.count == 2)
        let claude = try #require(recomputed.lines.first { $0.contains(#""key":"claude""#) })
        #expect(
            claude.contains(#""cost_usd":0.0299988"#) && claude.contains(#""recomputed_cost_usd":0.0149994"#)
                && claude.contains(#""recomputed_with":"half""#)
        )
        let scripted = try #require(recomputed.lines.first { $0.contains(#""key":"scripted""#) })
        #expect(scripted.contains(#""recomputed_cost_usd":null"#) || !scripted.contains("recomputed_cost_usd"))
        let missing = try await ASMProcess.run(["cost", "--db", directory.file("none.sqlite")])
        #expect(missing.exitCode == 66)
    }
}
