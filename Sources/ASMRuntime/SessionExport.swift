public import ASMCore
public import ASMStore

/// One session written out for people (Markdown) and for other tools (JSON, JSON Lines):
/// its transcript, tool calls and results, policy and routing decisions, diffs, usage and
/// cost, as the log holds them — redaction already applied, since the log holds nothing else —
/// with the log's chain head when it was read, so a reader can check the export against the
/// log (`asm verify` up to that sequence, the event hashes).
///
/// ```swift
/// let export = try await SessionExport.read(session, from: store, at: SystemClock().now())
/// try export.markdown().write(to: "session.md")
/// ```
public struct SessionExport: Sendable {
    /// The log's last event when the export was read: the chain head it was exported at.
    public struct ChainHead: Sendable, Equatable {
        public var sequence: SequenceNumber
        public var hash: EventHash
    }

    public var session: SessionSummary
    public var runs: [RunSummary]
    /// Usage and cost per run.
    public var usage: [UsageSummary]
    /// Every event of the session's stream, oldest first.
    public var events: [EventEnvelope]
    public var head: ChainHead
    public var exportedAt: Timestamp

    /// Reads everything from one snapshot, so the parts agree with each other and with `head`.
    /// - Throws: ``StoreError`` `notFound` for a session the log does not hold.
    public static func read(
        _ id: SessionID,
        from store: any EventStore,
        at time: Timestamp
    ) async throws -> SessionExport {
        try await store.read { snapshot in
            guard let session = try snapshot.session(id) else {
                throw StoreError(.notFound, "no session \(id)")
            }
            let last = try snapshot.lastSequence()
            let headEvent = try snapshot.events(from: last, limit: 1, filter: .all).events.first
            return SessionExport(
                session: session,
                runs: try snapshot.runs(in: id),
                usage: try snapshot.usage(by: .run, session: id),
                events: try snapshot.stream(id.stream, fromVersion: StreamVersion(1), limit: Int.max),
                head: ChainHead(sequence: last, hash: headEvent?.hash ?? .genesis),
                exportedAt: time
            )
        }
    }

    // MARK: JSON

    /// One line for the export (`"export"`: session, runs, usage, chain head), then one line per
    /// event in the shape of `asm tail --json`.
    public func jsonLines() -> String {
        var lines = [String(decoding: Self.bytes(.object(header())), as: UTF8.self)]
        for event in events { lines.append(String(decoding: EventJSON.object(event), as: UTF8.self)) }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One JSON document: the export's header members and `events`.
    public func json() -> String {
        var bytes = Array("{".utf8)
        for (index, member) in header().enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes += Self.bytes(.string(member.key)) + [UInt8(ascii: ":")] + Self.bytes(member.value)
        }
        bytes += Array(",\"events\":[".utf8)
        for (index, event) in events.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes += EventJSON.object(event)
        }
        bytes += Array("]}\n".utf8)
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func bytes(_ value: JSONValue) -> [UInt8] {
        (try? value.jsonBytes(sortsKeys: false)) ?? Array("null".utf8)
    }

    private func header() -> [JSONMember] {
        let total = usage.reduce(into: (tokens: TokenUsage(), cost: Int64(0))) { sum, row in
            sum.tokens = sum.tokens + row.tokens
            sum.cost += row.costNanoUSD
        }
        return [
            JSONMember("schema_version", .integer(1)),
            JSONMember("export", .string("session")),
            JSONMember("session_id", .string(session.id.description)),
            JSONMember("agent_id", .string(session.agentID)),
            JSONMember("status", .string(session.status.rawValue)),
            JSONMember("created_at", .string(session.createdAt.description)),
            JSONMember("exported_at", .string(exportedAt.description)),
            JSONMember(
                "chain_head",
                .object([
                    JSONMember("sequence", .integer(head.sequence.rawValue)),
                    JSONMember("hash", .string(head.hash.description)),
                ])
            ),
            JSONMember("runs", .array(runs.map(Self.runValue))),
            JSONMember(
                "usage",
                .object([
                    JSONMember("tokens", Self.tokensValue(total.tokens)),
                    JSONMember("cost_nano_usd", .integer(total.cost)),
                    JSONMember("by_run", .array(usage.map(Self.usageValue))),
                ])
            ),
        ]
    }

    private static func runValue(_ run: RunSummary) -> JSONValue {
        var members = [
            JSONMember("run_id", .string(run.id.description)),
            JSONMember("status", .string(run.status.rawValue)),
            JSONMember("first_sequence", .integer(run.firstSequence.rawValue)),
        ]
        if let provider = run.provider { members.append(JSONMember("provider", .string(provider))) }
        if let model = run.model { members.append(JSONMember("model", .string(model))) }
        if let kind = run.failureKind { members.append(JSONMember("failure_kind", .string(kind.rawValue))) }
        if let reason = run.cancelReason { members.append(JSONMember("cancel_reason", .string(reason.rawValue))) }
        return .object(members)
    }

