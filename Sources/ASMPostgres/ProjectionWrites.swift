import ASMCore

/// The projection writes an event causes, as data: what `asm_project()` applies in the
/// append's transaction, at the event's position.
///
/// The same decisions as the SQLite projector (a session's or run's lifecycle, a whole
/// message, token usage, approvals), computed here from the typed event so that the database
/// never parses a payload. Each write depends only on the event and the rows earlier events
/// wrote, so applying the log in order gives the same tables however it was batched.
struct ProjectionWrite: Equatable, Sendable {
    /// The write `asm_project()` performs (see its CASE).
    var operation: Int32
    /// Its arguments, as text or null.
    var arguments: [String?]

    static func writes(for event: SessionEvent) -> [ProjectionWrite] {
        switch event {
        case .sessionCreated(let created):
            guard let parent = created.parentSessionID else { return [sessionCreated(created)] }
            return [
                sessionCreated(created),
                .init(
                    operation: 14,
                    arguments: [parent.description, created.parentRunID?.description, created.parentCallID]
                ),
            ]
        case .sessionForked(let forked):
            return [
                sessionCreated(SessionCreated(agentID: forked.agentID, metadata: forked.metadata, tags: forked.tags)),
                .init(
                    operation: 13,
                    arguments: [forked.parentSessionID.description, String(forked.forkedAt.rawValue)]
                ),
            ]
        case .sessionActivated: return [status("active", nil)]
        case .sessionCompleted: return [status("completed", nil)]
        case .sessionFailed(let failed): return [status("failed", failed.reason)]
        case .sessionArchived: return [status("archived", nil)]
        case .runRequested(let requested):
            return [.init(operation: 3, arguments: [requested.provider, requested.model])]
        case .runQueued: return [.init(operation: 4, arguments: [])]
        case .runStarted(let started):
            return [.init(operation: 5, arguments: [started.provider, started.model, started.providerSessionID])]
        case .runCompleted(let completed):
            return [runEnded("completed", providerSessionID: completed.providerSessionID)]
        case .runFailed(let failed):
            return [runEnded("failed", kind: failed.failure.kind.rawValue, message: failed.failure.message)]
        case .runCancelled(let cancelled):
            return [runEnded("cancelled", message: cancelled.message, cancelReason: cancelled.reason.rawValue)]
        case .messageReceived(let message): return [.init(operation: 7, arguments: [message.role.rawValue])]
        case .tokenUsageUpdated(let usage): return [tokenUsage(usage)]
        case .toolApprovalRequested(let requested):
            return [
                .init(
                    operation: 9,
                    arguments: [
                        requested.approvalID, requested.callID, requested.tool,
                        (try? requested.input?.jsonBytes()).map { String(decoding: $0, as: UTF8.self) },
                        requested.policy, requested.rule, requested.canBlock ? "1" : "0",
                        requested.deadline.map { String($0.microseconds) },
                    ]
                )
            ]
        case .toolApprovalResolved(let resolved):
            return [
                .init(
                    operation: 10,
                    arguments: [
                        resolved.approvalID, resolved.approved ? "approved" : "denied", resolved.resolvedBy,
                        resolved.reason,
                    ]
                )
            ]
        case .routingDecided, .routingFailedOver, .providerHealthChanged, .providerWarning, .messageStreamed,
            .toolCallRequested, .toolCallStarted, .toolCallCompleted, .toolCallRefused, .policyEvaluated,
            .policyViolated, .workspaceWorktreeCreated, .workspaceWorktreeApplied, .workspaceWorktreeRemoved,
            .continuationApplied, .workspaceSnapshotTaken, .workspaceDiffComputed, .workspaceRolledBack,
            .artifactStored, .consumerCheckpointed, .consumerReset, .chainUpgraded, .eventExpunged:
            return []
        case .opaque(let opaque):
            guard case .expunged = opaque.reason else { return [] }
            return expunged(opaque.type)
        }
    }

    /// An expunged event still says what happened, without the words.
    private static func expunged(_ type: EventType) -> [ProjectionWrite] {
        switch type {
        case .sessionCreated: [sessionCreated(SessionCreated(agentID: "(expunged)"))]
        case .sessionFailed: [status("failed", "(expunged)")]
        case .sessionCompleted: [status("completed", nil)]
        case .runRequested: [.init(operation: 3, arguments: [nil, nil])]
        case .runCompleted: [runEnded("completed")]
        case .runFailed: [runEnded("failed", kind: "expunged", message: "(expunged)")]
        case .runCancelled: [runEnded("cancelled", cancelReason: "requested")]
        case .messageReceived: [.init(operation: 7, arguments: ["expunged"])]
        default: []
        }
    }

    private static func sessionCreated(_ created: SessionCreated) -> ProjectionWrite {
        var metadata = JSONWriter(capacity: 128)
        var object = metadata.beginObject()
        for (key, value) in created.metadata.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            metadata.key(key, in: &object)
            metadata.string(value)
        }
        metadata.endObject(object)
        var tags = JSONWriter(capacity: 64)
        var array = tags.beginArray()
        for tag in created.tags {
            tags.element(in: &array)
            tags.string(tag)
        }
        tags.endArray(array)
        return ProjectionWrite(
            operation: 1,
            arguments: [
                created.agentID, String(decoding: metadata.bytes, as: UTF8.self),
                String(decoding: tags.bytes, as: UTF8.self),
            ]
        )
    }

    private static func status(_ status: String, _ reason: String?) -> ProjectionWrite {
        ProjectionWrite(operation: 2, arguments: [status, reason])
    }

    private static func runEnded(
        _ status: String,
        kind: String? = nil,
        message: String? = nil,
        cancelReason: String? = nil,
        providerSessionID: String? = nil
    ) -> ProjectionWrite {
        ProjectionWrite(operation: 6, arguments: [status, kind, message, cancelReason, providerSessionID])
    }

    private static func tokenUsage(_ usage: TokenUsageUpdated) -> ProjectionWrite {
        // A reported cost beyond what nano-dollars in 64 bits hold (about 9.2 billion USD) is not a cost.
        let reported = usage.reportedCostUSD.flatMap { Int64(exactly: ($0 * 1e9).rounded()) }
        return ProjectionWrite(
            operation: 8,
            arguments: [
                usage.provider, usage.model, String(usage.delta.input), String(usage.delta.output),
                String(usage.delta.cacheRead), String(usage.delta.cacheWrite), String(usage.delta.reasoning),
                String(usage.costNanoUSD ?? 0), reported.map { String($0) }, usage.priceTable,
            ]
        )
    }

    /// The arguments as a JSON array of strings and nulls (what `asm_project()` reads).
    var argumentsJSON: String {
        var writer = JSONWriter(capacity: 64)
        var array = writer.beginArray()
        for argument in arguments {
            writer.element(in: &array)
            if let argument { writer.string(argument) } else { writer.null() }
        }
        writer.endArray(array)
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}
