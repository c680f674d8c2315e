import AgentSessionManager

/// How events, sessions and runs look in `asm` output.
enum Formatting {
    /// The first 8 hex digits of an id, enough to tell sessions apart on screen.
    static func short(_ uuid: UUIDValue) -> String { String(uuid.description.prefix(8)) }

    /// Shortens text to one line of at most `limit` characters.
    static func clip(_ text: String, _ limit: Int = 60) -> String {
        let line = text.split(whereSeparator: \.isNewline).joined(separator: " ⏎ ")
        return line.count <= limit ? line : String(line.prefix(limit - 1)) + "…"
    }

    /// One line per event: sequence, time, session, version, type, summary.
    static func line(_ envelope: EventEnvelope) -> String {
        let version = "v" + String(envelope.streamVersion.rawValue)
        return row(
            envelope,
            envelope.recordedAt.description + "  " + short(envelope.stream.uuid) + "  " + version.padding(to: 5),
            summary(envelope.event)
        )
    }

    /// One line per event of a server: sequence, the run's label (`run 2`), type, summary;
    /// a run's request shows its full id.
    static func serverLine(_ envelope: EventEnvelope, run label: String?) -> String {
        var text = summary(envelope.event)
        if case .runRequested = envelope.event, let run = envelope.runID { text = "\(run)  " + text }
        return row(envelope, (label ?? "session").padding(to: 8) + " ", text)
    }

    /// The sequence right-aligned, `columns`, the type in its column, then `text`.
    private static func row(_ envelope: EventEnvelope, _ columns: String, _ text: String) -> String {
        let sequence = String(envelope.sequence.rawValue)
        let line =
            String(repeating: " ", count: max(0, 7 - sequence.count)) + sequence + "  " + columns + " "
            + envelope.type.rawValue.padding(to: 24) + " " + text
        return line.trimmingTrailingSpaces()
    }

    /// What an event says, in a few words.
    static func summary(_ event: SessionEvent) -> String {
        switch event {
        case .sessionCreated(let e):
            "agent=\(e.agentID)" + (e.tags.isEmpty ? "" : " tags=\(e.tags.joined(separator: ","))")
        case .sessionForked(let e):
            "from \(short(e.parentSessionID.uuid)) at sequence \(e.forkedAt.rawValue) agent=\(e.agentID)"
        case .sessionActivated: ""
        case .sessionCompleted(let e): e.summary.map { clip($0) } ?? ""
        case .sessionFailed(let e): clip(e.reason)
        case .sessionArchived: ""
        case .runRequested(let e):
            "\(e.messages.count) message\(e.messages.count == 1 ? "" : "s")"
                + (e.messages.last.map { ": \"\(clip($0.content, 48))\"" } ?? "")
        case .runQueued(let e): "position \(e.position): \(clip(e.reason, 48))"
        case .runStarted(let e): "provider=\(e.provider)" + (e.model.map { " model=\($0)" } ?? "")
        case .runCompleted(let e): e.outputText.map { "\"\(clip($0, 56))\"" } ?? ""
        case .runFailed(let e): "\(e.failure.kind): \(clip(e.failure.message, 56))"
        case .runCancelled(let e): e.reason.rawValue + (e.message.map { ": \(clip($0, 48))" } ?? "")
        case .routingDecided(let e): "attempt \(e.attempt) → \(e.chosen ?? "none") (\(e.strategy))"
        case .routingFailedOver(let e): "\(e.from) → \(e.to ?? "none"): \(e.failure.kind)"
        case .providerHealthChanged(let e): "\(e.provider): \(e.previous) → \(e.current) (\(e.reason))"
        case .providerWarning(let e): "\(e.provider): \(clip(e.message, 56))"
        case .messageStreamed(let e): "\(e.role): \"\(clip(e.delta, 56))\""
        case .messageReceived(let e): "\(e.role): \"\(clip(e.content, 56))\""
        case .toolCallRequested(let e): "\(e.name) \(clip(e.input.description, 48)) (waits)"
        case .toolCallStarted(let e): "\(e.name) \(clip(e.input.description, 48))"
        case .toolCallCompleted(let e): (e.isError ? "failed: " : "") + "\"\(clip(e.output, 48))\""
        case .workspaceWorktreeCreated(let e):
            "\(e.path) from \(e.baseSnapshot)"
                + (e.copiedIgnored.map { ", \($0.count) ignored file\($0.count == 1 ? "" : "s") copied" } ?? "")
        case .workspaceWorktreeApplied(let e): "\(e.files) file\(e.files == 1 ? "" : "s") applied to \(e.to)"
        case .workspaceWorktreeRemoved(let e): "\(e.path) removed: \(e.reason)"
        case .toolCallRefused(let e): "\(e.name) refused by the provider: \"\(clip(e.reason, 40))\""
        case .tokenUsageUpdated(let e):
            "+\(e.delta.input) in, +\(e.delta.output) out"
                + (e.delta.cacheRead + e.delta.cacheWrite > 0
                    ? ", +\(e.delta.cacheRead + e.delta.cacheWrite) cache" : "")
        case .policyEvaluated(let e): "\(e.policies.joined(separator: "+")): \(e.outcome)"
        case .policyViolated(let e): "\(e.policy)/\(e.rule) → \(e.action): \(clip(e.message, 40))"
        case .toolApprovalRequested(let e):
            "\(e.tool) (\(e.policy)/\(e.rule)) \(e.canBlock ? "waits for" : "asks") asm approve or deny \(e.approvalID)"
        case .toolApprovalResolved(let e):
            (e.approved ? "approved" : "denied") + " \(e.approvalID)" + (e.resolvedBy.map { " by \($0)" } ?? "")
                + (e.reason.map { ": \(clip($0, 40))" } ?? "")
        case .continuationApplied(let e): "\(e.requested) → \(e.applied): \(clip(e.reason, 40))"
        case .workspaceSnapshotTaken(let e): "\(e.phase) \(e.strategy) \(e.path)"
        case .workspaceDiffComputed(let e): "\(count(e.filesChanged, "file")), +\(e.insertions) -\(e.deletions)"
        case .workspaceRolledBack(let e): "to \(e.toSnapshot): \(e.restored) restored, \(e.removed) removed"
        case .artifactStored(let e): "\(e.artifact) (\(e.bytes) bytes)"
        case .consumerCheckpointed(let e): "\(e.consumer) at \(e.position)"
        case .consumerReset(let e): "\(e.consumer): \(e.from) → \(e.to)"
        case .chainUpgraded(let e): "hash chain version \(e.fromVersion) → \(e.toVersion) from the next event"
        case .eventExpunged(let e):
            "\(e.sequences.map { String($0.rawValue) }.joined(separator: ", ")) by \(e.by): \(clip(e.reason, 60))"
        case .opaque(let e):
            switch e.reason {
            case .expunged(let digest): "(expunged; \(digest.prefix(19))…)"
            case .unknownType: "(unknown to this build) \(clip(e.payloadText, 40))"
            case .newerSchemaVersion(let supported):
                "(schema v\(e.schemaVersion) > v\(supported)) \(clip(e.payloadText, 30))"
            case .undecodable(let why): "(undecodable: \(clip(why, 40)))"
            case .appendedRaw: clip(e.payloadText, 48)
            }
        }
    }

