import ASMSystem
import FoundationEssentials

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// An exclusive claim on a workspace directory, shared by every process of this user on
/// this machine, so two runs never snapshot and change one directory at once.
///
/// It is an advisory `flock` on `<temporary directory>/asm-workspace-locks-<uid>/<SHA-256 of
/// the real path>.lock`: the kernel drops it when the holder exits, even on `kill -9`, so a
/// crash never leaves a workspace claimed. Two claims conflict within one process too.
public final class WorkspaceLock: Sendable {
    /// The directory, symlinks resolved.
    public let path: String
    private let claim: FileClaim

    private init(path: String, claim: FileClaim) {
        self.path = path
        self.claim = claim
    }

    /// Claims `path` for `holder` (a run id, a command), or says who holds it.
    /// - Throws: ``WorkspaceError`` when another run holds it or the lock file cannot be made.
    public static func acquire(_ path: String, holder: String) throws(WorkspaceError) -> WorkspaceLock {
        let real = SystemPaths.resolved(path) ?? path
        let file =
            FileClaim.directory("asm-workspace-locks") + "/" + ArtifactReference.of(Array(real.utf8)).digest + ".lock"
        switch Result(catching: { () throws(FileClaim.Failure) in
            try FileClaim.acquire(file, note: "pid \(getpid()), \(holder)")
        }) {
        case .success(let claim):
            return WorkspaceLock(path: real, claim: claim)
        case .failure(.held(let owner)):
            throw WorkspaceError(.inUse, "the workspace \(real) is in use by \(owner)", path: real)
        case .failure(.cannotOpen(let file, let reason)):
            throw WorkspaceError(.ioError, "cannot make the workspace lock \(file): \(reason)", path: file)
        }
    }

    /// Gives the claim up (safe to call more than once).
    public func release() { claim.release() }
}
