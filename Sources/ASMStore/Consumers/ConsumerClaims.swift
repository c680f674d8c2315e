internal import ASMCore
internal import ASMSystem
internal import Synchronization

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// The durable consumers an SQLite store runs, each held as a `flock` on
/// `<temporary directory>/asm-consumer-locks-<uid>/<SHA-256 of the file's real path and the
/// name>.lock` (``FileClaim``): the kernel drops it when the process ends, even on `kill -9`.
final class ConsumerClaims: Sendable {
    private let database: String
    private let held = Mutex<[String: FileClaim]>([:])

    init(database path: String) {
        database = SystemPaths.resolved(path) ?? path
    }

    /// Claims `name` for this store (nothing to do when it holds it already).
    func claim(_ name: String) throws(StoreError) {
        if held.withLock({ $0[name] != nil }) { return }
        let claim = try acquire(name, doing: "running")
        let kept = held.withLock { held -> Bool in
            if held[name] != nil { return false }
            held[name] = claim
            return true
        }
        if !kept { claim.release() }
    }

    func release(_ name: String) {
        held.withLock { $0.removeValue(forKey: name) }?.release()
    }

    func releaseAll() {
        for claim in held.withLock({ held in
            defer { held.removeAll() }
            return held.values
        }) { claim.release() }
    }

    /// Runs `body` (an acknowledgement) while no other instance can claim `name`: under this
    /// store's claim, or under a claim taken for the call.
    /// - Throws: `consumerBusy` when another instance holds it, or what `body` throws.
    func excludingOthers<T>(_ name: String, _ body: () async throws -> T) async throws -> T {
        if held.withLock({ $0[name] != nil }) { return try await body() }
        let claim = try acquire(name, doing: "acknowledging")
        defer { claim.release() }
        return try await body()
    }

    private func acquire(_ name: String, doing action: String) throws(StoreError) -> FileClaim {
        let key = WriteTransaction.sha256(Array((database + "\n" + name).utf8)).description
        let file = FileClaim.directory("asm-consumer-locks") + "/\(key).lock"
        let note = "pid \(getpid()) on \(ProcessIdentity.host)"
        switch Result(catching: { () throws(FileClaim.Failure) in
            try FileClaim.acquire(file, note: note + ", \(action)")
        }) {
        case .success(let claim):
            return claim
        case .failure(.held(let holder)):
            throw StoreError(.consumerBusy, "consumer \"\(name)\" is already running (\(holder))", path: database)
        case .failure(.cannotOpen(let file, let reason)):
            throw StoreError(.cannotOpen, "cannot make the consumer lock \(file): \(reason)", path: database)
        }
    }
}
