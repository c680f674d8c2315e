import ASMCore
import ASMHTTP
import ASMStore
import AgentSessionManager
import AgentSessionManagerTesting
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// The API's OpenAPI document (`/v1/openapi.json`): its operations, and what it says an
/// answer to each may be.
struct APIContract: Sendable {
    /// A method on a path template, as the document lists them (`get` on `/v1/runs/{run}`).
    struct Operation: Hashable, Sendable, Comparable, CustomStringConvertible {
        var method: String
        var path: String

        var description: String { "\(method.uppercased()) \(path)" }
        static func < (lhs: Self, rhs: Self) -> Bool { (lhs.path, lhs.method) < (rhs.path, rhs.method) }
    }

    /// An operation answered with a status.
    struct Outcome: Hashable, Sendable, Comparable, CustomStringConvertible {
        var operation: Operation
        var status: Int

        var description: String { "\(operation) → \(status)" }
        static func < (lhs: Self, rhs: Self) -> Bool { (lhs.operation, lhs.status) < (rhs.operation, rhs.status) }
    }

    static let methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]

    let document: JSONValue
    var validator: JSONSchemaValidator { JSONSchemaValidator(root: document) }

    init(_ bytes: some Collection<UInt8>) throws {
        document = try JSONValue(parsing: bytes)
    }

    private var paths: [JSONMember] { document["paths"]?.objectValue ?? [] }

    /// Every operation the document lists.
    var operations: Set<Operation> {
        Set(
            paths.flatMap { path in
                (path.value.objectValue ?? []).filter { Self.methods.contains($0.key) }
                    .map { Operation(method: $0.key, path: path.key) }
            }
        )
    }

    /// Every status the document lists for every operation.
    var outcomes: Set<Outcome> {
        Set(
            operations.flatMap { operation in
                (self.operation(operation)?["responses"]?.objectValue ?? []).compactMap { response in
                    Int(response.key).map { Outcome(operation: operation, status: $0) }
                }
            }
        )
    }

    func operation(_ operation: Operation) -> JSONValue? {
        document["paths"]?[operation.path]?[operation.method]
    }

    /// The documented path template a request path falls under; literal segments win over
    /// parameters, as in the router.
    func template(for path: String) -> String? {
        let segments = Self.segments(path)
        var best: (path: String, literals: Int)?
        for template in paths.map(\.key) {
            let parts = Self.segments(template)
            guard parts.count == segments.count else { continue }
            var literals = 0
            var matches = true
            for (part, segment) in zip(parts, segments) {
                if part.hasPrefix("{") && part.hasSuffix("}") {
                    matches = matches && !segment.isEmpty
                } else {
                    matches = matches && part == segment
                    literals += 1
                }
            }
            if matches, literals > best?.literals ?? -1 { best = (template, literals) }
        }
        return best?.path
    }

    private static func segments(_ path: String) -> [Substring] {
        Array(path.split(separator: "/", omittingEmptySubsequences: false).dropFirst())
    }

    /// What is wrong with `response` as the answer to `method` on `path` (without its query):
    /// an operation or status the document does not list, a documented header missing or
    /// malformed, a content type it does not list, or a body its schema refuses. Empty when
    /// the answer is as documented.
    func violations(method: HTTPRequest.Method, path: String, response: TestResponse) -> [String] {
        guard let template = template(for: path) else { return ["no documented path matches \(path)"] }
        let operation = Operation(method: method.rawValue.lowercased(), path: template)
        guard let documented = self.operation(operation) else { return ["\(operation) is not documented"] }
        let status = response.status.code
        guard var answer = documented["responses"]?[String(status)] else {
            return ["\(operation) does not document status \(status)"]
        }
        if let reference = answer["$ref"]?.stringValue, let target = validator.resolve(reference) { answer = target }
        var found = headerViolations(answer, response.headers)
        let body = Array(response.body.readableBytesView)
        guard let content = answer["content"]?.objectValue else {
            if !body.isEmpty { found.append("status \(status) documents no body, but one came") }
            return found
        }
        let contentType = response.headers[.contentType] ?? ""
        let mediaType = String(contentType.split(separator: ";").first ?? "").filter { $0 != " " }.lowercased()
        guard let media = content.first(where: { $0.key == mediaType })?.value else {
            found.append("content type \(contentType) is not one of \(content.map(\.key))")
            return found
        }
        let schema = media["schema"] ?? .bool(true)
        switch mediaType {
        case "application/json":
            do {
                found += validator.violations(of: try JSONValue(parsing: body), against: schema)
            } catch {
                found.append("the body is not JSON: \(error)")
            }
        case "text/event-stream":
            let text = String(decoding: body, as: UTF8.self)
            found += validator.violations(of: .string(text), against: schema)
            found += streamViolations(text, data: media["x-event-data"])
        default:
            found += validator.violations(of: .string(String(decoding: body, as: UTF8.self)), against: schema)
        }
        return found
    }

    private func headerViolations(_ answer: JSONValue, _ headers: HTTPFields) -> [String] {
        var found: [String] = []
        for member in answer["headers"]?.objectValue ?? [] {
            var header = member.value
            if let reference = header["$ref"]?.stringValue, let target = validator.resolve(reference) {
                header = target
            }
            guard let name = HTTPField.Name(member.key) else {
                found.append("header name \(member.key) is not valid")
                continue
            }
            guard let value = headers[name] else {
                if header["required"]?.boolValue == true { found.append("required header \(member.key) is missing") }
                continue
            }
            found += validator.violations(
                of: .string(value),
                against: header["schema"] ?? .bool(true),
                at: "header \(member.key)"
            )
        }
        return found
    }

    /// Server-sent events: `retry:` first, then frames whose `id:` is the event's sequence,
    /// whose `event:` is its type and whose `data:` is one event the `data` schema takes.
    private func streamViolations(_ text: String, data schema: JSONValue?) -> [String] {
        var found: [String] = []
        let frames = text.split(separator: "\n\n", omittingEmptySubsequences: true)
        if frames.first?.hasPrefix("retry: ") != true { found.append("the stream does not start with retry:") }
        for (index, frame) in frames.enumerated() {
            var fields: [Substring: Substring] = [:]
            for line in frame.split(separator: "\n") where !line.hasPrefix(":") {
                let parts = line.split(separator: ":", maxSplits: 1)
                fields[parts[0]] = parts.count > 1 ? parts[1].drop(while: { $0 == " " }) : ""
            }
            guard let data = fields["data"] else { continue }
            let location = "frame \(index)"
            guard let event = try? JSONValue(parsing: Array(data.utf8)) else {
                found.append("\(location): data is not JSON")
                continue
            }
            if let schema { found += validator.violations(of: event, against: schema, at: location) }
            if let id = fields["id"], Int64(id) != event["sequence"]?.integerValue {
                found.append("\(location): id \(id) is not the event's sequence")
            }
            if let type = fields["event"], String(type) != event["type"]?.stringValue {
                found.append("\(location): event \(type) is not the event's type")
            }
        }
        return found
    }
}

