/// A parsed JSON text: one flat array of tokens pointing into the original bytes.
///
/// Parsing validates the whole grammar (and, on request, the UTF-8 inside strings) without
/// building strings or dictionaries; values are materialized only when a decoder asks for
/// them. One tape is reused across many texts, so a page of events costs no allocation for
/// its tokens.
///
/// - Important: the tape points into the buffer passed to ``parse(_:validateUTF8:)``; that
///   buffer must stay alive and unchanged while the tape's values are read.
public final class JSONTape {
    enum Kind: UInt8 {
        case null, `false`, `true`, number, string, array, object
    }

    struct Token {
        var kind: Kind
        /// Strings: the text holds escapes. Numbers: the text is an integer.
        var flag: Bool
        /// Strings: the offset after the opening quote. Numbers: the first byte. Containers: the bracket.
        var start: UInt32
        /// Strings: the offset of the closing quote. Numbers: one past the last byte. Containers: the count.
        var end: UInt32
        /// Containers: the index of the first token after the container.
        var next: UInt32
    }

    /// The nesting limit; deeper texts are refused.
    public static let maximumDepth = 256

    // The tape is used by one thread at a time (it is not Sendable); the dynamic
    // exclusivity check on every token read costs more than the read itself.
    @exclusivity(unchecked) private(set) var tokens: [Token] = []
    private(set) var base: UnsafePointer<UInt8>?
    private(set) var length = 0

    public init() {
        tokens.reserveCapacity(64)
    }

    /// Parses `bytes` as one JSON value, replacing what the tape held.
    /// - Parameters:
    ///   - bytes: the text; it must outlive every read from this tape.
    ///   - validateUTF8: check the UTF-8 inside strings (input from outside); reads of
    ///     text this library wrote can skip it, as invalid bytes are then repaired on read.
    /// - Throws: ``JSONError`` naming the byte offset of the problem.
    public func parse(_ bytes: UnsafeRawBufferPointer, validateUTF8: Bool) throws(JSONError) {
        tokens.removeAll(keepingCapacity: true)
        guard let start = bytes.baseAddress, bytes.count > 0 else {
            throw JSONError(.syntax, "empty text", offset: 0)
        }
        guard bytes.count < Int(UInt32.max) else { throw JSONError(.syntax, "text too long") }
        let pointer = start.assumingMemoryBound(to: UInt8.self)
        base = pointer
        length = bytes.count
        var parser = Parser(bytes: pointer, count: bytes.count, validateUTF8: validateUTF8)
        try parser.value(depth: 0, into: &tokens)
        parser.skipWhitespace()
        if parser.index != parser.count {
            throw JSONError(.syntax, "unexpected text after the value", offset: parser.index)
        }
    }

    /// Whether the root value is an object.
    public var rootIsObject: Bool { tokens.first?.kind == .object }

    /// The index of the token after the value at `index` (skipping a container's contents).
    func after(_ index: Int) -> Int {
        let token = tokens[index]
        return token.kind == .object || token.kind == .array ? Int(token.next) : index + 1
    }

    func bytes(of index: Int) -> UnsafeBufferPointer<UInt8> {
        let token = tokens[index]
        guard let base else { return UnsafeBufferPointer(start: nil, count: 0) }
        return UnsafeBufferPointer(start: base + Int(token.start), count: Int(token.end - token.start))
    }

    /// The value token of `key` in the object at `object`, if present.
    func member(of object: Int, key: UnsafeBufferPointer<UInt8>) -> Int? {
        let count = Int(tokens[object].end)
        var index = object + 1
        for _ in 0..<count {
            let keyToken = tokens[index]
            let keyLength = Int(keyToken.end - keyToken.start)
            if keyLength == key.count {
                if keyToken.flag {
                    if let text = try? unescapedString(index), text.utf8.elementsEqual(key) { return index + 1 }
                } else if let base, Self.equal(base + Int(keyToken.start), key) {
                    return index + 1
                }
            } else if keyToken.flag, let text = try? unescapedString(index), text.utf8.elementsEqual(key) {
                return index + 1
            }
            index = after(index + 1)
        }
        return nil
    }

    /// Whether `count(key)` bytes at `text` equal `key`.
    @inline(__always)
    private static func equal(_ text: UnsafePointer<UInt8>, _ key: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let keyBase = key.baseAddress else { return key.isEmpty }
        var offset = 0
        while offset < key.count {
            if text[offset] != keyBase[offset] { return false }
            offset += 1
        }
        return true
    }

