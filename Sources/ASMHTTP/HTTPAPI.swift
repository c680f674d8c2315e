public import AgentSessionManager
import FoundationEssentials
import HTTPTypes
public import Hummingbird

/// The log over HTTP: events paged and streamed (server-sent events whose ids are the global
/// sequence, so a client resumes exactly where it stopped), and approvals answered from
/// anywhere. Every route but `/healthz` needs `Authorization: Bearer TOKEN`.
///
/// ```swift
/// let api = HTTPAPI(store: store, manager: manager, token: token)
/// let app = Application(router: api.router(), configuration: .init(address: .hostname("127.0.0.1", port: 8642)))
/// try await app.runService()
/// ```
public struct HTTPAPI: Sendable {
    public let store: SQLiteEventStore
    /// Resolves approvals.
    public let manager: SessionManager
    public let token: String
    /// The largest request body accepted.
    public var maxBodyBytes = 64 << 10
    /// How long a stream stays quiet before a heartbeat comment.
    public var heartbeat: Duration = .seconds(15)

    public init(store: SQLiteEventStore, manager: SessionManager, token: String) {
        self.store = store
        self.manager = manager
        self.token = token
    }

    public func router() -> Hummingbird.Router<BasicRequestContext> {
        let router = Hummingbird.Router(context: BasicRequestContext.self)
        router.add(middleware: Refusals())
        router.get("healthz") { _, _ in Self.text(.ok, "ok\n") }
        let v1 = router.group("v1").add(middleware: BearerAuth(token: token))
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
        return router
    }

    // MARK: Events

