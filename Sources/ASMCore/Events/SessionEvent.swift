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
    ]

    /// The payload types of the vocabulary, in the order of the cases.
    public static let payloadTypes: [any EventPayload.Type] = vocabulary.map(\.payloadType)

    /// The typed payload, or `nil` for an opaque event.
    public var payload: (any EventPayload)? {
        switch self {
        case .sessionCreated(let payload): payload
        case .sessionActivated(let payload): payload
        case .sessionCompleted(let payload): payload
        case .sessionFailed(let payload): payload
        case .sessionArchived(let payload): payload
        case .runRequested(let payload): payload
        case .runQueued(let payload): payload
        case .runStarted(let payload): payload
        case .runCompleted(let payload): payload
        case .runFailed(let payload): payload
        case .runCancelled(let payload): payload
        case .routingDecided(let payload): payload
        case .routingFailedOver(let payload): payload
        case .providerHealthChanged(let payload): payload
        case .providerWarning(let payload): payload
        case .messageStreamed(let payload): payload
        case .messageReceived(let payload): payload
        case .toolCallRequested(let payload): payload
        case .toolCallStarted(let payload): payload
        case .toolCallCompleted(let payload): payload
        case .tokenUsageUpdated(let payload): payload
        case .policyEvaluated(let payload): payload
        case .policyViolated(let payload): payload
        case .toolApprovalRequested(let payload): payload
        case .toolApprovalResolved(let payload): payload
        case .continuationApplied(let payload): payload
        case .workspaceSnapshotTaken(let payload): payload
        case .workspaceDiffComputed(let payload): payload
        case .workspaceRolledBack(let payload): payload
        case .artifactStored(let payload): payload
        case .consumerCheckpointed(let payload): payload
        case .consumerReset(let payload): payload
        case .opaque: nil
        }
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
        guard let payload else {
            guard case .opaque(let opaque) = self else { preconditionFailure("typed event without payload") }
            return opaque.type
        }
        return Swift.type(of: payload).eventType
    }

    /// The schema version the payload is (or was) written at.
    public var schemaVersion: Int {
        guard let payload else {
            guard case .opaque(let opaque) = self else { preconditionFailure("typed event without payload") }
            return opaque.schemaVersion
        }
        return Swift.type(of: payload).schemaVersion
    }
}
