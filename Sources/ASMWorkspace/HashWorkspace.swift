import ASMCore
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One file of a hash snapshot.
struct ManifestEntry: Hashable, Sendable {
    /// SHA-256, hex (of the link target for a symbolic link).
    var hash: String
    var size: Int64
    var executable: Bool
    /// The target, for a symbolic link.
    var link: String?
    /// Whether the contents are in the artifact store (under the size cap, with a store).
    var stored: Bool
}

/// A hash snapshot: relative path → entry.
struct Manifest: Hashable, Sendable {
    var entries: [String: ManifestEntry] = [:]

    var json: [UInt8] {
        let members = entries.sorted { $0.key < $1.key }.map { path, entry -> JSONMember in
            var fields = [
                JSONMember("hash", .string(entry.hash)), JSONMember("size", .integer(entry.size)),
                JSONMember("stored", .bool(entry.stored)),
            ]
            if entry.executable { fields.append(JSONMember("executable", .bool(true))) }
            if let link = entry.link { fields.append(JSONMember("link", .string(link))) }
            return JSONMember(path, .object(fields))
        }
        return (try? JSONValue.object([JSONMember("files", .object(members))]).jsonBytes()) ?? []
    }

    init() {}

    init(json bytes: [UInt8]) throws(WorkspaceError) {
        guard let root = try? JSONValue(parsing: bytes), let files = root["files"]?.objectValue else {
            throw WorkspaceError(.snapshotUnavailable, "the snapshot manifest cannot be read")
        }
        for member in files {
            guard let hash = member.value["hash"]?.stringValue, let size = member.value["size"]?.integerValue else {
                throw WorkspaceError(.snapshotUnavailable, "the snapshot manifest's entry \(member.key) cannot be read")
            }
            entries[member.key] = ManifestEntry(
                hash: hash,
                size: size,
                executable: member.value["executable"]?.boolValue ?? false,
                link: member.value["link"]?.stringValue,
                stored: member.value["stored"]?.boolValue ?? false
            )
        }
    }
}

/// Snapshots as SHA-256 manifests of the tree, for directories that are not git work trees.
///
/// `.git` directories and the ignore patterns are left out. With an artifact store, file
/// contents up to the size cap and the manifest itself are kept there, so a snapshot can be
/// restored; larger files are reported as not restorable.
struct HashWorkspace: Workspace {
    let options: WorkspaceOptions

    func prepare() async throws(WorkspaceError) {
        guard isDirectory(options.path) else {
            throw WorkspaceError(.notADirectory, "the workspace \(options.path) is not a directory", path: options.path)
        }
    }

    func snapshot(phase: String, label: String) async throws(WorkspaceError) -> WorkspaceSnapshot {
        try await prepare()
        var manifest = Manifest()
        var batch = Batch()
        try await walk("", into: &manifest, batch: &batch)
        try await flush(&batch)
        let bytes = manifest.json
        var reference = ArtifactReference.of(bytes).description
        if let store = options.artifactStore {
            do {
                reference = try await store.put(bytes).description
            } catch {
                throw WorkspaceError(
                    .artifactFailed,
                    "cannot keep the snapshot manifest: \(error.message)",
                    underlying: error
                )
            }
        }
        return WorkspaceSnapshot(
            id: label,
            phase: phase,
            strategy: .hash,
            path: options.path,
            reference: reference,
            fileCount: manifest.entries.count,
            manifest: manifest
        )
    }

    /// File contents waiting to be stored together.
    private struct Batch {
        var blobs: [[UInt8]] = []
        var bytes = 0
    }

    private func flush(_ batch: inout Batch) async throws(WorkspaceError) {
        guard !batch.blobs.isEmpty, let store = options.artifactStore else { return }
        do {
            _ = try await store.putAll(batch.blobs)
        } catch {
            throw WorkspaceError(
                .artifactFailed,
                "cannot keep file contents in the artifact store: \(error.message)",
                underlying: error
            )
        }
        batch = Batch()
    }

