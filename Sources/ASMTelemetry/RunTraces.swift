public import ASMCore
import Crypto

/// One span of a run's trace, as OpenTelemetry sees it.
public struct TraceSpan: Hashable, Sendable {
    public enum Kind: Int, Sendable {
        case `internal` = 1
        case client = 3
    }

    /// An attribute value (OTLP's `AnyValue`, the kinds used here).
    public enum Value: Hashable, Sendable {
        case string(String)
        case int(Int64)
        case double(Double)
        case bool(Bool)
    }

    /// 16 bytes, hex.
    public var traceID: String
    /// 8 bytes, hex.
    public var spanID: String
    public var parentSpanID: String?
    public var name: String
    public var kind: Kind
    public var startNanoseconds: UInt64
    public var endNanoseconds: UInt64
    /// In a stable order.
    public var attributes: [(key: String, value: Value)]
    /// `nil` unset, else whether it ended in error and why.
    public var error: String?

    public func attribute(_ key: String) -> Value? { attributes.first { $0.key == key }?.value }

    public static func == (lhs: TraceSpan, rhs: TraceSpan) -> Bool {
        lhs.traceID == rhs.traceID && lhs.spanID == rhs.spanID && lhs.parentSpanID == rhs.parentSpanID
            && lhs.name == rhs.name && lhs.kind == rhs.kind && lhs.startNanoseconds == rhs.startNanoseconds
            && lhs.endNanoseconds == rhs.endNanoseconds && lhs.error == rhs.error
            && lhs.attributes.map(\.key) == rhs.attributes.map(\.key)
            && lhs.attributes.map(\.value) == rhs.attributes.map(\.value)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(traceID)
        hasher.combine(spanID)
    }
}

/// Runs as traces, following OpenTelemetry's GenAI semantic conventions as of version 1.37.0
/// (still "development"): an `invoke_agent` span per run and an `execute_tool` span per tool
/// call under it, with `asm.*` attributes for what the conventions lack. Pure: the same events
/// give the same spans — trace ids derive from the session, span ids from the run and the call,
/// and times are the events' recorded times — so exporting twice yields the same trace.
public enum RunTraces {
    /// The semantic conventions version the attributes follow.
    public static let conventions = "1.37.0"

    /// The spans of every ended run among `events` (one session's, or the log's, in log order);
    /// runs still going are left for later. Message and tool contents only with `content`.
    ///
    /// A session started under another (`parents`: each session's link, as
    /// `LogSnapshot.parent(of:)` reads it, up to the tree's root) joins its root's trace, its
    /// runs' spans under the run — or the tool call — that started it.
    public static func spans(
        _ events: [EventEnvelope],
        agents: [SessionID: String] = [:],
        parents: [SessionID: SessionParent] = [:],
        content: Bool = false
    )
        -> [TraceSpan]
    {
        events.groupedByRun().flatMap { run, runEvents in
            let session = SessionID(uuid: runEvents[0].stream.uuid)
            var root = session
            var seen: Set<SessionID> = [session]
            while let link = parents[root], seen.insert(link.parentSessionID).inserted { root = link.parentSessionID }
            return spans(
                run: run,
                session: session,
                agent: agents[session],
                trace: root,
                parent: parents[session],
                runEvents,
                content: content
            )
        }
    }

    private static func runSpanID(_ run: RunID) -> String { hex(digest("asm.run", run.uuid.bytes), count: 8) }

    private static func toolSpanID(_ run: RunID, _ call: String) -> String {
        hex(digest("asm.tool", run.uuid.bytes + Array(call.utf8)), count: 8)
    }

