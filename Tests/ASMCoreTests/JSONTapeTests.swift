import ASMCore
import Testing

@Suite struct JSONTapeTests {
    private func parse(_ text: [UInt8]) throws(JSONError) -> JSONValue {
        let tape = JSONTape()
        do {
            return try text.withUnsafeBytes { bytes in
                try tape.parse(bytes, validateUTF8: true)
                return try tape.rootValue()
            }
        } catch let error as JSONError {
            throw error
        } catch {
            throw JSONError(.syntax, "\(error)")
        }
    }

    private func parse(_ text: String) throws(JSONError) -> JSONValue { try parse(Array(text.utf8)) }

    @Test(
        "well-formed texts parse to the values they spell",
        arguments: [
            ("{}", JSONValue.emptyObject), ("[]", .array([])), ("null", .null), (" true ", .bool(true)),
            (#"{"a":[1,2.5,-3e2,"x"],"b":{"c":null}}"#, ["a": [1, 2.5, -300.0, "x"], "b": ["c": nil]] as JSONValue),
            (#""\u00e9\ud83d\ude42\n\/""#, .string("é🙂\n/")), ("-0", .integer(0)), ("1E+2", .double(100)),
        ]
    )
    func wellFormed(text: String, expected: JSONValue) throws {
        #expect(try parse(text) == expected)
    }

    @Test(
        "malformed texts are refused with a syntax error",
        arguments: [
            "", "{", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "01", "1.", "1e", "+1", ".5", "tru", "nul",
            "\"unterminated", "\"bad \\x escape\"", "\"\\u12G4\"", "[1] 2", "{} {}", "'single'", "\"tab\there\"",
        ]
    )
    func malformed(text: String) {
        #expect(throws: JSONError.self) { try parse(text) }
    }

    @Test(
        "invalid UTF-8 inside strings is refused",
        arguments: [
            [0x22, 0xFF, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xE0, 0x80, 0xAF, 0x22],
            [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], [0x22, 0xC3, 0x22],
        ] as [[UInt8]]
    )
    func invalidUTF8(bytes: [UInt8]) {
        let error = #expect(throws: JSONError.self) { try parse(bytes) }
        #expect(error?.code == .invalidUTF8)
    }

    @Test("escapes of lone surrogates are refused", arguments: [#""\ud800""#, #""\udc00""#, #""\ud800\u0041""#])
    func loneSurrogates(text: String) {
        let error = #expect(throws: JSONError.self) { try parse(text) }
        #expect(error?.code == .invalidUTF8)
    }

    @Test("nesting deeper than the limit is refused, and the limit itself parses")
    func depth() throws {
        let limit = JSONTape.maximumDepth
        #expect(throws: Never.self) {
            try parse(String(repeating: "[", count: limit) + String(repeating: "]", count: limit))
        }
        let error = #expect(throws: JSONError.self) {
            try parse(String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1))
        }
        #expect(error?.code == .tooDeep)
    }

    @Test("errors name the byte offset of the problem")
    func offsets() {
        do {
            _ = try parse(#"{"a": tru}"#)
            Issue.record("expected an error")
        } catch {
            #expect(error.offset == 6)
        }
    }

    @Test("one tape parses many texts in turn")
    func reuse() throws {
        let tape = JSONTape()
        for text in [#"{"a":1}"#, "[true,false]", #""s""#] {
            var copy = text
            let value = try copy.withUTF8 { bytes in
                try tape.parse(UnsafeRawBufferPointer(bytes), validateUTF8: true)
                return try tape.rootValue()
            }
            #expect(value.description == text)
        }
    }

    /// Strings are scanned eight bytes at a time; whatever needs a look must be found at any
    /// offset from the opening quote, across word boundaries.
    @Test("every special byte is found at every offset of a long string")
    func wordScanning() throws {
        let filler = Array(repeating: UInt8(ascii: "a"), count: 24)
        for offset in 0..<18 {
            func text(_ middle: [UInt8]) -> [UInt8] {
                [UInt8(ascii: "\"")] + filler[..<offset] + middle + filler[..<5] + [UInt8(ascii: "\"")]
            }
            let plain = String(repeating: "a", count: offset)
            #expect(try parse(text(Array(#"\""#.utf8))) == .string(plain + "\"aaaaa"), "offset \(offset)")
            #expect(try parse(text(Array(#"\\"#.utf8))) == .string(plain + "\\aaaaa"))
            #expect(try parse(text(Array("é日🙂".utf8))) == .string(plain + "é日🙂aaaaa"))
            #expect(throws: JSONError.self, "a control character at \(offset)") { try parse(text([0x0A])) }
            #expect(throws: JSONError.self, "invalid UTF-8 at \(offset)") { try parse(text([0xC3, 0x28])) }
            // A quote ends the string wherever it falls: the rest is text after the value.
            #expect(throws: JSONError.self) { try parse(text([UInt8(ascii: "\"")])) }
        }
        #expect(throws: JSONError.self) { try parse(Array(("\"" + String(repeating: "a", count: 40)).utf8)) }
    }
}