    /// `GET /v1/events?after=SEQ&limit=N&session=&run=&type=`: a page in sequence order and the
    /// cursor for the next one.
    private func events(_ request: Request) async throws -> Hummingbird.Response {
        let query = try Query(request)
        let limit = try query.limit(default: 500, maximum: 5000)
        let page = try await store.events(from: try query.after.next, limit: limit, filter: try query.filter())
        var body: [UInt8] = Array(#"{"events":["#.utf8)
        for (index, envelope) in page.events.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body += EventJSON.object(envelope)
        }
        body += Array(#"],"next":\#(page.scannedThrough.rawValue)}"#.utf8) + [0x0A]
        return Self.json(.ok, body)
    }

    /// `GET /v1/stream?after=SEQ&session=&run=&type=&limit=N` as `text/event-stream`: `id:` the
    /// global sequence, `event:` the type, `data:` the event's JSON; the log's backfill, then
    /// live. `Last-Event-ID` (or `after`) resumes after that sequence; `limit` ends the stream
    /// after that many events.
    private func stream(_ request: Request) throws -> Response {
        let query = try Query(request)
        var start = try query.after
        if let name = HTTPField.Name("Last-Event-ID"), let last = request.headers[name] {
            guard let value = Int64(last), value >= 0 else {
                throw HTTPError(.badRequest, message: "Last-Event-ID must be a sequence number")
            }
            start = SequenceNumber(value)
        }
        let after = start
        let limit = try query.optionalLimit()
        let filter = try query.filter()
        let store = self.store
        let heartbeat = self.heartbeat
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
            let (lines, continuation) = AsyncStream<[UInt8]?>.makeStream()
            // One task follows the log, one beats when it is quiet; the writer takes both in order.
            let follower = Task {
                var sent = 0
                do {
                    for try await envelope in store.subscribe(from: after.next, filter: filter) {
                        var frame = Array(
                            "id: \(envelope.sequence.rawValue)\nevent: \(envelope.type.rawValue)\ndata: ".utf8
                        )
                        frame += EventJSON.object(envelope)
                        frame += Array("\n\n".utf8)
                        continuation.yield(frame)
                        sent += 1
                        if let limit, sent >= limit { break }
                    }
                } catch {}
                continuation.yield(nil)
            }
            let beats = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: heartbeat)
                    if Task.isCancelled { break }
                    continuation.yield(Array(": heartbeat\n\n".utf8))
                }
            }
            defer {
                follower.cancel()
                beats.cancel()
                continuation.finish()
            }
            for await line in lines {
                guard let line else { break }
                try await writer.write(ByteBuffer(bytes: line))
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: body
        )
    }

    // MARK: Approvals

    /// `GET /v1/approvals?pending=true&session=&limit=`.
    private func approvals(_ request: Request) async throws -> Hummingbird.Response {
        let query = try Query(request)
        let pending = try query.flag("pending")
        let session = try query.session()
        let limit = try query.limit(default: 100, maximum: 1000)
        let list = try await store.approvals(pendingOnly: pending, session: session, id: nil, limit: limit)
        var writer = JSONWriter()
        writer.sortsKeys = false
        var object = writer.beginObject()
        writer.key("approvals", in: &object)
        var array = writer.beginArray()
        for approval in list {
            writer.element(in: &array)
            var item = writer.beginObject()
            try approval.writeFields(to: &writer, in: &item)
            writer.endObject(item)
        }
        writer.endArray(array)
        writer.endObject(object)
        return Self.json(.ok, writer.bytes + [0x0A])
    }

    /// `POST /v1/approvals/{id}` with `{"decision": "approve"|"deny", "by": "…", "reason": "…"}`:
    /// 200 when recorded, 409 when already answered, 404 when unknown.
    private func resolve(_ request: Hummingbird.Request, id: String) async throws -> Hummingbird.Response {
        let body = try await Self.body(request, limit: maxBodyBytes)
        guard case .object = body else { throw HTTPError(.badRequest, message: "the body must be a JSON object") }
        for member in body.objectValue ?? [] where !["decision", "by", "reason"].contains(member.key) {
            throw HTTPError(.badRequest, message: "unknown field \(member.key): expected decision, by, reason")
        }
        let approve: Bool
        switch body["decision"]?.stringValue {
        case "approve": approve = true
        case "deny": approve = false
        default: throw HTTPError(.badRequest, message: "decision must be \"approve\" or \"deny\"")
        }
        func text(_ key: String) throws(HTTPError) -> String? {
            guard let value = body[key] else { return nil }
            guard let text = value.stringValue, !text.isEmpty, text.count <= 200, !text.contains("\n") else {
                throw HTTPError(.badRequest, message: "\(key) must be one line of text, 200 characters at most")
            }
            return text
        }
        let by = try text("by") ?? "http"
        let reason = try text("reason")
        do {
            try await manager.resolveApproval(id, approved: approve, by: by, reason: reason)
            var writer = JSONWriter()
            var object = writer.beginObject()
            writer.field("approval_id", id, in: &object)
            writer.field("status", approve ? "approved" : "denied", in: &object)
            writer.field("resolved_by", by, in: &object)
            writer.field("reason", reason, in: &object)
            writer.endObject(object)
            return Self.json(.ok, writer.bytes + [0x0A])
        } catch let error as SessionManagerError where error.code == .alreadyResolved {
            throw HTTPError(.conflict, message: error.message)
        } catch let error as SessionManagerError where error.code == .approvalNotFound {
            throw HTTPError(.notFound, message: error.message)
        }
    }

    // MARK: Helpers

    static func json(_ status: HTTPResponse.Status, _ bytes: [UInt8]) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes))
        )
    }

    static func text(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(
            status: status,
            headers: [.contentType: "text/plain; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text))
        )
    }

    /// The request's JSON body, at most `limit` bytes.
    static func body(_ request: Hummingbird.Request, limit: Int) async throws -> JSONValue {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch {
            throw HTTPError(.contentTooLarge, message: "the body is larger than \(limit) bytes")
        }
        do {
            return try JSONValue(parsing: Array(buffer.readableBytesView))
        } catch {
            throw HTTPError(.badRequest, message: "the body is not JSON: \(error)")
        }
    }
}

/// The query parameters the routes share, checked: a bad one is a 400 naming it.
struct Query {
    private let parameters: [String: String]