    /// A run's spans: the run's first, then its tools' in the order they were asked for.
    static func spans(
        run: RunID,
        session: SessionID,
        agent: String?,
        trace: SessionID,
        parent: SessionParent?,
        _ events: [EventEnvelope],
        content: Bool
    ) -> [TraceSpan] {
        guard let first = events.first, let last = events.last else { return [] }
        switch last.event {
        case .runCompleted, .runFailed, .runCancelled: break
        default: return []
        }
        let traceID = hex(digest("asm.trace", trace.uuid.bytes), count: 16)
        let runSpan = runSpanID(run)
        var attributes: [(key: String, value: TraceSpan.Value)] = [
            ("gen_ai.operation.name", .string("invoke_agent")),
            ("gen_ai.conversation.id", .string(session.description)),
        ]
        if let parent {
            attributes.append(("asm.parent.session_id", .string(parent.parentSessionID.description)))
            attributes.append(("asm.parent.relation", .string(parent.relation.rawValue)))
        }
        let parentSpan: String? = parent.flatMap { link in
            link.parentRunID.map { run in link.parentCallID.map { toolSpanID(run, $0) } ?? runSpanID(run) }
        }
        var provider: String?
        var model: String?
        var providerSession: String?
        var usage = TokenUsage.zero
        var cost: Int64 = 0
        var attempts = 0
        var failovers: [String] = []
        var policy: [String] = []
        var diff: (files: Int, insertions: Int, deletions: Int)?
        var prompt: [String] = []
        var output: [String] = []
        struct Tool {
            var id: String
            var name: String
            var start: Timestamp
            var end: Timestamp?
            var input: JSONValue?
            var output: String?
            var error: String?
        }
        var tools: [Tool] = []
        func tool(_ id: String) -> Int? { tools.firstIndex { $0.id == id } }
        for envelope in events {
            switch envelope.event {
            case .runRequested(let requested):
                prompt += requested.messages.map(\.content)
                model = model ?? requested.model
            case .runStarted(let started):
                provider = started.provider
                model = started.model ?? model
                providerSession = started.providerSessionID ?? providerSession
            case .runCompleted(let completed):
                providerSession = completed.providerSessionID ?? providerSession
            case .messageReceived(let message) where message.role == .assistant:
                output.append(message.content)
            case .tokenUsageUpdated(let update):
                usage = usage + update.delta
                cost += update.costNanoUSD ?? 0
                model = update.model ?? model
            case .routingDecided(let decided):
                attempts = max(attempts, decided.attempt)
            case .routingFailedOver(let failed):
                failovers.append("\(failed.from)→\(failed.to ?? "none"): \(failed.failure.kind.rawValue)")
            case .policyViolated(let violated):
                policy.append("\(violated.action) \(violated.policy)/\(violated.rule)")
            case .workspaceDiffComputed(let computed):
                diff = (computed.filesChanged, computed.insertions, computed.deletions)
            case .toolCallRequested(let requested):
                if tool(requested.callID) == nil {
                    tools.append(
                        Tool(
                            id: requested.callID,
                            name: requested.name,
                            start: envelope.recordedAt,
                            input: requested.input
                        )
                    )
                }
            case .toolCallStarted(let started):
                if tool(started.callID) == nil {
                    tools.append(
                        Tool(id: started.callID, name: started.name, start: envelope.recordedAt, input: started.input)
                    )
                }
            case .toolCallCompleted(let completed):
                if let index = tool(completed.callID) {
                    tools[index].end = envelope.recordedAt
                    tools[index].output = completed.output
                    if completed.isError { tools[index].error = "tool_error" }
                }
            case .toolCallRefused(let refused):
                let index =
                    tool(refused.callID)
                    ?? {
                        tools.append(Tool(id: refused.callID, name: refused.name, start: envelope.recordedAt))
                        return tools.count - 1
                    }()
                tools[index].end = envelope.recordedAt
                tools[index].error = "refused"
            default:
                continue
            }
        }
        var error: String?
        switch last.event {
        case .runFailed(let failed): error = failed.failure.kind.rawValue
        case .runCancelled(let cancelled): error = "cancelled:\(cancelled.reason.rawValue)"
        default: break
        }
        if let provider {
            attributes.append(("gen_ai.provider.name", .string(providerName(provider))))
            attributes.append(("asm.provider", .string(provider)))
        }
        if let agent { attributes.append(("gen_ai.agent.name", .string(agent))) }
        attributes.append(("gen_ai.agent.id", .string(providerSession ?? run.description)))
        if let model { attributes.append(("gen_ai.request.model", .string(model))) }
        attributes += [
            ("gen_ai.usage.input_tokens", .int(usage.input)),
            ("gen_ai.usage.output_tokens", .int(usage.output)),
            ("gen_ai.usage.cache_read.input_tokens", .int(usage.cacheRead)),
            ("gen_ai.usage.cache_creation.input_tokens", .int(usage.cacheWrite)),
            ("asm.run.id", .string(run.description)),
            ("asm.cost_usd", .double(Double(cost) / 1e9)),
        ]
        if attempts > 0 { attributes.append(("asm.routing.attempts", .int(Int64(attempts)))) }
        if !failovers.isEmpty {
            attributes.append(("asm.routing.failovers", .string(failovers.joined(separator: "; "))))
        }
        if !policy.isEmpty { attributes.append(("asm.policy.decisions", .string(policy.joined(separator: "; ")))) }
        if let diff {
            attributes += [
                ("asm.workspace.files_changed", .int(Int64(diff.files))),
                ("asm.workspace.insertions", .int(Int64(diff.insertions))),
                ("asm.workspace.deletions", .int(Int64(diff.deletions))),
            ]
        }
        if let error { attributes.append(("error.type", .string(error))) }
        if content {
            attributes.append(("gen_ai.input.messages", .string(prompt.joined(separator: "\n"))))
            attributes.append(("gen_ai.output.messages", .string(output.joined(separator: "\n"))))
        }
        var spans = [
            TraceSpan(
                traceID: traceID,
                spanID: runSpan,
                parentSpanID: parentSpan,
                name: "invoke_agent" + (agent.map { " \($0)" } ?? ""),
                kind: .client,
                startNanoseconds: nanoseconds(first.recordedAt),
                endNanoseconds: nanoseconds(last.recordedAt),
                attributes: attributes,
                error: error
            )
        ]
        for tool in tools {
            var toolAttributes: [(key: String, value: TraceSpan.Value)] = [
                ("gen_ai.operation.name", .string("execute_tool")),
                ("gen_ai.tool.name", .string(tool.name)),
                ("gen_ai.tool.call.id", .string(tool.id)),
            ]
            if let error = tool.error { toolAttributes.append(("error.type", .string(error))) }
            if content {
                if let input = tool.input, let bytes = try? input.jsonBytes() {
                    toolAttributes.append(
                        ("gen_ai.tool.call.arguments", .string(String(decoding: bytes, as: UTF8.self)))
                    )
                }
                if let output = tool.output { toolAttributes.append(("gen_ai.tool.call.result", .string(output))) }
            }
            spans.append(
                TraceSpan(
                    traceID: traceID,
                    spanID: toolSpanID(run, tool.id),
                    parentSpanID: runSpan,
                    name: "execute_tool \(tool.name)",
                    kind: .internal,
                    startNanoseconds: nanoseconds(tool.start),
                    endNanoseconds: nanoseconds(tool.end ?? last.recordedAt),
                    attributes: toolAttributes,
                    error: tool.error
                )
            )
        }
        return spans
    }

    /// The conventions' provider names for the CLIs' models; the CLI's own name otherwise.
    static func providerName(_ provider: String) -> String {
        switch provider {
        case "claude": "anthropic"
        case "codex": "openai"
        default: provider
        }
    }

    private static func nanoseconds(_ time: Timestamp) -> UInt64 { UInt64(max(0, time.microseconds)) * 1000 }

    private static func digest(_ label: String, _ bytes: [UInt8]) -> [UInt8] {
        var hasher = SHA256()
        hasher.update(data: Array(label.utf8) + [0] + bytes)
        return Array(hasher.finalize())
    }

    private static func hex(_ bytes: [UInt8], count: Int) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var text: [UInt8] = []
        for byte in bytes.prefix(count) {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 15)])
        }
        return String(decoding: text, as: UTF8.self)
    }
}
