import AgentSessionManager
import ArgumentParser

extension ASM {
    /// `asm rebuild`: re-derives the projections from the log.
    struct Rebuild: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Rebuild every projection (sessions, runs, transcript, usage) from the events alone."
        )

        @OptionGroup var store: StoreOptions

        func run() async throws {
            let progress = ProgressLine("rebuilding from", json: false)
            let report = try await withStore(try await store.openExisting()) {
                try await $0.rebuildProjections(progress: progress.report)
            }
            progress.finish()
            let names = report.projections.keys.sorted().joined(separator: ", ")
            Console.line("rebuilt \(names) from \(report.events) events (through sequence \(report.throughSequence))")
        }
    }
}
