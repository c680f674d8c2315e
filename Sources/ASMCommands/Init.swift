import AgentSessionManager
import ArgumentParser

extension ASM {
    /// `asm init`: creates the database or brings it to this build's schema.
    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create the database file (or PostgreSQL schema), or migrate it to this build's schema."
        )

        @OptionGroup var store: StoreOptions

        func run() async throws {
            // A PostgreSQL log has no file to look for: its schema is created when missing, and
            // what is there is reported.
            let existed = store.isPostgres || DatabasePresence.exists(store.path)
            let location = store.location
            try await withStore(try await store.openOrCreate()) { store in
                let version = try await store.schemaVersion()
                let events = try await store.lastSequence()
                Console.line(
                    existed
                        ? "\(location): schema version \(version), \(events.rawValue) events"
                        : "created \(location) (schema version \(version))"
                )
            }
        }
    }
}
