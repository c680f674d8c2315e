import ASMCore
import ASMStore
import AgentSessionManagerTesting
import ArgumentParser
import Foundation
import Subprocess
import SystemPackage
import Testing

@testable import ASMCommands

/// The `asm` executable, run as a user runs it.
struct ASMProcess {
    struct Output {
        var status: TerminationStatus
        var stdout: String
        var stderr: String
        var lines: [String] { stdout.split(separator: "\n", omittingEmptySubsequences: true).map(String.init) }
        var exitCode: Int32? {
            if case .exited(let code) = status { return code }
            return nil
        }
    }

    static var executable: String {
        let bundle =
            CommandLine.arguments.first { $0.contains(".xctest") || $0.contains("PackageTests") }
            ?? CommandLine.arguments[0]
        var directory = bundle
        while let slash = directory.lastIndex(of: "/") {
            directory = String(directory[..<slash])
            if directory.hasSuffix("/debug") || directory.hasSuffix("/release") { break }
        }
        return directory + "/asm"
    }

    static func run(
        _ arguments: [String],
        in directory: String? = nil,
        environment: [String: String] = [:]
    ) async throws
        -> Output
    {
        var overrides: [Environment.Key: String?] = ["ASM_DB": nil]
        for (key, value) in environment { overrides[Environment.Key(stringLiteral: key)] = value }
        let result = try await Subprocess.run(
            .path(FilePath(executable)),
            arguments: Arguments(arguments),
            environment: .inherit.updating(overrides),
            workingDirectory: directory.map { FilePath($0) },
            input: .none,
            output: .string(limit: 1 << 22),
            error: .string(limit: 1 << 16)
        )
        return Output(status: result.terminationStatus, stdout: result.standardOutput, stderr: result.standardError)
    }
}

@Suite struct ParsingTests {
    @Test("commands parse their options")
    func options() throws {
        let events = try #require(
            try ASM.parseAsRoot(["events", "--db", "x.sqlite", "--limit", "5", "--type", "run.started", "--json"])
                as? ASM.Events
        )
        #expect(
            events.limit == 5 && events.types == ["run.started"] && events.output.json && events.store.db == "x.sqlite"
        )
        let tail = try #require(try ASM.parseAsRoot(["tail", "-f", "-n", "3"]) as? ASM.Tail)
        #expect(tail.follow && tail.lines == 3)
        #expect(try ASM.parseAsRoot(["consumers"]) is ASM.Consumers.List)
    }

    @Test(
        "invalid arguments are refused before anything runs",
        arguments: [
            ["events", "--limit=-1"], ["events", "--type", "Not A Type"], ["events", "--run", "nope"],
            ["tail", "--lines=-2"],
            ["sessions", "--limit", "0"], ["frobnicate"], ["events", "--busy-timeout=-5"], ["consumers", "reset", "x"],
        ]
    )
    func invalid(arguments: [String]) {
        #expect(throws: (any Error).self) { _ = try ASM.parseAsRoot(arguments) }
    }
}

