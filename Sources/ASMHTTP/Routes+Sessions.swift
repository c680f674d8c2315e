import AgentSessionManager
import FoundationEssentials
import HTTPTypes
import Hummingbird

extension HTTPAPI {
    /// `GET /v1/sessions/{id}`: the session, its runs and its usage by run.
    struct SessionDocument: Encodable {
        var session: SessionSummary
        var runs: [RunSummary]
        var usage: [UsageSummary]
    }

    /// `GET /v1/sessions`: a page, newest first, and the cursor of the next.
    struct SessionPage: Encodable {
        var sessions: [SessionSummary]
        var next: Int64?

        func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(sessions, forKey: .sessions)
            // Always present: `null` says there is no next page.
            if let next { try container.encode(next, forKey: .next) } else { try container.encodeNil(forKey: .next) }
        }

        enum CodingKeys: String, CodingKey { case sessions, next }
    }

    /// `POST /v1/sessions` with `{"agent_id", "metadata", "tags", "parent_session_id",
    /// "parent_run_id", "parent_call_id"}`: 201 and the session; a parent that is not in the log
    /// is a 400.
    func createSession(_ request: Request) async throws -> Response {
        let body = try await Self.body(request, limit: maxBodyBytes)
        try Self.allow(body, ["agent_id", "metadata", "tags", "parent_session_id", "parent_run_id", "parent_call_id"])
        guard let agent = body["agent_id"]?.stringValue else {
            throw HTTPError(.badRequest, message: "agent_id must be a string")
        }
        var metadata: [String: String] = [:]
        if let value = body["metadata"] {
            guard let members = value.objectValue else {
                throw HTTPError(.badRequest, message: "metadata must be an object of strings")
            }
            for member in members {
                guard let text = member.value.stringValue else {
                    throw HTTPError(.badRequest, message: "metadata.\(member.key) must be a string")
                }
                metadata[member.key] = text
            }
        }
        var tags: [String] = []
        if let value = body["tags"] {
            guard let list = value.arrayValue else { throw HTTPError(.badRequest, message: "tags must be an array") }
            tags = try list.enumerated().map { index, tag throws(HTTPError) in
                guard let text = tag.stringValue else {
                    throw HTTPError(.badRequest, message: "tags[\(index)] must be a string")
                }
                return text
            }
        }
        var parent: ParentLink?
        if let value = body["parent_session_id"] {
            guard let text = value.stringValue, let session = SessionID(text) else {
                throw HTTPError(.badRequest, message: "parent_session_id must be a session id")
            }
            parent = ParentLink(session: session)
            if let value = body["parent_run_id"] {
                guard let text = value.stringValue, let run = RunID(text) else {
                    throw HTTPError(.badRequest, message: "parent_run_id must be a run id")
                }
                parent?.run = run
            }
            if let value = body["parent_call_id"] {
                guard let text = value.stringValue, !text.isEmpty else {
                    throw HTTPError(.badRequest, message: "parent_call_id must be a non-empty string")
                }
                parent?.toolCall = text
            }
        } else if body["parent_run_id"] != nil || body["parent_call_id"] != nil {
            throw HTTPError(.badRequest, message: "parent_run_id and parent_call_id need parent_session_id")
        }
        let id: SessionID
        do {
            id = try await manager.startSession(agentID: agent, metadata: metadata, tags: tags, parent: parent)
        } catch let error as SessionManagerError where error.code == .sessionNotFound || error.code == .runNotFound {
            // The parent named in the body is not in the log: the request is at fault, not the path.
            throw HTTPError(.badRequest, message: error.message)
        }
        guard let summary = try await store.session(id) else {
            throw HTTPError(.internalServerError, message: "session \(id) was recorded but cannot be read")
        }
        return try Self.json(.created, encoding: summary, headers: [.location: "/v1/sessions/\(id)"])
    }

    /// `GET /v1/sessions?status=&limit=&before=`.
    func listSessions(_ request: Request) async throws -> Response {
        let query = try Query(request)
        let limit = try query.limit(default: 50, maximum: 500)
        let status = query.string("status").map(SessionStatus.init(rawValue:))
        if let status, ![.created, .active, .completed, .failed, .archived].contains(status) {
            throw HTTPError(.badRequest, message: "status must be created, active, completed, failed or archived")
        }
        let before = try query.sequence("before")
        let sessions = try await store.sessions(status: status, startedBefore: before, limit: limit)
        let next = sessions.count == limit ? sessions.last?.firstSequence.rawValue : nil
        return try Self.json(.ok, encoding: SessionPage(sessions: sessions, next: next))
    }

    /// `GET /v1/sessions/{id}` with `ETag` = the session's last sequence; `If-None-Match` with
    /// it is a 304.
    func getSession(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let id = try context.sessionID()
        guard let session = try await store.session(id) else {
            throw HTTPError(.notFound, message: "no session \(id)")
        }
        let tag = "\"\(session.lastSequence.rawValue)\""
        // Weak comparison, as If-None-Match asks: `W/"12"` matches `"12"`; `*` matches any.
        if let match = request.headers[.ifNoneMatch],
            match.split(separator: ",").contains(where: { candidate in
                let text = String(candidate.filter { !$0.isWhitespace })
                return text == "*" || text == tag || text == "W/" + tag
            })
        {
            return Response(status: .notModified, headers: [.eTag: tag])
        }
        let runs = try await store.runs(in: id)
        let usage = try await store.usage(by: .run, session: id)
        return try Self.json(
            .ok,
            encoding: SessionDocument(session: session, runs: runs, usage: usage),
            headers: [.eTag: tag]
        )
    }

    /// `POST /v1/sessions/{id}/complete` and `/archive`: the session as it is then.
    func endSession(_ request: Request, _ context: BasicRequestContext, archive: Bool) async throws -> Response {
        let id = try context.sessionID()
        if archive {
            try await manager.archiveSession(id)
        } else {
            try await manager.completeSession(id)
        }
        guard let summary = try await store.session(id) else { throw HTTPError(.notFound, message: "no session \(id)") }
        return try Self.json(.ok, encoding: summary)
    }
}
