/// A committed event with its typed payload.
public struct EventEnvelope: Sendable, Hashable {
    /// The event's position in the global log.
    public var sequence: SequenceNumber
    public var id: EventID
    /// The stream (for sessions, the session) the event belongs to.
    public var stream: StreamID
    /// The event's position in its stream, from 1.
    public var streamVersion: StreamVersion
    /// The run the event belongs to, if any.
    public var runID: RunID?
    /// When the store recorded the event.
    public var recordedAt: Timestamp
    public var event: SessionEvent
    /// The event's link in the hash chain.
    public var hash: EventHash

    public init(
        sequence: SequenceNumber,
        id: EventID,
        stream: StreamID,
        streamVersion: StreamVersion,
        runID: RunID?,
        recordedAt: Timestamp,
        event: SessionEvent,
        hash: EventHash
    ) {
        self.sequence = sequence
        self.id = id
        self.stream = stream
        self.streamVersion = streamVersion
        self.runID = runID
        self.recordedAt = recordedAt
        self.event = event
        self.hash = hash
    }

    /// The stored type name.
    public var type: EventType { event.type }
    /// The session, for events of a session stream.
    public var sessionID: SessionID { stream.session }
}

/// A committed event exactly as stored: the header, the type name, the schema version and
/// the payload bytes, without decoding.
public struct RecordedEvent: Sendable, Hashable {
    public var sequence: SequenceNumber
    public var id: EventID
    public var stream: StreamID
    public var streamVersion: StreamVersion
    public var runID: RunID?
    public var recordedAt: Timestamp
    public var type: EventType
    public var schemaVersion: Int
    /// The payload's canonical JSON bytes.
    public var payload: [UInt8]
    public var hash: EventHash

    public init(
        sequence: SequenceNumber,
        id: EventID,
        stream: StreamID,
        streamVersion: StreamVersion,
        runID: RunID?,
        recordedAt: Timestamp,
        type: EventType,
        schemaVersion: Int,
        payload: [UInt8],
        hash: EventHash
    ) {
        self.sequence = sequence
        self.id = id
        self.stream = stream
        self.streamVersion = streamVersion
        self.runID = runID
        self.recordedAt = recordedAt
        self.type = type
        self.schemaVersion = schemaVersion
        self.payload = payload
        self.hash = hash
    }

    /// The payload as text.
    public var payloadText: String { String(decoding: payload, as: UTF8.self) }

    /// Decodes the payload with `codec`.
    public func decoded(with codec: EventCodec = EventCodec()) -> EventEnvelope {
        EventEnvelope(
            sequence: sequence,
            id: id,
            stream: stream,
            streamVersion: streamVersion,
            runID: runID,
            recordedAt: recordedAt,
            event: codec.decode(type: type, schemaVersion: schemaVersion, payload: payload),
            hash: hash
        )
    }
}

/// An event to append: its id (the idempotency key), its run, and its payload.
public struct NewEvent: Sendable, Hashable {
    /// Retrying an append with the same ids returns the original positions.
    public var id: EventID
    public var runID: RunID?
    public var event: SessionEvent

    public init(id: EventID, runID: RunID? = nil, event: SessionEvent) {
        self.id = id
        self.runID = runID
        self.event = event
    }
}
