/// An event this build cannot read as a typed payload, kept whole.
///
/// Events written by a newer build (a type or schema version this build does not know)
/// are read back as opaque events: never dropped, never an error. They keep their exact
/// stored bytes, so they can be shown, forwarded and verified.
public struct OpaqueEvent: Hashable, Sendable {
    /// Why the event could not be typed.
    public enum Reason: Hashable, Sendable {
        /// The type name is not part of this build's vocabulary.
        case unknownType
        /// The type is known, but only up to `supportedVersion`.
        case newerSchemaVersion(supportedVersion: Int)
        /// The payload does not match its declared type and version.
        case undecodable(String)
        /// Appended as raw bytes by a caller.
        case appendedRaw
        /// The payload was expunged; the tombstone keeps its digest (`sha256:<hex>`).
        case expunged(digest: String)
    }

    public var type: EventType
    public var schemaVersion: Int
    /// The payload's canonical JSON bytes.
    public var payload: [UInt8]
    public var reason: Reason

    public init(type: EventType, schemaVersion: Int, payload: [UInt8], reason: Reason = .appendedRaw) {
        self.type = type
        self.schemaVersion = schemaVersion
        self.payload = payload
        self.reason = reason
    }

    /// The payload as text.
    public var payloadText: String { String(decoding: payload, as: UTF8.self) }
}
