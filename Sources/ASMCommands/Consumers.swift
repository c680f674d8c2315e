import AgentSessionManager
import ArgumentParser

extension ASM {
    /// `asm consumers`: durable consumers and their checkpoints.
    struct Consumers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List durable consumers, or reset one.",
            subcommands: [List.self, Reset.self],
            defaultSubcommand: List.self
        )

        struct List: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "List durable consumers and how far behind they are."
            )

            @OptionGroup var store: StoreOptions
            @OptionGroup var output: OutputOptions

            func run() async throws {
                let consumers = try await withStore(try await store.openForReading()) { try await $0.consumers() }
                if output.json {
                    for consumer in consumers { Console.line(Formatting.json(consumer)) }
                    return
                }
                guard !consumers.isEmpty else {
                    Console.line("no consumers")
                    return
                }
                var rows = [["CONSUMER", "POSITION", "LAG", "UPDATED"]]
                for consumer in consumers {
                    rows.append([
                        consumer.name, String(consumer.position.rawValue), String(consumer.lag),
                        consumer.updatedAt.description,
                    ])
                }
                Formatting.table(rows, rightAligned: [1, 2]).forEach(Console.line)
            }
        }

        struct Reset: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Move a consumer's checkpoint (backwards to reprocess); recorded as a consumer.reset event."
            )

            @OptionGroup var store: StoreOptions

            @Argument(help: "The consumer's name.")
            var name: String

            @Option(help: "The sequence the consumer has processed through (0 to start over).")
            var to: Int64

            @Option(help: "Why, for the audit trail.")
            var reason: String?

            func validate() throws {
                guard to >= 0 else { throw ValidationError("--to must be zero or more") }
            }

            func run() async throws {
                try await withStore(try await store.openExisting()) { store in
                    let before = try await store.consumerPosition(name)
                    try await store.resetConsumer(name, to: SequenceNumber(to), reason: reason)
                    Console.line("\(name): \(before) → \(to)")
                }
            }
        }
    }
}
