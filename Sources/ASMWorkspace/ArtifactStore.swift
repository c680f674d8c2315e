internal import Crypto
import FoundationEssentials
#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

#if os(Linux)
    /// `syncfs(2)`, which Glibc's module map does not expose.
    @_silgen_name("syncfs")
    private func linuxSyncFileSystem(_ descriptor: Int32) -> Int32
#endif

/// A reference to stored bytes: `sha256:` and 64 lowercase hex digits, the SHA-256 of the
/// content. Only such strings are references, so none can name a path.
public struct ArtifactReference: Hashable, Sendable, CustomStringConvertible {
    public let digest: String

    /// - Throws: ``ArtifactError/invalidReference(_:)`` for anything but `sha256:<64 hex>`.
    public init(_ text: String) throws(ArtifactError) {
        guard text.hasPrefix("sha256:") else { throw .invalidReference(text) }
        let digest = text.dropFirst(7)
        guard digest.utf8.count == 64, digest.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) }) else {
            throw .invalidReference(text)
        }
        self.digest = String(digest)
    }

    /// The reference of `bytes`.
    public static func of(_ bytes: some Collection<UInt8>) -> ArtifactReference {
        let digits = Array("0123456789abcdef".utf8)
        var hex: [UInt8] = []
        hex.reserveCapacity(64)
        for byte in SHA256.hash(data: Array(bytes)) {
            hex.append(digits[Int(byte >> 4)])
            hex.append(digits[Int(byte & 0x0F)])
        }
        return ArtifactReference(digest: String(decoding: hex, as: UTF8.self))
    }

    /// A digest known to be well formed.
    private init(digest: String) {
        self.digest = digest
    }

    public var description: String { "sha256:" + digest }
}

/// Why an artifact could not be stored or read.
public enum ArtifactError: Error, Hashable, Sendable, CustomStringConvertible {
    case invalidReference(String)
    case notFound(ArtifactReference)
    /// The stored bytes no longer hash to their reference.
    case corrupted(ArtifactReference)
    case io(String)

    public var description: String {
        switch self {
        case .invalidReference(let text): "\(text) is not an artifact reference (sha256:<64 hex digits>)"
        case .notFound(let reference): "artifact \(reference) is not in the store"
        case .corrupted(let reference): "artifact \(reference) is corrupted: its bytes no longer match its hash"
        case .io(let message): message
        }
    }
}

/// Where snapshots keep patches, manifests and file contents.
public protocol ArtifactStore: Sendable {
    /// Stores `bytes` (once: storing the same bytes again is a no-op) and returns their reference.
    func put(_ bytes: [UInt8]) async throws(ArtifactError) -> ArtifactReference
    /// The bytes, verified against their reference.
    func get(_ reference: ArtifactReference) async throws(ArtifactError) -> [UInt8]
    func contains(_ reference: ArtifactReference) async -> Bool
    /// Stores many blobs at once (a store may make them durable together); returns their
    /// references in order.
    func putAll(_ blobs: [[UInt8]]) async throws(ArtifactError) -> [ArtifactReference]
}

extension ArtifactStore {
    public func putAll(_ blobs: [[UInt8]]) async throws(ArtifactError) -> [ArtifactReference] {
        var references: [ArtifactReference] = []
        for blob in blobs { references.append(try await put(blob)) }
        return references
    }
}

/// Artifacts as files under one directory: `<root>/sha256/ab/cdef…`.
///
/// Writes are atomic (a temporary file, `fsync`, `rename`, `fsync` of the directory), reads
/// verify the hash, and paths are built only from validated references.
public struct FileArtifactStore: ArtifactStore {
    public let root: String

    public init(root: String) {
        self.root = root
    }

    private func path(_ reference: ArtifactReference) -> (directory: String, file: String) {
        let directory = "\(root)/sha256/\(reference.digest.prefix(2))"
        return (directory, "\(directory)/\(reference.digest.dropFirst(2))")
    }

