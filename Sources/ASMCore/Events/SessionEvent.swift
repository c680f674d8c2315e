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
    /// The payload types of the vocabulary, in the order of the cases.
    public static let payloadTypes: [any EventPayload.Type] = [
        SessionCreated.self,
        SessionActivated.self,
        SessionCompleted.self,
        SessionFailed.self,
        SessionArchived.self,
        RunRequested.self,
        RunQueued.self,
        RunStarted.self,
        RunCompleted.self,
        RunFailed.self,
        RunCancelled.self,
        RoutingDecided.self,
        RoutingFailedOver.self,
        ProviderHealthChanged.self,
        ProviderWarning.self,
        MessageStreamed.self,
        MessageReceived.self,
        ToolCallRequested.self,
        ToolCallStarted.self,
        ToolCallCompleted.self,
        TokenUsageUpdated.self,
        PolicyEvaluated.self,
        PolicyViolated.self,
        ToolApprovalRequested.self,
        ToolApprovalResolved.self,
        ContinuationApplied.self,
        WorkspaceSnapshotTaken.self,
        WorkspaceDiffComputed.self,
        WorkspaceRolledBack.self,
        ArtifactStored.self,
        ConsumerCheckpointed.self,
        ConsumerReset.self,
    ]

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
        switch payload {
        case let payload as SessionCreated: self = .sessionCreated(payload)
        case let payload as SessionActivated: self = .sessionActivated(payload)
        case let payload as SessionCompleted: self = .sessionCompleted(payload)
        case let payload as SessionFailed: self = .sessionFailed(payload)
        case let payload as SessionArchived: self = .sessionArchived(payload)
        case let payload as RunRequested: self = .runRequested(payload)
        case let payload as RunQueued: self = .runQueued(payload)
        case let payload as RunStarted: self = .runStarted(payload)
        case let payload as RunCompleted: self = .runCompleted(payload)
        case let payload as RunFailed: self = .runFailed(payload)
        case let payload as RunCancelled: self = .runCancelled(payload)
        case let payload as RoutingDecided: self = .routingDecided(payload)
        case let payload as RoutingFailedOver: self = .routingFailedOver(payload)
        case let payload as ProviderHealthChanged: self = .providerHealthChanged(payload)
        case let payload as ProviderWarning: self = .providerWarning(payload)
        case let payload as MessageStreamed: self = .messageStreamed(payload)
        case let payload as MessageReceived: self = .messageReceived(payload)
        case let payload as ToolCallRequested: self = .toolCallRequested(payload)
        case let payload as ToolCallStarted: self = .toolCallStarted(payload)
        case let payload as ToolCallCompleted: self = .toolCallCompleted(payload)
        case let payload as TokenUsageUpdated: self = .tokenUsageUpdated(payload)
        case let payload as PolicyEvaluated: self = .policyEvaluated(payload)
        case let payload as PolicyViolated: self = .policyViolated(payload)
        case let payload as ToolApprovalRequested: self = .toolApprovalRequested(payload)
        case let payload as ToolApprovalResolved: self = .toolApprovalResolved(payload)
        case let payload as ContinuationApplied: self = .continuationApplied(payload)
        case let payload as WorkspaceSnapshotTaken: self = .workspaceSnapshotTaken(payload)
        case let payload as WorkspaceDiffComputed: self = .workspaceDiffComputed(payload)
        case let payload as WorkspaceRolledBack: self = .workspaceRolledBack(payload)
        case let payload as ArtifactStored: self = .artifactStored(payload)
        case let payload as ConsumerCheckpointed: self = .consumerCheckpointed(payload)
        case let payload as ConsumerReset: self = .consumerReset(payload)
        default:
            preconditionFailure("\(Swift.type(of: payload)) is not part of the SessionEvent vocabulary")
        }
    }

    /// The stored type name.
    public var type: EventType {
        switch self {
        case .sessionCreated: SessionCreated.eventType
        case .sessionActivated: SessionActivated.eventType
        case .sessionCompleted: SessionCompleted.eventType
        case .sessionFailed: SessionFailed.eventType
        case .sessionArchived: SessionArchived.eventType
        case .runRequested: RunRequested.eventType
        case .runQueued: RunQueued.eventType
        case .runStarted: RunStarted.eventType
        case .runCompleted: RunCompleted.eventType
        case .runFailed: RunFailed.eventType
        case .runCancelled: RunCancelled.eventType
        case .routingDecided: RoutingDecided.eventType
        case .routingFailedOver: RoutingFailedOver.eventType
        case .providerHealthChanged: ProviderHealthChanged.eventType
        case .providerWarning: ProviderWarning.eventType
        case .messageStreamed: MessageStreamed.eventType
        case .messageReceived: MessageReceived.eventType
        case .toolCallRequested: ToolCallRequested.eventType
        case .toolCallStarted: ToolCallStarted.eventType
        case .toolCallCompleted: ToolCallCompleted.eventType
        case .tokenUsageUpdated: TokenUsageUpdated.eventType
        case .policyEvaluated: PolicyEvaluated.eventType
        case .policyViolated: PolicyViolated.eventType
        case .toolApprovalRequested: ToolApprovalRequested.eventType
        case .toolApprovalResolved: ToolApprovalResolved.eventType
        case .continuationApplied: ContinuationApplied.eventType
        case .workspaceSnapshotTaken: WorkspaceSnapshotTaken.eventType
        case .workspaceDiffComputed: WorkspaceDiffComputed.eventType
        case .workspaceRolledBack: WorkspaceRolledBack.eventType
        case .artifactStored: ArtifactStored.eventType
        case .consumerCheckpointed: ConsumerCheckpointed.eventType
        case .consumerReset: ConsumerReset.eventType
        case .opaque(let opaque): opaque.type
        }
    }

    /// The schema version the payload is (or was) written at.
    public var schemaVersion: Int {
        switch self {
        case .sessionCreated: SessionCreated.schemaVersion
        case .sessionActivated: SessionActivated.schemaVersion
        case .sessionCompleted: SessionCompleted.schemaVersion
        case .sessionFailed: SessionFailed.schemaVersion
        case .sessionArchived: SessionArchived.schemaVersion
        case .runRequested: RunRequested.schemaVersion
        case .runQueued: RunQueued.schemaVersion
        case .runStarted: RunStarted.schemaVersion
        case .runCompleted: RunCompleted.schemaVersion
        case .runFailed: RunFailed.schemaVersion
        case .runCancelled: RunCancelled.schemaVersion
        case .routingDecided: RoutingDecided.schemaVersion
        case .routingFailedOver: RoutingFailedOver.schemaVersion
        case .providerHealthChanged: ProviderHealthChanged.schemaVersion
        case .providerWarning: ProviderWarning.schemaVersion
        case .messageStreamed: MessageStreamed.schemaVersion
        case .messageReceived: MessageReceived.schemaVersion
        case .toolCallRequested: ToolCallRequested.schemaVersion
        case .toolCallStarted: ToolCallStarted.schemaVersion
        case .toolCallCompleted: ToolCallCompleted.schemaVersion
        case .tokenUsageUpdated: TokenUsageUpdated.schemaVersion
        case .policyEvaluated: PolicyEvaluated.schemaVersion
        case .policyViolated: PolicyViolated.schemaVersion
        case .toolApprovalRequested: ToolApprovalRequested.schemaVersion
        case .toolApprovalResolved: ToolApprovalResolved.schemaVersion
        case .continuationApplied: ContinuationApplied.schemaVersion
        case .workspaceSnapshotTaken: WorkspaceSnapshotTaken.schemaVersion
        case .workspaceDiffComputed: WorkspaceDiffComputed.schemaVersion
        case .workspaceRolledBack: WorkspaceRolledBack.schemaVersion
        case .artifactStored: ArtifactStored.schemaVersion
        case .consumerCheckpointed: ConsumerCheckpointed.schemaVersion
        case .consumerReset: ConsumerReset.schemaVersion
        case .opaque(let opaque): opaque.schemaVersion
        }
    }
}

