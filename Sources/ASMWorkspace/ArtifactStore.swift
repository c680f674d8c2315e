import ASMCore
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

    /// - Throws: ``ArtifactError`` with code ``ArtifactError/Code/invalidReference`` for anything
    ///   but `sha256:<64 hex>`.
    public init(_ text: String) throws(ArtifactError) {
        guard text.hasPrefix("sha256:") else { throw .invalidReference(text) }
        let digest = text.dropFirst(7)
        guard digest.utf8.count == 64,
            digest.utf8.allSatisfy({ (0x30...0x39).contains($0) || (0x61...0x66).contains($0) })
        else {
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
///
/// Match on ``code``; ``description`` is one line (`code: message`), never the artifact's
/// bytes. Equality compares the code, message and reference, not the cause.
public struct ArtifactError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong. New codes may be added; switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: String, Hashable, Sendable {
            case invalidReference = "invalid reference"
            case notFound = "not found"
            case corrupted
            case ioError = "I/O error"
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The text is not an artifact reference (`sha256:<64 hex digits>`).
        public static let invalidReference = Code(.invalidReference)
        /// The store does not have the artifact.
        public static let notFound = Code(.notFound)
        /// The stored bytes no longer hash to their reference.
        public static let corrupted = Code(.corrupted)
        /// A file of the store could not be written, moved into place or synced.
        public static let ioError = Code(.ioError)

        public var description: String { wrapped.rawValue }
    }

    public var code: Code
    /// One line.
    public var message: String
    /// The cause, when another error led to this one.
    public var underlying: (any Error)?
    /// The reference (or the text given as one) concerned.
    public var reference: String?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil, reference: String? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
        self.reference = reference
    }

    /// `text` is not a reference.
    public static func invalidReference(_ text: String) -> ArtifactError {
        ArtifactError(
            .invalidReference,
            "\(text) is not an artifact reference (sha256:<64 hex digits>)",
            reference: text
        )
    }

    /// The store does not have `reference`.
    public static func notFound(_ reference: ArtifactReference) -> ArtifactError {
        ArtifactError(.notFound, "artifact \(reference) is not in the store", reference: reference.description)
    }

    /// The bytes stored for `reference` no longer hash to it.
    public static func corrupted(_ reference: ArtifactReference) -> ArtifactError {
        ArtifactError(
            .corrupted,
            "artifact \(reference) is corrupted: its bytes no longer match its hash",
            reference: reference.description
        )
    }

    /// A file of the store could not be written, moved or synced.
    static func io(_ message: String, underlying: (any Error)? = nil) -> ArtifactError {
        ArtifactError(.ioError, message, underlying: underlying)
    }

    public var description: String { "\(code): \(message)" }

    /// The description followed by the chain of causes, one per line.
    public func detailedDescription() -> String { ErrorDetail.text(description, underlying: underlying) }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.reference == rhs.reference
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
        hasher.combine(reference)
    }
}

extension ArtifactError: DetailedError {}

extension ArtifactError.Code {
    /// Matches an error by code, so `catch ArtifactError.Code.notFound` works.
    public static func ~= (code: ArtifactError.Code, error: any Error) -> Bool {
        (error as? ArtifactError)?.code == code
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
            throw .io("cannot create the artifact directory \(directory): \(error)", underlying: error)
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
            throw .io("cannot create the artifact directory \(root)/tmp: \(error)", underlying: error)
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
