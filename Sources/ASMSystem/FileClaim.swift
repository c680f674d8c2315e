internal import Synchronization

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// An exclusive claim held as an advisory `flock` on a file: the kernel drops it when the
/// holder exits, even on `kill -9`, so a crash never leaves anything claimed. Two claims on one
/// file conflict within one process too (each opens its own file description). The holder
/// writes a note (who it is) into the file, so a refusal can say who holds it.
package final class FileClaim: Sendable {
    package enum Failure: Error, Sendable {
        /// Another holder has it; its note, or "another process".
        case held(by: String)
        /// The lock file cannot be made or opened.
        case cannotOpen(file: String, reason: String)
    }

    /// The lock file.
    package let file: String
    private let descriptor = Mutex<Int32>(-1)

    private init(file: String, descriptor: Int32) {
        self.file = file
        self.descriptor.withLock { $0 = descriptor }
    }

    /// Claims `file` (made with mode 0600 if missing), writing `note` into it.
    package static func acquire(_ file: String, note: String) throws(Failure) -> FileClaim {
        let descriptor = open(file, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else {
            throw .cannotOpen(file: file, reason: String(cString: strerror(errno)))
        }
        // A held lock without a note is in passing: a holder between its lock and its note, one
        // releasing it, or a child process forked by another thread that still shares the file
        // until it execs. Those last microseconds (a few milliseconds on a loaded machine), so
        // such a lock is tried again for up to 100 ms; a holder with a note is reported at once.
        var attempt = 0
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            var bytes = [UInt8](repeating: 0, count: 512)
            let count = pread(descriptor, &bytes, bytes.count, 0)
            attempt += 1
            if count > 0 || attempt >= 100 {
                close(descriptor)
                throw .held(by: count > 0 ? String(decoding: bytes[..<count], as: UTF8.self) : "another process")
            }
            var pause = timespec(tv_sec: 0, tv_nsec: 1_000_000)
            nanosleep(&pause, nil)
        }
        let text = Array(note.utf8)
        _ = ftruncate(descriptor, 0)
        _ = text.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        return FileClaim(file: file, descriptor: descriptor)
    }

    /// `directory` (mode 0700) under the temporary directory, made if missing: where claims of one
    /// kind for this user on this machine go.
    package static func directory(_ name: String) -> String {
        let path = SystemPaths.temporaryDirectory + "/\(name)-\(getuid())"
        mkdir(path, 0o700)
        return path
    }

    /// Gives the claim up (safe to call more than once).
    package func release() {
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
