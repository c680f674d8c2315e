/// Every fact the log records, typed; ``opaque(_:)`` for what this build cannot type.
///
/// `switch` over it without `default:` so that a new case breaks the build wherever it
/// matters.
public enum SessionEvent: Hashable, Sendable {
    case sessionCreated(SessionCreated)
    case sessionActivated(SessionActivated)
    case sessionCompleted(SessionCompleted)
    case sessionFailed(SessionFailed)
    case sessionArchived(SessionArchived)
    case runRequested(RunRequested)
    case runQueued(RunQueued)
    case runStarted(RunStarted)
    case runCompleted(RunCompleted)
    case runFailed(RunFailed)
    case runCancelled(RunCancelled)
    case routingDecided(RoutingDecided)
    case routingFailedOver(RoutingFailedOver)
    case providerHealthChanged(ProviderHealthChanged)
    case providerWarning(ProviderWarning)
    case messageStreamed(MessageStreamed)
    case messageReceived(MessageReceived)
    case toolCallRequested(ToolCallRequested)
    case toolCallStarted(ToolCallStarted)
    case toolCallCompleted(ToolCallCompleted)
    case tokenUsageUpdated(TokenUsageUpdated)
    case policyEvaluated(PolicyEvaluated)
    case policyViolated(PolicyViolated)
    case toolApprovalRequested(ToolApprovalRequested)
    case toolApprovalResolved(ToolApprovalResolved)
    case continuationApplied(ContinuationApplied)
    case workspaceSnapshotTaken(WorkspaceSnapshotTaken)
    case workspaceDiffComputed(WorkspaceDiffComputed)
    case workspaceRolledBack(WorkspaceRolledBack)
    case artifactStored(ArtifactStored)
    case consumerCheckpointed(ConsumerCheckpointed)
    case consumerReset(ConsumerReset)
    case chainUpgraded(ChainUpgraded)
    case eventExpunged(EventExpunged)
    case toolCallRefused(ToolCallRefused)
    case workspaceWorktreeCreated(WorkspaceWorktreeCreated)
    case workspaceWorktreeApplied(WorkspaceWorktreeApplied)
    case workspaceWorktreeRemoved(WorkspaceWorktreeRemoved)
    case sessionForked(SessionForked)
    /// A type or version this build does not know, kept whole.
    case opaque(OpaqueEvent)
}

