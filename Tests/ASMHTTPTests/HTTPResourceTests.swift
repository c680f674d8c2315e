import ASMCore
import ASMHTTP
import ASMStore
import AgentSessionManager
import AgentSessionManagerTesting
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

/// Sessions, runs and the reports over HTTP: what a dashboard or another machine does.
extension HTTPAPITests {
    func json(_ buffer: ByteBuffer) throws -> JSONValue { try JSONValue(parsing: Array(buffer.readableBytesView)) }

    /// POSTs `body` and hands the response to `check`.
    @discardableResult
    func post<T>(
        _ client: any TestClientProtocol,
        _ uri: String,
        _ body: String,
        headers: HTTPFields = HTTPAPITests.auth,
        _ check: @escaping @Sendable (TestResponse) async throws -> T
    ) async throws -> T {
        try await client.execute(
            uri: uri,
            method: .post,
            headers: headers,
            body: ByteBuffer(string: body),
            testCallback: check
        )
    }

    @Test("sessions: created (201 with Location), listed newest first in stable pages, filtered by status")
    func sessions() async throws {
        try await withAPI { harness in
            let client = harness.client
            var created: [String] = []
            for index in 0..<3 {
                let id = try await post(
                    client,
                    "/v1/sessions",
                    #"{"agent_id": "web-\#(index)", "metadata": {"team": "core"}, "tags": ["nightly"]}"#
                ) { response in
                    #expect(response.status == .created)
                    let session = try json(response.body)
                    #expect(session["agent_id"]?.stringValue == "web-\(index)")
                    #expect(session["status"]?.stringValue == "active")
                    #expect(session["metadata"]?["team"]?.stringValue == "core")
                    #expect(session["tags"]?.arrayValue?.first?.stringValue == "nightly")
                    let id = session["id"]?.stringValue ?? ""
                    #expect(response.headers[.location] == "/v1/sessions/\(id)")
                    return id
                }
                created.append(id)
            }
            // A session started under another names it, and the log says so.
            let child = try await post(
                client,
                "/v1/sessions",
                #"{"agent_id": "sub", "parent_session_id": "\#(created[0])"}"#
            ) { response in
                #expect(response.status == .created)
                return try json(response.body)["id"]?.stringValue ?? ""
            }
            let link = try await harness.store.read { snapshot in
                try snapshot.parent(of: try #require(SessionID(child)))
            }
            #expect(link?.parentSessionID.description == created[0] && link?.parentRunID == nil)
            created.append(child)
            // Pages of two, newest first; the seeded session (oldest) comes last.
            var listed: [String] = []
            var cursor: Int64?
            repeat {
                let uri = "/v1/sessions?limit=2" + (cursor.map { "&before=\($0)" } ?? "")
                cursor = try await client.execute(uri: uri, method: .get, headers: Self.auth) { response in
                    let page = try json(response.body)
                    listed += page["sessions"]?.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
                    return page["next"]?.integerValue
                }
            } while cursor != nil
            #expect(Array(listed.prefix(4)) == created.reversed())
            #expect(listed.count == 5 && Set(listed).count == 5)

            try await post(client, "/v1/sessions/\(created[0])/complete", "") { response in
                #expect(response.status == .ok)
                let document = try json(response.body)
                #expect(document["status"]?.stringValue == "completed")
            }
            try await client.execute(uri: "/v1/sessions?status=completed", method: .get, headers: Self.auth) {
                response in
                let ids = try json(response.body)["sessions"]?.arrayValue?.compactMap { $0["id"]?.stringValue }
                #expect(ids == [created[0]])
            }
            try await client.execute(uri: "/v1/sessions?status=done", method: .get, headers: Self.auth) { response in
                #expect(response.status == .badRequest)
            }
        }
    }

    @Test(
        "a bad session body is a 400 naming the field, and appends nothing",
        arguments: [
            (#"{}"#, "agent_id must be a string"),
            (#"{"agent_id": 3}"#, "agent_id must be a string"),
            (#"{"agent_id": "a", "metadata": {"k": 1}}"#, "metadata.k must be a string"),
            (#"{"agent_id": "a", "tags": "x"}"#, "tags must be an array"),
            (#"{"agent_id": "a", "tags": ["x", 2]}"#, "tags[1] must be a string"),
            (
                #"{"agent_id": "a", "owner": "b"}"#,
                "unknown field owner: expected agent_id, metadata, tags, parent_session_id, parent_run_id, parent_call_id"
            ),
            (#"{"agent_id": "a", "parent_session_id": "nope"}"#, "parent_session_id must be a session id"),
            (
                #"{"agent_id": "a", "parent_run_id": "01900000-0000-7000-8000-000000000000"}"#,
                "parent_run_id and parent_call_id need parent_session_id"
            ),
            (
                #"{"agent_id": "a", "parent_session_id": "01900000-0000-7000-8000-000000000000"}"#,
                "no parent session 01900000-0000-7000-8000-000000000000"
            ),
            (#"{"agent_id": "a""#, nil),
            (#"[1]"#, "the body must be a JSON object"),
        ]
    )
    func badSessionBodies(body: String, message: String?) async throws {
        try await withAPI { harness in
            let before = try await harness.store.lastSequence()
            try await post(harness.client, "/v1/sessions", body) { response in
                #expect(response.status == .badRequest)
                let text = error(response.body)
                if let message {
                    #expect(text == message)
                } else {
                    #expect(text?.hasPrefix("the body is not JSON") == true)
                }
            }
            #expect(try await harness.store.lastSequence() == before)
        }
    }

    @Test("a body over the size limit is a 413 with one line, and appends nothing")
    func sizeLimit() async throws {
        try await withAPI(maxBodyBytes: 1024) { harness in
            let before = try await harness.store.lastSequence()
            let big = #"{"agent_id": "\#(String(repeating: "x", count: 2000))"}"#
            try await post(harness.client, "/v1/sessions", big) { response in
                #expect(response.status == .contentTooLarge)
                #expect(error(response.body) == "the body is larger than 1024 bytes")
            }
            #expect(try await harness.store.lastSequence() == before)
        }
    }

    @Test("one session: projection, runs and usage with ETag = its last sequence; If-None-Match is a 304")
    func sessionETag() async throws {
        try await withAPI { harness in
            let (client, server) = (harness.client, harness.server)
            let session = harness.server.session
            let etag: String = try await client.execute(
                uri: "/v1/sessions/\(session)",
                method: .get,
                headers: Self.auth
            ) {
                response in
                #expect(response.status == .ok)
                let document = try json(response.body)
                #expect(document["session"]?["id"]?.stringValue == session.description)
                #expect(document["runs"]?.arrayValue?.count == 1)
                let last = document["session"]?["last_sequence"]?.integerValue ?? -1
                #expect(response.headers[.eTag] == "\"\(last)\"")
                return response.headers[.eTag] ?? ""
            }
            var fields = Self.auth
            fields[.ifNoneMatch] = etag
            let conditional = fields
            try await client.execute(uri: "/v1/sessions/\(session)", method: .get, headers: conditional) { response in
                #expect(response.status == .notModified)
                #expect(response.body.readableBytes == 0)
            }
            // A new event in the session: the same tag is no longer current.
            let run = try await server.submitRun("hello", in: session)
            _ = try await server.result(of: run)
            try await client.execute(uri: "/v1/sessions/\(session)", method: .get, headers: conditional) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.eTag] != etag)
                let document = try json(response.body)
                #expect(document["usage"]?.arrayValue?.count == 1)
            }
            try await client.execute(uri: "/v1/sessions/\(SessionID.generate())", method: .get, headers: Self.auth) {
                response in
                #expect(response.status == .notFound)
            }
            try await client.execute(uri: "/v1/sessions/not-an-id", method: .get, headers: Self.auth) { response in
                #expect(response.status == .notFound)
            }
        }
    }

    @Test("complete and archive follow the session's lifecycle: an illegal transition is a 409 and appends nothing")
    func lifecycle() async throws {
        try await withAPI { harness in
            let (client, store) = (harness.client, harness.store)
            let id = try await post(client, "/v1/sessions", #"{"agent_id": "a"}"#) { response in
                try json(response.body)["id"]?.stringValue ?? ""
            }
            try await post(client, "/v1/sessions/\(id)/archive", "") { response in
                #expect(response.status == .ok)
                let document = try json(response.body)
                #expect(document["status"]?.stringValue == "archived")
            }
            let before = try await store.lastSequence()
            try await post(client, "/v1/sessions/\(id)/complete", "") { response in
                #expect(response.status == .conflict)
                #expect(error(response.body)?.isEmpty == false)
            }
            try await post(client, "/v1/sessions/\(SessionID.generate())/complete", "") { response in
                #expect(response.status == .notFound)
            }
            #expect(try await store.lastSequence() == before)
        }
    }

    @Test("runs: 202 with the run and its first sequence; the same Idempotency-Key answers the same run, once")
    func idempotentSubmit() async throws {
        try await withAPI { harness in
            let (client, store, server) = (harness.client, harness.store, harness.server)
            let session = try await post(client, "/v1/sessions", #"{"agent_id": "a"}"#) { response in
                try json(response.body)["id"]?.stringValue ?? ""
            }
            var fields = Self.auth
            fields[HTTPField.Name("Idempotency-Key")!] = "submit-7"
            let headers = fields
            let body = #"{"messages": [{"role": "user", "content": "hello"}], "options": {"model": "m-1"}}"#
            var answers: [String] = []
            for _ in 0..<3 {
                answers.append(
                    try await post(client, "/v1/sessions/\(session)/runs", body, headers: headers) { response in
                        #expect(response.status == .accepted)
                        return String(buffer: response.body)
                    }
                )
            }
            #expect(Set(answers).count == 1, "the same key, the same answer")
            let answer = try JSONValue(parsing: Array(answers[0].utf8))
            let run = try #require(answer["run_id"]?.stringValue.flatMap(RunID.init))
            let result = try await server.result(of: run)
            #expect(result.status == .completed)
            let requested = try await store.events(
                from: .zero,
                limit: 100,
                filter: EventFilter(types: [RunRequested.eventType], stream: SessionID(session)?.stream)
            ).events
            #expect(requested.count == 1)
            #expect(requested.first?.sequence.rawValue == answer["sequence"]?.integerValue)

            // Without a key, each submit is a run of its own.
            for _ in 0..<2 {
                try await post(client, "/v1/sessions/\(session)/runs", body) { response in
                    #expect(response.status == .accepted)
                }
            }
            #expect(try await store.runs(in: try #require(SessionID(session))).count == 3)
        }
    }

    @Test("the same key after a restart: the log answers it (no second run)")
    func idempotencyAcrossServers() async throws {
        try await withTemporaryStore { store in
            let manager = SessionManager(store: store, providers: [Self.provider()])
            var configuration = SessionServer.Configuration(defaultOptions: RunOptions(provider: "scripted"))
            configuration.servesEverySession = true
            let session = try await manager.startSession(agentID: "a")
            var fields = Self.auth
            fields[HTTPField.Name("Idempotency-Key")!] = "once"
            let headers = fields
            var answers: [String] = []
            for _ in 0..<2 {
                let server = try SessionServer(manager: manager, sessions: [session], configuration: configuration)
                let app = Application(router: HTTPAPI(server: server, token: Self.token).router())
                answers.append(
                    try await app.test(.router) { client in
                        try await post(
                            client,
                            "/v1/sessions/\(session)/runs",
                            #"{"messages": [{"role": "user", "content": "hi"}]}"#,
                            headers: headers
                        ) { response in
                            #expect(response.status == .accepted)
                            return String(buffer: response.body)
                        }
                    }
                )
                await server.drain()
            }
            #expect(answers[0] == answers[1])
            #expect(try await store.runs(in: session).count == 1)
        }
    }

    @Test(
        "a bad run request is a 400 naming the field, and appends nothing",
        arguments: [
            (#"{"messages": []}"#, "invalid value: \"messages\" must be a non-empty array of {\"role\", \"content\"}"),
            (
                #"{"messages": [{"role": "user", "content": "x"}], "extra": 1}"#,
                "unknown key: \"extra\" (a request has \"messages\" and \"options\")"
            ),
            (
                #"{"messages": [{"role": "user", "content": "x"}], "options": {"max_turns": 0}}"#,
                "invalid value: options.max_turns must be a whole number of at least 1"
            ),
            (
                #"{"messages": [{"role": "user", "content": "x"}], "options": {"workspace": "/tmp"}}"#,
                "unknown option: options.workspace: this server runs in its own directory"
            ),
            (
                #"{"messages": [{"role": "user", "content": "x"}], "options": {"deadline_seconds": 1e20}}"#,
                "invalid value: options.deadline_seconds must be a number of seconds above zero and at most 31536000"
            ),
            (
                #"{"messages": [{"role": "tool", "content": "x"}]}"#,
                "invalid value: messages[0].role must be user, assistant or system"
            ),
        ]
    )
    func badRunRequests(body: String, message: String) async throws {
        try await withAPI { harness in
            let before = try await harness.store.lastSequence()
            try await post(harness.client, "/v1/sessions/\(harness.server.session)/runs", body) { response in
                #expect(response.status == .badRequest)
                #expect(error(response.body) == message)
            }
            var fields = Self.auth
            fields[HTTPField.Name("Idempotency-Key")!] = "bad key with spaces"
            let headers = fields
            try await post(
                harness.client,
                "/v1/sessions/\(harness.server.session)/runs",
                #"{"messages": [{"role": "user", "content": "x"}]}"#,
                headers: headers
            ) { response in
                #expect(response.status == .badRequest)
            }
            try await post(
                harness.client,
                "/v1/sessions/\(SessionID.generate())/runs",
                #"{"messages": [{"role": "user", "content": "x"}]}"#
            ) { response in
                #expect(response.status == .notFound)
            }
            #expect(try await harness.store.lastSequence() == before)
        }
    }

    @Test("a run read back: status while it runs, the result (text and usage) once it ended; cancel is 202, then 409")
    func runLifecycle() async throws {
        try await withAPI { harness in
            let (client, store, server) = (harness.client, harness.store, harness.server)
            let session = server.session
            func submit(_ prompt: String) async throws -> String {
                try await post(
                    client,
                    "/v1/sessions/\(session)/runs",
                    #"{"messages": [{"role": "user", "content": "\#(prompt)"}]}"#
                ) { response in try json(response.body)["run_id"]?.stringValue ?? "" }
            }
            // One slot: the hanging run runs, the next one waits in the queue.
            let hanging = try await submit("hang")
            let queued = try await submit("hello")
            try await client.execute(uri: "/v1/runs/\(queued)", method: .get, headers: Self.auth) { response in
                let document = try json(response.body)
                #expect(document["run"]?["status"]?.stringValue == "queued")
                #expect(document["result"] == nil)
            }
            try await post(client, "/v1/runs/\(queued)/cancel", "") { response in
                #expect(response.status == .accepted)
                let document = try json(response.body)
                #expect(document["status"]?.stringValue == "cancelled")
            }
            try await post(client, "/v1/runs/\(hanging)/cancel", "") { response in
                #expect(response.status == .accepted)
            }
            let ended = try await server.result(of: try #require(RunID(hanging)))
            #expect(ended.status == .cancelled)
            try await post(client, "/v1/runs/\(hanging)/cancel", "") { response in
                #expect(response.status == .conflict)
            }
            let done = try await submit("hello")
            _ = try await server.result(of: try #require(RunID(done)))
            try await client.execute(uri: "/v1/runs/\(done)", method: .get, headers: Self.auth) { response in
                let document = try json(response.body)
                #expect(document["run"]?["status"]?.stringValue == "completed")
                #expect(document["result"]?["text"]?.stringValue == "You said: hello")
                #expect(document["result"]?["usage"]?["run_id"]?.stringValue == done)
            }
            try await client.execute(uri: "/v1/runs/\(RunID.generate())", method: .get, headers: Self.auth) {
                response in
                #expect(response.status == .notFound)
            }
            #expect(try await store.run(try #require(RunID(queued)))?.status == .cancelled)
        }
    }

    @Test("cost by session, provider and model; provider health; the chain verified; the server's status")
    func reports() async throws {
        try await withAPI { harness in
            let (client, server) = (harness.client, harness.server)
            let run = try await server.submitRun("hello")
            _ = try await server.result(of: run)
            try await client.execute(uri: "/v1/cost", method: .get, headers: Self.auth) { response in
                let cost = try json(response.body)
                #expect(cost["by_session"]?.arrayValue?.first?["session_id"]?.stringValue == server.session.description)
                #expect(cost["by_provider"]?.arrayValue?.first?["provider"]?.stringValue == "scripted")
                #expect(cost["by_model"]?.arrayValue?.first?["model"]?.stringValue == "scripted-1")
                #expect((cost["by_session"]?.arrayValue?.first?["cost_nano_usd"]?.integerValue ?? 0) > 0)
            }
            try await client.execute(uri: "/v1/providers", method: .get, headers: Self.auth) { response in
                let health = try json(response.body)
                #expect(health["providers"]?.arrayValue != nil && health["bindings"]?.arrayValue != nil)
                #expect(health["as_of"]?.integerValue == (try await harness.store.lastSequence()).rawValue)
            }
            try await client.execute(uri: "/v1/verify", method: .get, headers: Self.auth) { response in
                let report = try json(response.body)
                #expect(report["ok"]?.boolValue == true)
                #expect(report["events_checked"]?.integerValue == (try await harness.store.lastSequence()).rawValue)
            }
            try await client.execute(uri: "/v1/status", method: .get, headers: Self.auth) { response in
                let status = try json(response.body)
                #expect(status["state"]?.stringValue == "accepting")
                #expect(status["finished"]?.integerValue == 1)
                #expect(status["default_session"]?.stringValue == server.session.description)
                #expect(status["max_concurrent"]?.integerValue == 1)
            }
            try await client.execute(uri: "/v1/openapi.json", method: .get, headers: Self.auth) { response in
                let document = try json(response.body)
                #expect(document["openapi"]?.stringValue == "3.1.0")
            }
            try await client.execute(uri: "/", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == "text/html; charset=utf-8")
            }
        }
    }

    @Test(
        "only the Idempotency-Key header sets a run's key: a body naming it is refused, so no submit can take another's"
    )
    func forgedKey() async throws {
        try await withAPI { harness in
            let before = try await harness.store.lastSequence()
            try await post(
                harness.client,
                "/v1/sessions/\(harness.server.session)/runs",
                #"{"messages": [{"role": "user", "content": "x"}], "options": {"metadata": {"idempotency_key": "k"}}}"#
            ) { response in
                #expect(response.status == .badRequest)
                #expect(error(response.body) == "options.metadata.idempotency_key is set by the server")
            }
            #expect(try await harness.store.lastSequence() == before)
        }
    }

    @Test("If-None-Match compares weakly (W/ and *), the Bearer scheme in any case, and a 401 names its scheme")
    func conditionalsAndScheme() async throws {
        try await withAPI { harness in
            let client = harness.client
            let uri = "/v1/sessions/\(harness.server.session)"
            let last = try await harness.store.session(harness.server.session)?.lastSequence.rawValue ?? -1
            for match in ["W/\"\(last)\"", "*", "\"0\", \"\(last)\""] {
                var fields = Self.auth
                fields[.ifNoneMatch] = match
                let headers = fields
                try await client.execute(uri: uri, method: .get, headers: headers) { response in
                    #expect(response.status == .notModified, "If-None-Match: \(match)")
                }
            }
            try await client.execute(uri: uri, method: .get, headers: [.authorization: "bearer \(Self.token)"]) {
                response in
                #expect(response.status == .ok)
            }
            try await client.execute(uri: uri, method: .get) { response in
                #expect(response.status == .unauthorized)
                #expect(response.headers[.wwwAuthenticate] == "Bearer")
            }
        }
    }
}
