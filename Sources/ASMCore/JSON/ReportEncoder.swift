/// Encodes reports (`Encodable` read models and report structs: the CLI's `--json` output and
/// the HTTP API's bodies) with ``JSONWriter``'s rules, in their declared field order.
///
/// Event payloads never go through `Codable`: their canonical JSON comes from their field
/// declarations. This encoder writes straight into one byte buffer with no intermediate
/// tree; optional properties that are `nil` are left out, as `JSONEncoder` does.
public struct ReportEncoder: Sendable {
    /// Whether objects are sorted by key. Only canonical (sorted) output is hashed or stored;
    /// output for people may keep the types' declared order instead.
    public var sortsKeys: Bool

    public init(sortsKeys: Bool = true) {
        self.sortsKeys = sortsKeys
    }

    /// Encodes `value` to canonical JSON.
    /// - Throws: ``JSONError`` when a value cannot be represented (a non-finite number,
    ///   an unsupported coding feature) or the value's own `encode(to:)` throws.
    public func encode<T: Encodable>(_ value: T) throws(JSONError) -> [UInt8] {
        var writer = JSONWriter()
        writer.sortsKeys = sortsKeys
        try encode(value, into: &writer)
        return writer.bytes
    }

    /// Appends the canonical JSON of `value` to `writer`.
    /// - Throws: ``JSONError``, as ``encode(_:)``.
    public func encode<T: Encodable>(_ value: T, into writer: inout JSONWriter) throws(JSONError) {
        let state = EncodingState(writer: writer)
        writer = JSONWriter()
        defer { writer = state.writer }
        do {
            try state.encodeValue(value, parentDepth: -1)
        } catch let error as JSONError {
            throw error
        } catch let error as EncodingError {
            throw JSONError(.invalidValue, Self.describe(error))
        } catch {
            throw JSONError(.invalidValue, "\(error)")
        }
        if let failure = state.failure { throw failure }
    }

    private static func describe(_ error: EncodingError) -> String {
        switch error {
        case .invalidValue(_, let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? context.debugDescription : "\(path): \(context.debugDescription)"
        @unknown default:
            return "\(error)"
        }
    }
}

final class EncodingState {
    enum Frame {
        case object(JSONWriter.ObjectMark)
        case array(JSONWriter.ArrayMark)
    }

    var writer: JSONWriter
    var frames: [Frame] = []
    var failure: JSONError?

    init(writer: JSONWriter) {
        self.writer = writer
        frames.reserveCapacity(8)
    }

    /// Closes every container deeper than `depth`.
    func close(above depth: Int) {
        while frames.count > depth + 1 {
            switch frames.removeLast() {
            case .object(let mark): writer.endObject(mark)
            case .array(let mark): writer.endArray(mark)
            }
        }
    }

    /// Starts a member of the object at `depth`.
    func key(_ key: some CodingKey, depth: Int) {
        close(above: depth)
        guard case .object(var mark) = frames[depth] else {
            preconditionFailure("keyed container used after its parent moved on")
        }
        writer.key(key.stringValue, in: &mark)
        frames[depth] = .object(mark)
    }

    /// Starts an element of the array at `depth`.
    func element(depth: Int) {
        close(above: depth)
        guard case .array(var mark) = frames[depth] else {
            preconditionFailure("unkeyed container used after its parent moved on")
        }
        writer.element(in: &mark)
        frames[depth] = .array(mark)
    }

    func pushObject(depth: Int) {
        close(above: depth - 1)
        if frames.count == depth + 1, case .object = frames[depth] { return }
        frames.append(.object(writer.beginObject()))
    }

    func pushArray(depth: Int) {
        close(above: depth - 1)
        if frames.count == depth + 1, case .array = frames[depth] { return }
        frames.append(.array(writer.beginArray()))
    }

    func arrayCount(depth: Int) -> Int {
        guard depth < frames.count, case .array(let mark) = frames[depth] else { return 0 }
        return mark.count
    }

    /// Encodes one value whose container (if any) will live at `parentDepth + 1`.
    func encodeValue<T: Encodable>(_ value: T, parentDepth: Int) throws {
        close(above: parentDepth)
        if let string = value as? String {
            writer.string(string)
            return
        }
        if let payload = value as? any PayloadValue {
            try payload.write(to: &writer)
            return
        }
        let before = writer.bytes.count
        try value.encode(to: ReportEncoderImplementation(state: self, depth: parentDepth + 1))
        close(above: parentDepth)
        if writer.bytes.count == before {
            writer.bytes.append(contentsOf: "{}".utf8)
        }
    }
}

struct ReportEncoderImplementation: Encoder {
    let state: EncodingState
    let depth: Int

    var codingPath: [any CodingKey] { [] }
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        state.pushObject(depth: depth)
        return KeyedEncodingContainer(KeyedReportEncoder<Key>(state: state, depth: depth))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        state.pushArray(depth: depth)
        return UnkeyedReportEncoder(state: state, depth: depth)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleValueReportEncoder(state: state, depth: depth)
    }
}