    private static func usageValue(_ row: UsageSummary) -> JSONValue {
        .object([
            JSONMember("run_id", row.runID.map { .string($0.description) } ?? .null),
            JSONMember("tokens", tokensValue(row.tokens)),
            JSONMember("cost_nano_usd", .integer(row.costNanoUSD)),
        ])
    }

    private static func tokensValue(_ tokens: TokenUsage) -> JSONValue {
        .object([
            JSONMember("input", .integer(tokens.input)), JSONMember("output", .integer(tokens.output)),
            JSONMember("cache_read", .integer(tokens.cacheRead)),
            JSONMember("cache_write", .integer(tokens.cacheWrite)),
        ])
    }

    // MARK: Markdown

    /// The session as a document: a heading per run with its prompt, the agent's messages,
    /// tool calls with their input and output, policy, approval and routing decisions,
    /// workspace diffs, the run's end and cost; a closing line naming the chain head.
    public func markdown() -> String {
        var out = MarkdownWriter()
        out.line("# Session \(session.id)")
        out.line("")
        out.line("- Agent: \(out.inline(session.agentID))")
        out.line("- Status: \(session.status.rawValue)" + (session.failureReason.map { " (\(out.inline($0)))" } ?? ""))
        out.line("- Created: \(session.createdAt)")
        for (key, value) in session.metadata.sorted(by: { $0.key < $1.key }) {
            out.line("- \(out.inline(key)): \(out.inline(value))")
        }
        if !session.tags.isEmpty { out.line("- Tags: \(session.tags.map(out.inline).joined(separator: ", "))") }
        out.line("- Runs: \(runs.count); events: \(events.count)")
        let cost = usage.reduce(Int64(0)) { $0 + $1.costNanoUSD }
        let tokens = usage.reduce(TokenUsage()) { $0 + $1.tokens }
        out.line(
            "- Usage: \(tokens.input) input, \(tokens.output) output, \(tokens.cacheRead) cache read tokens; "
                + "cost \(PriceTable.usd(cost))"
        )

        var runNumber = 0
        var runHeadings: [RunID: Int] = [:]
        for event in events {
            switch event.event {
            case .runRequested(let request):
                runNumber += 1
                if let run = event.runID { runHeadings[run] = runNumber }
                out.line("")
                out.line("## Run \(runNumber)" + (event.runID.map { " — `\($0)`" } ?? ""))
                out.line("")
                if let provider = request.provider { out.line("Provider asked for: \(out.inline(provider))") }
                for message in request.messages {
                    out.line("**\(Self.label(message.role))** (sequence \(event.sequence)):")
                    out.line("")
                    out.quote(message.content)
                }
            case .runStarted(let started):
                out.line("")
                out.line(
                    "_Started on \(out.inline(started.provider))"
                        + (started.model.map { ", model \(out.inline($0))" } ?? "")
                        + (started.attempt.map { ", attempt \($0)" } ?? "") + "._"
                )
            case .routingDecided(let decision):
                out.line("")
                out.line(
                    "Routing (attempt \(decision.attempt), \(decision.strategy)): "
                        + (decision.chosen.map { "chose \(out.inline($0))" } ?? "no eligible provider")
                        + Self.excluded(decision.candidates, out)
                )
            case .routingFailedOver(let failover):
                out.line("")
                out.line(
                    "Failover from \(out.inline(failover.from))"
                        + (failover.to.map { " to \(out.inline($0))" } ?? " (the router gave up)")
                        + ": \(failover.failure.kind.rawValue) — \(out.inline(failover.failure.message))"
                )
            case .messageReceived(let message) where message.role != .user:
                out.line("")
                out.line("**\(Self.label(message.role))** (sequence \(event.sequence)):")
                out.line("")
                out.quote(message.content)
            case .toolCallRequested(let call):
                out.line("")
                out.line("Tool \(out.inline(call.name)) (\(out.inline(call.callID))) held for an answer:")
                out.code(Self.text(call.input), language: "json")
            case .toolCallStarted(let call):
                out.line("")
                out.line("Tool \(out.inline(call.name)) (\(out.inline(call.callID))):")
                out.code(Self.text(call.input), language: "json")
            case .toolCallCompleted(let result):
                out.line("")
                out.line(
                    (result.isError ? "Tool error" : "Tool output")
                        + (result.exitCode.map { " (exit \($0))" } ?? "") + ":"
                )
                out.code(result.output, language: "")
            case .toolCallRefused(let refusal):
                out.line("")
                out.line("Tool \(out.inline(refusal.name)) refused by the provider: \(out.inline(refusal.reason))")
            case .policyViolated(let violation):
                out.line("")
                out.line(
                    "Policy \(out.inline(violation.policy)), rule \(out.inline(violation.rule)): "
                        + "\(violation.action) — \(out.inline(violation.message))"
                )
            case .toolApprovalRequested(let request):
                out.line("")
                out.line(
                    "Approval \(out.inline(request.approvalID)) asked for tool \(out.inline(request.tool)) "
                        + "(policy \(out.inline(request.policy)), rule \(out.inline(request.rule)))"
                )
            case .toolApprovalResolved(let resolution):
                out.line("")
                out.line(
                    "Approval \(out.inline(resolution.approvalID)) "
                        + (resolution.approved ? "approved" : "denied")
                        + (resolution.resolvedBy.map { " by \(out.inline($0))" } ?? "")
                        + (resolution.reason.map { ": \(out.inline($0))" } ?? "")
                )
            case .continuationApplied(let continuation):
                out.line("")
                out.line(
                    "Continuation: \(continuation.applied) (asked \(continuation.requested)) — "
                        + out.inline(continuation.reason)
                )
            case .workspaceDiffComputed(let diff):
                out.line("")
                out.line(
                    "Workspace diff: \(diff.filesChanged) files, +\(diff.insertions) −\(diff.deletions)"
                        + (diff.artifact.map { "; full patch in the artifact store as \(out.inline($0))" } ?? "")
                )
                if let patch = diff.patch { out.code(patch, language: "diff") }
            case .workspaceRolledBack(let rollback):
                out.line("")
                out.line("Workspace rolled back to snapshot \(out.inline(rollback.toSnapshot)).")
            case .providerWarning(let warning):
                out.line("")
                out.line("Warning from \(out.inline(warning.provider)): \(out.inline(warning.message))")
            case .runCompleted, .runFailed, .runCancelled:
                out.line("")
                let run = event.runID.flatMap { id in runs.first { $0.id == id } }
                let spent = event.runID.flatMap { id in usage.first { $0.runID == id } }
                out.line(
                    "**\(Self.ending(event.event, out))**"
                        + (spent.map {
                            " — \($0.tokens.input) input, \($0.tokens.output) output tokens, \(PriceTable.usd($0.costNanoUSD))"
                        } ?? "")
                        + (run?.provider.map { " on \(out.inline($0))" } ?? "")
                )
            default:
                continue
            }
        }
        out.line("")
        out.line("---")
        out.line("")
        out.line(
            "Exported \(exportedAt) from a log whose chain head was sequence \(head.sequence), "
                + "hash `\(head.hash)`. Secrets were redacted when the events were recorded."
        )
        return out.text
    }

