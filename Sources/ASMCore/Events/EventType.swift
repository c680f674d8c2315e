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
            (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
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
    public static let sessionCreated: EventType = "session.created"
    public static let sessionActivated: EventType = "session.activated"
    public static let sessionCompleted: EventType = "session.completed"
    public static let sessionFailed: EventType = "session.failed"
    public static let sessionArchived: EventType = "session.archived"
    public static let runRequested: EventType = "run.requested"
    public static let runQueued: EventType = "run.queued"
    public static let runStarted: EventType = "run.started"
    public static let runCompleted: EventType = "run.completed"
    public static let runFailed: EventType = "run.failed"
    public static let runCancelled: EventType = "run.cancelled"
    public static let routingDecided: EventType = "routing.decided"
    public static let routingFailedOver: EventType = "routing.failed_over"
    public static let providerHealthChanged: EventType = "provider.health_changed"
    public static let providerWarning: EventType = "provider.warning"
    public static let messageStreamed: EventType = "message.streamed"
    public static let messageReceived: EventType = "message.received"
    public static let toolCallRequested: EventType = "tool_call.requested"
    public static let toolCallStarted: EventType = "tool_call.started"
    public static let toolCallCompleted: EventType = "tool_call.completed"
    public static let tokenUsageUpdated: EventType = "token_usage.updated"
    public static let policyEvaluated: EventType = "policy.evaluated"
    public static let policyViolated: EventType = "policy.violated"
    public static let toolApprovalRequested: EventType = "tool_approval.requested"
    public static let toolApprovalResolved: EventType = "tool_approval.resolved"
    public static let continuationApplied: EventType = "continuation.applied"
    public static let workspaceSnapshotTaken: EventType = "workspace.snapshot_taken"
    public static let workspaceDiffComputed: EventType = "workspace.diff_computed"
    public static let workspaceRolledBack: EventType = "workspace.rolled_back"
    public static let artifactStored: EventType = "artifact.stored"
    public static let consumerCheckpointed: EventType = "consumer.checkpointed"
    public static let consumerReset: EventType = "consumer.reset"
}