    /// The keys and value tokens of the object at `object`, in document order.
    func members(of object: Int) throws(JSONError) -> [(key: String, value: Int)] {
        let count = Int(tokens[object].end)
        var result: [(String, Int)] = []
        result.reserveCapacity(count)
        var index = object + 1
        for _ in 0..<count {
            result.append((try string(index), index + 1))
            index = after(index + 1)
        }
        return result
    }

    // MARK: Values

    func kind(_ index: Int) -> Kind { tokens[index].kind }

    func string(_ index: Int) throws(JSONError) -> String {
        let token = tokens[index]
        guard token.kind == .string else { throw mismatch(index, expected: "a string") }
        if !token.flag {
            return String(decoding: bytes(of: index), as: UTF8.self)
        }
        return try unescapedString(index)
    }

    private func unescapedString(_ index: Int) throws(JSONError) -> String {
        let raw = bytes(of: index)
        var output: [UInt8] = []
        output.reserveCapacity(raw.count)
        var position = 0
        while position < raw.count {
            let byte = raw[position]
            guard byte == UInt8(ascii: "\\") else {
                output.append(byte)
                position += 1
                continue
            }
            let escape = raw[position + 1]
            position += 2
            switch escape {
            case UInt8(ascii: "n"): output.append(0x0A)
            case UInt8(ascii: "r"): output.append(0x0D)
            case UInt8(ascii: "t"): output.append(0x09)
            case UInt8(ascii: "b"): output.append(0x08)
            case UInt8(ascii: "f"): output.append(0x0C)
            case UInt8(ascii: "u"):
                var scalar = Self.hex4(raw, position)
                position += 4
                if scalar >= 0xD800, scalar < 0xDC00, position + 6 <= raw.count,
                    raw[position] == UInt8(ascii: "\\"), raw[position + 1] == UInt8(ascii: "u")
                {
                    let low = Self.hex4(raw, position + 2)
                    if low >= 0xDC00, low < 0xE000 {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        position += 6
                    }
                }
                guard let unicode = Unicode.Scalar(scalar) else {
                    throw JSONError(.invalidUTF8, "escape is not a Unicode scalar", offset: Int(tokens[index].start))
                }
                if let encoded = UTF8.encode(unicode) { output.append(contentsOf: encoded) }
            default: output.append(escape)
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    fileprivate static func hex4(_ raw: UnsafeBufferPointer<UInt8>, _ position: Int) -> UInt32 {
        var value: UInt32 = 0
        for offset in 0..<4 {
            let byte = raw[position + offset]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            default: digit = UInt32(byte &- UInt8(ascii: "A") &+ 10) & 0xF
            }
            value = value << 4 | digit
        }
        return value
    }

    func int64(_ index: Int) throws(JSONError) -> Int64 {
        let token = tokens[index]
        guard token.kind == .number else { throw mismatch(index, expected: "a number") }
        let digits = bytes(of: index)
        if token.flag {
            var position = 0
            let negative = digits[0] == UInt8(ascii: "-")
            if negative { position = 1 }
            var value: Int64 = 0
            while position < digits.count {
                let digit = Int64(digits[position] &- UInt8(ascii: "0"))
                let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) =
                    negative ? times.subtractingReportingOverflow(digit) : times.addingReportingOverflow(digit)
                if overflow1 || overflow2 {
                    throw JSONError(.invalidNumber, "integer out of range", offset: Int(token.start))
                }
                value = sum
                position += 1
            }
            return value
        }
        let double = try self.double(index)
        guard double.rounded() == double, let exact = Int64(exactly: double) else {
            throw JSONError(.invalidNumber, "number is not an integer", offset: Int(token.start))
        }
        return exact
    }

    func uint64(_ index: Int) throws(JSONError) -> UInt64 {
        let token = tokens[index]
        guard token.kind == .number else { throw mismatch(index, expected: "a number") }
        if token.flag, bytes(of: index).first != UInt8(ascii: "-") {
            var value: UInt64 = 0
            for byte in bytes(of: index) {
                let (times, overflow1) = value.multipliedReportingOverflow(by: 10)
                let (sum, overflow2) = times.addingReportingOverflow(UInt64(byte &- UInt8(ascii: "0")))
                if overflow1 || overflow2 {
                    throw JSONError(.invalidNumber, "integer out of range", offset: Int(token.start))
                }
                value = sum
            }
            return value
        }
        let signed = try int64(index)
        guard signed >= 0 else { throw JSONError(.invalidNumber, "negative value", offset: Int(token.start)) }
        return UInt64(signed)
    }

    func double(_ index: Int) throws(JSONError) -> Double {
        let token = tokens[index]
        guard token.kind == .number else { throw mismatch(index, expected: "a number") }
        if token.flag, let integer = try? int64(index) { return Double(integer) }
        let text = String(decoding: bytes(of: index), as: UTF8.self)
        guard let value = Double(text), value.isFinite else {
            throw JSONError(.invalidNumber, "number out of range", offset: Int(token.start))
        }
        return value
    }

    func bool(_ index: Int) throws(JSONError) -> Bool {
        switch tokens[index].kind {
        case .true: return true
        case .false: return false
        default: throw mismatch(index, expected: "a Boolean")
        }
    }

    func uuid(_ index: Int) throws(JSONError) -> UUIDValue {
        guard tokens[index].kind == .string, !tokens[index].flag,
            let value = UUIDValue(utf8: UnsafeRawBufferPointer(bytes(of: index)))
        else {
            throw JSONError(.invalidValue, "expected a UUID string", offset: Int(tokens[index].start))
        }
        return value
    }

    /// The value at `index` as a ``JSONValue``.
    func value(_ index: Int) throws(JSONError) -> JSONValue {
        let token = tokens[index]
        switch token.kind {
        case .null: return .null
        case .true: return .bool(true)
        case .false: return .bool(false)
        case .string: return .string(try string(index))
        case .number:
            if token.flag, let integer = try? int64(index) { return .integer(integer) }
            return .double(try double(index))
        case .array:
            var elements: [JSONValue] = []
            elements.reserveCapacity(Int(token.end))
            var position = index + 1
            for _ in 0..<Int(token.end) {
                elements.append(try value(position))
                position = after(position)
            }
            return .array(elements)
        case .object:
            var members: [JSONMember] = []
            members.reserveCapacity(Int(token.end))
            var position = index + 1
            for _ in 0..<Int(token.end) {
                let key = try string(position)
                members.append(JSONMember(key, try value(position + 1)))
                position = after(position + 1)
            }
            return .object(members)
        }
    }

    /// The root value as a ``JSONValue``.
    public func rootValue() throws(JSONError) -> JSONValue {
        guard !tokens.isEmpty else { throw JSONError(.syntax, "nothing parsed") }
        return try value(0)
    }

    func mismatch(_ index: Int, expected: String) -> JSONError {
        let found: String
        switch tokens[index].kind {
        case .null: found = "null"
        case .true, .false: found = "a Boolean"
        case .number: found = "a number"
        case .string: found = "a string"
        case .array: found = "an array"
        case .object: found = "an object"
        }
        return JSONError(.typeMismatch, "expected \(expected), found \(found)", offset: Int(tokens[index].start))
    }
}

/// Recursive-descent validation of RFC 8259 JSON, appending tokens as it goes.
private struct Parser {
    let bytes: UnsafePointer<UInt8>
    let count: Int
    let validateUTF8: Bool
    var index = 0