extension SessionEvent {
    static func decoders() -> [EventType: @Sendable (Int, PayloadDecoder) throws -> SessionEvent] {
        var table: [EventType: @Sendable (Int, PayloadDecoder) throws -> SessionEvent] = [:]
        table[SessionCreated.eventType] = { version, decoder in .sessionCreated(try SessionCreated.decodeStored(version: version, decoder: decoder)) }
        table[SessionActivated.eventType] = { version, decoder in .sessionActivated(try SessionActivated.decodeStored(version: version, decoder: decoder)) }
        table[SessionCompleted.eventType] = { version, decoder in .sessionCompleted(try SessionCompleted.decodeStored(version: version, decoder: decoder)) }
        table[SessionFailed.eventType] = { version, decoder in .sessionFailed(try SessionFailed.decodeStored(version: version, decoder: decoder)) }
        table[SessionArchived.eventType] = { version, decoder in .sessionArchived(try SessionArchived.decodeStored(version: version, decoder: decoder)) }
        table[RunRequested.eventType] = { version, decoder in .runRequested(try RunRequested.decodeStored(version: version, decoder: decoder)) }
        table[RunQueued.eventType] = { version, decoder in .runQueued(try RunQueued.decodeStored(version: version, decoder: decoder)) }
        table[RunStarted.eventType] = { version, decoder in .runStarted(try RunStarted.decodeStored(version: version, decoder: decoder)) }
        table[RunCompleted.eventType] = { version, decoder in .runCompleted(try RunCompleted.decodeStored(version: version, decoder: decoder)) }
        table[RunFailed.eventType] = { version, decoder in .runFailed(try RunFailed.decodeStored(version: version, decoder: decoder)) }
        table[RunCancelled.eventType] = { version, decoder in .runCancelled(try RunCancelled.decodeStored(version: version, decoder: decoder)) }
        table[RoutingDecided.eventType] = { version, decoder in .routingDecided(try RoutingDecided.decodeStored(version: version, decoder: decoder)) }
        table[RoutingFailedOver.eventType] = { version, decoder in .routingFailedOver(try RoutingFailedOver.decodeStored(version: version, decoder: decoder)) }
        table[ProviderHealthChanged.eventType] = { version, decoder in .providerHealthChanged(try ProviderHealthChanged.decodeStored(version: version, decoder: decoder)) }
        table[ProviderWarning.eventType] = { version, decoder in .providerWarning(try ProviderWarning.decodeStored(version: version, decoder: decoder)) }
        table[MessageStreamed.eventType] = { version, decoder in .messageStreamed(try MessageStreamed.decodeStored(version: version, decoder: decoder)) }
        table[MessageReceived.eventType] = { version, decoder in .messageReceived(try MessageReceived.decodeStored(version: version, decoder: decoder)) }
        table[ToolCallRequested.eventType] = { version, decoder in .toolCallRequested(try ToolCallRequested.decodeStored(version: version, decoder: decoder)) }
        table[ToolCallStarted.eventType] = { version, decoder in .toolCallStarted(try ToolCallStarted.decodeStored(version: version, decoder: decoder)) }
        table[ToolCallCompleted.eventType] = { version, decoder in .toolCallCompleted(try ToolCallCompleted.decodeStored(version: version, decoder: decoder)) }
        table[TokenUsageUpdated.eventType] = { version, decoder in .tokenUsageUpdated(try TokenUsageUpdated.decodeStored(version: version, decoder: decoder)) }
        table[PolicyEvaluated.eventType] = { version, decoder in .policyEvaluated(try PolicyEvaluated.decodeStored(version: version, decoder: decoder)) }
        table[PolicyViolated.eventType] = { version, decoder in .policyViolated(try PolicyViolated.decodeStored(version: version, decoder: decoder)) }
        table[ToolApprovalRequested.eventType] = { version, decoder in .toolApprovalRequested(try ToolApprovalRequested.decodeStored(version: version, decoder: decoder)) }
        table[ToolApprovalResolved.eventType] = { version, decoder in .toolApprovalResolved(try ToolApprovalResolved.decodeStored(version: version, decoder: decoder)) }
        table[ContinuationApplied.eventType] = { version, decoder in .continuationApplied(try ContinuationApplied.decodeStored(version: version, decoder: decoder)) }
        table[WorkspaceSnapshotTaken.eventType] = { version, decoder in .workspaceSnapshotTaken(try WorkspaceSnapshotTaken.decodeStored(version: version, decoder: decoder)) }
        table[WorkspaceDiffComputed.eventType] = { version, decoder in .workspaceDiffComputed(try WorkspaceDiffComputed.decodeStored(version: version, decoder: decoder)) }
        table[WorkspaceRolledBack.eventType] = { version, decoder in .workspaceRolledBack(try WorkspaceRolledBack.decodeStored(version: version, decoder: decoder)) }
        table[ArtifactStored.eventType] = { version, decoder in .artifactStored(try ArtifactStored.decodeStored(version: version, decoder: decoder)) }
        table[ConsumerCheckpointed.eventType] = { version, decoder in .consumerCheckpointed(try ConsumerCheckpointed.decodeStored(version: version, decoder: decoder)) }
        table[ConsumerReset.eventType] = { version, decoder in .consumerReset(try ConsumerReset.decodeStored(version: version, decoder: decoder)) }
        return table
    }
}