@Suite(.serialized) struct CLITests {
    @Test("demo records a session and the read commands show it")
    func demoAndReads() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("demo.sqlite")
        let demo = try await ASMProcess.run(["demo", "--db", db, "--pace", "0", "--part", "policies"])
        #expect(demo.exitCode == 0, "\(demo.stderr)")
        #expect(demo.stdout.contains("verify: 48 events, chain intact, integrity ok"))
        #expect(demo.stdout.contains("[21] assistant (scripted): There are 42 Swift files in Sources/."))
        #expect(
            demo.stdout.contains(
                "  2. completed · continuation native · policy accepted · $0.002370: The release code name is Aurora-7."
            )
        )
        #expect(
            demo.stdout.contains(
                "  3. failed · continuation native · policy cancelled · - — policy_violation: org: Bash `rm -rf .build` is denied by Bash(rm *) (org)"
            )
        )
        #expect(demo.stdout.contains("policy.violated  org deny:Bash(rm *) → cancel (blocked before it ran)"))

        let events = try await ASMProcess.run(["events", "--db", db, "--json"])
        #expect(events.exitCode == 0)
        #expect(events.lines.count == 48)
        let tape = JSONTape()
        for (index, line) in events.lines.enumerated() {
            #expect(line.hasPrefix(#"{"schema_version":1,"sequence":\#(index + 1),"#))
            var copy = line
            let value = try copy.withUTF8 { bytes in
                try tape.parse(UnsafeRawBufferPointer(bytes), validateUTF8: true)
                return try tape.rootValue()
            }
            #expect(value["payload"]?.objectValue != nil && value["hash"]?.stringValue?.count == 64)
        }

        let sessions = try await ASMProcess.run(["sessions", "--db", db, "--json"])
        #expect(sessions.lines.count == 1)
        let id = try #require(
            sessions.lines.first.flatMap { line -> String? in
                guard let range = line.range(of: #""id":""#) else { return nil }
                return String(line[range.upperBound...].prefix(36))
            }
        )
        let show = try await ASMProcess.run(["show", String(id.prefix(8)), "--db", db, "--json"])
        #expect(show.exitCode == 0, "\(show.stderr)")
        #expect(show.stdout.hasPrefix(#"{"schema_version":1,"session":{"id":"\#(id)""#))
        #expect(show.stdout.contains(#""status":"completed""#))

        let filtered = try await ASMProcess.run([
            "events", "--db", db, "--type", "run.started", "--type", "run.completed",
        ])
        #expect(filtered.lines.count == 5)
        #expect(try await ASMProcess.run(["tail", "--db", db, "-n", "3"]).lines.count == 3)
        #expect(try await ASMProcess.run(["events", "--db", db, "--from", "12"]).lines.count == 37)
        #expect(try await ASMProcess.run(["events", "--db", db, "--session", String(id.prefix(6))]).lines.count == 48)

        let verify = try await ASMProcess.run(["verify", "--db", db])
        #expect(verify.exitCode == 0 && verify.stdout.contains("ok"))
        let rebuild = try await ASMProcess.run(["rebuild", "--db", db])
        #expect(
            rebuild.stdout
                == "rebuilt approvals, runs, sessions, transcript, usage from 48 events (through sequence 48)\n"
        )
    }

    @Test("verify exits 1 and names the sequence when the log was tampered with")
    func tamperedLog() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        _ = try await ASMProcess.run(["demo", "--db", db, "--pace", "0", "--part", "policies"])
        let connection = try Connection(path: db, mode: .readWrite)
        try connection.execute(
            "DROP TRIGGER events_are_append_only_update; UPDATE events SET payload = replace(payload, '42', '43') WHERE sequence = 16"
        )
        connection.close()
        let verify = try await ASMProcess.run(["verify", "--db", db])
        #expect(verify.exitCode == 1)
        #expect(
            verify.stderr
                == "asm: verification failed: hash mismatch at sequence 16: the event was changed after it was recorded\n"
        )
    }

    @Test("errors are one line on standard error with a documented exit code")
    func errors() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let missing = try await ASMProcess.run(["events", "--db", directory.file("nope.sqlite")])
        #expect(missing.exitCode == 66)
        #expect(missing.stderr == "asm: missing database: no database at \(directory.file("nope.sqlite"))\n")

        let garbage = directory.file("garbage.sqlite")
        FileManagerShim.write(garbage, "not a database")
        let notDatabase = try await ASMProcess.run(["sessions", "--db", garbage])
        #expect(notDatabase.exitCode == 65 && notDatabase.stderr.hasPrefix("asm: not a database: "))
        #expect(notDatabase.stderr.split(separator: "\n").count == 1)

        let db = directory.file("asm.sqlite")
        _ = try await ASMProcess.run(["init", "--db", db])
        let newer = try Connection(path: db, mode: .readWrite)
        try newer.execute("INSERT INTO asm_schema_migrations VALUES (42, 'future', 0)")
        newer.close()
        let tooNew = try await ASMProcess.run(["events", "--db", db])
        #expect(tooNew.exitCode == 65 && tooNew.stderr.contains("schema version 42, newer than this build supports"))

        let usage = try await ASMProcess.run(["events", "--limit=-3"])
        #expect(
            usage.exitCode == 64 && usage.stderr.hasPrefix("asm: ") && usage.stderr.split(separator: "\n").count == 1
        )
        let unknown = try await ASMProcess.run(["show", "00000000", "--db", directory.file("fresh.sqlite")])
        #expect(unknown.exitCode == 66)
    }

    @Test("a database locked past the busy timeout exits 75")
    func locked() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        _ = try await ASMProcess.run(["init", "--db", db])
        let blocker = try Connection(path: db, mode: .readWrite)
        try blocker.execute("BEGIN EXCLUSIVE")
        let result = try await ASMProcess.run(["demo", "--db", db, "--pace", "0", "--busy-timeout", "50"])
        try blocker.execute("ROLLBACK")
        blocker.close()
        #expect(result.exitCode == 75, "\(result.stderr)")
        #expect(result.stderr.hasPrefix("asm: busy: "))
    }

    @Test("the database is --db, else $ASM_DB, else .asm/asm.sqlite in the working directory")
    func databaseLocation() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let created = try await ASMProcess.run(["init"], in: directory.path)
        #expect(created.stdout == "created .asm/asm.sqlite (schema version 9)\n")
        let again = try await ASMProcess.run(["init"], in: directory.path)
        #expect(again.stdout == ".asm/asm.sqlite: schema version 9, 0 events\n")
        let fromEnvironment = try await ASMProcess.run(
            ["init"],
            in: directory.path,
            environment: ["ASM_DB": "env.sqlite"]
        )
        #expect(fromEnvironment.stdout == "created env.sqlite (schema version 9)\n")
    }

    @Test("tail --follow prints events another process appends, as they commit")
    func tailFollow() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let store = try SQLiteEventStore(path: db)
        let session = SessionID.generate()
        try await store.append(
            NewEvent(SessionCreated(agentID: "tail")),
            to: session.stream,
            expectedVersion: .noStream
        )
        let result = try await Subprocess.run(
            .path(FilePath(ASMProcess.executable)),
            arguments: ["tail", "--follow", "--json", "--db", db, "-n", "1"],
            input: .none,
            output: .sequence,
            error: .discarded
        ) { execution in
            var lines = execution.standardOutput.strings(separatedBy: .unicodeScalarSequence(["\n"]))
                .makeAsyncIterator()
            var sequences: [String] = []
            guard let first = try await lines.next() else { return sequences }
            sequences.append(first)
            for index in 0..<5 {
                try await store.append(
                    NewEvent(MessageReceived(role: .assistant, content: "live \(index)")),
                    to: session.stream
                )
                guard let line = try await lines.next() else { break }
                sequences.append(line)
            }
            try execution.send(signal: .terminate)
            return sequences
        }
        let lines = result.closureResult
        #expect(lines.count == 6)
        for (index, line) in lines.enumerated() {
            #expect(line.hasPrefix(#"{"schema_version":1,"sequence":\#(index + 1),"#))
        }
        #expect(lines.last?.contains(#""content":"live 4""#) == true)
        await store.close()
    }

    @Test("consumers are listed and reset from the command line")
    func consumers() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("asm.sqlite")
        let store = try SQLiteEventStore(path: db)
        try await store.append(messages: 5)
        _ = try await store.consumer(named: "indexer", startingAt: .end)
        await store.close()
        let list = try await ASMProcess.run(["consumers", "--db", db])
        #expect(list.lines.first?.hasPrefix("CONSUMER") == true)
        #expect(list.lines.last?.hasPrefix("indexer") == true)
        let reset = try await ASMProcess.run([
            "consumers", "reset", "indexer", "--to", "2", "--reason", "replay", "--db", db,
        ])
        #expect(reset.exitCode == 0 && reset.stdout == "indexer: 6 → 2\n")
        let json = try await ASMProcess.run(["consumers", "--json", "--db", db])
        #expect(json.stdout.hasPrefix(#"{"schema_version":1,"name":"indexer","position":2,"lag":5"#))
        let missing = try await ASMProcess.run(["consumers", "reset", "nobody", "--to", "1", "--db", db])
        #expect(missing.exitCode == 66)
    }
}

extension SQLiteEventStore {
    fileprivate func append(messages count: Int) async throws {
        for index in 0..<count {
            try await append(NewEvent(MessageReceived(role: .user, content: "m\(index)")), to: .generate())
        }
    }
}

enum FileManagerShim {
    static func write(_ path: String, _ text: String) {
        _ = FileManager.default.createFile(atPath: path, contents: Data(text.utf8))
    }
}
