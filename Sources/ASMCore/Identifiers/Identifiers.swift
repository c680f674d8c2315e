/// An identifier backed by a ``UUIDValue``.
///
/// Each kind of identifier has its own type, so a run id can never be passed where a
/// session id is expected. All of them format as 36-character UUID text, encode in JSON as
/// that text, and are stored in SQLite as 16-byte blobs.
public protocol UUIDIdentifier: Hashable, Comparable, Sendable, Codable, CustomStringConvertible,
    LosslessStringConvertible
{
    /// The 128 bits.
    var uuid: UUIDValue { get }
    /// Wraps 128 bits.
    init(uuid: UUIDValue)
}

extension UUIDIdentifier {
    public var description: String { uuid.description }

    public init?(_ description: String) {
        guard let uuid = UUIDValue(description) else { return nil }
        self.init(uuid: uuid)
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.uuid < rhs.uuid }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(uuid.description)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let uuid = UUIDValue(text) else {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a UUID: \(text)")
        }
        self.init(uuid: uuid)
    }
}

/// Identifies one event, unique across the whole log; the key for idempotent retries.
public struct EventID: UUIDIdentifier {
    public var uuid: UUIDValue
    public init(uuid: UUIDValue) { self.uuid = uuid }
}

/// Identifies a session. A session's events form one stream whose ``StreamID`` has the same bits.
public struct SessionID: UUIDIdentifier {
    public var uuid: UUIDValue
    public init(uuid: UUIDValue) { self.uuid = uuid }

    /// The session's own stream.
    public var stream: StreamID { StreamID(uuid: uuid) }
}

/// Identifies a run inside a session.
public struct RunID: UUIDIdentifier {
    public var uuid: UUIDValue
    public init(uuid: UUIDValue) { self.uuid = uuid }
}

/// Identifies a stream: an ordered sub-sequence of the log with its own version counter.
///
/// Every session is a stream. A few system streams hold facts that belong to no session,
/// such as durable consumer resets; their identifiers are derived from fixed names.
public struct StreamID: UUIDIdentifier {
    public var uuid: UUIDValue
    public init(uuid: UUIDValue) { self.uuid = uuid }

    /// The stream that records durable consumer checkpoints and resets.
    public static let consumers = StreamID(uuid: .named("asm.system.consumers"))

    /// The session whose stream this is (the same bits).
    public var session: SessionID { SessionID(uuid: uuid) }
}

extension UUIDIdentifier {
    /// Reads the identifier from a JSON string in canonical form.
    public static func read(_ reader: PayloadReader) throws(JSONError) -> Self { Self(uuid: try reader.uuid()) }
    public func write(to writer: inout JSONWriter) throws(JSONError) { writer.uuid(uuid) }
}

extension EventID: PayloadValue {}
extension SessionID: PayloadValue {}
extension RunID: PayloadValue {}
extension StreamID: PayloadValue {}
