import AgentSessionManager
import HTTPTypes
import Hummingbird

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
        get throws(HTTPError) { try sequence("after") ?? .zero }
    }

    /// A sequence-number parameter, when present.
    func sequence(_ name: String) throws(HTTPError) -> SequenceNumber? {
        guard let text = parameters[name] else { return nil }
        guard let sequence = Self.cursor(text) else {
            throw HTTPError(.badRequest, message: "\(name) must be a sequence number (0 or more)")
        }
        return sequence
    }

    /// A sequence number given as a cursor (a query parameter, `Last-Event-ID`): digits only,
    /// below the largest Int64, since a cursor is followed by the sequence after it.
    static func cursor(_ text: some StringProtocol) -> SequenceNumber? {
        guard text.first != "+", let value = Int64(text), value >= 0, value < .max else { return nil }
        return SequenceNumber(value)
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
        case "true": return true
        default: throw HTTPError(.badRequest, message: "\(name) must be true or false")
        }
    }

    func string(_ name: String) -> String? { parameters[name] }

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

extension BasicRequestContext {
    /// A path parameter that must be a session id: 404 otherwise (no such resource).
    func sessionID() throws(HTTPError) -> SessionID {
        guard let text = parameters.get("session"), let id = SessionID(text) else {
            throw HTTPError(.notFound, message: "no such session")
        }
        return id
    }

    /// A path parameter that must be a run id: 404 otherwise.
    func runID() throws(HTTPError) -> RunID {
        guard let text = parameters.get("run"), let id = RunID(text) else {
            throw HTTPError(.notFound, message: "no such run")
        }
        return id
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
        // The scheme is case-insensitive; the token is compared in constant time.
        guard let header = request.headers[.authorization], header.utf8.count > 7,
            header.prefix(7).lowercased() == "bearer ",
            Self.equal(Array(header.utf8.dropFirst(7)), Array(token.utf8))
        else {
            throw HTTPError(
                .unauthorized,
                headers: [.wwwAuthenticate: "Bearer"],
                message: "a valid Authorization: Bearer token is required"
            )
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
/// Errors of the engine map to their meaning: a request it refuses is a 4xx, never a 500.
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
            return Self.refusal(error.status, error.body ?? error.status.reasonPhrase, headers: error.headers)
        } catch let error as any HTTPResponseError {
            return Self.refusal(error.status, error.status.reasonPhrase)
        } catch let error as RunRequest.Invalid {
            return Self.refusal(.badRequest, error.description)
        } catch let error as SessionManagerError {
            return Self.refusal(Self.status(of: error), error.message)
        } catch let error as SessionServerError {
            let status: HTTPResponse.Status =
                switch error.code {
                case .notAccepting: .serviceUnavailable
                case .unknownRun: .notFound
                default: .badRequest
                }
            return Self.refusal(status, error.message)
        } catch let error as WorkspaceError {
            return Self.refusal(.unprocessableContent, "workspace: \(error)")
        } catch {
            return Self.refusal(.internalServerError, "the request failed: \(error)")
        }
    }

    static func status(of error: SessionManagerError) -> HTTPResponse.Status {
        switch error.code {
        case .sessionNotFound, .runNotFound, .approvalNotFound: .notFound
        case .illegalTransition, .alreadyResolved, .alreadyExecuting, .workspaceInUse: .conflict
        case .unknownProvider, .invalidPolicy, .invalidArgument: .badRequest
        default: .unprocessableContent
        }
    }

    static func refusal(_ status: HTTPResponse.Status, _ message: String, headers: HTTPFields = [:]) -> Response {
        var writer = JSONWriter()
        var object = writer.beginObject()
        writer.field("error", message.split(separator: "\n").first.map(String.init) ?? "", in: &object)
        writer.endObject(object)
        var fields = headers
        fields[.contentType] = nil
        return HTTPAPI.json(status, writer.bytes + [0x0A], headers: fields)
    }
}