    private func walk(
        _ relative: String,
        into manifest: inout Manifest,
        batch: inout Batch
    ) async throws(WorkspaceError) {
        let directory = relative.isEmpty ? options.path : "\(options.path)/\(relative)"
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        } catch {
            throw WorkspaceError(
                .ioError,
                "cannot read the directory \(directory): \(error)",
                underlying: error,
                path: directory
            )
        }
        for name in names {
            let path = relative.isEmpty ? name : "\(relative)/\(name)"
            if name == ".git" || isIgnored(path, options.ignorePatterns) { continue }
            let full = "\(options.path)/\(path)"
            var status = stat()
            guard lstat(full, &status) == 0 else { continue }
            switch status.st_mode & S_IFMT {
            case S_IFDIR:
                try await walk(path, into: &manifest, batch: &batch)
            case S_IFLNK:
                var buffer = [CChar](repeating: 0, count: 4097)
                let length = readlink(full, &buffer, 4096)
                let target =
                    length >= 0 ? String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
                manifest.entries[path] = ManifestEntry(
                    hash: ArtifactReference.of(Array(target.utf8)).digest,
                    size: Int64(target.utf8.count),
                    executable: false,
                    link: target,
                    stored: true
                )
            case S_IFREG:
                guard let data = FileManager.default.contents(atPath: full) else {
                    throw WorkspaceError(.ioError, "cannot read \(full)", path: full)
                }
                let bytes = Array(data)
                let executable = status.st_mode & S_IXUSR != 0
                let reference = ArtifactReference.of(bytes)
                let digest = reference.digest
                var stored = false
                if let store = options.artifactStore, bytes.count <= options.maxRestorableFileBytes {
                    stored = true
                    if !(await store.contains(reference)) {
                        batch.blobs.append(bytes)
                        batch.bytes += bytes.count
                        if batch.blobs.count >= 1024 || batch.bytes >= 64 << 20 { try await flush(&batch) }
                    }
                }
                manifest.entries[path] = ManifestEntry(
                    hash: digest,
                    size: Int64(bytes.count),
                    executable: executable,
                    link: nil,
                    stored: stored
                )
            default:
                continue
            }
        }
    }

    func diff(from: WorkspaceSnapshot, to: WorkspaceSnapshot) async throws(WorkspaceError) -> WorkspaceChanges {
        let before = try await manifest(of: from)
        let after = try await manifest(of: to)
        var files: [WorkspaceFileChange] = []
        for path in Set(before.entries.keys).union(after.entries.keys).sorted() {
            switch (before.entries[path], after.entries[path]) {
            case (nil, .some): files.append(WorkspaceFileChange(path: path, change: "added"))
            case (.some, nil): files.append(WorkspaceFileChange(path: path, change: "deleted"))
            case (.some(let old), .some(let new))
            where old.hash != new.hash || old.executable != new.executable || old.link != new.link:
                files.append(WorkspaceFileChange(path: path, change: "modified"))
            default: break
            }
        }
        return WorkspaceChanges(files: files, insertions: 0, deletions: 0, patch: nil)
    }

    func restore(
        to target: WorkspaceSnapshot,
        from current: WorkspaceSnapshot,
        label: String
    ) async throws(WorkspaceError)
        -> RestoreReport
    {
        let wanted = try await manifest(of: target)
        let present = try await manifest(of: current)
        var restored = 0
        var removed = 0
        var unrestorable: [String] = []
        for (path, _) in present.entries.sorted(by: { $0.key < $1.key }) where wanted.entries[path] == nil {
            let full = "\(options.path)/\(path)"
            do {
                try FileManager.default.removeItem(atPath: full)
            } catch {
                throw WorkspaceError(.ioError, "cannot remove \(full): \(error)", underlying: error, path: full)
            }
            pruneEmpty(from: full, upTo: options.path)
            removed += 1
        }
        for (path, entry) in wanted.entries.sorted(by: { $0.key < $1.key }) where present.entries[path] != entry {
            if let existing = present.entries[path], existing.hash == entry.hash, existing.link == entry.link {
                // Only the mode differs.
                chmod("\(options.path)/\(path)", entry.executable ? 0o755 : 0o644)
                restored += 1
                continue
            }
            guard entry.stored, let store = options.artifactStore else {
                unrestorable.append(
                    options.artifactStore == nil
                        ? "\(path) (no artifact store)"
                        : "\(path) (\(entry.size) bytes, over the \(options.maxRestorableFileBytes)-byte cap)"
                )
                continue
            }
            try await write(entry, to: path, from: store)
            restored += 1
        }
        return RestoreReport(
            restored: restored,
            removed: removed,
            unrestorable: unrestorable,
            safetyReference: current.reference
        )
    }

    private func write(
        _ entry: ManifestEntry,
        to path: String,
        from store: any ArtifactStore
    ) async throws(WorkspaceError) {
        let full = "\(options.path)/\(path)"
        do {
            try FileManager.default.createDirectory(atPath: parent(of: full), withIntermediateDirectories: true)
        } catch {
            throw WorkspaceError(
                .ioError,
                "cannot create the directory for \(full): \(error)",
                underlying: error,
                path: full
            )
        }
        if let link = entry.link {
            unlink(full)
            guard symlink(link, full) == 0 else {
                throw WorkspaceError(.ioError, "cannot restore the link \(full)", path: full)
            }
            return
        }
        let bytes: [UInt8]
        do {
            bytes = try await store.get(ArtifactReference("sha256:" + entry.hash))
        } catch {
            throw WorkspaceError(
                .artifactFailed,
                "cannot restore \(path): \(error.message)",
                underlying: error,
                path: full
            )
        }
        let temporary = "\(parent(of: full))/.asm-restore-\(getpid())-\(UInt64.random(in: 0 ... .max))"
        guard FileManager.default.createFile(atPath: temporary, contents: Data(bytes)) else {
            throw WorkspaceError(.ioError, "cannot write \(temporary)", path: temporary)
        }
        chmod(temporary, entry.executable ? 0o755 : 0o644)
        unlink(full)
        guard rename(temporary, full) == 0 else {
            unlink(temporary)
            throw WorkspaceError(.ioError, "cannot put \(full) back", path: full)
        }
    }

    func recorded(_ event: WorkspaceSnapshotTaken) async throws(WorkspaceError) -> WorkspaceSnapshot {
        var snapshot = WorkspaceSnapshot(
            id: event.snapshotID,
            phase: event.phase,
            strategy: .hash,
            path: event.path,
            reference: event.reference ?? "",
            fileCount: event.fileCount ?? 0
        )
        snapshot.manifest = try await manifest(of: snapshot)
        return snapshot
    }

    func sameState(_ a: WorkspaceSnapshot, _ b: WorkspaceSnapshot) async throws(WorkspaceError) -> Bool {
        // Manifests are canonical JSON: equal contents, equal references.
        a.reference == b.reference
    }

    /// A snapshot's manifest: in memory, or from the store.
    private func manifest(of snapshot: WorkspaceSnapshot) async throws(WorkspaceError) -> Manifest {
        if let manifest = snapshot.manifest { return manifest }
        guard let store = options.artifactStore else {
            throw WorkspaceError(
                .snapshotUnavailable,
                "snapshot \(snapshot.id)'s manifest is kept in an artifact store; none was given"
            )
        }
        do {
            return try Manifest(json: try await store.get(ArtifactReference(snapshot.reference)))
        } catch let error as WorkspaceError {
            throw error
        } catch {
            let reason = (error as? ArtifactError)?.message ?? "\(error)"
            throw WorkspaceError(
                .snapshotUnavailable,
                "cannot read snapshot \(snapshot.id)'s manifest: \(reason)",
                underlying: error
            )
        }
    }
}