extension SessionEvent {
    /// Every payload type of the vocabulary and the case that carries it, in the order of
    /// the cases. A type missing here cannot be decoded; a test holds this list to the
    /// declarations and to the README's table.
    public static let vocabulary: [Registered] = [
        Registered(SessionCreated.self, as: SessionEvent.sessionCreated),
        Registered(SessionActivated.self, as: SessionEvent.sessionActivated),
        Registered(SessionCompleted.self, as: SessionEvent.sessionCompleted),
        Registered(SessionFailed.self, as: SessionEvent.sessionFailed),
        Registered(SessionArchived.self, as: SessionEvent.sessionArchived),
        Registered(RunRequested.self, as: SessionEvent.runRequested),
        Registered(RunQueued.self, as: SessionEvent.runQueued),
        Registered(RunStarted.self, as: SessionEvent.runStarted),
        Registered(RunCompleted.self, as: SessionEvent.runCompleted),
        Registered(RunFailed.self, as: SessionEvent.runFailed),
        Registered(RunCancelled.self, as: SessionEvent.runCancelled),
        Registered(RoutingDecided.self, as: SessionEvent.routingDecided),
        Registered(RoutingFailedOver.self, as: SessionEvent.routingFailedOver),
        Registered(ProviderHealthChanged.self, as: SessionEvent.providerHealthChanged),
        Registered(ProviderWarning.self, as: SessionEvent.providerWarning),
        Registered(MessageStreamed.self, as: SessionEvent.messageStreamed),
        Registered(MessageReceived.self, as: SessionEvent.messageReceived),
        Registered(ToolCallRequested.self, as: SessionEvent.toolCallRequested),
        Registered(ToolCallStarted.self, as: SessionEvent.toolCallStarted),
        Registered(ToolCallCompleted.self, as: SessionEvent.toolCallCompleted),
        Registered(TokenUsageUpdated.self, as: SessionEvent.tokenUsageUpdated),
        Registered(PolicyEvaluated.self, as: SessionEvent.policyEvaluated),
        Registered(PolicyViolated.self, as: SessionEvent.policyViolated),
        Registered(ToolApprovalRequested.self, as: SessionEvent.toolApprovalRequested),
        Registered(ToolApprovalResolved.self, as: SessionEvent.toolApprovalResolved),
        Registered(ContinuationApplied.self, as: SessionEvent.continuationApplied),
        Registered(WorkspaceSnapshotTaken.self, as: SessionEvent.workspaceSnapshotTaken),
        Registered(WorkspaceDiffComputed.self, as: SessionEvent.workspaceDiffComputed),
        Registered(WorkspaceRolledBack.self, as: SessionEvent.workspaceRolledBack),
        Registered(ArtifactStored.self, as: SessionEvent.artifactStored),
        Registered(ConsumerCheckpointed.self, as: SessionEvent.consumerCheckpointed),
        Registered(ConsumerReset.self, as: SessionEvent.consumerReset),
        Registered(ChainUpgraded.self, as: SessionEvent.chainUpgraded),
        Registered(EventExpunged.self, as: SessionEvent.eventExpunged),
        // Added after the digests of the first kinds were recorded: new kinds go last.
        Registered(ToolCallRefused.self, as: SessionEvent.toolCallRefused),
        Registered(WorkspaceWorktreeCreated.self, as: SessionEvent.workspaceWorktreeCreated),
        Registered(WorkspaceWorktreeApplied.self, as: SessionEvent.workspaceWorktreeApplied),
        Registered(WorkspaceWorktreeRemoved.self, as: SessionEvent.workspaceWorktreeRemoved),
        Registered(SessionForked.self, as: SessionEvent.sessionForked),
    ]

    /// The payload types of the vocabulary, in the order of the cases.
    public static let payloadTypes: [any EventPayload.Type] = vocabulary.map(\.payloadType)

    /// Calls `visitor` with the typed payload, as its own type (no existential box, no copy
    /// to the heap); `nil` for an opaque event. The hot paths (encoding, type lookups) go
    /// through here.
    @inline(__always)
    public func visit<V: PayloadVisitor>(_ visitor: inout V) throws(V.Failure) -> V.Result? {
        switch self {
        case .sessionCreated(let payload): try visitor.visit(payload)
        case .sessionActivated(let payload): try visitor.visit(payload)
        case .sessionCompleted(let payload): try visitor.visit(payload)
        case .sessionFailed(let payload): try visitor.visit(payload)
        case .sessionArchived(let payload): try visitor.visit(payload)
        case .runRequested(let payload): try visitor.visit(payload)
        case .runQueued(let payload): try visitor.visit(payload)
        case .runStarted(let payload): try visitor.visit(payload)
        case .runCompleted(let payload): try visitor.visit(payload)
        case .runFailed(let payload): try visitor.visit(payload)
        case .runCancelled(let payload): try visitor.visit(payload)
        case .routingDecided(let payload): try visitor.visit(payload)
        case .routingFailedOver(let payload): try visitor.visit(payload)
        case .providerHealthChanged(let payload): try visitor.visit(payload)
        case .providerWarning(let payload): try visitor.visit(payload)
        case .messageStreamed(let payload): try visitor.visit(payload)
        case .messageReceived(let payload): try visitor.visit(payload)
        case .toolCallRequested(let payload): try visitor.visit(payload)
        case .toolCallStarted(let payload): try visitor.visit(payload)
        case .toolCallCompleted(let payload): try visitor.visit(payload)
        case .tokenUsageUpdated(let payload): try visitor.visit(payload)
        case .policyEvaluated(let payload): try visitor.visit(payload)
        case .policyViolated(let payload): try visitor.visit(payload)
        case .toolApprovalRequested(let payload): try visitor.visit(payload)
        case .toolApprovalResolved(let payload): try visitor.visit(payload)
        case .continuationApplied(let payload): try visitor.visit(payload)
        case .workspaceSnapshotTaken(let payload): try visitor.visit(payload)
        case .workspaceDiffComputed(let payload): try visitor.visit(payload)
        case .workspaceRolledBack(let payload): try visitor.visit(payload)
        case .artifactStored(let payload): try visitor.visit(payload)
        case .consumerCheckpointed(let payload): try visitor.visit(payload)
        case .consumerReset(let payload): try visitor.visit(payload)
        case .chainUpgraded(let payload): try visitor.visit(payload)
        case .eventExpunged(let payload): try visitor.visit(payload)
        case .toolCallRefused(let payload): try visitor.visit(payload)
        case .workspaceWorktreeCreated(let payload): try visitor.visit(payload)
        case .workspaceWorktreeApplied(let payload): try visitor.visit(payload)
        case .workspaceWorktreeRemoved(let payload): try visitor.visit(payload)
        case .sessionForked(let payload): try visitor.visit(payload)
        case .opaque: nil
        }
    }

