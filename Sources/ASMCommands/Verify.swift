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

        func run() async throws {
            let progress = ProgressLine("verifying", json: output.json)
            let report = try await withStore(try await store.openForReading()) {
                try await $0.verify(progress: progress.report)
            }
            progress.finish()
            if output.json {
                Console.line(Formatting.json(report))
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