/// The outcomes a run of requests has seen.
actor SeenOutcomes {
    private(set) var outcomes: Set<APIContract.Outcome> = []
    private(set) var contract: APIContract?

    func insert(_ outcome: APIContract.Outcome) { outcomes.insert(outcome) }
    func keep(_ contract: APIContract) { self.contract = contract }
}

/// Sends requests through a test client and checks each answer against the contract: its
/// status, and that the document lists that status for the operation with the headers,
/// content type and body that came.
struct ConformanceClient: Sendable {
    let client: any TestClientProtocol
    let contract: APIContract
    let seen: SeenOutcomes

    /// Reads the document the server serves and checks that answer too.
    static func start(_ client: any TestClientProtocol, _ seen: SeenOutcomes) async throws -> ConformanceClient {
        let response = try await client.executeRequest(
            uri: "/v1/openapi.json",
            method: .get,
            headers: HTTPAPITests.auth,
            body: nil
        )
        #expect(response.status == .ok)
        let contract = try APIContract(response.body.readableBytesView)
        let conformance = ConformanceClient(client: client, contract: contract, seen: seen)
        await seen.keep(contract)
        await conformance.check(.get, "/v1/openapi.json", response, expected: .ok, sourceLocation: #_sourceLocation)
        return conformance
    }

    /// Sends a request and checks its answer; returns it for more checks.
    @discardableResult
    func send(
        _ method: HTTPRequest.Method,
        _ uri: String,
        headers: HTTPFields = HTTPAPITests.auth,
        body: String? = nil,
        expect status: HTTPResponse.Status,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> TestResponse {
        let response = try await client.executeRequest(
            uri: uri,
            method: method,
            headers: headers,
            body: body.map { ByteBuffer(string: $0) }
        )
        await check(method, uri, response, expected: status, sourceLocation: sourceLocation)
        return response
    }

    /// Sends a request whose answer is JSON and returns the JSON.
    func json(
        _ method: HTTPRequest.Method,
        _ uri: String,
        headers: HTTPFields = HTTPAPITests.auth,
        body: String? = nil,
        expect status: HTTPResponse.Status,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws -> JSONValue {
        let response = try await send(
            method,
            uri,
            headers: headers,
            body: body,
            expect: status,
            sourceLocation: sourceLocation
        )
        return try JSONValue(parsing: Array(response.body.readableBytesView))
    }

    private func check(
        _ method: HTTPRequest.Method,
        _ uri: String,
        _ response: TestResponse,
        expected status: HTTPResponse.Status,
        sourceLocation: SourceLocation
    ) async {
        let path = String(uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0])
        #expect(
            response.status == status,
            "\(method) \(uri): \(String(buffer: response.body))",
            sourceLocation: sourceLocation
        )
        let violations = contract.violations(method: method, path: path, response: response)
        #expect(
            violations.isEmpty,
            "\(method) \(uri) → \(response.status.code): \(violations.joined(separator: "; "))",
            sourceLocation: sourceLocation
        )
        if let template = contract.template(for: path) {
            let operation = APIContract.Operation(method: method.rawValue.lowercased(), path: template)
            await seen.insert(APIContract.Outcome(operation: operation, status: response.status.code))
        }
    }
}

