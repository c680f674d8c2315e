internal import ASMCore
public import ASMStore
internal import ASMSystem
internal import FoundationEssentials

/// A directory under the system's temporary directory, removed with ``remove()``.
public struct TemporaryDirectory: Sendable {
    public let path: String

    /// Creates a new, empty directory.
    public init(prefix: String = "asm-test") {
        let base = SystemPaths.temporaryDirectory
        path = base + "/" + prefix + "-" + UUIDValue.generate().description
        do {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        } catch {
            preconditionFailure("cannot create a temporary directory at \(path): \(error)")
        }
    }

    /// A path inside the directory.
    public func file(_ name: String) -> String { path + "/" + name }

    /// Deletes the directory and everything in it.
    public func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

/// Opens a store on a new file in a temporary directory, runs `body`, closes and deletes it.
///
/// ```swift
/// try await withTemporaryStore { store in
///     try await store.append([NewEvent(SessionCreated(agentID: "a"))], to: id.stream, expectedVersion: .noStream)
/// }
/// ```
public func withTemporaryStore<T>(
    configuration: SQLiteEventStore.Configuration = SQLiteEventStore.Configuration(),
    _ body: (SQLiteEventStore) async throws -> T
) async throws -> T {
    let directory = TemporaryDirectory()
    defer { directory.remove() }
    let store = try SQLiteEventStore(path: directory.file("asm.sqlite"), configuration: configuration)
    do {
        let value = try await body(store)
        await store.close()
        return value
    } catch {
        await store.close()
        throw error
    }
}
