import ASMCore
import AgentSessionManagerTesting
import Foundation
import Testing

@Suite struct PayloadCodecTests {
    static let seeds: [UInt64] = [1, 2, 3, 42, 2026]

    @Test("every payload survives canonical encoding and decoding unchanged", arguments: seeds)
    func roundTrip(seed: UInt64) throws {
        var samples = SampleEvents(seed: seed)
        let codec = EventCodec()
        for _ in 0..<20 {
            for event in samples.oneOfEach() {
                let encoded = try codec.encode(event)
                let decoded = codec.decode(
                    type: encoded.type,
                    schemaVersion: encoded.schemaVersion,
                    payload: encoded.payload
                )
                #expect(decoded == event, "seed \(seed): \(encoded.type) did not round-trip")
            }
        }
    }

    @Test("re-encoding a decoded payload gives the same bytes", arguments: seeds)
    func stableBytes(seed: UInt64) throws {
        var samples = SampleEvents(seed: seed)
        let codec = EventCodec()
        for event in (0..<10).flatMap({ _ in samples.oneOfEach() }) {
            let first = try codec.encode(event)
            let again = try codec.encode(
                codec.decode(type: first.type, schemaVersion: first.schemaVersion, payload: first.payload)
            )
            #expect(first.payload == again.payload, "seed \(seed): \(first.type)")
        }
    }

    /// Programs that use `Codable` (Foundation's JSONEncoder and JSONDecoder) see the same
    /// keys and values as the log: the conformance comes from the same field declarations.
    @Test("each payload's Codable form equals its canonical JSON and decodes back", arguments: seeds)
    func directEqualsCodable(seed: UInt64) throws {
        var samples = SampleEvents(seed: seed)
        let foundation = JSONEncoder()
        foundation.outputFormatting = [.sortedKeys]
        for event in (0..<10).flatMap({ _ in samples.oneOfEach() }) {
            let payload = try #require(event.payload)
            let canonical = try payload.canonicalJSON()
            let viaCodable = try foundation.encode(payload)
            let direct = try JSONValue(parsing: canonical)
            let expected = try JSONValue(parsing: Array(viaCodable))
            #expect(normalized(direct) == normalized(expected), "seed \(seed): \(event.type)")
            // Foundation cannot tell `0.0` from `0` in free-form JSON, so values compare as numbers.
            let back = try JSONValue(parsing: try decodedBack(payload, from: canonical))
            #expect(normalized(back) == normalized(direct), "seed \(seed): \(event.type)")
        }
    }

    @Test("payload JSON uses snake_case keys for other languages")
    func snakeCase() throws {
        let event = SessionEvent.toolCallCompleted(
            ToolCallCompleted(callID: "c1", name: "Bash", output: "ok", isError: true, exitCode: 2)
        )
        let text = String(decoding: try EventCodec().encode(event).payload, as: UTF8.self)
        #expect(text == #"{"call_id":"c1","exit_code":2,"is_error":true,"name":"Bash","output":"ok"}"#)
    }

    @Test("nil optionals are left out, not written as null")
    func nilOmitted() throws {
        let text = String(
            decoding: try EventCodec().encode(.runStarted(RunStarted(provider: "codex"))).payload,
            as: UTF8.self
        )
        #expect(text == #"{"provider":"codex"}"#)
    }

    @Test("metadata is written sorted by key whatever the dictionary's order")
    func metadataSorted() throws {
        let created = SessionCreated(
            agentID: "a",
            metadata: Dictionary(uniqueKeysWithValues: (0..<50).map { ("k\($0)", "v") })
        )
        let text = String(decoding: try EventCodec().encode(.sessionCreated(created)).payload, as: UTF8.self)
        let keys = (0..<50).map { "k\($0)" }.sorted()
        #expect(text.contains(keys.map { "\"\($0)\":\"v\"" }.joined(separator: ",")))
    }

    @Test(
        "decoding reports type mismatches and missing keys",
        arguments: [
            (#"{"role":"user"}"#, JSONError.Code.missingKey), (#"{"role":1,"content":"x"}"#, .typeMismatch),
        ]
    )
    func decodingErrors(text: String, code: JSONError.Code) {
        let error = #expect(throws: JSONError.self) {
            try MessageReceived.decode(json: Array(text.utf8))
        }
        #expect(error?.code == code)
    }

