import AgentSessionManagerTesting
import Testing

@testable import ASMCommands

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where `asm serve --http` listens and the token it asks for.
@Suite struct HTTPListeningTests {
    @Test(
        "addresses: HOST:PORT, [IPv6]:PORT or a port; only numeric loopback addresses and localhost count as loopback",
        arguments: [
            ("127.0.0.1:8642", "127.0.0.1", 8642, true),
            ("8642", "127.0.0.1", 8642, true),
            ("127.3.0.9:0", "127.3.0.9", 0, true),
            ("[::1]:80", "::1", 80, true),
            ("localhost:1", "localhost", 1, true),
            ("0.0.0.0:8642", "0.0.0.0", 8642, false),
            ("127.evil.example:80", "127.evil.example", 80, false),
            ("[::]:80", "::", 80, false),
            ("10.0.0.2:80", "10.0.0.2", 80, false),
        ]
    )
    func addresses(text: String, host: String, port: Int, loopback: Bool) throws {
        let address = try HTTPAddress(text)
        #expect(address.host == host && address.port == port)
        #expect(address.isLoopback == loopback)
    }

    @Test("bad addresses are refused in one line", arguments: ["127.0.0.1:70000", "host:", ":80", "[::1]80", "a b:80"])
    func badAddresses(text: String) {
        #expect(throws: CommandFailure.self) { try HTTPAddress(text) }
    }

    @Test("a token is made once, 0600, and read back; a token file others may read, or a link, is refused")
    func tokens() throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let database = directory.path + "/log.sqlite"
        let first = try HTTPToken.load(tokenFile: nil, database: database)
        #expect(first.created && first.token.count == 64)
        var info = stat()
        #expect(stat(database + ".token", &info) == 0 && info.st_mode & 0o777 == 0o600)
        let again = try HTTPToken.load(tokenFile: nil, database: database)
        #expect(!again.created && again.token == first.token)

        let shared = directory.path + "/shared.token"
        let descriptor = open(shared, O_WRONLY | O_CREAT, 0o644)
        let line = Array("a-token-of-enough-length\n".utf8)
        _ = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        close(descriptor)
        chmod(shared, 0o644)
        #expect(throws: CommandFailure.self) { try HTTPToken.load(tokenFile: shared, database: database) }
        chmod(shared, 0o600)
        #expect(try HTTPToken.load(tokenFile: shared, database: database).token == "a-token-of-enough-length")

        let linked = directory.path + "/other.sqlite"
        symlink(shared, linked + ".token")
        #expect(throws: CommandFailure.self) { try HTTPToken.load(tokenFile: nil, database: linked) }
        #expect(throws: CommandFailure.self) {
            try HTTPToken.load(tokenFile: directory.path + "/none", database: database)
        }
    }
}

/// `asm serve --http` refuses what it must not start with, in one line, before touching the log.
@Suite struct ServeHTTPRefusalTests {
    @Test(
        "a public address without a token file, a bad address, a token file without --http: exit 64, nothing created",
        arguments: [
            (
                ["--http", "0.0.0.0:0"],
                "asm: invalid argument: --http 0.0.0.0:0 is not a loopback address: give the token with --token-file\n"
            ),
            (
                ["--http", "127.0.0.1:70000"],
                "asm: invalid argument: --http 127.0.0.1:70000: the port must be a number from 0 to 65535\n"
            ),
            (["--token-file", "/nonexistent"], nil),
        ]
    )
    func refusals(arguments: [String], message: String?) async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let database = directory.path + "/log.sqlite"
        let result = try await ASMProcess.run(["serve", "--provider", "scripted", "--db", database] + arguments)
        #expect(result.exitCode == 64)
        if let message { #expect(result.stderr == message) }
        #expect(access(database, F_OK) != 0, "no database was created")
        #expect(access(database + ".token", F_OK) != 0, "no token was made")
    }
}
