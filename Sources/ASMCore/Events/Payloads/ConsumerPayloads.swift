/// A durable consumer was registered at a position.
///
/// Routine acknowledgements move the checkpoint without an event (an event per
/// acknowledgement would double the log and feed every consumer its own acks); the
/// registration and every reset are recorded.
public struct ConsumerCheckpointed: EventPayload {
    public static let eventType: EventType = "consumer.checkpointed"
    public static let fields = Fields(
        ConsumerCheckpointed.init(consumer:position:),
        Field("consumer", \.consumer),
        Field("position", \.position)
    )
    public var consumer: String
    /// The last sequence the consumer has processed.
    public var position: SequenceNumber

    public init(consumer: String, position: SequenceNumber) {
        self.consumer = consumer
        self.position = position
    }
}

/// A durable consumer's checkpoint was moved on purpose, possibly backwards.
public struct ConsumerReset: EventPayload {
    public static let eventType: EventType = "consumer.reset"
    public static let fields = Fields(
        ConsumerReset.init(consumer:from:to:reason:),
        Field("consumer", \.consumer),
        Field("from", \.from),
        Field("to", \.to),
        Field("reason", \.reason)
    )
    public var consumer: String
    public var from: SequenceNumber
    public var to: SequenceNumber
    public var reason: String?

    public init(consumer: String, from: SequenceNumber, to: SequenceNumber, reason: String? = nil) {
        self.consumer = consumer
        self.from = from
        self.to = to
        self.reason = reason
    }
}
