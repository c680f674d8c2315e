/// A value a payload field can hold: it reads itself from a parsed JSON text and writes its
/// canonical JSON.
///
/// `Optional` marks an optional field: an absent key or `null` reads as `nil`, and `nil` is
/// left out when writing. Every other value is required: an absent key is an error.
public protocol PayloadValue: Sendable, Hashable, Codable {
    /// Reads the value at `reader`'s position.
    /// - Throws: ``JSONError`` on a type mismatch or an invalid value.
    static func read(_ reader: PayloadReader) throws(JSONError) -> Self
    /// The value of a field whose key the payload does not hold.
    /// - Throws: ``JSONError`` with ``JSONError/Code/missingKey``, unless the value is optional.
    static func absent(_ key: StaticString) throws(JSONError) -> Self
    /// Whether the field is left out of the payload (a `nil` optional).
    var isAbsent: Bool { get }
    /// Whether a payload may leave the field out (an `Optional`).
    static var isOptional: Bool { get }
    /// Appends the value's canonical JSON.
    /// - Throws: ``JSONError`` when it cannot be represented (a non-finite number).
    func write(to writer: inout JSONWriter) throws(JSONError)
}

extension PayloadValue {
    /// Reads a value from JSON text (UTF-8 checked).
    /// - Throws: ``JSONError`` for malformed text or a value of the wrong shape.
    public static func decode(json bytes: some Collection<UInt8>) throws(JSONError) -> Self {
        try PayloadReader.parsing(bytes) { reader throws(JSONError) in try read(reader) }
    }

    /// The value's canonical JSON text.
    /// - Throws: ``JSONError`` when it cannot be represented (a non-finite number).
    public func canonicalJSON() throws(JSONError) -> [UInt8] {
        var writer = JSONWriter()
        try write(to: &writer)
        return writer.bytes
    }

    public static func absent(_ key: StaticString) throws(JSONError) -> Self {
        throw JSONError(.missingKey, "missing key \(key)")
    }

    public var isAbsent: Bool { false }
    public static var isOptional: Bool { false }
}

/// One position in a parsed JSON text: what a ``PayloadValue`` reads from.
///
/// A reader is valid only inside the read it is handed to (``PayloadValue/read(_:)``, the
/// body of ``parsing(_:_:)``): it points into the text being read, which does not outlive
/// that call, so a reader must not be stored.
public struct PayloadReader {
    // Not retained: the text the tape points into lives no longer than the tape's owner
    // keeps it, so a reader that escaped its read would be invalid either way, and a read
    // makes and drops a reader for every field.
    let unmanagedTape: Unmanaged<JSONTape>
    let index: Int

    init(tape: JSONTape, index: Int) {
        self.unmanagedTape = Unmanaged.passUnretained(tape)
        self.index = index
    }

    var tape: JSONTape { unmanagedTape.takeUnretainedValue() }

