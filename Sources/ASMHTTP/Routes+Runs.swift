import AgentSessionManager
import FoundationEssentials
import HTTPTypes
import Hummingbird

extension HTTPAPI {
    /// What a submit answers: the run and the sequence of its first event.
    struct Submitted: Encodable, Sendable {
        var runID: RunID
        var sessionID: SessionID
        var sequence: SequenceNumber

        enum CodingKeys: String, CodingKey {
            case sequence
            case runID = "run_id"
            case sessionID = "session_id"
        }
    }

    /// `GET /v1/runs/{id}`: the run, and once it has ended its result.
    struct RunDocument: Encodable {
        struct Result: Encodable {
            /// The assistant's text of the run, in order.
            var text: String
            var usage: UsageSummary?

            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(text, forKey: .text)
                if let usage {
                    try container.encode(usage, forKey: .usage)
                } else {
                    try container.encodeNil(forKey: .usage)
                }
            }

            enum CodingKeys: String, CodingKey { case text, usage }
        }

        var run: RunSummary
        var result: Result?
    }

    /// The metadata key a submit's `Idempotency-Key` is recorded under.
    static let idempotencyMetadataKey = "idempotency_key"

    /// `POST /v1/sessions/{id}/runs` with a run request (`messages`, `options`) and optionally
    /// `Idempotency-Key`: 202 with the run id and its first sequence. The same key in the same
    /// session answers the same run again and starts nothing.
    func submitRun(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let session = try context.sessionID()
        var key: String?
        if let name = HTTPField.Name("Idempotency-Key"), let value = request.headers[name] {
            guard (1...255).contains(value.utf8.count), value.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
                throw HTTPError(
                    .badRequest,
                    message: "Idempotency-Key must be 1 to 255 visible ASCII characters"
                )
            }
            key = value
        }
        let body = try await Self.body(request, limit: maxBodyBytes)
        let workspace = self.workspace
        var parsed = try await RunRequest(json: body, defaults: server.configuration.defaultOptions) { path in
            guard let workspace else {
                throw RunRequest.Invalid(.unknownOption, "options.workspace: this server runs in its own directory")
            }
            return try await workspace(path)
        }
        // The key a later submit is matched by: only the header sets it.
        if parsed.metadata?[Self.idempotencyMetadataKey] != nil {
            throw HTTPError(
                .badRequest,
                message: "options.metadata.\(Self.idempotencyMetadataKey) is set by the server"
            )
        }
        guard let key else { return try Self.json(.accepted, encoding: try await submit(parsed, in: session)) }
        parsed.metadata = (parsed.metadata ?? [:]).merging([Self.idempotencyMetadataKey: key]) { _, new in new }
        let request = parsed
        let submitted = try await idempotency.once(session: session, key: key) {
            // Not in memory (another server before a restart may have taken it): the log knows.
            if let earlier = try await recordedRun(session: session, key: key) { return earlier }
            return try await submit(request, in: session)
        }
        return try Self.json(.accepted, encoding: submitted)
    }

    private func submit(_ request: RunRequest, in session: SessionID) async throws -> Submitted {
        let run = try await server.submitRun(
            request.messages,
            options: request.options,
            in: session,
            metadata: request.metadata
        )
        let sequence = try await store.run(run)?.firstSequence ?? .zero
        return Submitted(runID: run, sessionID: session, sequence: sequence)
    }

    /// The run an earlier submit with `key` recorded in the session, if any.
    private func recordedRun(session: SessionID, key: String) async throws -> Submitted? {
        var cursor = SequenceNumber.zero.next
        let filter = EventFilter(types: [RunRequested.eventType], stream: session.stream)
        while true {
            let page = try await store.events(from: cursor, limit: 500, filter: filter)
            for envelope in page.events {
                guard case .runRequested(let requested) = envelope.event,
                    requested.metadata?[Self.idempotencyMetadataKey] == key, let run = envelope.runID
                else { continue }
                return Submitted(runID: run, sessionID: session, sequence: envelope.sequence)
            }
            guard !page.events.isEmpty, page.scannedThrough >= cursor else { return nil }
            cursor = page.scannedThrough.next
        }
    }

    /// `GET /v1/runs/{id}`.
    func getRun(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let id = try context.runID()
        guard let run = try await store.run(id) else { throw HTTPError(.notFound, message: "no run \(id)") }
        var document = RunDocument(run: run)
        if run.status.isTerminal {
            let text = try await store.transcript(of: run.sessionID)
                .filter { $0.runID == id && $0.role == .assistant }
                .map(\.content)
                .joined(separator: "\n\n")
            let usage = try await store.usage(by: .run, session: run.sessionID).first { $0.runID == id }
            document.result = RunDocument.Result(text: text, usage: usage)
        }
        return try Self.json(.ok, encoding: document)
    }

    /// `POST /v1/runs/{id}/cancel`: 202 while the run stops the provider's way; 409 when it has
    /// already ended.
    func cancelRun(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let id = try context.runID()
        guard let run = try await store.run(id) else { throw HTTPError(.notFound, message: "no run \(id)") }
        guard !run.status.isTerminal else {
            throw HTTPError(.conflict, message: "run \(id) has already ended (\(run.status))")
        }
        try await server.cancel(id)
        let status = try await store.run(id)?.status ?? run.status
        var writer = JSONWriter()
        writer.sortsKeys = false
        var object = writer.beginObject()
        writer.field("run_id", id.description, in: &object)
        writer.field("status", status.rawValue, in: &object)
        writer.endObject(object)
        return Self.json(.accepted, writer.bytes + [0x0A])
    }
}

/// Submits in flight or done, by session and `Idempotency-Key`: a second request with a key
/// waits for the first and answers the same run. The newest 10,000 keys are kept in memory;
/// older ones are found in the log.
actor IdempotencyKeys {
    private struct Key: Hashable {
        var session: SessionID
        var key: String
    }

    private var entries: [Key: Task<HTTPAPI.Submitted, any Error>] = [:]
    private var order: [Key] = []
    private let capacity = 10_000

    func once(
        session: SessionID,
        key: String,
        _ submit: @escaping @Sendable () async throws -> HTTPAPI.Submitted
    ) async throws -> HTTPAPI.Submitted {
        let slot = Key(session: session, key: key)
        if let task = entries[slot] { return try await task.value }
        let task = Task { try await submit() }
        entries[slot] = task
        order.append(slot)
        if order.count > capacity { entries[order.removeFirst()] = nil }
        do {
            return try await task.value
        } catch {
            // A refused submit recorded nothing: the key may be used again.
            if entries[slot] == task {
                entries[slot] = nil
                order.removeAll { $0 == slot }
            }
            throw error
        }
    }
}
