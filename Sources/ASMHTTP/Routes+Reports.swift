import AgentSessionManager
import FoundationEssentials
import HTTPTypes
import Hummingbird

extension HTTPAPI {
    /// `GET /v1/cost`: usage and cost rolled up three ways.
    struct CostDocument: Encodable {
        var bySession: [UsageSummary]
        var byProvider: [UsageSummary]
        var byModel: [UsageSummary]

        enum CodingKeys: String, CodingKey {
            case bySession = "by_session"
            case byProvider = "by_provider"
            case byModel = "by_model"
        }
    }

    /// `GET /v1/providers`.
    struct ProvidersDocument: Encodable {
        var asOf: Int64
        var providers: [ProviderHealth.Provider]
        var bindings: [ProviderHealth.Binding]

        enum CodingKeys: String, CodingKey {
            case providers, bindings
            case asOf = "as_of"
        }
    }

    /// `GET /v1/status`.
    struct StatusDocument: Encodable {
        var state: String
        var running: [RunID]
        var queued: [RunID]
        var finished: Int
        var defaultSession: SessionID
        var maxConcurrent: Int
        var lastSequence: Int64

        enum CodingKeys: String, CodingKey {
            case state, running, queued, finished
            case defaultSession = "default_session"
            case maxConcurrent = "max_concurrent"
            case lastSequence = "last_sequence"
        }
    }

    /// `GET /v1/search`.
    struct SearchDocument: Encodable {
        var hits: [SearchHit]
    }

    /// `GET /v1/search?q=WORDS&session=ID&type=T,T&limit=N`: events found by their words, best
    /// first (as `asm search`); 409 while the log's search index is off.
    func search(_ request: Request) async throws -> Response {
        let query = try Query(request)
        guard let text = query.string("q") else {
            throw HTTPError(.badRequest, message: "q must give the words to look for")
        }
        let types = query.string("type").map { $0.split(separator: ",").map { EventType(String($0)) } } ?? []
        let search: SearchQuery
        do {
            search = try SearchQuery(
                text,
                session: try query.session(),
                types: types,
                limit: try query.limit(default: 20, maximum: 200)
            )
        } catch let error as SearchQuery.Invalid {
            throw HTTPError(.badRequest, message: error.message)
        }
        do {
            return try Self.json(.ok, encoding: SearchDocument(hits: try await store.search(search)))
        } catch let error as StoreError where error.code == .noSearchIndex {
            throw HTTPError(.conflict, message: "the log's search index is off; asm search --index on turns it on")
        }
    }

    /// `GET /v1/cost?session=ID`: by session, provider and model (one session's when given).
    func cost(_ request: Request) async throws -> Response {
        let session = try Query(request).session()
        let document = CostDocument(
            bySession: try await store.usage(by: .session, session: session),
            byProvider: try await store.usage(by: .provider, session: session),
            byModel: try await store.usage(by: .model, session: session)
        )
        return try Self.json(.ok, encoding: document)
    }

    /// `GET /v1/providers?at=SEQ`: breakers and sticky bindings, folded from the log.
    func providers(_ request: Request) async throws -> Response {
        let at = try Query(request).sequence("at")
        let health = try await ProviderHealth.fold(store, through: at, now: clock.now())
        return try Self.json(
            .ok,
            encoding: ProvidersDocument(
                asOf: health.asOf.rawValue,
                providers: health.providers,
                bindings: health.bindings
            )
        )
    }

    /// `GET /v1/verify`: the hash chain walked and the store's integrity check.
    func verify(_ request: Request) async throws -> Response {
        try Self.json(.ok, encoding: try await store.verify(progress: nil))
    }

    /// `GET /v1/status`: what the server is running, queueing and has finished.
    func status(_ request: Request) async throws -> Response {
        let status = await server.status
        let document = StatusDocument(
            state: status.state.rawValue,
            running: status.running,
            queued: status.queued,
            finished: status.finished,
            defaultSession: server.session,
            maxConcurrent: server.configuration.maxConcurrentRuns,
            lastSequence: try await store.lastSequence().rawValue
        )
        return try Self.json(.ok, encoding: document)
    }
}