    /// Numbers compare by value: `1` from JSONEncoder equals `1.0` from the canonical writer.
    /// Stored payloads are canonical; JSON written elsewhere (an import, a hand-written
    /// fixture) may order its keys differently, escape them, or repeat one. All of them
    /// decode to the same value, and of repeated keys the first wins.
    @Test("payloads decode the same whatever their key order, escaped keys or repeated keys", arguments: seeds)
    func foreignKeyLayouts(seed: UInt64) throws {
        var samples = SampleEvents(seed: seed)
        let codec = EventCodec()
        for event in (0..<5).flatMap({ _ in samples.oneOfEach() }) {
            let encoded = try codec.encode(event)
            let layouts = [
                "reversed": Self.relaid(encoded.payload, reversed: true, escaped: false, repeated: false),
                "escaped": Self.relaid(encoded.payload, reversed: false, escaped: true, repeated: false),
                "repeated": Self.relaid(encoded.payload, reversed: false, escaped: false, repeated: true),
                "all three": Self.relaid(encoded.payload, reversed: true, escaped: true, repeated: true),
            ]
            for (layout, text) in layouts {
                let decoded = codec.decode(
                    type: encoded.type,
                    schemaVersion: encoded.schemaVersion,
                    payload: Array(text.utf8)
                )
                #expect(decoded == event, "seed \(seed): \(encoded.type), layout \(layout)")
            }
        }
    }

    /// Canonical payload text with every object's keys reversed or written as `\u` escapes,
    /// or the payload's own keys followed by a second copy of each holding another value
    /// (free-form JSON inside a payload keeps repeated keys as they are). Scalars are kept
    /// byte for byte.
    private static func relaid(_ canonical: [UInt8], reversed: Bool, escaped: Bool, repeated: Bool) -> String {
        var index = 0
        return relaid(canonical, &index, reversed: reversed, escaped: escaped, repeated: repeated)
    }

    private static func relaid(
        _ text: [UInt8],
        _ index: inout Int,
        reversed: Bool,
        escaped: Bool,
        repeated: Bool
    ) -> String {
        func string() -> [UInt8] {  // a string token, quotes included
            let start = index
            index += 1
            while text[index] != UInt8(ascii: "\"") { index += text[index] == UInt8(ascii: "\\") ? 2 : 1 }
            index += 1
            return Array(text[start..<index])
        }
        switch text[index] {
        case UInt8(ascii: "{"):
            index += 1
            var members: [(key: [UInt8], value: String)] = []
            while text[index] != UInt8(ascii: "}") {
                if text[index] == UInt8(ascii: ",") { index += 1 }
                let key = string()
                index += 1  // the colon
                members.append((key, relaid(text, &index, reversed: reversed, escaped: escaped, repeated: false)))
            }
            index += 1
            var parts: [String] = []
            for member in reversed ? members.reversed() : members {
                var key = String(decoding: member.key, as: UTF8.self)
                if escaped, let name = try? JSONValue(parsing: member.key).stringValue {
                    key = "\"" + name.utf16.map { String(format: "\\u%04x", $0) }.joined() + "\""
                }
                parts.append(key + ":" + member.value)
            }
            if repeated { parts += members.map { String(decoding: $0.key, as: UTF8.self) + ":[true]" } }
            return "{" + parts.joined(separator: ",") + "}"
        case UInt8(ascii: "["):
            index += 1
            var elements: [String] = []
            while text[index] != UInt8(ascii: "]") {
                if text[index] == UInt8(ascii: ",") { index += 1 }
                elements.append(relaid(text, &index, reversed: reversed, escaped: escaped, repeated: false))
            }
            index += 1
            return "[" + elements.joined(separator: ",") + "]"
        case UInt8(ascii: "\""):
            return String(decoding: string(), as: UTF8.self)
        default:
            let start = index
            while index < text.count, !",]}".utf8.contains(text[index]) { index += 1 }
            return String(decoding: text[start..<index], as: UTF8.self)
        }
    }

    private func normalized(_ value: JSONValue) -> JSONValue {
        switch value {
        case .integer(let integer): return .double(Double(integer))
        case .array(let values): return .array(values.map(normalized))
        case .object(let members): return .object(members.map { JSONMember($0.key, normalized($0.value)) })
        default: return value
        }
    }
}

/// `bytes` decoded through Foundation's `Codable` decoder as `payload`'s type, then written
/// canonically again.
private func decodedBack<P: EventPayload>(_ payload: P, from bytes: [UInt8]) throws -> [UInt8] {
    try JSONDecoder().decode(P.self, from: Data(bytes)).canonicalJSON()
}
