/// Decodes `Decodable` values from JSON bytes through a reusable ``JSONTape``.
///
/// Keep one decoder per loop: its tape's token storage is reused for every text.
/// A decoder is not `Sendable`; each task or thread uses its own.
///
/// ```swift
/// var decoder = PayloadDecoder()
/// let message = try decoder.decode(MessageReceived.self, from: bytes)
/// ```
public struct PayloadDecoder {
    /// The tape of the last text decoded.
    public let tape = JSONTape()

    public init() {}

    /// Decodes a value from JSON bytes.
    /// - Parameter validateUTF8: check UTF-8 inside strings; text this library wrote can skip it.
    /// - Throws: ``JSONError`` for malformed JSON, a type mismatch, a missing key or an invalid value.
    public func decode<T: Decodable>(
        _ type: T.Type,
        from bytes: UnsafeRawBufferPointer,
        validateUTF8: Bool = true
    ) throws(JSONError) -> T {
        try tape.parse(bytes, validateUTF8: validateUTF8)
        return try decodeParsed(type)
    }

    /// Decodes a value from JSON bytes.
    /// - Throws: ``JSONError``, as ``decode(_:from:validateUTF8:)-(_,UnsafeRawBufferPointer,_)``.
    public func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8], validateUTF8: Bool = true) throws(JSONError)
        -> T
    {
        do {
            return try bytes.withUnsafeBytes { buffer in
                try decode(type, from: buffer, validateUTF8: validateUTF8)
            }
        } catch let error as JSONError {
            throw error
        } catch {
            throw JSONError(.invalidValue, "\(error)")
        }
    }

    /// Decodes a value from the text last parsed into ``tape``.
    /// - Throws: ``JSONError``.
    public func decodeParsed<T: Decodable>(_ type: T.Type) throws(JSONError) -> T {
        do {
            return try tape.decodeValue(type, at: 0)
        } catch let error as JSONError {
            throw error
        } catch let error as DecodingError {
            throw JSONError(.invalidValue, PayloadDecoder.describe(error))
        } catch {
            throw JSONError(.invalidValue, "\(error)")
        }
    }

    static func describe(_ error: DecodingError) -> String {
        switch error {
        case .dataCorrupted(let context), .typeMismatch(_, let context), .valueNotFound(_, let context):
            return context.debugDescription
        case .keyNotFound(let key, _):
            return "missing key \(key.stringValue)"
        @unknown default:
            return "\(error)"
        }
    }
}

extension JSONTape {
    func decodeValue<T: Decodable>(_ type: T.Type, at index: Int) throws -> T {
        if T.self == String.self { return try string(index) as! T }
        if T.self == JSONValue.self { return try value(index) as! T }
        if let identifier = T.self as? any UUIDIdentifier.Type {
            return identifier.init(uuid: try uuid(index)) as! T
        }
        return try T(from: PayloadDecoderImplementation(tape: self, index: index))
    }

    func requireMember(of object: Int, key: some CodingKey) throws(JSONError) -> Int {
        guard let index = findMember(of: object, key: key) else {
            throw JSONError(.missingKey, "missing key \(key.stringValue)")
        }
        return index
    }

    func findMember(of object: Int, key: some CodingKey) -> Int? {
        var name = key.stringValue
        return name.withUTF8 { member(of: object, key: $0) }
    }

    func presentMember(of object: Int, key: some CodingKey) -> Int? {
        guard let index = findMember(of: object, key: key), kind(index) != .null else { return nil }
        return index
    }
}

struct PayloadDecoderImplementation: Decoder {
    let tape: JSONTape
    let index: Int

    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard tape.kind(index) == .object else { throw tape.mismatch(index, expected: "an object") }
        return KeyedDecodingContainer(KeyedPayloadDecoder<Key>(tape: tape, object: index))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard tape.kind(index) == .array else { throw tape.mismatch(index, expected: "an array") }
        return UnkeyedPayloadDecoder(tape: tape, array: index)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleValuePayloadDecoder(tape: tape, index: index)
    }

    func decodeJSONValue() throws -> JSONValue {
        try tape.value(index)
    }
}

