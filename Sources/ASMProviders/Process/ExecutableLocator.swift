#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// Finds an executable the way a shell does.
enum ExecutableLocator {
    /// The path to run for `name`: `name` itself when it contains a slash, else the first
    /// executable `name` in a `PATH` directory. `nil` when there is none.
    static func resolve(_ name: String, searchPath: String?) -> String? {
        if name.contains("/") { return isExecutable(name) ? name : nil }
        for directory in (searchPath ?? "/usr/local/bin:/usr/bin:/bin").split(
            separator: ":",
            omittingEmptySubsequences: false
        ) {
            let base = directory.isEmpty ? "." : String(directory)
            let candidate = base.hasSuffix("/") ? base + name : base + "/" + name
            if isExecutable(candidate) { return candidate }
        }
        return nil
    }

    static func isExecutable(_ path: String) -> Bool {
        var info = stat()
        guard stat(path, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return false }
        return access(path, X_OK) == 0
    }

    /// The current process's `PATH`.
    static var processPath: String? {
        getenv("PATH").map { String(cString: $0) }
    }

    /// The current process's environment.
    static var processEnvironment: [String: String] {
        var result: [String: String] = [:]
        var pointer = environ
        while let entry = pointer.pointee {
            let text = String(cString: entry)
            if let equals = text.firstIndex(of: "=") {
                result[String(text[..<equals])] = String(text[text.index(after: equals)...])
            }
            pointer += 1
        }
        return result
    }
}
