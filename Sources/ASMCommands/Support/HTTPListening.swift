import FoundationEssentials

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where `asm serve --http` listens: `HOST:PORT`, `[IPv6]:PORT`, or `PORT` alone (loopback).
struct HTTPAddress: Hashable, Sendable, CustomStringConvertible {
    var host: String
    var port: Int

    init(_ text: String) throws(CommandFailure) {
        let host: Substring
        let port: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw CommandFailure(.invalidArgument, "--http \(text): expected [IPV6]:PORT")
            }
            host = text[text.index(after: text.startIndex)..<close]
            port = text[text.index(close, offsetBy: 2)...]
        } else if let colon = text.lastIndex(of: ":") {
            host = text[..<colon]
            port = text[text.index(after: colon)...]
        } else {
            host = "127.0.0.1"
            port = Substring(text)
        }
        guard let number = Int(port), (0...65535).contains(number) else {
            throw CommandFailure(.invalidArgument, "--http \(text): the port must be a number from 0 to 65535")
        }
        guard !host.isEmpty, !host.contains(where: \.isWhitespace) else {
            throw CommandFailure(.invalidArgument, "--http \(text): expected HOST:PORT, e.g. 127.0.0.1:8642")
        }
        self.host = String(host)
        self.port = number
    }

    /// Whether only this machine can connect.
    var isLoopback: Bool {
        host == "localhost" || host == "::1" || host.hasPrefix("127.")
    }

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    func url(port actual: Int) -> String {
        "http://" + (host.contains(":") ? "[\(host)]" : host) + ":\(actual)"
    }
}

/// The bearer token an HTTP server requires: read from `--token-file`, or kept in
/// `<database>.token` (created at first start with mode 0600 and printed once).
enum HTTPToken {
    /// The token, and whether it was just created (so it is printed).
    static func load(tokenFile: String?, database: String) throws(CommandFailure) -> (token: String, created: Bool) {
        if let tokenFile {
            guard let token = try contents(tokenFile) else {
                throw CommandFailure(.missingFile, "cannot read the token file \(tokenFile)")
            }
            return (token, false)
        }
        let path = database + ".token"
        if let token = try contents(path) { return (token, false) }
        var generator = SystemRandomNumberGenerator()
        let token = (0..<32).map { _ in hex(UInt8.random(in: 0...255, using: &generator)) }.joined()
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            // Another server created it first: use its token.
            if errno == EEXIST, let token = try contents(path) { return (token, false) }
            throw CommandFailure(.refused, "cannot create the token file \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(descriptor) }
        let line = Array((token + "\n").utf8)
        let written = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == line.count, fsync(descriptor) == 0 else {
            unlink(path)
            throw CommandFailure(.refused, "cannot write the token file \(path)")
        }
        return (token, true)
    }

    /// The first line of a token file; `nil` when it does not exist. Refuses a file others may
    /// read, and an empty or short token.
    private static func contents(_ path: String) throws(CommandFailure) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        guard info.st_mode & 0o077 == 0 else {
            throw CommandFailure(
                .invalidArgument,
                "the token file \(path) may be read by other users: chmod 600 \(path)"
            )
        }
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { return nil }
        defer { close(descriptor) }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let count = bytes.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        guard count > 0 else { throw CommandFailure(.invalidArgument, "the token file \(path) is empty") }
        let text = String(decoding: bytes[..<count], as: UTF8.self)
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).first ?? ""
        let token = String(line.filter { !$0.isWhitespace })
        guard token.utf8.count >= 16, token.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw CommandFailure(
                .invalidArgument,
                "the token in \(path) must be at least 16 visible ASCII characters on its first line"
            )
        }
        return token
    }

    private static func hex(_ byte: UInt8) -> String {
        let digits = Array("0123456789abcdef")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }
}
