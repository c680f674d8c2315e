/// Writes canonical JSON: no whitespace, object members sorted by key, shortest numbers.
///
/// Canonical means that equal values always produce equal bytes, in any process and any
/// build, which is what idempotent retries compare and what the hash chain covers.
/// The rules, so that another implementation can reproduce the bytes:
/// - no insignificant whitespace;
/// - object members sorted by the bytes of their escaped key, shorter key first on a tie;
/// - strings escape `"` and `\`, and control characters below U+0020 (as `\n`, `\r`, `\t`,
///   `\b`, `\f`, or `\u00XX` in lowercase hex); nothing else is escaped;
/// - integers in plain decimal; other numbers in Swift's shortest round-trip form;
///   NaN and infinities are refused.
public struct JSONWriter: Sendable {
    /// The output so far.
    public var bytes: [UInt8]
    /// Whether objects are sorted by key (canonical). Output for people and tools that
    /// prefer a fixed field order may turn it off; such output is not canonical.
    public var sortsKeys = true
    /// Member offsets of the objects still open: pairs of (member start, key end).
    private var memberOffsets: [Int] = []

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// An object being written.
    public struct ObjectMark: Sendable {
        fileprivate var start: Int
        fileprivate var base: Int
        fileprivate var count = 0
        fileprivate var isSorted = true
        fileprivate var previousKeyStart = 0
        fileprivate var previousKeyEnd = 0
    }

    /// An array being written.
    public struct ArrayMark: Sendable {
        /// The elements written so far.
        public fileprivate(set) var count = 0
    }

    // MARK: Containers

    /// Writes `{` and returns the mark that ``key(_:in:)`` and ``endObject(_:)`` take.
    public mutating func beginObject() -> ObjectMark {
        bytes.append(UInt8(ascii: "{"))
        return ObjectMark(start: bytes.count, base: memberOffsets.count)
    }

    /// Starts a member: writes the separator, the key and `:`. The value follows.
    public mutating func key(_ key: String, in mark: inout ObjectMark) {
        var key = key
        key.withUTF8 { self.key(utf8: $0, escaping: true, in: &mark) }
    }

    /// Starts a member whose key is a static ASCII name that needs no escaping.
    public mutating func key(_ key: StaticString, in mark: inout ObjectMark) {
        key.withUTF8Buffer { self.key(utf8: $0, escaping: false, in: &mark) }
    }

    private mutating func key(utf8 key: UnsafeBufferPointer<UInt8>, escaping: Bool, in mark: inout ObjectMark) {
        if mark.count > 0 { bytes.append(UInt8(ascii: ",")) }
        let memberStart = bytes.count
        if escaping {
            string(utf8: key)
        } else {
            bytes.append(UInt8(ascii: "\""))
            bytes.append(contentsOf: key)
            bytes.append(UInt8(ascii: "\""))
        }
        let keyEnd = bytes.count
        bytes.append(UInt8(ascii: ":"))
        if mark.count > 0, mark.isSorted,
            !Self.precedes(bytes, mark.previousKeyStart, mark.previousKeyEnd, memberStart, keyEnd)
        {
            mark.isSorted = false
        }
        mark.previousKeyStart = memberStart
        mark.previousKeyEnd = keyEnd
        memberOffsets.append(memberStart)
        memberOffsets.append(keyEnd)
        mark.count += 1
    }

    /// Sorts the members if they were not written in order, then writes `}`.
    public mutating func endObject(_ mark: ObjectMark) {
        if !mark.isSorted, sortsKeys { sortMembers(mark) }
        memberOffsets.removeSubrange(mark.base...)
        bytes.append(UInt8(ascii: "}"))
    }

    /// Writes `[`.
    public mutating func beginArray() -> ArrayMark {
        bytes.append(UInt8(ascii: "["))
        return ArrayMark()
    }

    /// Writes the separator before an element.
    public mutating func element(in mark: inout ArrayMark) {
        if mark.count > 0 { bytes.append(UInt8(ascii: ",")) }
        mark.count += 1
    }

    /// Writes `]`.
    public mutating func endArray(_ mark: ArrayMark) {
        bytes.append(UInt8(ascii: "]"))
    }

    private mutating func sortMembers(_ mark: ObjectMark) {
        let count = mark.count
        let end = bytes.count
        // Work on a copy of this object's bytes only; offsets become relative to it.
        let region = Array(bytes[mark.start..<end])
        var ranges: [(start: Int, keyEnd: Int, end: Int)] = []
        ranges.reserveCapacity(count)
        for index in 0..<count {
            let start = memberOffsets[mark.base + 2 * index] - mark.start
            let keyEnd = memberOffsets[mark.base + 2 * index + 1] - mark.start
            let memberEnd = index + 1 < count ? memberOffsets[mark.base + 2 * index + 2] - mark.start - 1 : region.count
            ranges.append((start, keyEnd, memberEnd))
        }
        ranges.sort { Self.precedes(region, $0.start, $0.keyEnd, $1.start, $1.keyEnd) }
        bytes.removeSubrange(mark.start..<end)
        for (index, range) in ranges.enumerated() {
            if index > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(contentsOf: region[range.start..<range.end])
        }
    }