    /// Runs `body` on the tape without retaining it (a read makes many calls).
    @inline(__always)
    private func onTape<T>(_ body: (JSONTape) throws(JSONError) -> T) throws(JSONError) -> T {
        let result: Result<T, JSONError> = unmanagedTape._withUnsafeGuaranteedRef { tape in
            do throws(JSONError) {
                return .success(try body(tape))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Parses JSON text (UTF-8 checked) and reads it with `body` while the bytes are alive.
    /// - Throws: ``JSONError`` for malformed text, or what `body` throws.
    public static func parsing<T>(
        _ bytes: some Collection<UInt8>,
        _ body: (PayloadReader) throws(JSONError) -> T
    ) throws(JSONError) -> T {
        let tape = JSONTape()
        let contiguous = Array(bytes)
        let result: Result<T, JSONError> = contiguous.withUnsafeBytes { buffer in
            do throws(JSONError) {
                try tape.parse(buffer, validateUTF8: true)
                return .success(try body(PayloadReader(tape: tape, index: 0)))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    public var isNull: Bool { unmanagedTape._withUnsafeGuaranteedRef { $0.kind(index) == .null } }
    public func string() throws(JSONError) -> String { try onTape { tape throws(JSONError) in try tape.string(index) } }
    public func int64() throws(JSONError) -> Int64 { try onTape { tape throws(JSONError) in try tape.int64(index) } }
    public func uint64() throws(JSONError) -> UInt64 { try onTape { tape throws(JSONError) in try tape.uint64(index) } }
    public func double() throws(JSONError) -> Double { try onTape { tape throws(JSONError) in try tape.double(index) } }
    public func bool() throws(JSONError) -> Bool { try onTape { tape throws(JSONError) in try tape.bool(index) } }
    public func uuid() throws(JSONError) -> UUIDValue { try onTape { tape throws(JSONError) in try tape.uuid(index) } }
    public func value() throws(JSONError) -> JSONValue {
        try onTape { tape throws(JSONError) in try tape.value(index) }
    }

    /// The member `key` of the object here, or `nil` when the object does not hold it.
    /// - Throws: ``JSONError`` when the value here is not an object.
    public func member(_ key: StaticString) throws(JSONError) -> PayloadReader? {
        guard tape.kind(index) == .object else { throw tape.mismatch(index, expected: "an object") }
        let found = key.withUTF8Buffer { tape.member(of: index, key: $0) }
        return found.map { PayloadReader(tape: tape, index: $0) }
    }

    /// The elements of the array here.
    /// - Throws: ``JSONError`` when the value here is not an array.
    public func elements() throws(JSONError) -> [PayloadReader] {
        guard tape.kind(index) == .array else { throw tape.mismatch(index, expected: "an array") }
        var result: [PayloadReader] = []
        let count = Int(tape.tokens[index].end)
        result.reserveCapacity(count)
        var position = index + 1
        for _ in 0..<count {
            result.append(PayloadReader(tape: tape, index: position))
            position = tape.after(position)
        }
        return result
    }

    /// The keys and values of the object here, in document order.
    /// - Throws: ``JSONError`` when the value here is not an object.
    public func members() throws(JSONError) -> [(key: String, value: PayloadReader)] {
        guard tape.kind(index) == .object else { throw tape.mismatch(index, expected: "an object") }
        return try tape.members(of: index).map { ($0.key, PayloadReader(tape: tape, index: $0.value)) }
    }
}

// MARK: Fields

/// One field of a payload: its JSON key and how to read it from a value.
///
/// Declared with a key path: `Field("stop_reason", \.stopReason)`.
public struct Field<Root, Value: PayloadValue>: Sendable {
    public let key: StaticString
    let get: @Sendable (Root) -> Value
    /// Writes the member (or nothing, for an absent optional); made here, where the types
    /// are the declaration's own, so it runs specialized whatever calls it.
    let writeMember: @Sendable (Root, inout JSONWriter, inout JSONWriter.ObjectMark) throws(JSONError) -> Void

    public init(_ key: StaticString, _ get: @escaping @Sendable (Root) -> Value) {
        self.key = key
        self.get = get
        writeMember = { root, writer, mark throws(JSONError) in
            let value = get(root)
            guard !value.isAbsent else { return }
            writer.key(key, in: &mark)
            try value.write(to: &writer)
        }
    }

    var isOptional: Bool { Value.isOptional }

    func encode(_ root: Root, to container: inout KeyedEncodingContainer<AnyCodingKey>) throws {
        let value = get(root)
        guard !value.isAbsent else { return }
        try container.encode(value, forKey: AnyCodingKey(key.description))
    }

    func decode(from container: KeyedDecodingContainer<AnyCodingKey>) throws -> Value {
        let codingKey = AnyCodingKey(key.description)
        guard container.contains(codingKey) else { return try Value.absent(key) }
        return try container.decode(Value.self, forKey: codingKey)
    }
}

/// The shape of a JSON object type, declared once: the memberwise initializer and the
/// fields in its parameter order. The canonical encoder and the decoder both come from it.
public protocol ObjectShape<Root>: Sendable {
    associatedtype Root
    /// Reads a value from the object at `reader`.
    func read(_ reader: PayloadReader) throws(JSONError) -> Root
    /// Writes `value` as one object with its keys sorted.
    func write(_ value: Root, to writer: inout JSONWriter) throws(JSONError)
    /// The JSON keys and whether each may be absent, in declaration order.
    var keys: [(key: String, isOptional: Bool)] { get }
    /// Encodes `value` through `Codable`, with the same keys.
    func encode(_ value: Root, to encoder: any Encoder) throws
    /// Decodes a value through `Codable`, with the same keys.
    func decode(from decoder: any Decoder) throws -> Root
}

/// The fields of an object type and the initializer that takes them, in the same order.
///
/// ```swift
/// public static let fields = Fields(
///     RunQueued.init(position:reason:), Field("position", \.position), Field("reason", \.reason))
/// ```
public struct Fields<Root, each Value: PayloadValue>: ObjectShape {
    /// The work, as closures made once from the declaration: the shape is read through
    /// `Self.fields` on every event, so it stays one reference to copy.
    private let box: FieldsBox<Root>

    public init(_ make: @escaping @Sendable (repeat each Value) -> Root, _ fields: repeat Field<Root, each Value>) {
        let fields = (repeat each fields)
        var keys: [(key: String, isOptional: Bool)] = []
        for field in repeat each fields { keys.append((field.key.description, field.isOptional)) }
        // Written in canonical (sorted) key order, so the writer never has to sort members.
        typealias Writer = @Sendable (Root, inout JSONWriter, inout JSONWriter.ObjectMark) throws(JSONError) -> Void
        var writers: [(key: String, write: Writer)] = []
        for field in repeat each fields { writers.append((field.key.description, field.writeMember)) }
        let ordered = writers.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }.map { $0.write }
        // Reading captures only the keys (no closures to retain per field) and finds every
        // field's value in one pass over the object (``KeyIndex``).
        var fieldKeys: [StaticString] = []
        for field in repeat each fields { fieldKeys.append(field.key) }
        let index = KeyIndex(fieldKeys)
        box = FieldsBox(
            keys: keys,
            read: { reader throws(JSONError) in
                try index.withSlots(in: reader) { slots throws(JSONError) in
                    var position = 0
                    return make(repeat try readField((each Value).self, index, slots, &position, reader))
                }
            },
            write: { value, writer throws(JSONError) in
                var object = writer.beginObject()
                for write in ordered { try write(value, &writer, &object) }
                writer.endObject(object)
            },
            encode: { value, encoder in
                var container = encoder.container(keyedBy: AnyCodingKey.self)
                for field in repeat each fields { try field.encode(value, to: &container) }
            },
            decode: { decoder in
                let container = try decoder.container(keyedBy: AnyCodingKey.self)
                return make(repeat try (each fields).decode(from: container))
            }
        )
    }

    public func read(_ reader: PayloadReader) throws(JSONError) -> Root {
        guard reader.tape.kind(reader.index) == .object else {
            throw reader.tape.mismatch(reader.index, expected: "an object")
        }
        return try box.read(reader)
    }

    public func write(_ value: Root, to writer: inout JSONWriter) throws(JSONError) { try box.write(value, &writer) }

    public func encode(_ value: Root, to encoder: any Encoder) throws { try box.encode(value, encoder) }

    public func decode(from decoder: any Decoder) throws -> Root { try box.decode(decoder) }

    public var keys: [(key: String, isOptional: Bool)] { box.keys }
}

/// Reads the field at `position` in declaration order from the value token `slots` found.
@inline(__always)
private func readField<Value: PayloadValue>(
    _: Value.Type,
    _ index: KeyIndex,
    _ slots: UnsafeMutableBufferPointer<Int32>,
    _ position: inout Int,
    _ reader: PayloadReader
) throws(JSONError) -> Value {
    let slot = Int(slots[position])
    position += 1
    guard slot >= 0 else { return try Value.absent(index.keys[position - 1]) }
    return try Value.read(PayloadReader(tape: reader.tape, index: slot))
}

/// The keys of an object type, sorted, to find all of an object's fields in one pass.
///
/// Stored objects are canonical (keys sorted, unique, unescaped), so one merge of the
/// object's keys with the declared ones places every field. Any other object (keys out of
/// order, duplicated or escaped: JSON from elsewhere) is read by looking each key up on
/// its own, with the same result: the first occurrence of a key wins.
final class KeyIndex: @unchecked Sendable {  // immutable after init
    /// The declared keys in declaration order.
    let keys: [StaticString]
    /// The keys' bytes, in the keys' byte order, one after another.
    private let bytes: UnsafeMutablePointer<UInt8>
    /// Where each sorted key starts in `bytes`, and one past the last.
    private let starts: UnsafeMutablePointer<Int>
    /// Each sorted key's declaration position.
    private let positions: UnsafeMutablePointer<Int>

    init(_ keys: [StaticString]) {
        self.keys = keys
        let owned = keys.map { key in key.withUTF8Buffer { Array($0) } }
        let order = owned.indices.sorted { owned[$0].lexicographicallyPrecedes(owned[$1]) }
        bytes = .allocate(capacity: max(1, owned.reduce(0) { $0 + $1.count }))
        starts = .allocate(capacity: keys.count + 1)
        positions = .allocate(capacity: max(1, keys.count))
        var offset = 0
        for (rank, position) in order.enumerated() {
            starts[rank] = offset
            positions[rank] = position
            for byte in owned[position] {
                bytes[offset] = byte
                offset += 1
            }
        }
        starts[keys.count] = offset
    }

    deinit {
        bytes.deallocate()
        starts.deallocate()
        positions.deallocate()
    }

    /// Calls `body` with the value token of each declared key (-1 when absent), in
    /// declaration order.
    @inline(__always)
    func withSlots<Result>(
        in reader: PayloadReader,
        _ body: (UnsafeMutableBufferPointer<Int32>) throws(JSONError) -> Result
    ) throws(JSONError) -> Result {
        let outcome: Swift.Result<Result, JSONError> = withUnsafeTemporaryAllocation(
            of: Int32.self,
            capacity: keys.count
        ) { slots in
            slots.initialize(repeating: -1)
            place(in: reader.tape, object: reader.index, slots)
            do throws(JSONError) {
                return .success(try body(slots))
            } catch {
                return .failure(error)
            }
        }
        return try outcome.get()
    }

    /// Fills `slots` for the object at `object`.
    private func place(in tape: JSONTape, object: Int, _ slots: UnsafeMutableBufferPointer<Int32>) {
        guard let base = tape.base else { return }
        let declared = keys.count
        var canonical = true
        var next = 0  // the sorted rank of the next declared key to match
        var previous = UnsafeBufferPointer<UInt8>(start: nil, count: 0)
        var index = object + 1
        for member in 0..<Int(tape.tokens[object].end) {
            let token = tape.tokens[index]
            if token.flag {
                canonical = false
                break
            }
            let key = UnsafeBufferPointer(start: base + Int(token.start), count: Int(token.end - token.start))
            if next < declared, Self.equal(key, declaredKey(next)) {
                // The common case: the next declared key. It follows `previous` in order, as the
                // merge passed every declared key up to `previous`.
                slots[positions[next]] = Int32(index + 1)
                next += 1
            } else {
                if member > 0, Self.compare(previous, key) >= 0 {
                    canonical = false
                    break
                }
                while next < declared {
                    let comparison = Self.compare(declaredKey(next), key)
                    if comparison < 0 {
                        next += 1
                        continue
                    }
                    if comparison == 0 {
                        slots[positions[next]] = Int32(index + 1)
                        next += 1
                    }
                    break
                }
            }
            previous = key
            index = tape.after(index + 1)
        }
        guard !canonical else { return }
        // Not canonical: every key is looked up on its own (the merge may have passed over
        // an escaped first occurrence).
        for position in 0..<declared {
            slots[position] = keys[position].withUTF8Buffer { tape.member(of: object, key: $0) }.map(Int32.init) ?? -1
        }
    }

    /// The declared key of sorted rank `rank`.
    @inline(__always)
    private func declaredKey(_ rank: Int) -> UnsafeBufferPointer<UInt8> {
        UnsafeBufferPointer(start: bytes + starts[rank], count: starts[rank + 1] - starts[rank])
    }

    /// Whether two byte strings are equal: compared a word at a time, never reading
    /// outside either.
    @inline(__always)
    private static func equal(_ lhs: UnsafeBufferPointer<UInt8>, _ rhs: UnsafeBufferPointer<UInt8>) -> Bool {
        let count = lhs.count
        guard count == rhs.count else { return false }
        guard count > 0, let left = lhs.baseAddress, let right = rhs.baseAddress else { return true }
        let l = UnsafeRawPointer(left)
        let r = UnsafeRawPointer(right)
        if count >= 8 {
            var offset = 0
            while offset + 8 < count {
                if l.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                    != r.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
                {
                    return false
                }
                offset += 8
            }
            // The last eight bytes (overlapping what was compared).
            return l.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
                == r.loadUnaligned(fromByteOffset: count - 8, as: UInt64.self)
        }
        if count >= 4 {
            return l.loadUnaligned(as: UInt32.self) == r.loadUnaligned(as: UInt32.self)
                && l.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)
                    == r.loadUnaligned(fromByteOffset: count - 4, as: UInt32.self)
        }
        var offset = 0
        while offset < count {
            if left[offset] != right[offset] { return false }
            offset += 1
        }
        return true
    }

    /// Byte-wise order: negative, zero or positive.
    @inline(__always)
    private static func compare(_ lhs: UnsafeBufferPointer<UInt8>, _ rhs: UnsafeBufferPointer<UInt8>) -> Int {
        guard let left = lhs.baseAddress, let right = rhs.baseAddress else { return lhs.count - rhs.count }
        let common = min(lhs.count, rhs.count)
        var offset = 0
        while offset < common {
            if left[offset] != right[offset] { return Int(left[offset]) - Int(right[offset]) }
            offset += 1
        }
        return lhs.count - rhs.count
    }
}

/// The closures of one ``Fields`` declaration.
private final class FieldsBox<Root>: Sendable {
    let keys: [(key: String, isOptional: Bool)]
    let read: @Sendable (PayloadReader) throws(JSONError) -> Root
    let write: @Sendable (Root, inout JSONWriter) throws(JSONError) -> Void
    let encode: @Sendable (Root, any Encoder) throws -> Void
    let decode: @Sendable (any Decoder) throws -> Root

    init(
        keys: [(key: String, isOptional: Bool)],
        read: @escaping @Sendable (PayloadReader) throws(JSONError) -> Root,
        write: @escaping @Sendable (Root, inout JSONWriter) throws(JSONError) -> Void,
        encode: @escaping @Sendable (Root, any Encoder) throws -> Void,
        decode: @escaping @Sendable (any Decoder) throws -> Root
    ) {
        self.keys = keys
        self.read = read
        self.write = write
        self.encode = encode
        self.decode = decode
    }
}

/// A value stored as a JSON object whose fields are declared once, in ``fields``.
public protocol PayloadObject: PayloadValue {
    associatedtype Shape: ObjectShape where Shape.Root == Self
    /// The declaration of the object's fields.
    static var fields: Shape { get }
}

extension PayloadObject {
    /// The JSON keys and whether each may be absent, in declaration order.
    public static var fieldKeys: [(key: String, isOptional: Bool)] { fields.keys }

    public static func read(_ reader: PayloadReader) throws(JSONError) -> Self { try fields.read(reader) }
    public func write(to writer: inout JSONWriter) throws(JSONError) { try Self.fields.write(self, to: &writer) }
}

// MARK: Values

extension String: PayloadValue {
    public static func read(_ reader: PayloadReader) throws(JSONError) -> String { try reader.string() }
    public func write(to writer: inout JSONWriter) throws(JSONError) { writer.string(self) }
}

extension Int: PayloadValue {
    public static func read(_ reader: PayloadReader) throws(JSONError) -> Int { Int(try reader.int64()) }
    public func write(to writer: inout JSONWriter) throws(JSONError) { writer.integer(Int64(self)) }
}

extension Int64: PayloadValue {
    public static func read(_ reader: PayloadReader) throws(JSONError) -> Int64 { try reader.int64() }
    public func write(to writer: inout JSONWriter) throws(JSONError) { writer.integer(self) }
}

extension UInt64: PayloadValue {
    public static func read(_ reader: PayloadReader) throws(JSONError) -> UInt64 { try reader.uint64() }
    public func write(to writer: inout JSONWriter) throws(JSONError) { writer.unsigned(self) }
}

extension Double: PayloadValue {
    public static func read(_ reader: PayloadReader) throws(JSONError) -> Double { try reader.double() }
    public func write(to writer: inout JSONWriter) throws(JSONError) { try writer.double(self) }
}

extension Bool: PayloadValue {
    public static func read(_ reader: PayloadReader) throws(JSONError) -> Bool { try reader.bool() }
    public func write(to writer: inout JSONWriter) throws(JSONError) { writer.bool(self) }
}

extension JSONValue: PayloadValue {
    public static func read(_ reader: PayloadReader) throws(JSONError) -> JSONValue { try reader.value() }
    public func write(to writer: inout JSONWriter) throws(JSONError) { try writer.write(self) }
}

extension Optional: PayloadValue where Wrapped: PayloadValue {
    public static func read(_ reader: PayloadReader) throws(JSONError) -> Wrapped? {
        reader.isNull ? nil : try Wrapped.read(reader)
    }
    public static func absent(_ key: StaticString) throws(JSONError) -> Wrapped? { nil }
    public var isAbsent: Bool { self == nil }
    public static var isOptional: Bool { true }
    public func write(to writer: inout JSONWriter) throws(JSONError) {
        if let self { try self.write(to: &writer) } else { writer.null() }
    }
}

extension Array: PayloadValue where Element: PayloadValue {
    public static func read(_ reader: PayloadReader) throws(JSONError) -> [Element] {
        var result: [Element] = []
        for element in try reader.elements() { result.append(try Element.read(element)) }
        return result
    }
    public func write(to writer: inout JSONWriter) throws(JSONError) {
        var array = writer.beginArray()
        for element in self {
            writer.element(in: &array)
            try element.write(to: &writer)
        }
        writer.endArray(array)
    }
}

extension Dictionary: PayloadValue where Key == String, Value: PayloadValue {
    /// The first of duplicate keys wins.
    public static func read(_ reader: PayloadReader) throws(JSONError) -> [String: Value] {
        var result: [String: Value] = [:]
        for (key, value) in try reader.members() where result[key] == nil { result[key] = try Value.read(value) }
        return result
    }
    public func write(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        for (key, value) in self.sorted(by: { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }) {
            writer.key(key, in: &object)
            try value.write(to: &writer)
        }
        writer.endObject(object)
    }
}

/// A value stored as its string raw value.
public protocol StringPayloadValue: PayloadValue, RawRepresentable where RawValue == String {
    init(rawValue: String)
}

extension StringPayloadValue {
    public static func read(_ reader: PayloadReader) throws(JSONError) -> Self { Self(rawValue: try reader.string()) }
    public func write(to writer: inout JSONWriter) throws(JSONError) { writer.string(rawValue) }
}

extension SequenceNumber: PayloadValue {
    public static func read(_ reader: PayloadReader) throws(JSONError) -> SequenceNumber {
        SequenceNumber(try reader.int64())
    }
    public func write(to writer: inout JSONWriter) throws(JSONError) { writer.integer(rawValue) }
}

extension StreamVersion: PayloadValue {
    public static func read(_ reader: PayloadReader) throws(JSONError) -> StreamVersion {
        StreamVersion(try reader.int64())
    }
    public func write(to writer: inout JSONWriter) throws(JSONError) { writer.integer(rawValue) }
}

extension Timestamp: PayloadValue {
    public static func read(_ reader: PayloadReader) throws(JSONError) -> Timestamp {
        Timestamp(microseconds: try reader.int64())
    }
    public func write(to writer: inout JSONWriter) throws(JSONError) { writer.integer(microseconds) }
}

// MARK: Codable, from the same declaration

/// Object types encode and decode through `Codable` (Foundation's JSONEncoder, a user's own
/// coder) from their ``PayloadObject/fields`` too, so their keys are never declared twice.
extension PayloadObject {
    public func encode(to encoder: any Encoder) throws { try Self.fields.encode(self, to: encoder) }
    public init(from decoder: any Decoder) throws { self = try Self.fields.decode(from: decoder) }
}
