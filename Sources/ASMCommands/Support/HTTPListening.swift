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

    /// Whether only this machine can connect: `localhost`, or a numeric loopback address
    /// (127.0.0.0/8, ::1). Other names are not resolved to decide.
    var isLoopback: Bool {
        if host == "localhost" { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 { return UInt32(bigEndian: v4.s_addr) >> 24 == 127 }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            return withUnsafeBytes(of: &v6) { bytes in bytes.prefix(15).allSatisfy { $0 == 0 } && bytes[15] == 1 }
        }
        return false
    }

    var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    func url(port actual: Int) -> String {
        "http://" + (host.contains(":") ? "[\(host)]" : host) + ":\(actual)"
    }
}

/// The bearer token an HTTP server requires: read from `--token-file`, or kept in
/// `<database>.token` (created at first start with mode 0600, whole or not at all, and printed once).
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
        // The directory may not exist yet: a PostgreSQL log keeps its side files in `.asm/`,
        // which no database file created.
        if let slash = path.lastIndex(of: "/"), slash != path.startIndex {
            try? FileManager.default.createDirectory(
                atPath: String(path[..<slash]),
                withIntermediateDirectories: true,
                attributes: [.posixPermissions: 0o700]
            )
        }
        // Written whole to a private temporary file, then linked into place: a reader sees no
        // file or the whole token, and a second server starting at the same time uses the first's.
        var template = Array((path + ".XXXXXX").utf8CString)
        let descriptor = template.withUnsafeMutableBufferPointer { buffer in
            buffer.baseAddress.map { mkstemp($0) } ?? -1
        }
        guard descriptor >= 0 else {
            throw CommandFailure(.refused, "cannot create the token file \(path): \(String(cString: strerror(errno)))")
        }
        let temporary = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        defer { unlink(temporary) }
        let line = Array((token + "\n").utf8)
        let written = line.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        let synced = fsync(descriptor) == 0
        close(descriptor)
        guard written == line.count, synced else {
            throw CommandFailure(.refused, "cannot write the token file \(path)")
        }
        guard link(temporary, path) == 0 else {
            if errno == EEXIST, let token = try contents(path) { return (token, false) }
            throw CommandFailure(.refused, "cannot create the token file \(path): \(String(cString: strerror(errno)))")
        }
        return (token, true)
    }

    /// The first line of a token file; `nil` when it does not exist. Refuses a file others may
    /// read, and an empty or short token.
    private static func contents(_ path: String) throws(CommandFailure) -> String? {
        // Not through a symbolic link, and only a file of this user that no one else may read.
        let descriptor = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard descriptor >= 0 else {
            if errno == ENOENT { return nil }
            throw CommandFailure(
                .invalidArgument,
                "cannot open the token file \(path): \(String(cString: strerror(errno)))"
            )
        }
        defer { close(descriptor) }
        var info = stat()
        guard fstat(descriptor, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_uid == geteuid() else {
            throw CommandFailure(.invalidArgument, "the token file \(path) must be a regular file of this user")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw CommandFailure(
                .invalidArgument,
                "the token file \(path) may be read by other users: chmod 600 \(path)"
            )
        }
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
