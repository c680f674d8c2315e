import AgentSessionManager
import ArgumentParser
import FoundationEssentials

extension ASM {
    /// `asm expunge`: replaces payloads that should never have been recorded.
    struct Expunge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Replace the payloads of events with tombstones that keep their digests, recorded and audited.",
            discussion: """
                For what got into the log anyway: each named event keeps its type, position and hash, its \
                payload becomes {"digest":"sha256:…","expunged":true}, and an event.expunged event records who, \
                when and why. The hash chain still verifies: events recorded by this build are linked to their \
                payload's digest (chain version 2). Events linked under version 1 (an older build's) and events \
                that carry the log's structure (run.started, routing and policy decisions, consumers) cannot be \
                expunged.

                The bytes leave the table at once and the file at the next checkpoint and VACUUM; a copy made \
                earlier still holds them. It cannot be undone: --yes is required. SQLite files only: a PostgreSQL \
                log is refused. Exit status: 0 expunged, 64 without --yes, for an event that cannot be expunged \
                or a PostgreSQL log, 66 for a sequence the log does not have.
                """
        )

        @OptionGroup var store: StoreOptions

        @Argument(help: "The sequences of the events to expunge.")
        var sequences: [Int64]

        @Option(help: "Why, for the audit trail (required).")
        var reason: String

        @Option(help: "Who asks for it (default: the OS user).")
        var by: String?

        @Flag(help: "Confirm: the payloads are replaced for good.")
        var yes = false

        func validate() throws {
            guard !sequences.isEmpty else { throw ValidationError("name at least one sequence") }
            guard sequences.allSatisfy({ $0 > 0 }) else { throw ValidationError("sequences start at 1") }
            guard !reason.allSatisfy(\.isWhitespace) else { throw ValidationError("--reason must say why") }
            guard yes else {
                throw ValidationError("expunging replaces the payloads for good; add --yes to go ahead")
            }
        }

        func run() async throws {
            let who = by ?? ProcessInfo.processInfo.environment["USER"] ?? "unknown"
            let record = try await withStore(try store.openExistingSQLite(for: "asm expunge")) { store in
                try await store.expunge(sequences.map { SequenceNumber($0) }, reason: reason, by: who)
            }
            for (sequence, digest) in zip(record.sequences, record.digests) {
                Console.line("expunged \(sequence.rawValue) (\(digest))")
            }
        }
    }
}
