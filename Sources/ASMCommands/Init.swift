import AgentSessionManager
import ArgumentParser

extension ASM {
    /// `asm init`: creates the database or brings it to this build's schema.
    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the database file, or migrate it to this build's schema."
        )

        @OptionGroup var store: StoreOptions

        func run() async throws {
            let existed = DatabasePresence.exists(store.path)
            try await withStore(try store.openOrCreate()) { store in
                let version = try await store.schemaVersion()
                let events = try await store.lastSequence()
                Console.line(
                    existed
                        ? "\(store.path): schema version \(version), \(events.rawValue) events"
                        : "created \(store.path) (schema version \(version))"
                )
            }
        }
    }
}