    /// Appends the typed payload's canonical JSON to `writer` and says its type and version;
    /// `nil` (nothing written) for an opaque event. The append path's encoder: specialized
    /// here, for each payload type, so callers in other modules pay no generic dispatch.
    public func writePayload(to writer: inout JSONWriter) throws(JSONError) -> (type: EventType, version: Int)? {
        var encoding = PayloadEncoding(writer: JSONWriter(capacity: 0))
        swap(&encoding.writer, &writer)
        defer { swap(&encoding.writer, &writer) }
        return try visit(&encoding)
    }

    /// The typed payload, or `nil` for an opaque event.
    public var payload: (any EventPayload)? {
        var boxing = Boxing()
        return visit(&boxing)
    }

    /// Wraps a typed payload.
    public init(_ payload: any EventPayload) {
        guard let entry = EventCodec.entries[Swift.type(of: payload).eventType], let event = entry.wrap(payload) else {
            preconditionFailure("\(Swift.type(of: payload)) is not part of the SessionEvent vocabulary")
        }
        self = event
    }

    /// The stored type name.
    public var type: EventType {
        if case .opaque(let opaque) = self { return opaque.type }
        var lookup = TypeLookup()
        return visit(&lookup)?.type ?? "opaque"
    }

    /// The schema version the payload is (or was) written at.
    public var schemaVersion: Int {
        if case .opaque(let opaque) = self { return opaque.schemaVersion }
        var lookup = TypeLookup()
        return visit(&lookup)?.version ?? 1
    }
}

/// Something done with a typed payload as its own type: see ``SessionEvent/visit(_:)``.
public protocol PayloadVisitor {
    associatedtype Result
    associatedtype Failure: Error = Never
    mutating func visit<P: EventPayload>(_ payload: P) throws(Failure) -> Result
}

private struct Boxing: PayloadVisitor {
    func visit<P: EventPayload>(_ payload: P) -> any EventPayload { payload }
}

private struct TypeLookup: PayloadVisitor {
    func visit<P: EventPayload>(_ payload: P) -> (type: EventType, version: Int) { (P.eventType, P.schemaVersion) }
}

/// Writes a payload's canonical JSON and says its type and version.
public struct PayloadEncoding: PayloadVisitor {
    public var writer: JSONWriter

    public init(writer: JSONWriter) { self.writer = writer }

    public mutating func visit<P: EventPayload>(_ payload: P) throws(JSONError) -> (type: EventType, version: Int) {
        try payload.write(to: &writer)
        return (P.eventType, P.schemaVersion)
    }
}
