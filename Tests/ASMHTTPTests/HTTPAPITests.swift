import ASMCore
import ASMHTTP
import ASMStore
import AgentSessionManager
import AgentSessionManagerTesting
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// The log over HTTP, through Hummingbird's router test client (no sockets): auth, pages of
/// events, the resumable event stream, approvals, and one-line refusals.
@Suite struct HTTPAPITests {
    static let token = "test-token-0123456789"
    static let auth: HTTPFields = [.authorization: "Bearer \(token)"]

    /// What a test gets: the store, the server behind the API, a client, and a session with
    /// one approval pending (raw events: no run executes for it).
    struct Harness {
        var store: SQLiteEventStore
        var server: SessionServer
        var client: any TestClientProtocol
        var approval: String
    }

    /// The scripted provider: a prompt `hang` writes a line and waits until cancelled; any
    /// other prompt is answered in three chunks.
    static func provider() -> ScriptedProvider {
        ScriptedProvider { request in
            let prompt = request.messages.last?.content ?? ""
            if prompt == "hang" { return ProviderScript([.text("working", chunks: 1), .hang]) }
            return .reply("You said: \(prompt)", chunks: 3)
        }
    }

    /// A store with a session holding one pending approval, a server (one run at a time, every
    /// session) and the API over it.
    func withAPI(
        maxBodyBytes: Int? = nil,
        _ body: @Sendable (Harness) async throws -> Void
    ) async throws {
        try await withTemporaryStore { store in
            let session = SessionID.generate()
            let run = RunID.generate()
            var events = [NewEvent(SessionCreated(agentID: "http")), NewEvent(SessionActivated())]
            events.append(NewEvent(RunRequested(messages: [ChatMessage(role: .user, content: "hi")]), run: run))
            for index in 0..<20 {
                events.append(NewEvent(MessageStreamed(role: .assistant, delta: "word\(index) "), run: run))
            }
            events.append(
                NewEvent(
                    ToolApprovalRequested(
                        approvalID: "\(run)/1",
                        callID: "call_1",
                        tool: "Bash",
                        input: ["command": "make deploy"],
                        policy: "team",
                        rule: "deny:Bash(make deploy*)",
                        canBlock: true
                    ),
                    run: run
                )
            )
            try await store.append(events, to: session.stream, expectedVersion: .noStream)
            let manager = SessionManager(store: store, providers: [Self.provider()])
            var configuration = SessionServer.Configuration(
                defaultOptions: RunOptions(provider: "scripted"),
                maxConcurrentRuns: 1
            )
            configuration.servesEverySession = true
            let server = try SessionServer(manager: manager, sessions: [session], configuration: configuration)
            var api = HTTPAPI(server: server, token: Self.token)
            if let maxBodyBytes { api.maxBodyBytes = maxBodyBytes }
            let app = Application(router: api.router())
            do {
                try await app.test(.router) { client in
                    try await body(Harness(store: store, server: server, client: client, approval: "\(run)/1"))
                }
            } catch {
                await server.shutdown()
                throw error
            }
            await server.shutdown()
        }
    }

    func error(_ buffer: ByteBuffer) -> String? {
        (try? JSONValue(parsing: Array(buffer.readableBytesView)))?["error"]?.stringValue
    }

