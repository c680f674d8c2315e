import AgentSessionManager
import ArgumentParser

extension ASM {
    /// `asm migrate`: copies a log between an SQLite file and PostgreSQL (either way).
    struct Migrate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Copy a log, with its hashes and consumer checkpoints, between SQLite and PostgreSQL.",
            discussion: """
                FROM and TO are each an SQLite file or a PostgreSQL URL (as --db). The source must \
                verify; the target is created if needed and must be empty or hold the start of the same \
                log: an interrupted copy goes on where it stopped. The target's projections are rebuilt \
                and it must verify to the source's chain head. Nothing is written to the source.
                """
        )

        @Option(name: .long, help: ArgumentHelp("The log to copy.", valueName: "path-or-url"))
        var from: String

        @Option(name: .long, help: ArgumentHelp("Where to copy it.", valueName: "path-or-url"))
        var to: String

        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard !from.isEmpty, !to.isEmpty else { throw ValidationError("--from and --to need a path or URL") }
            guard StoreOptions.location(of: from) != StoreOptions.location(of: to) else {
                throw ValidationError("--from and --to name the same log")
            }
        }

        func run() async throws {
            let sourceOptions = try StoreOptions.parse(["--db", from])
            let targetOptions = try StoreOptions.parse(["--db", to])
            let report = try await withStore(try await sourceOptions.openForReading()) { source in
                try await withStore(try await targetOptions.openOrCreate()) { target in
                    guard let target = target as? any LogImporting else {
                        throw CommandFailure(.invalidArgument, "\(targetOptions.location) cannot take a copied log")
                    }
                    let progress = ProgressLine("copying", json: output.json)
                    let report = try await LogCopy.copy(from: source, to: target, progress: progress.report)
                    progress.finish()
                    return report
                }
            }
            let head = report.head?.description ?? "(empty)"
            if output.json {
                var writer = JSONWriter()
                var object = writer.beginObject()
                writer.key("schema_version", in: &object)
                writer.integer(1)
                writer.key("copied", in: &object)
                writer.integer(Int64(report.copied))
                writer.key("already_there", in: &object)
                writer.integer(Int64(report.alreadyThere))
                writer.key("consumers", in: &object)
                writer.integer(Int64(report.consumers))
                writer.key("head", in: &object)
                writer.string(head)
                writer.endObject(object)
                Console.line(String(decoding: writer.bytes, as: UTF8.self))
            } else {
                Console.line(
                    "copied \(report.copied) events (\(report.alreadyThere) already there) and \(report.consumers) "
                        + "consumer checkpoints to \(targetOptions.location); both verify to \(head)"
                )
            }
        }
    }
}
