import ASMWorkspace
import FoundationEssentials
import Subprocess
import SystemPackage

/// A scratch git repository in a temporary directory, for workspace tests.
public struct ScratchRepository: Sendable {
    public let directory = TemporaryDirectory(prefix: "asm-repo")
    public var path: String { directory.path }

    /// An empty directory (`git init` it, or not).
    public init() {}

    /// Runs git in the repository; returns its standard output.
    @discardableResult
    public func git(_ arguments: String...) async throws -> String {
        let result = try await Subprocess.run(
            .name("git"),
            arguments: Arguments(
                ["-c", "user.name=t", "-c", "user.email=t@t", "-c", "commit.gpgsign=false"] + arguments
            ),
            workingDirectory: FilePath(path),
            output: .string(limit: 1 << 20),
            error: .string(limit: 1 << 16)
        )
        guard case .exited(0) = result.terminationStatus else {
            throw WorkspaceError(
                .gitFailed,
                "git \(arguments.joined(separator: " ")): \(result.standardError)",
                path: path
            )
        }
        return result.standardOutput
    }

    public func write(_ relative: String, _ text: String) { write(relative, Array(text.utf8)) }

    public func write(_ relative: String, _ bytes: [UInt8]) {
        let full = "\(path)/\(relative)"
        if let slash = full.lastIndex(of: "/") {
            try? FileManager.default.createDirectory(atPath: String(full[..<slash]), withIntermediateDirectories: true)
        }
        _ = FileManager.default.createFile(atPath: full, contents: Data(bytes))
    }

    public func read(_ relative: String) -> String? {
        FileManager.default.contents(atPath: "\(path)/\(relative)").map { String(decoding: $0, as: UTF8.self) }
    }

    public func exists(_ relative: String) -> Bool { FileManager.default.fileExists(atPath: "\(path)/\(relative)") }

    public func remove(_ relative: String) { try? FileManager.default.removeItem(atPath: "\(path)/\(relative)") }

    /// A repository with committed files (text, sources, a binary), a `.gitignore`, an
    /// ignored file, a stash entry and a staged change.
    public static func make() async throws -> ScratchRepository {
        let repository = ScratchRepository()
        try await repository.git("init", "-q", "-b", "main")
        repository.write("README.md", "# Project\n\nLine one.\nLine two.\n")
        repository.write("src/main.swift", "print(\"hello\")\n")
        repository.write("src/util.swift", "let answer = 42\n")
        repository.write("logo.bin", [0, 1, 2, 3, 255, 254, 0, 7])
        repository.write(".gitignore", "*.log\nbuild/\n")
        try await repository.git("add", "-A")
        try await repository.git("commit", "-q", "-m", "first")
        // A stash entry and a staged change, which snapshots must leave alone.
        repository.write("src/util.swift", "let answer = 43\n")
        try await repository.git("stash", "-q")
        repository.write("notes.txt", "staged\n")
        try await repository.git("add", "notes.txt")
        repository.write("debug.log", "ignored\n")
        return repository
    }

    /// HEAD, the index file's bytes, the stash, the branches and `git status`, to check nothing moved.
    public func state() async throws -> [String] {
        let index = FileManager.default.contents(atPath: "\(path)/.git/index").map { $0.base64EncodedString() } ?? ""
        return [
            try await git("rev-parse", "HEAD"), index, try await git("stash", "list"),
            try await git("branch", "--list"),
            try await git("status", "--porcelain"),
        ]
    }
}
