import ASMCore
import ASMPostgres
import ASMStore
import AgentSessionManagerTesting
import ArgumentParser
import Foundation
import Testing

@testable import ASMCommands

/// `--db postgres://…`: the commands on a PostgreSQL log, and what they say when the URL is
/// bad or the server cannot be reached (never the password).
@Suite(.serialized) struct PostgresCommandTests {
    /// A server to test against (`postgresql:///postgres?host=/tmp/pg&port=5432&user=postgres`);
    /// the flow test is skipped without one.
    static let server: String? = {
        guard let url = ProcessInfo.processInfo.environment["ASM_TEST_POSTGRES"], !url.isEmpty else { return nil }
        return url
    }()

    /// The test server's URL with a schema of its own, so each test starts from an empty log.
    static func freshLog() -> String? {
        guard let server else { return nil }
        var generator = SystemRandomNumberGenerator()
        let suffix = (0..<6).map { _ in String(UInt8.random(in: 0...255, using: &generator), radix: 16) }.joined()
        return server + (server.contains("?") ? "&" : "?") + "schema=t_" + suffix
    }

    static let password = "s3cretpw"
    /// Port 1 refuses connections.
    static let unreachable = "postgres://u:\(password)@127.0.0.1:1/db"

    @Test("a malformed URL is a one-line usage error (64), from --db and from ASM_DB")
    func malformedURL() async throws {
        let url = "postgres://u:\(Self.password)@h:99999/db"
        for (arguments, environment) in [
            (["sessions", "--db", url], [:]),
            (["sessions"], ["ASM_DB": url]),
            (["run", "--provider", "scripted", "--db", url, "hi"], [:]),
        ] as [([String], [String: String])] {
            let result = try await ASMProcess.run(arguments, environment: environment)
            #expect(result.exitCode == 64, "\(arguments): \(result.stderr)")
            #expect(result.stderr.hasPrefix("asm: ") && result.stderr.split(separator: "\n").count == 1)
            #expect(result.stderr.contains("port 99999"), "\(result.stderr)")
            #expect(!result.stderr.contains(Self.password))
            #expect(result.stdout.isEmpty)
        }
        let scheme = try await ASMProcess.run(["sessions", "--db", "postgres://u@h/db?sslmode=sometimes"])
        #expect(scheme.exitCode == 64 && scheme.stderr.contains("sslmode"), "\(scheme.stderr)")
    }