    public func put(_ bytes: [UInt8]) async throws(ArtifactError) -> ArtifactReference {
        let reference = ArtifactReference.of(bytes)
        let (directory, file) = path(reference)
        if FileManager.default.fileExists(atPath: file) { return reference }
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: "\(root)/tmp", withIntermediateDirectories: true)
        } catch {
            throw .io("cannot create the artifact directory \(directory): \(error)")
        }
        let temporary = "\(root)/tmp/\(reference.digest).\(getpid()).\(UInt64.random(in: 0 ... .max))"
        try Self.write(bytes, to: temporary, sync: true)
        guard rename(temporary, file) == 0 else {
            unlink(temporary)
            throw .io("cannot move the artifact into place at \(file): \(String(cString: strerror(errno)))")
        }
        let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
        return reference
    }

    /// Many blobs: each is written to a temporary file, then one filesystem sync makes them
    /// all durable before they are renamed into place (one sync instead of one per blob).
    public func putAll(_ blobs: [[UInt8]]) async throws(ArtifactError) -> [ArtifactReference] {
        let references = blobs.map { ArtifactReference.of($0) }
        var pending: [(temporary: String, file: String, directory: String)] = []
        var seen = Set<ArtifactReference>()
        do {
            try FileManager.default.createDirectory(atPath: "\(root)/tmp", withIntermediateDirectories: true)
        } catch {
            throw .io("cannot create the artifact directory \(root)/tmp: \(error)")
        }
        defer { for entry in pending { unlink(entry.temporary) } }
        for (blob, reference) in zip(blobs, references) where seen.insert(reference).inserted {
            let (directory, file) = path(reference)
            if FileManager.default.fileExists(atPath: file) { continue }
            let temporary = "\(root)/tmp/\(reference.digest).\(getpid()).\(UInt64.random(in: 0 ... .max))"
            // Written plainly: the sync below makes the whole batch durable at once.
            try Self.write(blob, to: temporary, sync: false)
            pending.append((temporary, file, directory))
        }
        guard !pending.isEmpty else { return references }
        try Self.syncAll(root: root, files: pending.map(\.temporary))
        var directories = Set<String>()
        for entry in pending {
            if directories.insert(entry.directory).inserted {
                try? FileManager.default.createDirectory(atPath: entry.directory, withIntermediateDirectories: true)
            }
            guard rename(entry.temporary, entry.file) == 0 else {
                throw .io("cannot move the artifact into place at \(entry.file): \(String(cString: strerror(errno)))")
            }
        }
        pending.removeAll()
        for directory in directories {
            let descriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if descriptor >= 0 {
                _ = fsync(descriptor)
                close(descriptor)
            }
        }
        return references
    }

    /// Writes a new file, synced when asked; removes it on failure.
    private static func write(_ bytes: [UInt8], to path: String, sync: Bool) throws(ArtifactError) {
        let descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .io("cannot write \(path): \(String(cString: strerror(errno)))") }
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written < 0, errno == EINTR { continue }
            guard written > 0 else {
                let reason = String(cString: strerror(errno))
                close(descriptor)
                unlink(path)
                throw .io("cannot write \(path): \(reason)")
            }
            offset += written
        }
        if sync, fsync(descriptor) != 0 {
            close(descriptor)
            unlink(path)
            throw .io("cannot sync \(path)")
        }
        close(descriptor)
    }

    /// Makes the written files durable: one `syncfs` where there is one, else `fsync` each.
    private static func syncAll(root: String, files: [String]) throws(ArtifactError) {
        #if os(Linux)
            let descriptor = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            if descriptor >= 0 {
                defer { close(descriptor) }
                if linuxSyncFileSystem(descriptor) == 0 { return }
            }
        #endif
        for file in files {
            let descriptor = open(file, O_RDONLY | O_CLOEXEC)
            guard descriptor >= 0, fsync(descriptor) == 0 else {
                if descriptor >= 0 { close(descriptor) }
                throw .io("cannot sync \(file)")
            }
            close(descriptor)
        }
    }

    public func get(_ reference: ArtifactReference) async throws(ArtifactError) -> [UInt8] {
        let file = path(reference).file
        guard let data = FileManager.default.contents(atPath: file) else { throw .notFound(reference) }
        let bytes = Array(data)
        guard ArtifactReference.of(bytes) == reference else { throw .corrupted(reference) }
        return bytes
    }

    public func contains(_ reference: ArtifactReference) async -> Bool {
        FileManager.default.fileExists(atPath: path(reference).file)
    }
}