    /// Whether the key at `a` sorts strictly before the key at `b` (bytes between the quotes).
    private static func precedes(_ bytes: [UInt8], _ aStart: Int, _ aEnd: Int, _ bStart: Int, _ bEnd: Int) -> Bool {
        let aLength = aEnd - aStart - 2
        let bLength = bEnd - bStart - 2
        var index = 0
        while index < aLength, index < bLength {
            let x = bytes[aStart + 1 + index]
            let y = bytes[bStart + 1 + index]
            if x != y { return x < y }
            index += 1
        }
        return aLength < bLength
    }

    // MARK: Scalars

    /// Writes `null`.
    public mutating func null() {
        bytes.append(contentsOf: "null".utf8)
    }

    /// Writes `true` or `false`.
    public mutating func bool(_ value: Bool) {
        if value {
            bytes.append(contentsOf: "true".utf8)
        } else {
            bytes.append(contentsOf: "false".utf8)
        }
    }

    /// Writes a signed integer in decimal.
    public mutating func integer(_ value: Int64) {
        if value < 0 {
            bytes.append(UInt8(ascii: "-"))
            unsigned(value.magnitude)
        } else {
            unsigned(UInt64(value))
        }
    }

    /// Writes an unsigned integer in decimal.
    public mutating func unsigned(_ value: UInt64) {
        if value < 10 {
            bytes.append(UInt8(ascii: "0") + UInt8(value))
            return
        }
        var digits: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 20 digits
        var remaining = value
        var count = 0
        withUnsafeMutableBytes(of: &digits) { buffer in
            while remaining > 0 {
                buffer[23 - count] = UInt8(ascii: "0") + UInt8(remaining % 10)
                remaining /= 10
                count += 1
            }
            bytes.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[(24 - count)...]))
        }
    }

    /// Writes a finite double in its shortest round-trip form.
    /// - Throws: ``JSONError`` with code `invalidNumber` for NaN and infinities.
    public mutating func double(_ value: Double) throws(JSONError) {
        guard value.isFinite else { throw JSONError(.invalidNumber, "NaN and infinities are not JSON") }
        if value == value.rounded(), abs(value) < 1e15 {
            integer(Int64(value))
            bytes.append(contentsOf: [UInt8(ascii: "."), UInt8(ascii: "0")])
            return
        }
        bytes.append(contentsOf: value.description.utf8)
    }

    /// Writes a string with the canonical escapes.
    public mutating func string(_ value: String) {
        var value = value
        value.withUTF8 { utf8 in string(utf8: utf8) }
    }

    /// Writes UTF-8 bytes as a JSON string with the canonical escapes.
    public mutating func string(utf8: UnsafeBufferPointer<UInt8>) {
        bytes.append(UInt8(ascii: "\""))
        var runStart = 0
        var index = 0
        let count = utf8.count
        while index < count {
            let byte = utf8[index]
            if byte >= 0x20 && byte != UInt8(ascii: "\"") && byte != UInt8(ascii: "\\") {
                index += 1
                continue
            }
            if runStart < index { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<index])) }
            bytes.append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""): bytes.append(UInt8(ascii: "\""))
            case UInt8(ascii: "\\"): bytes.append(UInt8(ascii: "\\"))
            case 0x0A: bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(UInt8(ascii: "t"))
            case 0x08: bytes.append(UInt8(ascii: "b"))
            case 0x0C: bytes.append(UInt8(ascii: "f"))
            default:
                bytes.append(contentsOf: "u00".utf8)
                bytes.append(Self.hexDigit(byte >> 4))
                bytes.append(Self.hexDigit(byte & 0xF))
            }
            index += 1
            runStart = index
        }
        if runStart < count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<count])) }
        bytes.append(UInt8(ascii: "\""))
    }

    private static func hexDigit(_ nibble: UInt8) -> UInt8 {
        nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
    }

    /// Writes a UUID as its 36-character string.
    public mutating func uuid(_ value: UUIDValue) {
        bytes.append(UInt8(ascii: "\""))
        value.appendText(to: &bytes)
        bytes.append(UInt8(ascii: "\""))
    }

    /// Writes bytes that are already one valid JSON value, such as a stored payload.
    public mutating func raw(_ json: [UInt8]) {
        bytes.append(contentsOf: json)
    }

    /// Writes any JSON value canonically.
    /// - Throws: ``JSONError`` with code `invalidNumber` for a non-finite double.
    public mutating func write(_ value: JSONValue) throws(JSONError) {
        switch value {
        case .null: null()
        case .bool(let flag): bool(flag)
        case .integer(let number): integer(number)
        case .double(let number): try double(number)
        case .string(let text): string(text)
        case .array(let elements):
            var mark = beginArray()
            for element in elements {
                self.element(in: &mark)
                try write(element)
            }
            endArray(mark)
        case .object(let members):
            var mark = beginObject()
            for member in members {
                key(member.key, in: &mark)
                try write(member.value)
            }
            endObject(mark)
        }
    }
}