    @Test("an unreachable server is one line naming it without the password, exit 1")
    func unreachableServer() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        for (arguments, environment) in [
            (["sessions", "--db", Self.unreachable], [:]),
            (["events", "--json"], ["ASM_DB": Self.unreachable]),
            (["verify", "--db", Self.unreachable], [:]),
            (["init", "--db", Self.unreachable], [:]),
            (["run", "--provider", "scripted", "--db", Self.unreachable, "hi"], [:]),
        ] as [([String], [String: String])] {
            let result = try await ASMProcess.run(arguments, in: directory.path, environment: environment)
            #expect(result.exitCode == ExitStatus.failure, "\(arguments): \(result.stderr)")
            #expect(result.stderr.hasPrefix("asm: unavailable: "), "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
            #expect(result.stderr.contains("postgres://u@127.0.0.1:1/db"), "\(result.stderr)")
            #expect(!result.stderr.contains(Self.password) && !result.stdout.contains(Self.password))
        }
        // Nothing is written beside a log that is not a file.
        #expect((try? FileManager.default.contentsOfDirectory(atPath: directory.path)) == [])
    }

    @Test("asm expunge refuses a PostgreSQL log in one line (64) without connecting")
    func expungeRefused() async throws {
        let result = try await ASMProcess.run([
            "expunge", "--db", Self.unreachable, "1", "--reason", "leaked", "--yes",
        ])
        #expect(result.exitCode == 64, "\(result.stderr)")
        #expect(
            result.stderr
                == "asm: invalid argument: asm expunge works on an SQLite file only; postgres://u@127.0.0.1:1/db is a PostgreSQL log\n"
        )
    }

    @Test("side files of a PostgreSQL log go to .asm/; its location hides the password")
    func sideFilesAndLocation() throws {
        #expect(StoreOptions.sideFileBase(for: "postgres://u@h/db") == ".asm/asm.sqlite")
        #expect(StoreOptions.sideFileBase(for: "postgresql:///db?host=/tmp&port=5") == ".asm/asm.sqlite")
        #expect(StoreOptions.sideFileBase(for: "/var/asm/log.sqlite") == "/var/asm/log.sqlite")
        #expect(artifactRoot(nil, database: StoreOptions.sideFileBase(for: "postgres://u@h/db")) == ".asm/artifacts")
        #expect(StoreOptions.location(of: Self.unreachable) == "postgres://u@127.0.0.1:1/db")
        #expect(!StoreOptions.location(of: "postgres://u:\(Self.password)@h:99999/db").contains(Self.password))
        #expect(StoreOptions.location(of: "logs/a.sqlite") == "logs/a.sqlite")
        let options = try StoreOptions.parse(["--db", "postgresql:///db?host=/run/pg&port=6543&user=asm"])
        #expect(options.isPostgres && options.location == "postgres://asm@/db?host=/run/pg&port=6543")
        #expect(throws: (any Error).self) { _ = try StoreOptions.parse(["--db", "postgres://u@h:0/db"]) }
    }

    @Test("run, then sessions, show, events, verify, cost and replay on a PostgreSQL log", .enabled(if: server != nil))
    func flow() async throws {
        try await Self.withFreshLog { url in try await flow(url) }
    }

    private func flow(_ url: String) async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let asm = { (arguments: [String]) in try await ASMProcess.run(arguments, in: directory.path) }

        let run = try await asm(["run", "--provider", "scripted", "--db", url, "--json", "Count the files"])
        #expect(run.exitCode == 0, "\(run.stderr)")
        #expect(run.stdout.contains(#""status":"completed""#), "\(run.stdout)")

        let sessions = try await asm(["sessions", "--db", url, "--json"])
        #expect(sessions.exitCode == 0, "\(sessions.stderr)")
        #expect(sessions.lines.count == 1)
        let line = try #require(sessions.lines.first)
        let range = try #require(line.range(of: #""id":""#))
        let session = String(line[range.upperBound...].prefix(36))

        // A prefix resolves on PostgreSQL as on SQLite; ASM_DB names the log as --db does.
        let show = try await ASMProcess.run(
            ["show", String(session.prefix(8))],
            in: directory.path,
            environment: ["ASM_DB": url]
        )
        #expect(show.exitCode == 0, "\(show.stderr)")
        #expect(show.stdout.contains(session), "\(show.stdout)")

        let events = try await asm(["events", "--db", url, "--json"])
        #expect(events.exitCode == 0, "\(events.stderr)")
        #expect(events.lines.count >= 4)
        for (index, line) in events.lines.enumerated() {
            #expect(line.hasPrefix(#"{"schema_version":1,"sequence":\#(index + 1),"#))
        }
        #expect(events.stdout.contains(#""type":"run.completed""#))

        let verify = try await asm(["verify", "--db", url])
        #expect(verify.exitCode == 0, "\(verify.stderr)")
        #expect(verify.stdout.contains("checked \(events.lines.count) events"), "\(verify.stdout)")
        #expect(verify.stdout.contains("integrity: ok"))

        let cost = try await asm(["cost", "--db", url])
        #expect(cost.exitCode == 0, "\(cost.stderr)")
        #expect(cost.stdout.contains(session) && cost.stdout.contains("scripted"), "\(cost.stdout)")

        let replay = try await asm(["replay", "--verify", "--db", url])
        #expect(replay.exitCode == 0, "\(replay.stderr)")
        #expect(replay.stdout.contains("replayed 1 runs") && replay.stdout.contains("all match"), "\(replay.stdout)")

        // A second run continues the session on the same log.
        let again = try await asm(["run", "--provider", "scripted", "--db", url, "--session", session, "And again"])
        #expect(again.exitCode == 0, "\(again.stderr)")
        let runs = try await asm(["sessions", "--db", url])
        #expect(runs.lines.count == 2 && runs.lines[1].contains(" 2 "), "\(runs.stdout)")

        let initialized = try await asm(["init", "--db", url])
        #expect(initialized.exitCode == 0, "\(initialized.stderr)")
        #expect(initialized.stdout.hasPrefix("postgres://") && initialized.stdout.contains("schema version"))

        let expunge = try await asm(["expunge", "--db", url, "1", "--reason", "leaked", "--yes"])
        #expect(expunge.exitCode == 64 && expunge.stderr.contains("PostgreSQL"), "\(expunge.stderr)")

        // asm migrate copies the log to an SQLite file: same head, and asm verify passes on the copy;
        // a second copy into it finds everything there already.
        let copy = directory.file("copy/asm.sqlite")
        let migrated = try await asm(["migrate", "--from", url, "--to", copy, "--json"])
        #expect(migrated.exitCode == 0, "\(migrated.stderr)")
        #expect(migrated.stdout.contains(#""already_there":0"#), "\(migrated.stdout)")
        let copyVerify = try await asm(["verify", "--db", copy, "--json"])
        let sourceVerify = try await asm(["verify", "--db", url, "--json"])
        #expect(copyVerify.exitCode == 0 && sourceVerify.exitCode == 0, "\(copyVerify.stderr)")
        let head = { (text: String) in text.range(of: #""head":""#).map { String(text[$0.upperBound...].prefix(64)) } }
        #expect(head(copyVerify.stdout) != nil && head(copyVerify.stdout) == head(sourceVerify.stdout))
        let resumed = try await asm(["migrate", "--from", url, "--to", copy, "--json"])
        #expect(resumed.exitCode == 0 && resumed.stdout.contains(#""copied":0"#), "\(resumed.stdout) \(resumed.stderr)")
        let same = try await asm(["migrate", "--from", copy, "--to", copy])
        #expect(same.exitCode == 64, "\(same.stderr)")
        try? FileManager.default.removeItem(atPath: directory.file("copy"))

        // Nothing was written to the working directory but side files under .asm/.
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
        #expect(entries.allSatisfy { $0 == ".asm" }, "\(entries)")
    }

    @Test("read commands refuse a schema that holds no log (66) rather than create it", .enabled(if: server != nil))
    func missingLog() async throws {
        let url = try #require(Self.freshLog())
        let result = try await ASMProcess.run(["sessions", "--db", url])
        #expect(result.exitCode == 66, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("asm: missing database: "), "\(result.stderr)")
        await Self.drop(url)
    }

    /// Runs `body` on a log of its own, dropped afterwards whatever happens.
    static func withFreshLog(_ body: (String) async throws -> Void) async throws {
        let url = try #require(freshLog())
        do {
            try await body(url)
        } catch {
            await drop(url)
            throw error
        }
        await drop(url)
    }

    /// Drops a test's schema (schemas are cheap: a failure is ignored).
    static func drop(_ url: String) async {
        guard let store = try? await PostgresEventStore.open(url: url) else { return }
        try? await store.dropSchemaForTesting()
        await store.close()
    }
}