    @Test("/healthz needs no token; every /v1 route refuses a missing or wrong one with 401 and one line")
    func authentication() async throws {
        try await withAPI { harness in
            let client = harness.client
            try await client.execute(uri: "/healthz", method: .get) { response in
                #expect(response.status == .ok && String(buffer: response.body) == "ok\n")
            }
            for headers: HTTPFields in [[:], [.authorization: "Bearer wrong"], [.authorization: Self.token]] {
                try await client.execute(uri: "/v1/events", method: .get, headers: headers) { response in
                    #expect(response.status == .unauthorized)
                    #expect(error(response.body) == "a valid Authorization: Bearer token is required")
                    #expect(!String(buffer: response.body).dropLast().contains("\n"))
                }
            }
            try await client.execute(uri: "/v1/nothing-here", method: .get, headers: Self.auth) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test("pages of events in sequence order, each with the cursor of the next; together they are the log")
    func pages() async throws {
        try await withAPI { harness in
            let (store, client) = (harness.store, harness.client)
            var cursor: Int64 = 0
            var sequences: [Int64] = []
            var types: [String] = []
            while true {
                let next: Int64? = try await client.execute(
                    uri: "/v1/events?after=\(cursor)&limit=7",
                    method: .get,
                    headers: Self.auth
                ) { response in
                    #expect(response.status == .ok)
                    let page = try JSONValue(parsing: Array(response.body.readableBytesView))
                    let events = page["events"]?.arrayValue ?? []
                    sequences += events.compactMap { $0["sequence"]?.integerValue }
                    types += events.compactMap { $0["type"]?.stringValue }
                    return events.isEmpty ? nil : page["next"]?.integerValue
                }
                guard let next else { break }
                cursor = next
            }
            let log = try await store.events(from: .zero, limit: 1000, filter: EventFilter()).events
            #expect(sequences == log.map(\.sequence.rawValue))
            #expect(types == log.map(\.type.rawValue))
            try await client.execute(
                uri: "/v1/events?type=tool_approval.requested",
                method: .get,
                headers: Self.auth
            ) { response in
                let page = try JSONValue(parsing: Array(response.body.readableBytesView))
                #expect(page["events"]?.arrayValue?.count == 1)
            }
        }
    }

    @Test(
        "bad query parameters are 400 with a line naming the parameter",
        arguments: [
            ("/v1/events?limit=0", "limit must be a whole number from 1 to 5000"),
            ("/v1/events?after=-3", "after must be a sequence number (0 or more)"),
            ("/v1/events?session=nope", "session must be a session id"),
            ("/v1/stream?run=nope", "run must be a run id"),
            ("/v1/events?after=9223372036854775807", "after must be a sequence number (0 or more)"),
            ("/v1/stream?after=9223372036854775807", "after must be a sequence number (0 or more)"),
        ]
    )
    func badQueries(uri: String, message: String) async throws {
        try await withAPI { harness in
            let client = harness.client
            try await client.execute(uri: uri, method: .get, headers: Self.auth) { response in
                #expect(response.status == .badRequest)
                #expect(error(response.body) == message)
            }
        }
    }

    /// The `id:` lines of a stream's body.
    func ids(_ body: ByteBuffer) -> [Int64] {
        String(buffer: body).split(separator: "\n").compactMap { line in
            line.hasPrefix("id: ") ? Int64(line.dropFirst(4)) : nil
        }
    }

    @Test("the stream: id is the global sequence; resuming with Last-Event-ID gives exactly what followed")
    func streamResumes() async throws {
        try await withAPI { harness in
            let (store, client) = (harness.store, harness.client)
            var received: [Int64] = []
            try await client.execute(uri: "/v1/stream?limit=5", method: .get, headers: Self.auth) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/event-stream")
                let text = String(buffer: response.body)
                #expect(text.hasPrefix("retry: 2000\n\n"))
                #expect(text.contains("event: session.created\ndata: {\"schema_version\":1,\"sequence\":1,"))
                received += ids(response.body)
            }
            // Reconnect after each short read, as a client that keeps dropping would.
            while received.count < 24 {
                var headers = Self.auth
                headers[HTTPField.Name("Last-Event-ID")!] = String(received.last ?? 0)
                // At most what is left: a stream stays open for live events.
                let limit = min(4, 24 - received.count)
                try await client.execute(uri: "/v1/stream?limit=\(limit)", method: .get, headers: headers) { response in
                    received += ids(response.body)
                }
            }
            let log = try await store.events(from: .zero, limit: 1000, filter: EventFilter()).events
            #expect(received == log.map(\.sequence.rawValue), "no gap and no duplicate across reconnects")
            for last in ["soon", "9223372036854775807", "-1"] {
                var fields = Self.auth
                fields[HTTPField.Name("Last-Event-ID")!] = last
                let headers = fields
                try await client.execute(uri: "/v1/stream", method: .get, headers: headers) { response in
                    #expect(response.status == .badRequest, "Last-Event-ID: \(last)")
                }
            }
        }
    }

    @Test("approvals: listed pending, answered once (200), a second answer is 409, unknown ids 404, bad bodies 400")
    func approvals() async throws {
        try await withAPI { harness in
            let (store, client, approval) = (harness.store, harness.client, harness.approval)
            try await client.execute(uri: "/v1/approvals?pending=true", method: .get, headers: Self.auth) { response in
                let list = try JSONValue(parsing: Array(response.body.readableBytesView))["approvals"]?.arrayValue
                #expect(list?.map { $0["approval_id"]?.stringValue } == [approval])
                #expect(list?.first?["status"]?.stringValue == "pending")
            }
            for (body, message) in [
                (#"{"decision": "maybe"}"#, "decision must be \"approve\" or \"deny\""),
                (#"{"decision": "approve", "who": "x"}"#, "unknown field who: expected decision, by, reason"),
                (#"["approve"]"#, "the body must be a JSON object"),
                (
                    #"{"decision": "deny", "by": "ana\r\nmallory"}"#,
                    "by must be one line of text, 200 characters at most"
                ),
                (#"{"decision": "deny", "reason": "x\ry"}"#, "reason must be one line of text, 200 characters at most"),
            ] {
                try await client.execute(
                    uri: "/v1/approvals/\(approval)",
                    method: .post,
                    headers: Self.auth,
                    body: ByteBuffer(string: body)
                ) { response in
                    #expect(response.status == .badRequest)
                    #expect(error(response.body) == message)
                }
            }
            let before = try await store.lastSequence()
            try await client.execute(
                uri: "/v1/approvals/\(approval)",
                method: .post,
                headers: Self.auth,
                body: ByteBuffer(string: #"{"decision": "approve", "by": "ana", "reason": "release window"}"#)
            ) { response in
                #expect(response.status == .ok)
            }
            #expect(try await store.approvals(id: approval).first?.status == .approved)
            try await client.execute(
                uri: "/v1/approvals/\(approval)",
                method: .post,
                headers: Self.auth,
                body: ByteBuffer(string: #"{"decision": "deny"}"#)
            ) { response in
                #expect(response.status == .conflict)
            }
            try await client.execute(
                uri: "/v1/approvals/nope",
                method: .post,
                headers: Self.auth,
                body: ByteBuffer(string: #"{"decision": "deny"}"#)
            ) { response in
                #expect(response.status == .notFound)
            }
            // Refused requests appended nothing; the one answer is one event.
            #expect(try await store.lastSequence() == before.next)
        }
    }
}