    init(_ request: Request) throws(HTTPError) {
        var parameters: [String: String] = [:]
        for (key, value) in request.uri.queryParameters {
            parameters[String(key)] = String(value)
        }
        self.parameters = parameters
    }

    var after: SequenceNumber {
        get throws(HTTPError) {
            guard let text = parameters["after"] else { return .zero }
            guard let value = Int64(text), value >= 0 else {
                throw HTTPError(.badRequest, message: "after must be a sequence number (0 or more)")
            }
            return SequenceNumber(value)
        }
    }

    func limit(default fallback: Int, maximum: Int) throws(HTTPError) -> Int {
        guard let text = parameters["limit"] else { return fallback }
        guard let value = Int(text), (1...maximum).contains(value) else {
            throw HTTPError(.badRequest, message: "limit must be a whole number from 1 to \(maximum)")
        }
        return value
    }

    func optionalLimit() throws(HTTPError) -> Int? {
        guard parameters["limit"] != nil else { return nil }
        return try limit(default: 0, maximum: Int.max)
    }

    func flag(_ name: String) throws(HTTPError) -> Bool {
        switch parameters[name] {
        case nil, "false": return false
        case "true", "": return true
        default: throw HTTPError(.badRequest, message: "\(name) must be true or false")
        }
    }

    func session() throws(HTTPError) -> SessionID? {
        guard let text = parameters["session"] else { return nil }
        guard let id = SessionID(text) else { throw HTTPError(.badRequest, message: "session must be a session id") }
        return id
    }

    func filter() throws(HTTPError) -> EventFilter {
        var filter = EventFilter()
        if let session = try session() { filter.stream = session.stream }
        if let text = parameters["run"] {
            guard let run = RunID(text) else { throw HTTPError(.badRequest, message: "run must be a run id") }
            filter.run = run
        }
        if let text = parameters["type"] {
            let types = text.split(separator: ",").map { EventType(String($0)) }
            guard !types.isEmpty else { throw HTTPError(.badRequest, message: "type must name event types") }
            filter.types = Set(types)
        }
        return filter
    }
}

/// `Authorization: Bearer TOKEN`, compared in constant time.
struct BearerAuth: RouterMiddleware {
    typealias Context = BasicRequestContext
    let token: String

    @concurrent func handle(
        _ request: Hummingbird.Request,
        context: Context,
        next: @concurrent (Hummingbird.Request, Context) async throws -> Hummingbird.Response
    ) async throws -> Hummingbird.Response {
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
            Self.equal(Array(header.utf8.dropFirst(7)), Array(token.utf8))
        else {
            throw HTTPError(.unauthorized, message: "a valid Authorization: Bearer token is required")
        }
        return try await next(request, context)
    }

    /// Equal bytes, in a time that depends only on the lengths.
    static func equal(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var difference = UInt8(a.count == b.count ? 0 : 1)
        for index in 0..<max(a.count, b.count) {
            difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
        }
        return difference == 0
    }
}

/// Every refusal as one JSON line, `{"error": "…"}`, with its status; unknown routes are 404.
struct Refusals: RouterMiddleware {
    typealias Context = BasicRequestContext

    @concurrent func handle(
        _ request: Hummingbird.Request,
        context: Context,
        next: @concurrent (Hummingbird.Request, Context) async throws -> Hummingbird.Response
    ) async throws -> Hummingbird.Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError {
            return Self.refusal(error.status, error.body ?? error.status.reasonPhrase)
        } catch let error as any HTTPResponseError {
            return Self.refusal(error.status, error.status.reasonPhrase)
        } catch {
            return Self.refusal(.internalServerError, "the request failed: \(error)")
        }
    }

    static func refusal(_ status: HTTPResponse.Status, _ message: String) -> Response {
        var writer = JSONWriter()
        var object = writer.beginObject()
        writer.field("error", message.split(separator: "\n").first.map(String.init) ?? "", in: &object)
        writer.endObject(object)
        return HTTPAPI.json(status, writer.bytes + [0x0A])
    }
}
