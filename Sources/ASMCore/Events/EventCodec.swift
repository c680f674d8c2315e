/// Turns typed events into stored payload bytes and back.
///
/// Encoding writes canonical JSON (``JSONWriter``). Decoding reads the header first (type
/// name and schema version), then the payload at that version, upcasting older versions;
/// an unknown type, a newer version or a payload that does not match yields
/// ``SessionEvent/opaque(_:)`` — decoding never fails and never drops an event.
///
/// A codec reuses its decoding buffers, so keep one per loop. It is not `Sendable`.
public struct EventCodec {
    private let tape = JSONTape()

    public init() {}

    /// The stored form of an event.
    public struct Encoded: Sendable {
        public var type: EventType
        public var schemaVersion: Int
        public var payload: [UInt8]
    }

    /// Encodes an event's payload to canonical JSON.
    ///
    /// An opaque event keeps its bytes, after checking that they are one well-formed JSON
    /// object in valid UTF-8 and that its type name is well formed.
    /// - Throws: ``JSONError`` when the payload cannot be represented or the raw bytes are invalid.
    public func encode(_ event: SessionEvent) throws(JSONError) -> Encoded {
        guard let payload = event.payload else {
            guard case .opaque(let opaque) = event else { preconditionFailure("typed event without payload") }
            guard opaque.type.isWellFormed else {
                throw JSONError(.invalidValue, "type name \"\(opaque.type)\" is not well formed")
            }
            guard opaque.schemaVersion >= 1 else { throw JSONError(.invalidValue, "schema version must be at least 1") }
            do {
                try opaque.payload.withUnsafeBytes { bytes in try tape.parse(bytes, validateUTF8: true) }
            } catch let error as JSONError {
                throw error
            } catch {
                throw JSONError(.syntax, "\(error)")
            }
            guard tape.rootIsObject else { throw JSONError(.typeMismatch, "a payload must be a JSON object") }
            return Encoded(type: opaque.type, schemaVersion: opaque.schemaVersion, payload: opaque.payload)
        }
        let type = Swift.type(of: payload)
        var writer = JSONWriter()
        try payload.write(to: &writer)
        return Encoded(type: type.eventType, schemaVersion: type.schemaVersion, payload: writer.bytes)
    }

    /// Decodes a stored event from its type name, schema version and payload bytes.
    public func decode(
        type: UnsafeRawBufferPointer,
        schemaVersion: Int,
        payload: UnsafeRawBufferPointer
    )
        -> SessionEvent
    {
        guard let entry = EventCodec.registry[TypeKey(type)] else {
            return .opaque(Self.opaque(type, schemaVersion, payload, .unknownType))
        }
        let supported = entry.payloadType.schemaVersion
        if schemaVersion > supported {
            return .opaque(Self.opaque(type, schemaVersion, payload, .newerSchemaVersion(supportedVersion: supported)))
        }
        // An expunged payload: its tombstone, whatever the type (a size check first, cheap).
        if payload.count == Tombstone.size, let digest = Tombstone.digest(of: payload) {
            return .opaque(Self.opaque(type, schemaVersion, payload, .expunged(digest: digest)))
        }
        do throws(JSONError) {
            try tape.parse(payload, validateUTF8: false)
            return try entry.decode(schemaVersion, PayloadReader(tape: tape, index: 0))
        } catch {
            return .opaque(Self.opaque(type, schemaVersion, payload, .undecodable(error.description)))
        }
    }

    /// Decodes a stored event from its type name, schema version and payload bytes.
    public func decode(type: EventType, schemaVersion: Int, payload: [UInt8]) -> SessionEvent {
        var name = type.rawValue
        return name.withUTF8 { typeBytes in
            payload.withUnsafeBytes { payloadBytes in
                decode(type: UnsafeRawBufferPointer(typeBytes), schemaVersion: schemaVersion, payload: payloadBytes)
            }
        }
    }

    private static func opaque(
        _ type: UnsafeRawBufferPointer,
        _ version: Int,
        _ payload: UnsafeRawBufferPointer,
        _ reason: OpaqueEvent.Reason
    ) -> OpaqueEvent {
        OpaqueEvent(
            type: EventType(String(decoding: type, as: UTF8.self)),
            schemaVersion: version,
            payload: Array(payload),
            reason: reason
        )
    }

    // MARK: Registry

    /// The type names this build knows, keyed by their bytes so lookups allocate nothing.
    static let registry = TypeTable(SessionEvent.vocabulary)

    /// An open-addressing table from type-name bytes to entries: a lookup is one
    /// multiply-shift hash of the packed name and, almost always, one comparison.
    struct TypeTable: Sendable {
        private var keys: [TypeKey?]
        private var entries: [Registered?]
        private let shift: UInt64

        init(_ vocabulary: [Registered]) {
            var bits = 4
            while 1 << bits < vocabulary.count * 4 { bits += 1 }
            shift = UInt64(64 - bits)
            keys = Array(repeating: nil, count: 1 << bits)
            entries = Array(repeating: nil, count: 1 << bits)
            for entry in vocabulary {
                var name = entry.payloadType.eventType.rawValue
                let key = name.withUTF8 { TypeKey(UnsafeRawBufferPointer($0)) }
                var slot = slot(of: key)
                while let occupant = keys[slot] {
                    if occupant == key { break }  // the first registration wins
                    slot = (slot + 1) & (keys.count - 1)
                }
                if keys[slot] == nil {
                    keys[slot] = key
                    entries[slot] = entry
                }
            }
        }

        @inline(__always)
        private func slot(of key: TypeKey) -> Int {
            let mixed =
                (key.words.0 ^ key.words.1 &* 31 ^ key.words.2 &* 131 ^ key.words.3 &* 1031)
                ^ UInt64(key.length)
            return Int(truncatingIfNeeded: (mixed &* 0x9E37_79B9_7F4A_7C15) >> shift)
        }

        subscript(key: TypeKey) -> Registered? {
            var slot = slot(of: key)
            while let occupant = keys[slot] {
                if occupant == key { return entries[slot] }
                slot = (slot + 1) & (keys.count - 1)
            }
            return nil
        }
    }

    /// The vocabulary by type name.
    static let entries: [EventType: Registered] = Dictionary(
        SessionEvent.vocabulary.map { ($0.payloadType.eventType, $0) },
        uniquingKeysWith: { first, _ in first }
    )

    /// Up to 32 bytes of a type name packed into four words.
    struct TypeKey: Equatable, Sendable {
        var words: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var length: Int

        init(_ bytes: UnsafeRawBufferPointer) {
            length = bytes.count
            guard bytes.count <= 32 else {
                // Longer than any known name: hash into the words so it simply misses.
                var hash: UInt64 = 0xcbf2_9ce4_8422_2325
                for byte in bytes { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3 }
                words = (hash, hash, hash, hash)
                return
            }
            withUnsafeMutableBytes(of: &words) { target in
                target.copyMemory(from: bytes)
            }
        }

        static func == (lhs: TypeKey, rhs: TypeKey) -> Bool {
            lhs.length == rhs.length && lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1
                && lhs.words.2 == rhs.words.2 && lhs.words.3 == rhs.words.3
        }
    }
}
