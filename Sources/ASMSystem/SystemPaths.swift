#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// Paths the operating system decides.
package enum SystemPaths {
    /// `$TMPDIR` when it is set and not empty, else `/tmp`; without a trailing slash.
    package static var temporaryDirectory: String {
        var path = getenv("TMPDIR").map { String(cString: $0) } ?? ""
        while path.count > 1, path.hasSuffix("/") { path.removeLast() }
        return path.isEmpty ? "/tmp" : path
    }

    /// The absolute path of an existing file or directory, with symbolic links, `.` and `..`
    /// resolved (`realpath(3)`); `nil` when it does not exist or cannot be reached.
    package static func resolved(_ path: String) -> String? {
        guard let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(cString: resolved)
    }

    /// The text of a regular file that no one but its owner can read or write (as libpq wants
    /// of `.pgpass`); `nil` when it is missing, not regular, or open to others.
    package static func readPrivateFile(_ path: String) -> String? {
        var status = stat()
        guard stat(path, &status) == 0, status.st_mode & S_IFMT == S_IFREG, status.st_mode & 0o077 == 0,
            let file = fopen(path, "r")
        else { return nil }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count <= 0 { break }
            bytes += buffer[0..<count]
            if bytes.count > 1 << 20 { return nil }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
