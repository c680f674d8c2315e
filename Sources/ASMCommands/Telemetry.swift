import ASMTelemetry
import AgentSessionManager
import ArgumentParser

extension ASM {
    /// `asm otel`: runs as OpenTelemetry traces.
    struct OTel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "otel",
            abstract: "Export runs as OpenTelemetry traces.",
            subcommands: [Export.self]
        )

        /// `asm otel export --endpoint URL [--session S]`.
        struct Export: AsyncParsableCommand {
            static let configuration = CommandConfiguration(
                abstract: "Send the log's ended runs to an OpenTelemetry collector over OTLP/HTTP.",
                discussion: """
                    Each run is an invoke_agent span (GenAI semantic conventions 1.37.0: provider, agent, \
                    conversation = the session, model, token usage, error.type) with an execute_tool span per tool \
                    call under it, and asm.* attributes for cost, routing, policy decisions and workspace diffs. Start \
                    and end times are the events' recorded times and trace and span ids derive from the session, run \
                    and call ids, so exporting again sends the same trace. Messages and tool input and output are \
                    sent only with --content. Runs that have not ended are left out. The spans go as JSON to the \
                    endpoint's /v1/traces (e.g. --endpoint http://127.0.0.1:4318).
                    """
            )

            @OptionGroup var store: StoreOptions
            @OptionGroup var output: OutputOptions

            @Option(help: "The collector's OTLP/HTTP endpoint, e.g. http://127.0.0.1:4318.")
            var endpoint: String

            @Option(help: "Only this session (an id or an unambiguous prefix).")
            var session: String?

            @Flag(help: "Also send messages and tool input and output (they may hold what the log redacted not).")
            var content = false

            struct Exported: Encodable {
                var spans: Int
                var runs: Int
                var endpoint: String
            }

            func run() async throws {
                let exporter = try OTLPHTTPExporter(endpoint: endpoint)
                let spans = try await withStore(try await store.openForReading()) { store in
                    var sessionID: SessionID?
                    if let session { sessionID = try await resolveSession(session, in: store) }
                    return try await TraceSource.spans(in: store, session: sessionID, content: content)
                }
                try await exporter.export(spans)
                let runs = spans.filter { $0.attribute("gen_ai.operation.name") == .string("invoke_agent") }.count
                if output.json {
                    Console.line(
                        Formatting.json(Exported(spans: spans.count, runs: runs, endpoint: exporter.url))
                    )
                } else {
                    Console.line(
                        "exported \(Formatting.count(spans.count, "span")) of \(Formatting.count(runs, "run")) to \(exporter.url)"
                    )
                }
            }
        }
    }
}

/// Reading runs' spans from a log.
enum TraceSource {
    /// The spans of every ended run of the log, or of one session, with the sessions' agent names.
    static func spans(in store: any EventStore, session: SessionID?, content: Bool) async throws -> [TraceSpan] {
        let events = try await store.allEvents(session.map { EventFilter(stream: $0.stream) } ?? .all)
        var agents: [SessionID: String] = [:]
        let sessions = Set(events.compactMap { $0.runID == nil ? nil : SessionID(uuid: $0.stream.uuid) })
        for id in sessions { agents[id] = try await store.session(id)?.agentID }
        return RunTraces.spans(
            events,
            agents: agents,
            parents: try await parents(of: sessions, in: store),
            content: content
        )
    }

    /// Each session's parent link and its parents' up to their tree's root, read in one snapshot.
    static func parents(
        of sessions: Set<SessionID>,
        in store: any EventStore
    ) async throws -> [SessionID: SessionParent] {
        try await store.read { snapshot in
            var parents: [SessionID: SessionParent] = [:]
            for session in sessions {
                var current = session
                while parents[current] == nil, let link = try snapshot.parent(of: current) {
                    parents[current] = link
                    current = link.parentSessionID
                }
            }
            return parents
        }
    }
}
