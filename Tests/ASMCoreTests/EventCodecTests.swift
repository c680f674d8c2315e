import ASMCore
import Testing

/// A payload with a history, to exercise upcasting: version 1 stored a single `name`;
/// version 2 splits it into `given` and `family`.
private struct Renamed: EventPayload {
    static let eventType: EventType = "test.renamed"
    static let schemaVersion = 2
    static let fields = Fields(Renamed.init(given:family:), Field("given", \.given), Field("family", \.family))
    var given: String
    var family: String

    /// The frozen version-1 shape.
    struct V1: PayloadObject {
        static let fields = Fields(V1.init(name:), Field("name", \.name))
        var name: String
    }

    static func upcast(fromVersion version: Int, _ payload: PayloadReader) throws(JSONError) -> Renamed {
        guard version == 1 else { throw JSONError(.unsupported, "no version \(version)") }
        let old = try V1.read(payload)
        let parts = old.name.split(separator: " ", maxSplits: 1).map(String.init)
        return Renamed(given: parts.first ?? "", family: parts.count > 1 ? parts[1] : "")
    }
}

@Suite struct EventCodecTests {
    let codec = EventCodec()

    @Test("an unknown type is read back whole as an opaque event")
    func unknownType() {
        let payload = Array(#"{"future":true}"#.utf8)
        let event = codec.decode(type: "brand.new_fact", schemaVersion: 1, payload: payload)
        #expect(
            event
                == .opaque(
                    OpaqueEvent(type: "brand.new_fact", schemaVersion: 1, payload: payload, reason: .unknownType)
                )
        )
    }

    @Test("a known type at a newer schema version is read back as an opaque event")
    func newerVersion() {
        let payload = Array(#"{"provider":"claude","extra":1}"#.utf8)
        let event = codec.decode(type: "run.started", schemaVersion: 2, payload: payload)
        guard case .opaque(let opaque) = event else {
            Issue.record("expected an opaque event, got \(event)")
            return
        }
        #expect(opaque.reason == .newerSchemaVersion(supportedVersion: 1))
        #expect(opaque.payload == payload)
    }

    @Test("a payload that does not match its type is opaque with the reason, not an error")
    func undecodable() {
        guard
            case .opaque(let opaque) = codec.decode(
                type: "run.started",
                schemaVersion: 1,
                payload: Array(#"{"provider":7}"#.utf8)
            ),
            case .undecodable(let reason) = opaque.reason
        else {
            Issue.record("expected an undecodable opaque event")
            return
        }
        #expect(reason.contains("expected a string"))
    }

    private func decodeRenamed(_ text: String, version: Int) throws -> Renamed {
        try Renamed.decodeStored(version: version, json: Array(text.utf8))
    }

    @Test("older versions are upcast to the current shape; the current version decodes directly")
    func upcasting() throws {
        #expect(try decodeRenamed(#"{"name":"Ada Lovelace"}"#, version: 1) == Renamed(given: "Ada", family: "Lovelace"))
        #expect(
            String(decoding: try Renamed(given: "Grace", family: "Hopper").canonicalJSON(), as: UTF8.self)
                == #"{"family":"Hopper","given":"Grace"}"#
        )
        #expect(
            try decodeRenamed(#"{"family":"Hopper","given":"Grace"}"#, version: 2)
                == Renamed(given: "Grace", family: "Hopper")
        )
        #expect(throws: JSONError.self) { try decodeRenamed(#"{"name":"x"}"#, version: 0) }
    }

    @Test("version 1 payloads refuse to upcast from any other version")
    func noUpcastForVersionOne() throws {
        #expect(throws: JSONError.self) { try SessionActivated.decodeStored(version: 0, json: Array("{}".utf8)) }
    }

    @Test("every payload type is registered, with a well-formed and unique name")
    func vocabulary() {
        let names = SessionEvent.payloadTypes.map { $0.eventType }
        #expect(Set(names).count == names.count)
        #expect(names.count == 39)
        let unregistered = names.filter { name in
            let event = codec.decode(type: name, schemaVersion: 1, payload: Array("{}".utf8))
            return event.opaqueReason == .unknownType
        }
        #expect(unregistered.isEmpty)
        #expect(names.filter { !$0.isWellFormed }.isEmpty)
    }

    @Test("opaque events are appended only as one JSON object in valid UTF-8 with a well-formed type")
    func opaqueValidation() throws {
        func encode(_ type: EventType, _ payload: [UInt8], version: Int = 1) throws(JSONError) -> EventCodec.Encoded {
            try codec.encode(.opaque(OpaqueEvent(type: type, schemaVersion: version, payload: payload)))
        }
        #expect(try encode("x.y", Array(#"{"a":1}"#.utf8)).payload == Array(#"{"a":1}"#.utf8))
        #expect(throws: JSONError.self) { try encode("x.y", Array("{".utf8)) }
        #expect(throws: JSONError.self) { try encode("x.y", Array("[1]".utf8)) }
        #expect(throws: JSONError.self) { try encode("x.y", [0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D]) }
        #expect(throws: JSONError.self) { try encode("Bad Type", Array("{}".utf8)) }
        #expect(throws: JSONError.self) { try encode("x.y", Array("{}".utf8), version: 0) }
    }

    @Test(
        "type names must be short lowercase dotted words",
        arguments: [
            ("run.started", true), ("a", true), ("x_y.z-1", true), ("", false), ("Run.started", false),
            ("1run", false), ("run started", false), (String(repeating: "a", count: 65), false),
        ]
    )
    func typeNames(name: String, wellFormed: Bool) {
        #expect(EventType(name).isWellFormed == wellFormed)
    }
}

extension SessionEvent {
    fileprivate var opaqueReason: OpaqueEvent.Reason? {
        if case .opaque(let opaque) = self { return opaque.reason }
        return nil
    }
}