struct KeyedPayloadDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let tape: JSONTape
    let object: Int

    var codingPath: [any CodingKey] { [] }

    var allKeys: [Key] {
        ((try? tape.members(of: object)) ?? []).compactMap { Key(stringValue: $0.key) }
    }

    func contains(_ key: Key) -> Bool { tape.findMember(of: object, key: key) != nil }

    func decodeNil(forKey key: Key) throws -> Bool {
        tape.kind(try tape.requireMember(of: object, key: key)) == .null
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool {
        try tape.bool(tape.requireMember(of: object, key: key))
    }
    func decode(_ type: String.Type, forKey key: Key) throws -> String {
        try tape.string(tape.requireMember(of: object, key: key))
    }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double {
        try tape.double(tape.requireMember(of: object, key: key))
    }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float {
        Float(try tape.double(tape.requireMember(of: object, key: key)))
    }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int {
        Int(try tape.int64(tape.requireMember(of: object, key: key)))
    }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try narrow(key) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try narrow(key) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try narrow(key) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 {
        try tape.int64(tape.requireMember(of: object, key: key))
    }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try narrowUnsigned(key) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try narrowUnsigned(key) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try narrowUnsigned(key) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try narrowUnsigned(key) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 {
        try tape.uint64(tape.requireMember(of: object, key: key))
    }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try tape.decodeValue(type, at: tape.requireMember(of: object, key: key))
    }

    func decodeIfPresent(_ type: String.Type, forKey key: Key) throws -> String? {
        guard let index = tape.presentMember(of: object, key: key) else { return nil }
        return try tape.string(index)
    }
    func decodeIfPresent(_ type: Bool.Type, forKey key: Key) throws -> Bool? {
        guard let index = tape.presentMember(of: object, key: key) else { return nil }
        return try tape.bool(index)
    }
    func decodeIfPresent(_ type: Int.Type, forKey key: Key) throws -> Int? {
        guard let index = tape.presentMember(of: object, key: key) else { return nil }
        return Int(try tape.int64(index))
    }
    func decodeIfPresent(_ type: Int64.Type, forKey key: Key) throws -> Int64? {
        guard let index = tape.presentMember(of: object, key: key) else { return nil }
        return try tape.int64(index)
    }
    func decodeIfPresent(_ type: Double.Type, forKey key: Key) throws -> Double? {
        guard let index = tape.presentMember(of: object, key: key) else { return nil }
        return try tape.double(index)
    }
    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let index = tape.presentMember(of: object, key: key) else { return nil }
        return try tape.decodeValue(type, at: index)
    }

    private func narrow<T: FixedWidthInteger & SignedInteger>(_ key: Key) throws -> T {
        let value = try tape.int64(tape.requireMember(of: object, key: key))
        guard let exact = T(exactly: value) else {
            throw JSONError(.invalidNumber, "\(key.stringValue) out of range for \(T.self)")
        }
        return exact
    }

    private func narrowUnsigned<T: FixedWidthInteger & UnsignedInteger>(_ key: Key) throws -> T {
        let value = try tape.uint64(tape.requireMember(of: object, key: key))
        guard let exact = T(exactly: value) else {
            throw JSONError(.invalidNumber, "\(key.stringValue) out of range for \(T.self)")
        }
        return exact
    }

    func nestedContainer<NestedKey: CodingKey>(
        keyedBy type: NestedKey.Type,
        forKey key: Key
    ) throws -> KeyedDecodingContainer<NestedKey> {
        try PayloadDecoderImplementation(tape: tape, index: tape.requireMember(of: object, key: key))
            .container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try PayloadDecoderImplementation(tape: tape, index: tape.requireMember(of: object, key: key))
            .unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        throw JSONError(.unsupported, "superDecoder is not supported by the canonical codec")
    }

    func superDecoder(forKey key: Key) throws -> any Decoder { try superDecoder() }
}

struct UnkeyedPayloadDecoder: UnkeyedDecodingContainer {
    let tape: JSONTape
    let count: Int?
    var currentIndex = 0
    private var cursor: Int

    init(tape: JSONTape, array: Int) {
        self.tape = tape
        self.count = Int(tape.tokens[array].end)
        self.cursor = array + 1
    }

    var codingPath: [any CodingKey] { [] }
    var isAtEnd: Bool { currentIndex >= count! }

    private mutating func advance() throws -> Int {
        guard !isAtEnd else { throw JSONError(.typeMismatch, "array has no more elements") }
        let index = cursor
        cursor = tape.after(cursor)
        currentIndex += 1
        return index
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else { throw JSONError(.typeMismatch, "array has no more elements") }
        if tape.kind(cursor) == .null {
            _ = try advance()
            return true
        }
        return false
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try tape.bool(advance()) }
    mutating func decode(_ type: String.Type) throws -> String { try tape.string(advance()) }
    mutating func decode(_ type: Double.Type) throws -> Double { try tape.double(advance()) }
    mutating func decode(_ type: Int.Type) throws -> Int { Int(try tape.int64(advance())) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try tape.int64(advance()) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try tape.uint64(advance()) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let index = try advance()
        return try tape.decodeValue(type, at: index)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<
        NestedKey
    > {
        try PayloadDecoderImplementation(tape: tape, index: advance()).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        try PayloadDecoderImplementation(tape: tape, index: advance()).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        throw JSONError(.unsupported, "superDecoder is not supported by the canonical codec")
    }
}

struct SingleValuePayloadDecoder: SingleValueDecodingContainer {
    let tape: JSONTape
    let index: Int
    var codingPath: [any CodingKey] { [] }

    func decodeNil() -> Bool { tape.kind(index) == .null }
    func decode(_ type: Bool.Type) throws -> Bool { try tape.bool(index) }
    func decode(_ type: String.Type) throws -> String { try tape.string(index) }
    func decode(_ type: Double.Type) throws -> Double { try tape.double(index) }
    func decode(_ type: Float.Type) throws -> Float { Float(try tape.double(index)) }
    func decode(_ type: Int.Type) throws -> Int { Int(try tape.int64(index)) }
    func decode(_ type: Int8.Type) throws -> Int8 { try narrow() }
    func decode(_ type: Int16.Type) throws -> Int16 { try narrow() }
    func decode(_ type: Int32.Type) throws -> Int32 { try narrow() }
    func decode(_ type: Int64.Type) throws -> Int64 { try tape.int64(index) }
    func decode(_ type: UInt.Type) throws -> UInt { try narrowUnsigned() }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try narrowUnsigned() }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try narrowUnsigned() }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try narrowUnsigned() }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try tape.uint64(index) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try tape.decodeValue(type, at: index) }

    private func narrow<T: FixedWidthInteger & SignedInteger>() throws -> T {
        guard let exact = T(exactly: try tape.int64(index)) else {
            throw JSONError(.invalidNumber, "out of range for \(T.self)")
        }
        return exact
    }

    private func narrowUnsigned<T: FixedWidthInteger & UnsignedInteger>() throws -> T {
        guard let exact = T(exactly: try tape.uint64(index)) else {
            throw JSONError(.invalidNumber, "out of range for \(T.self)")
        }
        return exact
    }
}
