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
}