/// Every route against the OpenAPI document the server serves: each answer's status, headers,
/// content type and body are ones the document lists for that operation, and the document
/// lists nothing the server never answers.
@Suite struct OpenAPIConformanceTests {
    static let auth = HTTPAPITests.auth

    static func name(_ text: String) throws -> HTTPField.Name { try #require(HTTPField.Name(text)) }

    static func headers(_ extra: [(String, String)]) throws -> HTTPFields {
        var fields = auth
        for (name, value) in extra { fields[try Self.name(name)] = value }
        return fields
    }

    static func runBody(_ prompt: String, options: String = "") -> String {
        let extra = options.isEmpty ? "" : #", "options": \#(options)"#
        return #"{"messages": [{"role": "user", "content": "\#(prompt)"}]\#(extra)}"#
    }

    @Test("the document's operations are exactly the routes the router serves, and every $ref resolves")
    func routesAreDocumented() async throws {
        try await HTTPAPITests().withAPI { harness in
            let seen = SeenOutcomes()
            let api = try await ConformanceClient.start(harness.client, seen)
            let router = HTTPAPI(server: harness.server, token: HTTPAPITests.token).router()
            let served = Set(
                router.routes.map {
                    APIContract.Operation(method: $0.method.rawValue.lowercased(), path: $0.path.description)
                }
            )
            let documented = api.contract.operations
            #expect(
                served.subtracting(documented).isEmpty,
                "served, not documented: \(served.subtracting(documented).sorted())"
            )
            #expect(
                documented.subtracting(served).isEmpty,
                "documented, not served: \(documented.subtracting(served).sorted())"
            )
            var references: [String] = []
            Self.collectReferences(api.contract.document, into: &references)
            #expect(!references.isEmpty)
            for reference in references {
                #expect(api.contract.validator.resolve(reference) != nil, "\(reference) points at nothing")
            }
        }
    }

    static func collectReferences(_ value: JSONValue, into references: inout [String]) {
        switch value {
        case .object(let members):
            for member in members {
                if member.key == "$ref", let text = member.value.stringValue { references.append(text) }
                collectReferences(member.value, into: &references)
            }
        case .array(let elements):
            for element in elements { collectReferences(element, into: &references) }
        default:
            break
        }
    }

    @Test("every route answers as documented, refusals included, and every documented status is answered")
    func everyRoute() async throws {
        let seen = SeenOutcomes()
        try await HTTPAPITests().withAPI { harness in try await Self.driveEveryRoute(harness, seen) }
        try await HTTPAPITests().withAPI(maxBodyBytes: 64) { harness in try await Self.driveTooLarge(harness, seen) }
        try await Self.driveUnusableWorkspace(seen)
        let contract = try #require(await seen.contract)
        let observed = await seen.outcomes
        let missing = contract.outcomes.subtracting(observed).sorted()
        #expect(missing.isEmpty, "documented, never answered: \(missing)")
        let driven = Set(observed.map(\.operation))
        #expect(driven == contract.operations, "not driven: \(contract.operations.subtracting(driven).sorted())")
    }

    /// The harness's log holds a session with a requested run and a pending approval; one run
    /// runs at a time.
    static func driveEveryRoute(_ harness: HTTPAPITests.Harness, _ seen: SeenOutcomes) async throws {
        let api = try await ConformanceClient.start(harness.client, seen)
        let server = harness.server
        let session = server.session
        let approval = harness.approval.split(separator: "/")
        try #require(approval.count == 2)

        // The page and the health check need no token; everything under /v1 does.
        for uri in ["/healthz", "/", "/app.js", "/app.css"] {
            try await api.send(.get, uri, headers: [:], expect: .ok)
        }
        let unknownSession = SessionID.generate()
        let unknownRun = RunID.generate()
        let everyV1Route: [(HTTPRequest.Method, String)] = [
            (.get, "/v1/openapi.json"), (.post, "/v1/sessions"), (.get, "/v1/sessions"),
            (.get, "/v1/sessions/\(session)"), (.post, "/v1/sessions/\(session)/complete"),
            (.post, "/v1/sessions/\(session)/archive"), (.post, "/v1/sessions/\(session)/runs"),
            (.get, "/v1/runs/\(unknownRun)"), (.post, "/v1/runs/\(unknownRun)/cancel"), (.get, "/v1/events"),
            (.get, "/v1/stream"), (.get, "/v1/approvals"), (.post, "/v1/approvals/\(harness.approval)"),
            (.post, "/v1/approvals/nope"), (.get, "/v1/search?q=x"), (.get, "/v1/cost"), (.get, "/v1/providers"),
            (.get, "/v1/verify"), (.get, "/v1/status"),
        ]
        for (method, uri) in everyV1Route {
            for headers: HTTPFields in [[:], [.authorization: "Bearer wrong-token"]] {
                try await api.send(method, uri, headers: headers, body: "{}", expect: .unauthorized)
            }
        }

        let created = try await driveSessions(api, session: session, unknown: unknownSession)
        try await driveRuns(
            api,
            server: server,
            session: session,
            unknownSession: unknownSession,
            unknownRun: unknownRun
        )
        try await driveLifecycle(api, created: created, unknown: unknownSession)
        try await driveLog(api, session: session)
        try await driveApprovals(api, session: session, run: approval[0], number: approval[1])
        try await driveReports(api, store: harness.store, session: session)

        // A server that has stopped takes no new runs.
        await server.drain()
        try await api.send(.post, "/v1/sessions/\(session)/runs", body: runBody("late"), expect: .serviceUnavailable)
        let status = try await api.json(.get, "/v1/status", expect: .ok)
        #expect(status["state"]?.stringValue == "stopped")
    }

    static func driveSessions(_ api: ConformanceClient, session: SessionID, unknown: SessionID) async throws -> String {
        let created = try await api.json(
            .post,
            "/v1/sessions",
            body: #"{"agent_id": "web", "metadata": {"team": "core"}, "tags": ["nightly"]}"#,
            expect: .created
        )
        let id = try #require(created["id"]?.stringValue)
        for body in [#"{}"#, #"{"agent_id": ""}"#, #"{"agent_id": "a", "owner": "b"}"#, #"{"agent_id": "a""#, "[1]"] {
            try await api.send(.post, "/v1/sessions", body: body, expect: .badRequest)
        }
        let page = try await api.json(.get, "/v1/sessions?limit=1", expect: .ok)
        #expect(page["next"]?.integerValue != nil)
        let last = try await api.json(.get, "/v1/sessions?status=active&limit=500", expect: .ok)
        #expect(last["next"] == .null)
        for query in ["status=done", "limit=0", "limit=501", "before=-1"] {
            try await api.send(.get, "/v1/sessions?\(query)", expect: .badRequest)
        }
        let response = try await api.send(.get, "/v1/sessions/\(session)", expect: .ok)
        let tag = try #require(response.headers[.eTag])
        try await api.send(
            .get,
            "/v1/sessions/\(session)",
            headers: try headers([("If-None-Match", tag)]),
            expect: .notModified
        )
        for unknownID in [unknown.description, "not-an-id"] {
            try await api.send(.get, "/v1/sessions/\(unknownID)", expect: .notFound)
        }
        return id
    }

    static func driveRuns(
        _ api: ConformanceClient,
        server: SessionServer,
        session: SessionID,
        unknownSession: SessionID,
        unknownRun: RunID
    ) async throws {
        let runs = "/v1/sessions/\(session)/runs"
        func submit(_ prompt: String, headers: HTTPFields = auth, options: String = "") async throws -> RunID {
            let answer = try await api.json(
                .post,
                runs,
                headers: headers,
                body: runBody(prompt, options: options),
                expect: .accepted
            )
            return try #require(answer["run_id"]?.stringValue.flatMap(RunID.init))
        }
        let done = try await submit("hello", options: #"{"model": "m-1", "max_turns": 3, "metadata": {"k": "v"}}"#)
        _ = try await server.result(of: done)
        let keyed = try await submit("again", headers: try headers([("Idempotency-Key", "conformance-1")]))
        #expect(try await submit("again", headers: try headers([("Idempotency-Key", "conformance-1")])) == keyed)
        _ = try await server.result(of: keyed)

        // One slot: the hanging run runs, the next waits in the queue.
        let hanging = try await submit("hang")
        let queued = try await submit("hello")
        let waiting = try await api.json(.get, "/v1/runs/\(queued)", expect: .ok)
        #expect(waiting["run"]?["status"]?.stringValue == "queued" && waiting["result"] == nil)
        try await api.send(.get, "/v1/runs/\(hanging)", expect: .ok)
        try await api.send(.post, "/v1/runs/\(queued)/cancel", expect: .accepted)
        try await api.send(.post, "/v1/runs/\(hanging)/cancel", expect: .accepted)
        _ = try await server.result(of: hanging)
        try await api.send(.post, "/v1/runs/\(hanging)/cancel", expect: .conflict)
        let cancelled = try await api.json(.get, "/v1/runs/\(hanging)", expect: .ok)
        #expect(cancelled["run"]?["status"]?.stringValue == "cancelled")
        let finished = try await api.json(.get, "/v1/runs/\(done)", expect: .ok)
        #expect(finished["result"]?["usage"]?["run_id"]?.stringValue == done.description)
        for uri in ["/v1/runs/\(unknownRun)", "/v1/runs/nope"] {
            try await api.send(.get, uri, expect: .notFound)
            try await api.send(.post, "\(uri)/cancel", expect: .notFound)
        }

        for body in [
            #"{"messages": []}"#, runBody("x", options: #"{"max_turns": 0}"#),
            runBody("x", options: #"{"workspace": "/tmp"}"#), runBody("x", options: #"{"continuation": "sometimes"}"#),
            #"{"messages": [{"role": "tool", "content": "x"}]}"#, "not json",
        ] {
            try await api.send(.post, runs, body: body, expect: .badRequest)
        }
        try await api.send(
            .post,
            runs,
            headers: try headers([("Idempotency-Key", "with spaces")]),
            body: runBody("x"),
            expect: .badRequest
        )
        for id in [unknownSession.description, "nope"] {
            try await api.send(.post, "/v1/sessions/\(id)/runs", body: runBody("x"), expect: .notFound)
        }
        let document = try await api.json(.get, "/v1/sessions/\(session)", expect: .ok)
        #expect((document["runs"]?.arrayValue?.count ?? 0) >= 5)
    }

    static func driveLifecycle(_ api: ConformanceClient, created: String, unknown: SessionID) async throws {
        let completed = try await api.json(.post, "/v1/sessions/\(created)/complete", expect: .ok)
        #expect(completed["status"]?.stringValue == "completed")
        try await api.send(.post, "/v1/sessions/\(created)/complete", expect: .conflict)
        try await api.send(.post, "/v1/sessions/\(created)/runs", body: runBody("x"), expect: .conflict)
        let archived = try await api.json(.post, "/v1/sessions/\(created)/archive", expect: .ok)
        #expect(archived["status"]?.stringValue == "archived")
        try await api.send(.post, "/v1/sessions/\(created)/archive", expect: .conflict)
        for action in ["complete", "archive"] {
            try await api.send(.post, "/v1/sessions/\(unknown)/\(action)", expect: .notFound)
            try await api.send(.post, "/v1/sessions/nope/\(action)", expect: .notFound)
        }
    }

    static func driveLog(_ api: ConformanceClient, session: SessionID) async throws {
        let page = try await api.json(.get, "/v1/events", expect: .ok)
        let events = page["events"]?.arrayValue ?? []
        #expect(events.count > 20)
        #expect(events.contains { $0["run_id"] == .null } && events.contains { $0["run_id"]?.stringValue != nil })
        for query in [
            "after=3&limit=2", "session=\(session)&type=tool_approval.requested,run.requested",
            "after=100000&limit=5000",
        ] {
            try await api.send(.get, "/v1/events?\(query)", expect: .ok)
        }
        for query in ["limit=0", "limit=5001", "after=-3", "session=nope", "run=nope", "type=,"] {
            try await api.send(.get, "/v1/events?\(query)", expect: .badRequest)
        }
        let stream = try await api.send(.get, "/v1/stream?limit=5", expect: .ok)
        #expect(String(buffer: stream.body).split(separator: "\ndata: ").count == 6)
        try await api.send(
            .get,
            "/v1/stream?session=\(session)&type=run.requested&limit=1",
            headers: try headers([("Last-Event-ID", "2")]),
            expect: .ok
        )
        for query in ["run=nope", "limit=0", "after=x"] {
            try await api.send(.get, "/v1/stream?\(query)", expect: .badRequest)
        }
        try await api.send(.get, "/v1/stream", headers: try headers([("Last-Event-ID", "soon")]), expect: .badRequest)
    }

    static func driveApprovals(
        _ api: ConformanceClient,
        session: SessionID,
        run: Substring,
        number: Substring
    ) async throws {
        let pending = try await api.json(.get, "/v1/approvals?pending=true", expect: .ok)
        #expect(pending["approvals"]?.arrayValue?.count == 1)
        try await api.send(.get, "/v1/approvals?session=\(session)&limit=5&pending=false", expect: .ok)
        for query in ["limit=0", "pending=maybe", "pending=", "session=nope"] {
            try await api.send(.get, "/v1/approvals?\(query)", expect: .badRequest)
        }
        let uri = "/v1/approvals/\(run)/\(number)"
        for body in [
            #"{"decision": "maybe"}"#, #"{"decision": "approve", "who": "x"}"#, #"{"decision": "deny", "by": ""}"#,
        ] {
            try await api.send(.post, uri, body: body, expect: .badRequest)
            try await api.send(.post, "/v1/approvals/\(run)%2F\(number)", body: body, expect: .badRequest)
        }
        // One segment never names an approval (every id holds a slash).
        try await api.send(.post, "/v1/approvals/\(run)%2F\(number)", body: #"{"decision": "deny"}"#, expect: .notFound)
        let answer = try await api.json(
            .post,
            uri,
            body: #"{"decision": "approve", "by": "ana", "reason": "release window"}"#,
            expect: .ok
        )
        #expect(answer["status"]?.stringValue == "approved")
        try await api.send(.post, uri, body: #"{"decision": "deny"}"#, expect: .conflict)
        try await api.send(
            .post,
            "/v1/approvals/\(RunID.generate())/1",
            body: #"{"decision": "deny"}"#,
            expect: .notFound
        )
        let resolved = try await api.json(.get, "/v1/approvals", expect: .ok)
        #expect(resolved["approvals"]?.arrayValue?.first?["resolved_by"]?.stringValue == "ana")
    }

    static func driveReports(_ api: ConformanceClient, store: SQLiteEventStore, session: SessionID) async throws {
        let cost = try await api.json(.get, "/v1/cost", expect: .ok)
        #expect(cost["by_model"]?.arrayValue?.isEmpty == false)
        try await api.send(.get, "/v1/cost?session=\(session)", expect: .ok)
        try await api.send(.get, "/v1/cost?session=nope", expect: .badRequest)
        try await recordRoutedRun(store)
        let health = try await api.json(.get, "/v1/providers", expect: .ok)
        let breakers = health["providers"]?.arrayValue ?? []
        #expect(breakers.contains { $0["breaker"]?.stringValue == "open" && $0["reason"] != nil })
        #expect(breakers.contains { $0["breaker"]?.stringValue == "closed" })
        #expect(health["bindings"]?.arrayValue?.first?["sticky_key"]?.stringValue == "repository")
        try await api.send(.get, "/v1/providers?at=2", expect: .ok)
        try await api.send(.get, "/v1/providers?at=-1", expect: .badRequest)
        let report = try await api.json(.get, "/v1/verify", expect: .ok)
        #expect(report["ok"]?.boolValue == true)
        let status = try await api.json(.get, "/v1/status", expect: .ok)
        #expect(status["default_session"]?.stringValue == session.description)

        // Search: refused while the log's index is off, then found as soon as it is on.
        try await api.send(.get, "/v1/search?q=zeppelin", expect: .conflict)
        try await store.append(
            [NewEvent(MessageReceived(role: .user, content: "The zeppelin lands at noon."))],
            to: session.stream,
            expectedVersion: .any
        )
        _ = try await store.setSearchIndex(true)
        let found = try await api.json(.get, "/v1/search?q=zeppelin&type=message.received&limit=5", expect: .ok)
        let hits = found["hits"]?.arrayValue ?? []
        #expect(hits.count == 1 && hits.first?["snippet"]?.stringValue == "The [zeppelin] lands at noon.")
        #expect(hits.first?["session_id"]?.stringValue == session.description)
        try await api.send(.get, "/v1/search?q=zeppelin&session=\(SessionID.generate())", expect: .ok)
        for uri in ["/v1/search", "/v1/search?q=%20***", "/v1/search?q=x&type=run.started", "/v1/search?q=x&limit=0"] {
            try await api.send(.get, uri, expect: .badRequest)
        }
    }

    /// A routed run whose first provider failed over: its breaker opens, and the run's sticky
    /// key stays bound to it.
    static func recordRoutedRun(_ store: SQLiteEventStore) async throws {
        let run = RunID.generate()
        let decided = Timestamp(milliseconds: 1_800_000_000_000)
        let router: JSONValue = [
            "strategy": "prefer", "prefer": ["claude", "scripted"],
            "circuit_breaker": ["failure_threshold": 1, "cooldown_ms": 600_000],
            "providers": [["name": "claude"], ["name": "scripted"]],
        ]
        let events = [
            NewEvent(SessionCreated(agentID: "routed")), NewEvent(SessionActivated()),
            NewEvent(RunRequested(messages: [ChatMessage(role: .user, content: "hi")]), run: run),
            NewEvent(
                RoutingDecided(
                    attempt: 1,
                    strategy: "prefer",
                    candidates: [RoutingCandidate(provider: "claude"), RoutingCandidate(provider: "scripted")],
                    chosen: "claude",
                    stickyKey: "repository",
                    decidedAt: decided,
                    stickyUntil: decided.adding(microseconds: 3_600_000_000),
                    router: router
                ),
                run: run
            ),
            NewEvent(
                RoutingFailedOver(
                    attempt: 1,
                    from: "claude",
                    to: "scripted",
                    failure: RunFailure(kind: .overloaded, message: "overloaded"),
                    afterOutput: false,
                    failedAt: decided
                ),
                run: run
            ),
        ]
        try await store.append(events, to: SessionID.generate().stream, expectedVersion: .noStream)
    }

    /// Bodies over the limit, on every route that reads one.
    static func driveTooLarge(_ harness: HTTPAPITests.Harness, _ seen: SeenOutcomes) async throws {
        let api = try await ConformanceClient.start(harness.client, seen)
        let before = try await harness.store.lastSequence()
        let big = #"{"agent_id": "\#(String(repeating: "x", count: 100))"}"#
        for uri in [
            "/v1/sessions", "/v1/sessions/\(harness.server.session)/runs", "/v1/approvals/\(harness.approval)",
            "/v1/approvals/nope",
        ] {
            try await api.send(.post, uri, body: big, expect: .contentTooLarge)
        }
        #expect(try await harness.store.lastSequence() == before)
    }

    /// A workspace the server cannot use is a 422.
    static func driveUnusableWorkspace(_ seen: SeenOutcomes) async throws {
        try await withTemporaryStore { store in
            let manager = SessionManager(store: store, providers: [HTTPAPITests.provider()])
            var configuration = SessionServer.Configuration(defaultOptions: RunOptions(provider: "scripted"))
            configuration.servesEverySession = true
            let session = try await manager.startSession(agentID: "workspace")
            let server = try SessionServer(manager: manager, sessions: [session], configuration: configuration)
            var api = HTTPAPI(server: server, token: HTTPAPITests.token)
            api.workspace = { path in throw WorkspaceError(.notADirectory, "not a directory", path: path) }
            let before = try await store.lastSequence()
            try await Application(router: api.router()).test(.router) { client in
                let conformance = try await ConformanceClient.start(client, seen)
                try await conformance.send(
                    .post,
                    "/v1/sessions/\(session)/runs",
                    body: runBody("x", options: #"{"workspace": "/nowhere"}"#),
                    expect: .unprocessableContent
                )
            }
            #expect(try await store.lastSequence() == before)
            await server.shutdown()
        }
    }

    // MARK: The validator

    static let schemas: JSONValue = [
        "components": [
            "schemas": [
                "Error": [
                    "type": "object", "properties": ["error": ["type": "string"]], "required": ["error"],
                    "additionalProperties": false,
                ]
            ]
        ]
    ]

    @Test(
        "the validator takes what a schema allows and refuses drift",
        arguments: [
            (#"{"error": "x"}"#, ##"{"$ref": "#/components/schemas/Error"}"##, true),
            (#"{"error": "x", "code": 1}"#, ##"{"$ref": "#/components/schemas/Error"}"##, false),
            (#"{}"#, ##"{"$ref": "#/components/schemas/Error"}"##, false),
            (#"{"error": null}"#, ##"{"$ref": "#/components/schemas/Error"}"##, false),
            (#"{"a": 1}"#, ##"{"$ref": "#/components/schemas/Missing"}"##, false),
            ("null", #"{"type": ["string", "null"], "pattern": "^a"}"#, true),
            (#""b""#, #"{"type": ["string", "null"], "pattern": "^a"}"#, false),
            ("3", #"{"type": "integer", "minimum": 1, "maximum": 3}"#, true),
            ("3.0", #"{"type": "integer"}"#, true),
            ("3.5", #"{"type": "integer"}"#, false),
            ("4", #"{"type": "integer", "minimum": 1, "maximum": 3}"#, false),
            ("0", #"{"type": "number", "exclusiveMinimum": 0}"#, false),
            (#""off""#, #"{"enum": ["off", "auto"]}"#, true),
            (#""on""#, #"{"enum": ["off", "auto"]}"#, false),
            ("1.0", #"{"const": 1}"#, true),
            (#""""#, #"{"type": "string", "minLength": 1}"#, false),
            (#""é""#, #"{"type": "string", "maxLength": 1}"#, true),
            (#""a\nb""#, #"{"type": "string", "pattern": "^[^\\n]*$"}"#, false),
            (#""a\r\nb""#, #"{"type": "string", "pattern": "^[^\\n]*$"}"#, false),
            (#""ab\n""#, #"{"type": "string", "pattern": "^[^\\n]*$"}"#, false),
            (#"[]"#, #"{"type": "array", "minItems": 1}"#, false),
            (#"[1, "x"]"#, #"{"type": "array", "items": {"type": "integer"}}"#, false),
            (#"{"k": "v"}"#, #"{"type": "object", "additionalProperties": {"type": "string"}}"#, true),
            (#"{"k": 2}"#, #"{"type": "object", "additionalProperties": {"type": "string"}}"#, false),
            ("2", #"{"oneOf": [{"type": "integer"}, {"type": "number"}]}"#, false),
            ("2.5", #"{"oneOf": [{"type": "integer"}, {"type": "number"}]}"#, true),
            ("null", #"{"anyOf": [{"type": "object"}, {"type": "null"}]}"#, true),
            (#""x""#, #"{"allOf": [{"type": "string"}, {"minLength": 2}]}"#, false),
            ("1", #"{"type": "string", "format": "uuid", "description": "ignored"}"#, false),
            (#""x""#, #"{"pattern": "("}"#, false),
        ]
    )
    func validator(instance: String, schema: String, valid: Bool) throws {
        let validator = JSONSchemaValidator(root: Self.schemas)
        let violations = validator.violations(
            of: try JSONValue(parsing: Array(instance.utf8)),
            against: try JSONValue(parsing: Array(schema.utf8))
        )
        #expect(violations.isEmpty == valid, "\(violations)")
    }
}