    /// One event as a JSON object: `schema_version` first, then the header, then the stored payload.
    static func json(_ event: RecordedEvent) -> String {
        String(decoding: EventJSON.object(event), as: UTF8.self)
    }

    /// A typed event in the same shape as ``json(_:)-(RecordedEvent)``.
    static func json(_ envelope: EventEnvelope) -> String {
        String(decoding: EventJSON.object(envelope), as: UTF8.self)
    }

    /// `1 file`, `2 files`.
    static func count(_ number: Int, _ noun: String) -> String {
        "\(number) \(noun)\(number == 1 ? "" : "s")"
    }

    /// An event as `{"type": ..., "payload": ...}`, canonical.
    static func payloadJSON(_ event: SessionEvent) -> String {
        let encoded = try? EventCodec().encode(event)
        return "{\"type\":\"\(event.type.rawValue)\",\"payload\":"
            + (encoded.map { String(decoding: $0.payload, as: UTF8.self) } ?? "null") + "}"
    }

    /// An event's payload as a JSON value, with its type.
    static func payloadValue(_ event: SessionEvent) -> JSONValue {
        let payload = (try? EventCodec().encode(event)).flatMap { try? JSONValue(parsing: $0.payload) }
        return .object([JSONMember("type", .string(event.type.rawValue)), JSONMember("payload", payload ?? .null)])
    }

    /// A value as JSON in its declared field order, with `schema_version` first.
    static func json(_ value: some Encodable, schemaVersion: Int = 1) -> String {
        let body = (try? ReportEncoder(sortsKeys: false).encode(value)) ?? Array("{}".utf8)
        var text = "{\"schema_version\":\(schemaVersion)"
        if body.count > 2 { text += "," + String(decoding: body.dropFirst(), as: UTF8.self) } else { text += "}" }
        return text
    }

    /// Rows aligned in columns, numbers to the right.
    static func table(_ rows: [[String]], rightAligned: Set<Int> = []) -> [String] {
        guard let width = rows.first?.count else { return [] }
        let widths = (0..<width).map { column in rows.map { $0[column].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { column, cell in
                let pad = String(repeating: " ", count: widths[column] - cell.count)
                return rightAligned.contains(column) ? pad + cell : cell + pad
            }.joined(separator: "  ").trimmingTrailingSpaces()
        }
    }

    static func usd(nano: Int64) -> String { PriceTable.usd(nano) }
}

extension String {
    /// Spaces added up to `width` characters.
    func padding(to width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }

    func trimmingTrailingSpaces() -> String {
        var text = self
        while text.last == " " { text.removeLast() }
        return text
    }

    /// Six decimals, without Foundation's formatting.
    init(format6 value: Double) {
        guard let scaled = Int64(exactly: (value * 1_000_000).rounded()) else {
            self = value.description
            return
        }
        let whole = scaled / 1_000_000
        let fraction = abs(scaled % 1_000_000)
        let digits = String(fraction)
        self = "\(whole)." + String(repeating: "0", count: 6 - digits.count) + digits
    }
}
