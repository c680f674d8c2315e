/// The name of an event type as stored in the log's `type` column, such as `run.started`.
///
/// Names are `area.past_tense_fact` in lowercase ASCII. A name this build does not know
/// is still a valid type: its events are read back as ``OpaqueEvent``s.
public struct EventType: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(_ rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }

    public var description: String { rawValue }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }

    /// The longest name the log accepts.
    public static let maximumLength = 64

    /// Whether the name is 1 to 64 characters of `a-z`, `0-9`, `.`, `_` and `-`, starting with a letter.
    public var isWellFormed: Bool {
        let utf8 = rawValue.utf8
        guard let first = utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first),
            utf8.count <= Self.maximumLength
        else { return false }
        return utf8.allSatisfy { byte in
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte)
                || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
        }
    }

    /// The part before the first dot (`run` for `run.started`).
    public var area: Substring { rawValue.prefix { $0 != "." } }

    /// The area of the type names of a kind of payload (`run` matches `run.started`, `run.failed`...).
    public func isInArea(_ area: String) -> Bool { self.area == area }
}

// MARK: - The vocabulary

extension EventType {
    public static var sessionCreated: EventType { SessionCreated.eventType }
    public static var sessionForked: EventType { SessionForked.eventType }
    public static var sessionActivated: EventType { SessionActivated.eventType }
    public static var sessionCompleted: EventType { SessionCompleted.eventType }
    public static var sessionFailed: EventType { SessionFailed.eventType }
    public static var sessionArchived: EventType { SessionArchived.eventType }
    public static var runRequested: EventType { RunRequested.eventType }
    public static var runQueued: EventType { RunQueued.eventType }
    public static var runStarted: EventType { RunStarted.eventType }
    public static var runCompleted: EventType { RunCompleted.eventType }
    public static var runFailed: EventType { RunFailed.eventType }
    public static var runCancelled: EventType { RunCancelled.eventType }
    public static var routingDecided: EventType { RoutingDecided.eventType }
    public static var routingFailedOver: EventType { RoutingFailedOver.eventType }
    public static var providerHealthChanged: EventType { ProviderHealthChanged.eventType }
    public static var providerWarning: EventType { ProviderWarning.eventType }
    public static var messageStreamed: EventType { MessageStreamed.eventType }
    public static var messageReceived: EventType { MessageReceived.eventType }
    public static var toolCallRequested: EventType { ToolCallRequested.eventType }
    public static var toolCallStarted: EventType { ToolCallStarted.eventType }
    public static var toolCallCompleted: EventType { ToolCallCompleted.eventType }
    public static var toolCallRefused: EventType { ToolCallRefused.eventType }
    public static var workspaceWorktreeCreated: EventType { WorkspaceWorktreeCreated.eventType }
    public static var workspaceWorktreeApplied: EventType { WorkspaceWorktreeApplied.eventType }
    public static var workspaceWorktreeRemoved: EventType { WorkspaceWorktreeRemoved.eventType }
    public static var tokenUsageUpdated: EventType { TokenUsageUpdated.eventType }
    public static var policyEvaluated: EventType { PolicyEvaluated.eventType }
    public static var policyViolated: EventType { PolicyViolated.eventType }
    public static var toolApprovalRequested: EventType { ToolApprovalRequested.eventType }
    public static var toolApprovalResolved: EventType { ToolApprovalResolved.eventType }
    public static var continuationApplied: EventType { ContinuationApplied.eventType }
    public static var workspaceSnapshotTaken: EventType { WorkspaceSnapshotTaken.eventType }
    public static var workspaceDiffComputed: EventType { WorkspaceDiffComputed.eventType }
    public static var workspaceRolledBack: EventType { WorkspaceRolledBack.eventType }
    public static var artifactStored: EventType { ArtifactStored.eventType }
    public static var consumerCheckpointed: EventType { ConsumerCheckpointed.eventType }
    public static var consumerReset: EventType { ConsumerReset.eventType }
    public static var chainUpgraded: EventType { ChainUpgraded.eventType }
    public static var eventExpunged: EventType { EventExpunged.eventType }
}