    /// `User`, `Assistant`…
    private static func label(_ role: MessageRole) -> String {
        let name = role.rawValue
        return name.prefix(1).uppercased() + name.dropFirst()
    }

    private static func ending(_ event: SessionEvent, _ out: MarkdownWriter) -> String {
        switch event {
        case .runCompleted: "Run completed"
        case .runFailed(let failed):
            "Run failed: \(failed.failure.kind.rawValue) — \(out.inline(failed.failure.message))"
        case .runCancelled(let cancelled):
            "Run cancelled (\(cancelled.reason.rawValue))" + (cancelled.message.map { ": \(out.inline($0))" } ?? "")
        default: ""
        }
    }

    private static func excluded(_ candidates: [RoutingCandidate], _ out: MarkdownWriter) -> String {
        let excluded = candidates.compactMap { candidate in
            candidate.excludedBecause.map { "\(out.inline(candidate.provider)) (\(out.inline($0)))" }
        }
        return excluded.isEmpty ? "" : "; excluded: " + excluded.joined(separator: ", ")
    }

    private static func text(_ value: JSONValue) -> String {
        (try? value.jsonBytes(sortsKeys: true)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

}

/// Markdown that stays Markdown whatever the text holds: fences longer than any run of
/// backticks inside, quoted lines, inline text without line breaks or markup characters.
struct MarkdownWriter {
    private(set) var text = ""

    mutating func line(_ line: String) { text += line + "\n" }

    /// Text as one line, with the characters Markdown would read as markup escaped.
    func inline(_ value: String) -> String {
        var result = ""
        for character in value {
            switch character {
            case "\n", "\r": result += " "
            case "\\", "`", "*", "_", "[", "]", "<", ">", "#", "|": result += "\\" + String(character)
            default: result.append(character)
            }
        }
        return result
    }

    /// Text as a block quote, line by line, kept verbatim inside a fence.
    mutating func quote(_ content: String) {
        let fence = Self.fence(for: content)
        line("> " + fence + "text")
        for part in content.split(separator: "\n", omittingEmptySubsequences: false) { line("> " + part) }
        line("> " + fence)
    }

    mutating func code(_ content: String, language: String) {
        let fence = Self.fence(for: content)
        line(fence + language)
        line(content.hasSuffix("\n") ? String(content.dropLast()) : content)
        line(fence)
    }

    /// Backticks, one more than the longest run in `content` (at least three).
    static func fence(for content: String) -> String {
        var longest = 0
        var run = 0
        for character in content {
            run = character == "`" ? run + 1 : 0
            longest = max(longest, run)
        }
        return String(repeating: "`", count: max(3, longest + 1))
    }
}
