import AgentSessionManager
import ArgumentParser

extension ASM {
    /// `asm verify`: walks the hash chain and SQLite's integrity check.
    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check the hash chain of every event and the file's integrity.",
            discussion: "Exits 1 and names the first bad sequence when the log does not verify."
        )

        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions

        struct Document: Encodable {
            var ok: Bool
            var eventsChecked: Int
            var firstMismatch: Int64?
            var firstGap: Int64?
            var integrity: [String]
            var head: String?
            var chainVersions: [Version]
            var expunged: [Expunged]

            struct Version: Encodable {
                var version: Int
                var from: Int64
            }

            struct Expunged: Encodable {
                var sequence: Int64
                var digest: String
                var reason: String
                var by: String
                var recordedIn: Int64

                enum CodingKeys: String, CodingKey {
                    case sequence, digest, reason, by
                    case recordedIn = "recorded_in"
                }
            }

            enum CodingKeys: String, CodingKey {
                case ok, integrity, head, expunged
                case chainVersions = "chain_versions"
                case eventsChecked = "events_checked"
                case firstMismatch = "first_mismatch"
                case firstGap = "first_gap"
            }
        }

        func run() async throws {
            let progress = ProgressLine("verifying", json: output.json)
            let report = try await withStore(try store.openForReading()) {
                try await $0.verify(progress: progress.report)
            }
            progress.finish()
            if output.json {
                Console.line(
                    Formatting.json(
                        Document(
                            ok: report.isIntact,
                            eventsChecked: report.eventsChecked,
                            firstMismatch: report.firstMismatch?.rawValue,
                            firstGap: report.firstGap?.rawValue,
                            integrity: report.integrity,
                            head: report.head?.description,
                            chainVersions: report.chainVersions.map {
                                Document.Version(version: $0.version, from: $0.firstSequence.rawValue)
                            },
                            expunged: report.expunged.map {
                                Document.Expunged(
                                    sequence: $0.sequence.rawValue,
                                    digest: $0.digest,
                                    reason: $0.reason,
                                    by: $0.by,
                                    recordedIn: $0.recordedIn.rawValue
                                )
                            }
                        )
                    )
                )
            } else {
                Console.line("checked \(report.eventsChecked) events")
                if let head = report.head { Console.line("chain head \(head)") }
                let versions = report.chainVersions.map { "version \($0.version) from \($0.firstSequence.rawValue)" }
                if !versions.isEmpty { Console.line("chain: " + versions.joined(separator: ", ")) }
                if !report.expunged.isEmpty {
                    Console.line("expunged: \(report.expunged.count) event\(report.expunged.count == 1 ? "" : "s")")
                    for entry in report.expunged {
                        Console.line(
                            "  \(entry.sequence.rawValue) by \(entry.by) (recorded at \(entry.recordedIn.rawValue)): \(entry.reason)"
                        )
                    }
                }
                Console.line("integrity: \(report.integrity.joined(separator: "; "))")
            }
            if let mismatch = report.firstMismatch {
                throw CommandFailure(
                    .verificationFailed,
                    "hash mismatch at sequence \(mismatch): the event was changed after it was recorded"
                )
            }
            if let gap = report.firstGap {
                throw CommandFailure(.verificationFailed, "sequence \(gap) is missing from the log")
            }
            guard report.integrity == ["ok"] else {
                throw CommandFailure(.corrupt, "SQLite's integrity check failed")
            }
            if !output.json { Console.line("ok") }
        }
    }
}