    init(bytes: UnsafePointer<UInt8>, count: Int, validateUTF8: Bool) {
        self.bytes = bytes
        self.count = count
        self.validateUTF8 = validateUTF8
    }

    mutating func skipWhitespace() {
        while index < count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    func error(_ message: String) -> JSONError {
        JSONError(.syntax, message, offset: index)
    }

    mutating func value(depth: Int, into tokens: inout [JSONTape.Token]) throws(JSONError) {
        skipWhitespace()
        guard index < count else { throw error("unexpected end of text") }
        switch bytes[index] {
        case UInt8(ascii: "{"): try object(depth: depth + 1, into: &tokens)
        case UInt8(ascii: "["): try array(depth: depth + 1, into: &tokens)
        case UInt8(ascii: "\""): try string(into: &tokens)
        case UInt8(ascii: "t"): try literal("true", .true, into: &tokens)
        case UInt8(ascii: "f"): try literal("false", .false, into: &tokens)
        case UInt8(ascii: "n"): try literal("null", .null, into: &tokens)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try number(into: &tokens)
        default: throw error("unexpected character")
        }
    }

    mutating func literal(
        _ text: StaticString,
        _ kind: JSONTape.Kind,
        into tokens: inout [JSONTape.Token]
    )
        throws(JSONError)
    {
        let length = text.utf8CodeUnitCount
        guard index + length <= count else { throw error("unexpected end of text") }
        let expected = UnsafeBufferPointer(start: text.utf8Start, count: length)
        for offset in 0..<length where bytes[index + offset] != expected[offset] {
            throw error("invalid literal")
        }
        tokens.append(
            JSONTape.Token(kind: kind, flag: false, start: UInt32(index), end: UInt32(index + length), next: 0)
        )
        index += length
    }

    mutating func object(depth: Int, into tokens: inout [JSONTape.Token]) throws(JSONError) {
        guard depth <= JSONTape.maximumDepth else {
            throw JSONError(.tooDeep, "nested deeper than \(JSONTape.maximumDepth)", offset: index)
        }
        let tokenIndex = tokens.count
        tokens.append(JSONTape.Token(kind: .object, flag: false, start: UInt32(index), end: 0, next: 0))
        index += 1
        skipWhitespace()
        var members: UInt32 = 0
        if index < count, bytes[index] == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipWhitespace()
                guard index < count, bytes[index] == UInt8(ascii: "\"") else { throw error("expected a key") }
                try string(into: &tokens)
                skipWhitespace()
                guard index < count, bytes[index] == UInt8(ascii: ":") else { throw error("expected ':'") }
                index += 1
                try value(depth: depth, into: &tokens)
                members += 1
                skipWhitespace()
                guard index < count else { throw error("unexpected end of text") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                } else if bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    break
                } else {
                    throw error("expected ',' or '}'")
                }
            }
        }
        tokens[tokenIndex].end = members
        tokens[tokenIndex].next = UInt32(tokens.count)
    }

    mutating func array(depth: Int, into tokens: inout [JSONTape.Token]) throws(JSONError) {
        guard depth <= JSONTape.maximumDepth else {
            throw JSONError(.tooDeep, "nested deeper than \(JSONTape.maximumDepth)", offset: index)
        }
        let tokenIndex = tokens.count
        tokens.append(JSONTape.Token(kind: .array, flag: false, start: UInt32(index), end: 0, next: 0))
        index += 1
        skipWhitespace()
        var elements: UInt32 = 0
        if index < count, bytes[index] == UInt8(ascii: "]") {
            index += 1
        } else {
            while true {
                try value(depth: depth, into: &tokens)
                elements += 1
                skipWhitespace()
                guard index < count else { throw error("unexpected end of text") }
                if bytes[index] == UInt8(ascii: ",") {
                    index += 1
                } else if bytes[index] == UInt8(ascii: "]") {
                    index += 1
                    break
                } else {
                    throw error("expected ',' or ']'")
                }
            }
        }
        tokens[tokenIndex].end = elements
        tokens[tokenIndex].next = UInt32(tokens.count)
    }

    mutating func string(into tokens: inout [JSONTape.Token]) throws(JSONError) {
        index += 1
        let start = index
        var escaped = false
        while true {
            // Eight bytes at a time while none of them needs a look: no quote, backslash,
            // control character, or (when validating) byte of a multi-byte sequence.
            index =
                validateUTF8
                ? Self.skipPlain(bytes, from: index, count: count, validateUTF8: true)
                : Self.skipPlain(bytes, from: index, count: count, validateUTF8: false)
            guard index < count else { throw error("unterminated string") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") { break }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                try escape()
                continue
            }
            if byte < 0x20 { throw error("control character in a string") }
            if byte >= 0x80, validateUTF8 {
                try multibyte()
                continue
            }
            index += 1
        }
        tokens.append(JSONTape.Token(kind: .string, flag: escaped, start: UInt32(start), end: UInt32(index), next: 0))
        index += 1
    }

    /// The offset of the first byte from `start` that may need a look (see ``marks(_:validateUTF8:)``),
    /// or the last offset from which fewer than eight bytes remain.
    @inline(__always)
    static func skipPlain(_ bytes: UnsafePointer<UInt8>, from start: Int, count: Int, validateUTF8: Bool) -> Int {
        var position = start
        // A local position and wrapping arithmetic (offsets are below `count`) keep the loop
        // in registers.
        while position &+ 8 <= count {
            let word = UnsafeRawPointer(bytes + position).loadUnaligned(as: UInt64.self)
            let marks = Self.marks(word, validateUTF8: validateUTF8)
            // The lowest mark is exact: skip straight to that byte.
            if marks != 0 { return position &+ (marks.trailingZeroBitCount &>> 3) }
            position &+= 8
        }
        return position
    }

    /// The high bit of each byte of `word` (little-endian) that is `"`, `\`, below 0x20, or
    /// (when validating) 0x80 or above; the lowest one set is exact, higher ones may be false.
    @inline(__always)
    static func marks(_ word: UInt64, validateUTF8: Bool) -> UInt64 {
        let ones: UInt64 = 0x0101_0101_0101_0101
        let highs: UInt64 = 0x8080_8080_8080_8080
        let quote = word ^ (ones &* 0x22)
        let backslash = word ^ (ones &* 0x5C)
        var found = ((quote &- ones) & ~quote) | ((backslash &- ones) & ~backslash) | ((word &- ones &* 0x20) & ~word)
        if validateUTF8 { found |= word }
        return found & highs
    }

    mutating func escape() throws(JSONError) {
        guard index + 1 < count else { throw error("unterminated escape") }
        switch bytes[index + 1] {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
            UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
            index += 2
        case UInt8(ascii: "u"):
            let high = try hex4(at: index + 2)
            index += 6
            if high >= 0xDC00, high < 0xE000 {
                throw JSONError(.invalidUTF8, "unpaired low surrogate escape", offset: index - 6)
            }
            if high >= 0xD800, high < 0xDC00 {
                guard index + 1 < count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u")
                else {
                    throw JSONError(.invalidUTF8, "unpaired high surrogate escape", offset: index - 6)
                }
                let low = try hex4(at: index + 2)
                guard low >= 0xDC00, low < 0xE000 else {
                    throw JSONError(.invalidUTF8, "unpaired high surrogate escape", offset: index - 6)
                }
                index += 6
            }
        default:
            throw error("invalid escape")
        }
    }

    func hex4(at position: Int) throws(JSONError) -> UInt32 {
        guard position + 4 <= count else { throw JSONError(.syntax, "short \\u escape", offset: position) }
        var value: UInt32 = 0
        for offset in 0..<4 {
            let byte = bytes[position + offset]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw JSONError(.syntax, "invalid \\u escape", offset: position)
            }
            value = value << 4 | digit
        }
        return value
    }

    /// Validates one multi-byte UTF-8 sequence (no overlongs, no surrogates, at most U+10FFFF).
    mutating func multibyte() throws(JSONError) {
        let lead = bytes[index]
        let length: Int
        var lowerBound: UInt8 = 0x80
        var upperBound: UInt8 = 0xBF
        switch lead {
        case 0xC2...0xDF: length = 2
        case 0xE0:
            length = 3
            lowerBound = 0xA0
        case 0xE1...0xEC, 0xEE...0xEF: length = 3
        case 0xED:
            length = 3
            upperBound = 0x9F
        case 0xF0:
            length = 4
            lowerBound = 0x90
        case 0xF1...0xF3: length = 4
        case 0xF4:
            length = 4
            upperBound = 0x8F
        default:
            throw JSONError(.invalidUTF8, "invalid UTF-8 lead byte", offset: index)
        }
        guard index + length <= count else { throw JSONError(.invalidUTF8, "truncated UTF-8 sequence", offset: index) }
        let second = bytes[index + 1]
        guard second >= lowerBound, second <= upperBound else {
            throw JSONError(.invalidUTF8, "invalid UTF-8 sequence", offset: index)
        }
        for offset in 2..<max(2, length) where bytes[index + offset] & 0xC0 != 0x80 {
            throw JSONError(.invalidUTF8, "invalid UTF-8 sequence", offset: index)
        }
        index += length
    }

    mutating func number(into tokens: inout [JSONTape.Token]) throws(JSONError) {
        let start = index
        var isInteger = true
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        guard index < count else { throw error("unexpected end of number") }
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else if bytes[index] >= UInt8(ascii: "1"), bytes[index] <= UInt8(ascii: "9") {
            while index < count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
        } else {
            throw error("invalid number")
        }
        if index < count, bytes[index] == UInt8(ascii: ".") {
            isInteger = false
            index += 1
            let digits = index
            while index < count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
            guard index > digits else { throw error("invalid number") }
        }
        if index < count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            isInteger = false
            index += 1
            if index < count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            let digits = index
            while index < count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") { index += 1 }
            guard index > digits else { throw error("invalid number") }
        }
        tokens.append(
            JSONTape.Token(kind: .number, flag: isInteger, start: UInt32(start), end: UInt32(index), next: 0)
        )
    }
}
