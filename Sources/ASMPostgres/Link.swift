internal import ASMCore
internal import ASMStore
internal import Dispatch
internal import Logging
internal import NIOCore
internal import NIOPosix
internal import NIOSSL
internal import PostgresNIO
internal import Synchronization

/// One connection to the server, with the store's error mapping: every failure becomes a
/// ``StoreError`` whose message names the server (never the password) and what was being done.
final class Link: Sendable {
    let connection: PostgresConnection
    let location: PostgresLocation

    private static let logger: Logger = {
        var logger = Logger(label: "asm.postgres")
        logger.logLevel = .critical
        return logger
    }()
    private static let ids = Atomic<Int>(0)

    private init(connection: PostgresConnection, location: PostgresLocation) {
        self.connection = connection
        self.location = location
    }

    /// Connects and sets the session up: the log's schema first on the search path, UTC.
    static func connect(
        _ location: PostgresLocation,
        timeout: Duration,
        name: String = "asm"
    ) async throws(StoreError)
        -> Link
    {
        var configuration: PostgresConnection.Configuration
        if location.isUnixSocket {
            configuration = .init(
                unixSocketPath: location.socketPath,
                username: location.user,
                password: location.password,
                database: location.database
            )
        } else {
            let tls: PostgresConnection.Configuration.TLS
            switch location.tls {
            case .disable: tls = .disable
            case .prefer, .require:
                do {
                    let context = try NIOSSLContext(configuration: .makeClientConfiguration())
                    tls = location.tls == .require ? .require(context) : .prefer(context)
                } catch {
                    throw StoreError(.unavailable, "cannot set up TLS for \(location): \(error)")
                }
            }
            configuration = .init(
                host: location.host,
                port: location.port,
                username: location.user,
                password: location.password,
                database: location.database,
                tls: tls
            )
        }
        configuration.options.connectTimeout = .milliseconds(Int64(timeout.components.seconds * 1000))
        configuration.options.additionalStartupParameters = [
            ("search_path", "\(location.schema), public"), ("TimeZone", "UTC"), ("application_name", name),
        ]
        do {
            let connection = try await PostgresConnection.connect(
                configuration: configuration,
                id: ids.add(1, ordering: .relaxed).newValue,
                logger: logger
            )
            return Link(connection: connection, location: location)
        } catch {
            throw Self.storeError(error, location: location, doing: "connecting")
        }
    }

    var isClosed: Bool { connection.isClosed }

    /// Closes the connection; the link stays alive until the close completes.
    func close() {
        let closing: EventLoopFuture<Void> = connection.close()
        closing.whenComplete { _ in withExtendedLifetime(self) {} }
    }

    /// Runs one statement and returns every row.
    func query(
        _ sql: String,
        _ binds: PostgresBindings = PostgresBindings(),
        doing action: String
    ) async throws(StoreError)
        -> [PostgresRow]
    {
        do {
            let result = try await connection.query(PostgresQuery(unsafeSQL: sql, binds: binds), logger: Self.logger)
            var rows: [PostgresRow] = []
            for try await row in result { rows.append(row) }
            return rows
        } catch {
            throw Self.storeError(error, location: location, doing: action)
        }
    }

    /// Runs one statement from a thread that may block (never one of Swift's cooperative threads).
    func blockingQuery(
        _ sql: String,
        _ binds: PostgresBindings = PostgresBindings(),
        doing action: String
    ) throws(StoreError) -> [PostgresRow] {
        do {
            let future: EventLoopFuture<PostgresQueryResult> = connection.query(
                PostgresQuery(unsafeSQL: sql, binds: binds),
                logger: Self.logger
            )
            return try future.wait().rows
        } catch {
            throw Self.storeError(error, location: location, doing: action)
        }
    }

    /// The store error for a failure of the server or the connection.
    static func storeError(_ error: any Error, location: PostgresLocation, doing action: String) -> StoreError {
        if let error = error as? StoreError { return error }
        guard let psql = error as? PSQLError else {
            return StoreError(.unavailable, "\(action): cannot reach \(location)", underlying: error)
        }
        if let state = psql.serverInfo?[.sqlState] {
            let message = psql.serverInfo?[.message] ?? "error \(state)"
            switch state {
            case "28P01", "28000":
                return StoreError(
                    .unavailable,
                    "\(action): the server refused the credentials of \(location.user) at \(location)",
                    underlying: error
                )
            case "3D000":
                return StoreError(.missingDatabase, "\(action): \(message) (at \(location))", underlying: error)
            case "57P01", "57P02", "57P03", "08000", "08003", "08006":
                return StoreError(
                    .unavailable,
                    "\(action): the server at \(location) went away (\(message))",
                    underlying: error
                )
            case "25006":
                return StoreError(.readOnly, "\(action): \(message)", underlying: error)
            case "53100":
                return StoreError(.diskFull, "\(action): \(message)", underlying: error)
            case "55P03", "40P01", "40001":
                return StoreError(.busy, "\(action): \(message)", underlying: error)
            default:
                return StoreError(.database, "\(action): \(message) (\(state))", underlying: error)
            }
        }
        switch psql.code {
        case .connectionError:
            return StoreError(
                .unavailable,
                "\(action): cannot connect to \(location) (refused, unreachable or timed out)",
                underlying: error
            )
        case .uncleanShutdown, .serverClosedConnection, .clientClosedConnection:
            return StoreError(.unavailable, "\(action): the connection to \(location) was lost", underlying: error)
        case .unsupportedAuthMechanism, .authMechanismRequiresPassword, .saslError:
            return StoreError(
                .unavailable,
                "\(action): cannot authenticate as \(location.user) at \(location) (no usable password)",
                underlying: error
            )
        default:
            return StoreError(.unavailable, "\(action): cannot reach \(location)", underlying: error)
        }
    }
}

/// Runs `body` on a thread that may block, off Swift's cooperative pool.
func offThePool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async {
            continuation.resume(with: Result { try body() })
        }
    }
}

/// Idle connections for reads, made on demand.
final class LinkPool: Sendable {
    private let location: PostgresLocation
    private let timeout: Duration
    private let name: String
    private let idleLimit: Int
    private let state = Mutex<(idle: [Link], closed: Bool)>(([], false))

    init(location: PostgresLocation, timeout: Duration, name: String, idleLimit: Int) {
        self.location = location
        self.timeout = timeout
        self.name = name
        self.idleLimit = idleLimit
    }

    func acquire() async throws(StoreError) -> Link {
        while true {
            let taken: Link?? = state.withLock { state in
                if state.closed { return .some(nil) }
                return state.idle.popLast().map { .some($0) } ?? nil
            }
            switch taken {
            case .some(.none): throw StoreError(.closed, "the store is closed")
            case .some(.some(let link)) where !link.isClosed: return link
            case .some(.some): continue
            case .none: return try await Link.connect(location, timeout: timeout, name: name)
            }
        }
    }

    func release(_ link: Link) {
        let keep = state.withLock { state in
            guard !state.closed, !link.isClosed, state.idle.count < idleLimit else { return false }
            state.idle.append(link)
            return true
        }
        if !keep { link.close() }
    }

    /// Runs blocking work on one connection; a connection that broke is not reused.
    func withLink<T: Sendable>(_ body: @escaping @Sendable (Link) throws -> T) async throws -> T {
        let link = try await acquire()
        do {
            let value = try await offThePool { try body(link) }
            release(link)
            return value
        } catch {
            release(link)
            throw error
        }
    }

    func close() {
        let links = state.withLock { state in
            state.closed = true
            defer { state.idle.removeAll() }
            return state.idle
        }
        for link in links { link.close() }
    }
}
