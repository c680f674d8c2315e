public import AgentSessionManager
import FoundationEssentials
import HTTPTypes
public import Hummingbird
import Logging

/// A session server over HTTP: sessions and runs created and read, the log paged and
/// streamed (server-sent events whose ids are the global sequence, so a client resumes
/// exactly where it stopped), approvals answered, cost, provider health, the chain's status,
/// and a live web page at `/`. Every route but `/healthz` and the page's files needs
/// `Authorization: Bearer TOKEN`. The routes are documented in `/v1/openapi.json`.
///
/// ```swift
/// var configuration = SessionServer.Configuration(defaultOptions: RunOptions(provider: "claude"))
/// configuration.servesEverySession = true
/// let server = try await SessionServer.start(manager: manager, agentID: "web", configuration: configuration)
/// let api = HTTPAPI(server: server, token: token)
/// let app = Application(router: api.router(), configuration: .init(address: .hostname("127.0.0.1", port: 8642)))
/// try await app.runService()
/// ```
public struct HTTPAPI: Sendable {
    /// Runs the submitted runs; its manager's store is the log the routes read.
    public let server: SessionServer
    public let token: String
    /// Turns a run request's `workspace` path into workspace options (and checks it); requests
    /// naming a workspace are refused when `nil`.
    public var workspace: (@Sendable (String) async throws -> WorkspaceOptions)?
    /// The largest request body accepted.
    public var maxBodyBytes = 256 << 10
    /// How long a stream stays quiet before a heartbeat comment.
    public var heartbeat: Duration = .seconds(15)
    /// The time provider health is judged at.
    public var clock: any WallClock = SystemClock()

    let idempotency = IdempotencyKeys()
    let frames = FrameCache(capacity: 4096)

    public init(server: SessionServer, token: String) {
        self.server = server
        self.token = token
    }

    var store: any EventStore { server.manager.store }
    var manager: SessionManager { server.manager }

    public func router() -> Hummingbird.Router<BasicRequestContext> {
        let router = Hummingbird.Router(context: BasicRequestContext.self)
        router.add(middleware: Refusals())
        router.get("healthz") { _, _ in Self.text(.ok, "ok\n") }
        WebPage.add(to: router)

        let v1 = router.group("v1").add(middleware: BearerAuth(token: token))
        v1.get("openapi.json") { _, _ in Self.json(.ok, Array(OpenAPIDocument.bytes)) }
        v1.post("sessions") { request, _ in try await createSession(request) }
        v1.get("sessions") { request, _ in try await listSessions(request) }
        v1.get("sessions/:session") { request, context in try await getSession(request, context) }
        v1.post("sessions/:session/complete") { request, context in
            try await endSession(request, context, archive: false)
        }
        v1.post("sessions/:session/archive") { request, context in
            try await endSession(request, context, archive: true)
        }
        v1.post("sessions/:session/runs") { request, context in try await submitRun(request, context) }
        v1.get("runs/:run") { request, context in try await getRun(request, context) }
        v1.post("runs/:run/cancel") { request, context in try await cancelRun(request, context) }
        v1.get("events") { request, _ in try await events(request) }
        v1.get("stream") { request, _ in try stream(request) }
        v1.get("approvals") { request, _ in try await approvals(request) }
        // Approval ids are `<run>/<n>`: the slash stays a path separator.
        v1.post("approvals/:id/:number") { request, context in
            let id = "\(context.parameters.get("id") ?? "")/\(context.parameters.get("number") ?? "")"
            return try await resolve(request, id: id)
        }
        v1.post("approvals/:id") { request, context in
            try await resolve(request, id: context.parameters.get("id") ?? "")
        }
        v1.get("search") { request, _ in try await search(request) }
        v1.get("cost") { request, _ in try await cost(request) }
        v1.get("providers") { request, _ in try await providers(request) }
        v1.get("verify") { request, _ in try await verify(request) }
        v1.get("status") { request, _ in try await status(request) }
        return router
    }

    // MARK: Responses

    static func json(_ status: HTTPResponse.Status, _ bytes: [UInt8], headers: HTTPFields = [:]) -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    /// A report type as JSON, in its declared field order.
    static func json(
        _ status: HTTPResponse.Status,
        encoding value: some Encodable,
        headers: HTTPFields = [:]
    ) throws -> Response {
        json(status, try ReportEncoder(sortsKeys: false).encode(value) + [0x0A], headers: headers)
    }

    static func text(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/plain; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text))
        )
    }

    /// The request's JSON body: an object of at most `limit` bytes.
    static func body(_ request: Hummingbird.Request, limit: Int) async throws -> JSONValue {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch {
            throw HTTPError(.contentTooLarge, message: "the body is larger than \(limit) bytes")
        }
        let value: JSONValue
        do {
            value = try JSONValue(parsing: Array(buffer.readableBytesView))
        } catch {
            throw HTTPError(.badRequest, message: "the body is not JSON: \(error)")
        }
        guard case .object = value else { throw HTTPError(.badRequest, message: "the body must be a JSON object") }
        return value
    }

    /// Refuses members of `body` not in `known`.
    static func allow(_ body: JSONValue, _ known: [String]) throws(HTTPError) {
        for member in body.objectValue ?? [] where !known.contains(member.key) {
            throw HTTPError(
                .badRequest,
                message: "unknown field \(member.key): expected \(known.joined(separator: ", "))"
            )
        }
    }
}

extension HTTPAPI {
    /// Serves the API on `host:port` (port 0 picks a free one) until the task is cancelled;
    /// `onListening` gets the port once the server accepts connections.
    public func listen(
        host: String,
        port: Int,
        onListening: @escaping @Sendable (Int) async -> Void
    ) async throws {
        var logger = Logger(label: "asm.http")
        logger.logLevel = .critical
        let app = Application(
            router: router(),
            configuration: .init(address: .hostname(host, port: port), serverName: "asm"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) },
            logger: logger
        )
        try await app.runService(gracefulShutdownSignals: [])
    }
}
