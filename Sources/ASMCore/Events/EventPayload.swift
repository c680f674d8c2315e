/// The payload of one kind of event: a frozen, versioned value.
///
/// Each payload type names its ``eventType`` and its current ``schemaVersion``. Shipped
/// shapes never change: adding an optional property is compatible (old events decode
/// with `nil`); any other change is a new version, whose type decodes the older shapes
/// in ``upcast(fromVersion:decoder:)`` from frozen structs kept beside it.
public protocol EventPayload: Codable, Sendable, Hashable, CanonicalJSONEncodable {
    /// The stored type name.
    static var eventType: EventType { get }
    /// The version this build writes. Defaults to 1.
    static var schemaVersion: Int { get }
    /// Decodes a payload written at an older version, already parsed into `decoder.tape`,
    /// and converts it to the current shape.
    ///
    /// The default refuses every older version, which is right for version 1.
    /// - Throws: ``JSONError`` when the older payload is malformed or the version unknown.
    static func upcast(fromVersion version: Int, decoder: PayloadDecoder) throws(JSONError) -> Self
}

extension EventPayload {
    public static var schemaVersion: Int { 1 }

    public static func upcast(fromVersion version: Int, decoder: PayloadDecoder) throws(JSONError) -> Self {
        throw JSONError(.unsupported, "\(eventType) has no schema version \(version)")
    }

    /// Decodes a payload stored at `version`: the current shape directly, older ones through
    /// ``upcast(fromVersion:decoder:)``.
    /// - Throws: ``JSONError``; callers turn a newer version into an opaque event before calling.
    public static func decodeStored(version: Int, decoder: PayloadDecoder) throws(JSONError) -> Self {
        if version == schemaVersion { return try decoder.decodeParsed(Self.self) }
        return try upcast(fromVersion: version, decoder: decoder)
    }
}
