import FoundationEssentials

/// Creates a git repository at `path` (and the directories it needs) with `files` (relative
/// path to text) committed as its first commit: a work tree to try workspaces on.
/// - Throws: ``WorkspaceError`` when a file cannot be written or git fails (or is missing).
public func createGitRepository(
    at path: String,
    files: [String: String],
    message: String = "Initial commit"
)
    async throws(WorkspaceError)
{
    let manager = FileManager.default
    do {
        try manager.createDirectory(atPath: path, withIntermediateDirectories: true)
        for (relative, text) in files.sorted(by: { $0.key < $1.key }) {
            let full = path + "/" + relative
            if let slash = full.lastIndex(of: "/") {
                try manager.createDirectory(atPath: String(full[..<slash]), withIntermediateDirectories: true)
            }
            try Data(text.utf8).write(to: URL(fileURLWithPath: full))
        }
    } catch {
        throw WorkspaceError(.ioError, "cannot write the repository \(path): \(error)", underlying: error, path: path)
    }
    let git = GitWorkspace(options: WorkspaceOptions(path: path))
    _ = try await git.git(["init", "-q"], in: path)
    _ = try await git.git(["add", "-A"], in: path)
    _ = try await git.git(["commit", "-q", "--no-gpg-sign", "-m", message], in: path)
}
