import AgentSessionManager
import ArgumentParser
import FoundationEssentials

extension ASM {
    /// `asm export SESSION --format markdown|json|jsonl`: a session for people and other tools.
    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a session out as Markdown, JSON or JSON Lines.",
            discussion: """
                markdown is for people: each run with its prompt, the agent's messages, tool calls with their \
                input and output, policy, approval and routing decisions, workspace diffs, its end and cost. json \
                is one document (the session, its runs, usage and cost, and every event of the session as asm tail \
                --json prints it, under "events"); jsonl is a header line and then one line per event. Every \
                format names the chain head the log had when it was read (sequence and hash), so the export can \
                be checked against the log. Secrets were redacted when the events were recorded; nothing is \
                added back. Exit status: 0, 66 for a missing session, 64 for an --output that cannot be written.
                """
        )

        enum Format: String, ExpressibleByArgument, CaseIterable {
            case markdown, json, jsonl
        }

        @OptionGroup var store: StoreOptions

        @Argument(help: "A session id, or an unambiguous prefix of one.")
        var session: String

        @Option(help: "markdown, json or jsonl.")
        var format: Format = .markdown

        @Option(
            name: [.customShort("o"), .long],
            help: "Write to this file (replaced whole) instead of standard output."
        )
        var output: String?

        func run() async throws {
            let text = try await withStore(try await store.openForReading()) { store in
                let id = try await resolveSession(session, in: store)
                let export = try await SessionExport.read(id, from: store, at: SystemClock().now())
                switch format {
                case .markdown: return export.markdown()
                case .json: return export.json()
                case .jsonl: return export.jsonLines()
                }
            }
            guard let output else {
                Console.write(text, to: 1)
                return
            }
            do {
                try Data(text.utf8).write(to: URL(fileURLWithPath: output), options: .atomic)
            } catch {
                throw CommandFailure(.invalidArgument, "cannot write \(output)", underlying: error)
            }
        }
    }
}
