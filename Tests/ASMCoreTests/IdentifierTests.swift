import ASMCore
import Testing

@Suite struct IdentifierTests {
    @Test("UUID text round-trips, in either case, with or without hyphens")
    func text() {
        let text = "0190ab12-3c4d-7e5f-8a6b-7c8d9e0f1a2b"
        let value = UUIDValue(text)
        #expect(value?.description == text)
        #expect(UUIDValue(text.uppercased()) == value)
        #expect(UUIDValue(text.filter { $0 != "-" }) == value)
    }

    @Test(
        "malformed UUID text is refused",
        arguments: [
            "", "xyz", "0190ab12-3c4d-7e5f-8a6b-7c8d9e0f1a2", "0190ab12_3c4d-7e5f-8a6b-7c8d9e0f1a2b",
            "g190ab12-3c4d-7e5f-8a6b-7c8d9e0f1a2b",
        ]
    )
    func malformed(text: String) {
        #expect(UUIDValue(text) == nil)
    }

    @Test("16 bytes round-trip in network order")
    func bytes() {
        let value = UUIDValue(high: 0x0102_0304_0506_0708, low: 0x090A_0B0C_0D0E_0F10)
        #expect(value.bytes == Array(1...16))
        #expect(value.bytes.withUnsafeBytes { UUIDValue(bytes: $0) } == value)
        #expect([UInt8](repeating: 0, count: 15).withUnsafeBytes { UUIDValue(bytes: $0) } == nil)
    }

    @Test("version 7 ids carry their millisecond and sort by it; version and variant bits are set")
    func version7() {
        let early = UUIDValue.version7(unixMilliseconds: 1_700_000_000_000, randomHigh: .max, randomLow: .max)
        let late = UUIDValue.version7(unixMilliseconds: 1_700_000_000_001, randomHigh: 0, randomLow: 0)
        #expect(early < late)
        #expect(early.unixMilliseconds == 1_700_000_000_000)
        #expect(early.description.dropFirst(14).first == "7")
        #expect("89ab".contains(early.description.dropFirst(19).first!))
    }

    /// System streams are found by these ids in existing files: the derivation must never change.
    @Test("named ids are stable across runs and builds")
    func named() {
        #expect(StreamID.consumers.description == "f30d9971-42fd-89d4-9791-a1cde0976ea3")
        #expect(UUIDValue.named("a") != UUIDValue.named("b"))
    }

    @Test("a session's stream has the session's bits, and back")
    func sessionStream() {
        let session = SessionID(uuid: UUIDValue(high: 1, low: 2))
        #expect(session.stream.uuid == session.uuid)
        #expect(session.stream.session == session)
    }

    @Test("identifiers encode in JSON as their text")
    func json() throws {
        let id = RunID(uuid: UUIDValue(high: 0xABCD, low: 1))
        let bytes = try [id].canonicalJSON()
        #expect(String(decoding: bytes, as: UTF8.self) == "[\"\(id.description)\"]")
        #expect(try [RunID].decode(json: bytes) == [id])
        #expect(throws: JSONError.self) { try [RunID].decode(json: Array(#"["not-a-uuid"]"#.utf8)) }
    }
}

@Suite struct TimestampTests {
    @Test(
        "timestamps print as RFC 3339 in UTC with microseconds",
        arguments: [
            (Int64(0), "1970-01-01T00:00:00.000000Z"), (951_782_400_000_001, "2000-02-29T00:00:00.000001Z"),
            (1_795_574_405_154_116, "2026-11-25T02:40:05.154116Z"), (-1, "1969-12-31T23:59:59.999999Z"),
            (253_402_300_799_999_999, "9999-12-31T23:59:59.999999Z"),
        ]
    )
    func rfc3339(microseconds: Int64, expected: String) {
        #expect(Timestamp(microseconds: microseconds).description == expected)
    }

    @Test("milliseconds round down, also before the epoch")
    func milliseconds() {
        #expect(Timestamp(microseconds: 1_999).milliseconds == 1)
        #expect(Timestamp(microseconds: -1).milliseconds == -1)
    }
}
