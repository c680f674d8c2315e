import ASMSystem
import FoundationEssentials
internal import Synchronization

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
    private let descriptor = Mutex<Int32>(-1)

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor.withLock { $0 = descriptor }
    }

    /// Claims `path` for `holder` (a run id, a command), or says who holds it.
    /// - Throws: ``WorkspaceError`` when another run holds it or the lock file cannot be made.
    public static func acquire(_ path: String, holder: String) throws(WorkspaceError) -> WorkspaceLock {
        let real = SystemPaths.resolved(path) ?? path
        let base = SystemPaths.temporaryDirectory + "/asm-workspace-locks-\(getuid())"
        mkdir(base, 0o700)
        let file = base + "/" + ArtifactReference.of(Array(real.utf8)).digest + ".lock"
        let descriptor = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw WorkspaceError(
                .ioError,
                "cannot make the workspace lock \(file): \(String(cString: strerror(errno)))",
                path: file
            )
        }
        guard flock(descriptor, LOCK_EX | LOCK_NB) == 0 else {
            var bytes = [UInt8](repeating: 0, count: 512)
            let count = pread(descriptor, &bytes, bytes.count, 0)
            close(descriptor)
            let owner = count > 0 ? String(decoding: bytes[..<count], as: UTF8.self) : "another process"
            throw WorkspaceError(.inUse, "the workspace \(real) is in use by \(owner)", path: real)
        }
        let note = Array("pid \(getpid()), \(holder)".utf8)
        _ = ftruncate(descriptor, 0)
        _ = note.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        return WorkspaceLock(path: real, descriptor: descriptor)
    }

    /// Gives the claim up (safe to call more than once).
    public func release() {
        let descriptor = self.descriptor.withLock { value -> Int32 in
            defer { value = -1 }
            return value
        }
        guard descriptor >= 0 else { return }
        _ = ftruncate(descriptor, 0)
        close(descriptor)
    }

    deinit { release() }
}
