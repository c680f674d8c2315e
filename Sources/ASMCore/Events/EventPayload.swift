/// The payload of one kind of event: a frozen, versioned value, declared in one place.
///
/// A declaration names the stored ``eventType``, its current ``schemaVersion``, its
/// ``PayloadObject/fields`` (JSON key, value, optional or not) and, from version 2 on, the
/// ``upcast(fromVersion:_:)`` that reads older shapes. The canonical encoder and the decoder
/// are derived from the fields; ``SessionEvent/vocabulary`` registers the type.
///
/// Shipped shapes never change: adding an optional field is compatible (old events decode
/// with `nil`); any other change is a new version, whose type decodes the older shapes in
/// ``upcast(fromVersion:_:)`` from frozen declarations kept beside it.
public protocol EventPayload: PayloadObject, Codable {
    /// The stored type name.
    static var eventType: EventType { get }
    /// The version this build writes. Defaults to 1.
    static var schemaVersion: Int { get }
    /// Reads a payload written at an older version and converts it to the current shape.
    ///
    /// The default refuses every older version, which is right for version 1.
    /// - Throws: ``JSONError`` when the older payload is malformed or the version unknown.
    static func upcast(fromVersion version: Int, _ payload: PayloadReader) throws(JSONError) -> Self
}

extension EventPayload {
    public static var schemaVersion: Int { 1 }

    public static func upcast(fromVersion version: Int, _ payload: PayloadReader) throws(JSONError) -> Self {
        throw JSONError(.unsupported, "\(eventType) has no schema version \(version)")
    }

    /// Reads a payload stored at `version`: the current shape directly, older ones through
    /// ``upcast(fromVersion:_:)``.
    /// - Throws: ``JSONError``; callers turn a newer version into an opaque event before calling.
    public static func decodeStored(version: Int, _ payload: PayloadReader) throws(JSONError) -> Self {
        if version == schemaVersion { return try read(payload) }
        return try upcast(fromVersion: version, payload)
    }

    /// Reads JSON text stored at `version`, as ``decodeStored(version:_:)``.
    /// - Throws: ``JSONError`` for malformed text or a payload of the wrong shape.
    public static func decodeStored(version: Int, json bytes: some Collection<UInt8>) throws(JSONError) -> Self {
        try PayloadReader.parsing(bytes) { reader throws(JSONError) in try decodeStored(version: version, reader) }
    }
}

/// One entry of the vocabulary: a payload type and the ``SessionEvent`` case that carries it.
public struct Registered: Sendable {
    /// The payload type.
    public let payloadType: any EventPayload.Type
    let wrap: @Sendable (any EventPayload) -> SessionEvent?
    let decode: @Sendable (Int, PayloadReader) throws(JSONError) -> SessionEvent

    /// Registers `type`, carried by `embed` (a case of ``SessionEvent``).
    public init<P: EventPayload>(_ type: P.Type, as embed: @escaping @Sendable (P) -> SessionEvent) {
        payloadType = type
        wrap = { payload in (payload as? P).map(embed) }
        decode = { version, reader throws(JSONError) in embed(try P.decodeStored(version: version, reader)) }
    }
}
