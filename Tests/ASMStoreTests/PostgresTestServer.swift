import ASMCore
import ASMPostgres
import ASMStore
import AgentSessionManagerTesting
import Foundation

/// The PostgreSQL server the tests may use: `ASM_TEST_POSTGRES` (a URL), or none.
enum PostgresTestServer {
    static let url: String? = {
        let value = ProcessInfo.processInfo.environment["ASM_TEST_POSTGRES"] ?? ""
        if value.isEmpty {
            print("ASM_TEST_POSTGRES is not set: the PostgreSQL cases of the conformance suite do not run")
            return nil
        }
        return value
    }()

    /// A URL with a password over TCP (`ASM_TEST_POSTGRES_TCP`), or none.
    static let passwordURL: String? = {
        let value = ProcessInfo.processInfo.environment["ASM_TEST_POSTGRES_TCP"] ?? ""
        return value.isEmpty ? nil : value
    }()

    /// The URL of a new schema on the test server (the server's URL plus `schema=`).
    static func freshSchemaURL() -> String? {
        guard let url else { return nil }
        let schema = "t_" + UUIDValue.generate().description.replacingOccurrences(of: "-", with: "").prefix(24)
        return url + (url.contains("?") ? "&" : "?") + "schema=\(schema)"
    }

    /// The tests' store settings: a manual clock, and `name` as the connections' application name.
    static func configuration(_ name: String = "asm") -> PostgresEventStore.Configuration {
        var configuration = PostgresEventStore.Configuration()
        configuration.clock = ManualClock()
        configuration.applicationName = name
        return configuration
    }

    /// Drops the schema a store used.
    static func drop(_ store: PostgresEventStore) async {
        let schema = store.location.schema
        guard schema.hasPrefix("t_") else { return }
        try? await store.dropSchemaForTesting()
    }
}

/// A store on a fresh schema of the test server (dropped afterwards), and the schema's URL for
/// opening more stores on the same log.
func withPostgresStore<T>(
    configuration: PostgresEventStore.Configuration = PostgresTestServer.configuration(),
    _ body: (PostgresEventStore, String) async throws -> T
) async throws -> T {
    guard let url = PostgresTestServer.freshSchemaURL() else {
        throw StoreError(.unavailable, "ASM_TEST_POSTGRES is not set")
    }
    let store = try await PostgresEventStore.open(url: url, configuration: configuration)
    do {
        let value = try await body(store, url)
        await PostgresTestServer.drop(store)
        await store.close()
        return value
    } catch {
        await PostgresTestServer.drop(store)
        await store.close()
        throw error
    }
}

/// Two stores on one fresh schema, as two hosts would open it.
func withTwoPostgresStores<T>(_ body: (any EventStore, any EventStore) async throws -> T) async throws -> T {
    try await withPostgresStore { first, url in
        let second = try await PostgresEventStore.open(url: url, configuration: PostgresTestServer.configuration())
        do {
            let value = try await body(first, second)
            await second.close()
            return value
        } catch {
            await second.close()
            throw error
        }
    }
}
