import ASMCore
import Testing

@Suite struct JSONWriterTests {
    private func text(_ value: JSONValue) throws -> String {
        var writer = JSONWriter()
        try writer.write(value)
        return String(decoding: writer.bytes, as: UTF8.self)
    }

    @Test("objects are written with their keys sorted, at every depth")
    func sortsKeys() throws {
        let value: JSONValue = ["b": 1, "a": ["z": true, "y": nil], "aa": [["d": 1, "c": 2]]]
        #expect(try text(value) == #"{"a":{"y":null,"z":true},"aa":[{"c":2,"d":1}],"b":1}"#)
    }

    @Test("a key sorts before the keys it is a prefix of")
    func prefixOrder() throws {
        #expect(try text(["ab": 1, "a": 2, "": 3]) == #"{"":3,"a":2,"ab":1}"#)
    }

    @Test(
        "strings escape quotes, backslashes and control characters only",
        arguments: [
            ("plain", #""plain""#),
            ("quote \" and \\", #""quote \" and \\""#),
            ("line\nfeed\ttab\rcr\u{08}\u{0C}", #""line\nfeed\ttab\rcr\b\f""#),
            ("\u{01}\u{1F}", #""\u0001\u001f""#),
            ("é 日本 🙂 \u{2028} /", "\"é 日本 🙂 \u{2028} /\""),
        ]
    )
    func escapes(input: String, expected: String) throws {
        #expect(try text(.string(input)) == expected)
    }

    @Test(
        "numbers: integers plainly, doubles in their shortest round-trip form",
        arguments: [
            (JSONValue.integer(0), "0"), (.integer(-42), "-42"), (.integer(Int64.max), "9223372036854775807"),
            (.integer(Int64.min), "-9223372036854775808"), (.double(0.5), "0.5"), (.double(3), "3.0"),
            (.double(-0.0), "0.0"), (.double(1e20), "1e+20"), (.double(1.5e-7), "1.5e-07"),
        ]
    )
    func numbers(value: JSONValue, expected: String) throws {
        #expect(try text(value) == expected)
    }

    @Test("NaN and infinities are refused", arguments: [Double.nan, .infinity, -.infinity])
    func nonFinite(value: Double) {
        #expect(throws: JSONError.self) { try text(.double(value)) }
    }

    @Test("with sorting off, members keep the order they were written in")
    func unsortedMode() {
        var writer = JSONWriter()
        writer.sortsKeys = false
        var object = writer.beginObject()
        writer.field("z", 1, in: &object)
        writer.field("a", 2, in: &object)
        writer.endObject(object)
        #expect(String(decoding: writer.bytes, as: UTF8.self) == #"{"z":1,"a":2}"#)
    }

    @Test("the canonical form does not depend on member order or dictionary hashing")
    func orderIndependent() throws {
        var samples = SampleEventsForJSON(seed: 7)
        for _ in 0..<200 {
            let value = samples.object()
            guard case .object(let members) = value else { continue }
            let shuffled = JSONValue.object(members.reversed())
            #expect(try text(value) == text(shuffled))
        }
    }
}

/// Objects with distinct keys, for the order property.
struct SampleEventsForJSON {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return state >> 11
    }
    mutating func object(depth: Int = 2) -> JSONValue {
        var members: [JSONMember] = []
        for index in 0..<Int(next() % 6) {
            let key = String(UnicodeScalar(UInt8(97 + next() % 26))) + String(index)
            members.append(
                JSONMember(key, depth > 0 && next() % 2 == 0 ? object(depth: depth - 1) : .integer(Int64(next() % 100)))
            )
        }
        return .object(members)
    }
}