struct KeyedReportEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let state: EncodingState
    let depth: Int
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil(forKey key: Key) throws {
        state.key(key, depth: depth)
        state.writer.null()
    }
    mutating func encode(_ value: Bool, forKey key: Key) throws {
        state.key(key, depth: depth)
        state.writer.bool(value)
    }
    mutating func encode(_ value: String, forKey key: Key) throws {
        state.key(key, depth: depth)
        state.writer.string(value)
    }
    mutating func encode(_ value: Double, forKey key: Key) throws {
        state.key(key, depth: depth)
        try state.writer.double(value)
    }
    mutating func encode(_ value: Float, forKey key: Key) throws {
        state.key(key, depth: depth)
        try state.writer.double(Double(value))
    }
    mutating func encode(_ value: Int, forKey key: Key) throws {
        state.key(key, depth: depth)
        state.writer.integer(Int64(value))
    }
    mutating func encode(_ value: Int8, forKey key: Key) throws { try encode(Int(value), forKey: key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { try encode(Int(value), forKey: key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { try encode(Int(value), forKey: key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws {
        state.key(key, depth: depth)
        state.writer.integer(value)
    }
    mutating func encode(_ value: UInt, forKey key: Key) throws { try encode(UInt64(value), forKey: key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { try encode(UInt64(value), forKey: key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { try encode(UInt64(value), forKey: key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { try encode(UInt64(value), forKey: key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws {
        state.key(key, depth: depth)
        state.writer.unsigned(value)
    }
    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        state.key(key, depth: depth)
        try state.encodeValue(value, parentDepth: depth)
    }

    // `nil` optionals are left out, like JSONEncoder does.
    mutating func encodeIfPresent(_ value: String?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Bool?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Int?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Int64?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) }
    }
    mutating func encodeIfPresent(_ value: Double?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) }
    }
    mutating func encodeIfPresent<T: Encodable>(_ value: T?, forKey key: Key) throws {
        if let value { try encode(value, forKey: key) }
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type,
        forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        state.key(key, depth: depth)
        state.pushObject(depth: depth + 1)
        return KeyedEncodingContainer(KeyedReportEncoder<NestedKey>(state: state, depth: depth + 1))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        state.key(key, depth: depth)
        state.pushArray(depth: depth + 1)
        return UnkeyedReportEncoder(state: state, depth: depth + 1)
    }

    mutating func superEncoder() -> any Encoder {
        state.failure = JSONError(.unsupported, "superEncoder is not supported by the canonical codec")
        return ReportEncoderImplementation(state: state, depth: depth + 1)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder { superEncoder() }
}

struct UnkeyedReportEncoder: UnkeyedEncodingContainer {
    let state: EncodingState
    let depth: Int
    var codingPath: [any CodingKey] { [] }
    var count: Int { state.arrayCount(depth: depth) }

    mutating func encodeNil() throws {
        state.element(depth: depth)
        state.writer.null()
    }
    mutating func encode(_ value: Bool) throws {
        state.element(depth: depth)
        state.writer.bool(value)
    }
    mutating func encode(_ value: String) throws {
        state.element(depth: depth)
        state.writer.string(value)
    }
    mutating func encode(_ value: Double) throws {
        state.element(depth: depth)
        try state.writer.double(value)
    }
    mutating func encode(_ value: Int) throws {
        state.element(depth: depth)
        state.writer.integer(Int64(value))
    }
    mutating func encode(_ value: Int64) throws {
        state.element(depth: depth)
        state.writer.integer(value)
    }
    mutating func encode(_ value: UInt64) throws {
        state.element(depth: depth)
        state.writer.unsigned(value)
    }
    mutating func encode<T: Encodable>(_ value: T) throws {
        state.element(depth: depth)
        try state.encodeValue(value, parentDepth: depth)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type
    ) -> KeyedEncodingContainer<
        NestedKey
    > {
        state.element(depth: depth)
        state.pushObject(depth: depth + 1)
        return KeyedEncodingContainer(KeyedReportEncoder<NestedKey>(state: state, depth: depth + 1))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        state.element(depth: depth)
        state.pushArray(depth: depth + 1)
        return UnkeyedReportEncoder(state: state, depth: depth + 1)
    }

    mutating func superEncoder() -> any Encoder {
        state.failure = JSONError(.unsupported, "superEncoder is not supported by the canonical codec")
        return ReportEncoderImplementation(state: state, depth: depth + 1)
    }
}

struct SingleValueReportEncoder: SingleValueEncodingContainer {
    let state: EncodingState
    let depth: Int
    var codingPath: [any CodingKey] { [] }

    mutating func encodeNil() throws { state.writer.null() }
    mutating func encode(_ value: Bool) throws { state.writer.bool(value) }
    mutating func encode(_ value: String) throws { state.writer.string(value) }
    mutating func encode(_ value: Double) throws { try state.writer.double(value) }
    mutating func encode(_ value: Float) throws { try state.writer.double(Double(value)) }
    mutating func encode(_ value: Int) throws { state.writer.integer(Int64(value)) }
    mutating func encode(_ value: Int8) throws { state.writer.integer(Int64(value)) }
    mutating func encode(_ value: Int16) throws { state.writer.integer(Int64(value)) }
    mutating func encode(_ value: Int32) throws { state.writer.integer(Int64(value)) }
    mutating func encode(_ value: Int64) throws { state.writer.integer(value) }
    mutating func encode(_ value: UInt) throws { state.writer.unsigned(UInt64(value)) }
    mutating func encode(_ value: UInt8) throws { state.writer.unsigned(UInt64(value)) }
    mutating func encode(_ value: UInt16) throws { state.writer.unsigned(UInt64(value)) }
    mutating func encode(_ value: UInt32) throws { state.writer.unsigned(UInt64(value)) }
    mutating func encode(_ value: UInt64) throws { state.writer.unsigned(value) }
    mutating func encode<T: Encodable>(_ value: T) throws {
        try state.encodeValue(value, parentDepth: depth - 1)
    }
}
