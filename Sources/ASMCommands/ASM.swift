import AgentSessionManager
public import ArgumentParser

/// `asm`: runs, tails, audits and replays agent sessions recorded in one SQLite file or on a
/// PostgreSQL server.
public struct ASM: AsyncParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "asm",
        abstract: "Run agent sessions and inspect, follow and verify their event log.",
        discussion: """
            Every command works on one log: an SQLite file (--db PATH, else $ASM_DB, else .asm/asm.sqlite) \
            or a PostgreSQL server (--db or $ASM_DB holding postgres://USER@HOST/DB, postgresql://..., or \
            postgresql:///DB?host=/SOCKET/DIR&port=N&user=U). Commands that only read refuse a log that does \
            not exist. With a PostgreSQL log, the files kept beside the database (artifacts/, the HTTP token, \
            demo workspaces) go to .asm/ in the current directory.
            """,
        version: "0.1.0",
        subcommands: [
            Run.self, Serve.self, Cost.self, Providers.self, Replay.self, Diff.self, WorkspaceCommand.self, Init.self,
            Events.self, Tail.self, Sessions.self, Show.self, Search.self, Fork.self, Export.self, Verify.self,
            Rebuild.self,
            Migrate.self,
            Consumers.self,
            Expunge.self,
            Recover.self, OTel.self, Approvals.self, Approve.self, Deny.self, WorktreeCommand.self,
            Demo.self,
        ]
    )

    public init() {}
}

/// The entry point of the `asm` executable.
public enum ASMCLI {
    /// Parses `arguments` (without the program name), runs the command and returns the exit status.
    ///
    /// Every failure is one line on standard error, `asm: <code>: <what went wrong>`, and
    /// the exit status says what kind (``ExitStatus``): 0 success, 1 failure, 64 usage,
    /// 65 unusable data, 66 missing, 75 busy or in use, 130 interrupted.
    public static func run(_ arguments: [String]) async -> Int32 {
        let command: any ParsableCommand
        do {
            command = try ASM.parseAsRoot(arguments)
        } catch {
            return report(parseError: error)
        }
        do {
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                var command = command
                try command.run()
            }
            Console.flush()
            return 0
        } catch {
            Console.flush()
            guard let status = ExitStatus.of(error) else { return report(parseError: error) }
            if let message = ExitStatus.message(error) { Console.error(message) }
            return status
        }
    }

    private static func report(parseError error: any Error) -> Int32 {
        let code = ASM.exitCode(for: error)
        let message = ASM.fullMessage(for: error)
        if code == .success {
            // --help and --version.
            Console.line(message)
            Console.flush()
            return 0
        }
        var first = message.split(separator: "\n").first.map(String.init) ?? message
        if first.hasPrefix("Error: ") { first.removeFirst(7) }
        Console.error(code == .validationFailure ? first + " (see asm --help)" : first)
        return code == .validationFailure ? ExitStatus.usage : code.rawValue
    }
}
