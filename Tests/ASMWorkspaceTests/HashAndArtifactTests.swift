import ASMCore
import ASMWorkspace
import AgentSessionManagerTesting
import Foundation
import Testing

/// The hash strategy and the artifact store.
struct HashAndArtifactTests {
    @Test(
        "hash snapshots report added, modified and deleted files, skip .git and ignored paths, and restore what they kept"
    )
    func hashStrategy() async throws {
        let tree = ScratchRepository()
        let artifacts = TemporaryDirectory()
        defer {
            tree.directory.remove()
            artifacts.remove()
        }
        tree.write("a.txt", "alpha\n")
        tree.write("dir/b.txt", "beta\n")
        tree.write("big.bin", [UInt8](repeating: 7, count: 2000))
        tree.write("cache/x.tmp", "ignored\n")
        tree.write(".git/HEAD", "not a real repository\n")
        let store = FileArtifactStore(root: artifacts.path)
        let workspace = makeWorkspace(
            WorkspaceOptions(
                path: tree.path,
                strategy: .hash,
                artifactStore: store,
                ignorePatterns: ["cache"],
                maxRestorableFileBytes: 1000
            )
        )
        let pre = try await workspace.snapshot(phase: "pre", label: "h/pre")
        #expect(pre.fileCount == 3)
        tree.write("a.txt", "alpha, changed\n")
        tree.write("dir/c.txt", "gamma\n")
        tree.remove("dir/b.txt")
        tree.write("big.bin", [UInt8](repeating: 8, count: 2000))
        tree.write("cache/y.tmp", "ignored too\n")
        let post = try await workspace.snapshot(phase: "post", label: "h/post")
        let diff = try await workspace.diff(from: pre, to: post)
        #expect(
            diff.files.map { "\($0.change) \($0.path)" } == [
                "modified a.txt", "modified big.bin", "deleted dir/b.txt", "added dir/c.txt",
            ]
        )

        let report = try await workspace.restore(to: pre, from: post, label: "h/back")
        #expect(tree.read("a.txt") == "alpha\n" && tree.read("dir/b.txt") == "beta\n" && !tree.exists("dir/c.txt"))
        #expect(report.unrestorable == ["big.bin (2000 bytes, over the 1000-byte cap)"])
        #expect(report.restored == 2 && report.removed == 1)
        #expect(tree.read("cache/y.tmp") == "ignored too\n")
        // A recorded snapshot is read back from the store.
        let recorded = try await workspace.recorded(post.event)
        #expect(try await workspace.diff(from: pre, to: recorded).files.count == 4)
    }

    @Test("artifacts are content-addressed, stored once, verified on read, and references cannot leave the store")
    func artifactStore() async throws {
        let root = TemporaryDirectory()
        defer { root.remove() }
        let store = FileArtifactStore(root: root.path)
        let reference = try await store.put(Array("patch".utf8))
        // echo -n patch | sha256sum
        #expect(reference.description == "sha256:a4895eb44afc336fecbba6e520cd67e178dace0276655d102fceffa8e5f70570")
        #expect(reference == ArtifactReference.of(Array("patch".utf8)))
        #expect(try await store.put(Array("patch".utf8)) == reference)
        #expect(try await store.get(reference) == Array("patch".utf8))
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: root.file("tmp")).isEmpty,
            "no temporary file is left behind"
        )

        for text in [
            "../../etc/passwd", "sha256:../../etc/passwd", "sha256:" + String(repeating: "A", count: 64), "sha256:abc",
            "md5:" + reference.digest,
            "sha256:" + reference.digest + "/..", "sha256:" + String(repeating: "0", count: 63) + "/",
        ] {
            #expect(throws: ArtifactError.invalidReference(text)) { try ArtifactReference(text) }
        }
        let missing = try ArtifactReference("sha256:" + String(repeating: "0", count: 64))
        await #expect(throws: ArtifactError.notFound(missing)) { try await store.get(missing) }

        // Flip a byte on disk: the read notices.
        let file = root.file("sha256/\(reference.digest.prefix(2))/\(reference.digest.dropFirst(2))")
        _ = FileManager.default.createFile(atPath: file, contents: Data("patcH".utf8))
        await #expect(throws: ArtifactError.corrupted(reference)) { try await store.get(reference) }
    }
}
