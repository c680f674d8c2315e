/// The SHA-256 of an event's chain input: its canonical bytes and the previous event's hash.
public struct EventHash: Hashable, Sendable, CustomStringConvertible {
    /// The 32 bytes as four big-endian words.
    public var words: (UInt64, UInt64, UInt64, UInt64)

    public init(words: (UInt64, UInt64, UInt64, UInt64)) { self.words = words }

    /// The "previous hash" of the first event: 32 zero bytes.
    public static let genesis = EventHash(words: (0, 0, 0, 0))

    /// Reads 32 bytes; `nil` for any other length.
    public init?(bytes: UnsafeRawBufferPointer) {
        guard bytes.count == 32 else { return nil }
        words = (
            UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
            UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)),
            UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 16, as: UInt64.self)),
            UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 24, as: UInt64.self))
        )
    }

    /// Calls `body` with the 32 bytes.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var big = (words.0.bigEndian, words.1.bigEndian, words.2.bigEndian, words.3.bigEndian)
        return try withUnsafeBytes(of: &big) { try body($0) }
    }

    public static func == (lhs: EventHash, rhs: EventHash) -> Bool {
        lhs.words.0 == rhs.words.0 && lhs.words.1 == rhs.words.1 && lhs.words.2 == rhs.words.2
            && lhs.words.3 == rhs.words.3
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0)
        hasher.combine(words.1)
        hasher.combine(words.2)
        hasher.combine(words.3)
    }

    /// Reads 64 hex digits, with or without a `sha256:` prefix; `nil` for anything else.
    public init?(hex: String) {
        let digits = hex.hasPrefix("sha256:") ? hex.dropFirst(7) : Substring(hex)
        guard digits.count == 64 else { return nil }
        var words: [UInt64] = []
        var index = digits.startIndex
        for _ in 0..<4 {
            let end = digits.index(index, offsetBy: 16)
            guard let word = UInt64(digits[index..<end], radix: 16) else { return nil }
            words.append(word)
            index = end
        }
        self.words = (words[0], words[1], words[2], words[3])
    }

    /// 64 lowercase hex digits.
    public var description: String {
        var text = ""
        text.reserveCapacity(64)
        for word in [words.0, words.1, words.2, words.3] {
            let hex = String(word, radix: 16)
            text += String(repeating: "0", count: 16 - hex.count) + hex
        }
        return text
    }
}

/// The bytes each event's hash covers, defined so that any language can recompute it.
///
/// `hash(n) = SHA-256(input(n))` where `input(n)` is, in order:
///
/// | field | encoding |
/// |---|---|
/// | previous hash | 32 bytes (`hash(n-1)`; zeros for sequence 1) |
/// | sequence | 8 bytes, big-endian |
/// | event id | 16 bytes |
/// | stream id | 16 bytes |
/// | stream version | 8 bytes, big-endian |
/// | run id | 1 byte `0` when absent, else `1` and 16 bytes |
/// | type | 4-byte big-endian length, then UTF-8 |
/// | schema version | 4 bytes, big-endian |
/// | recorded at | 8 bytes, big-endian, microseconds since the epoch |
/// | payload | 4-byte big-endian length, then the stored bytes |
///
/// Version 2 (from the sequence `chain_versions` records) is the same but for the last row:
/// the payload is committed to through its SHA-256, 32 bytes with no length before them, so a
/// payload can be replaced by a tombstone that keeps its digest.
public enum HashChainInput {
    /// Appends `input(n)` to `buffer`: version 1 with the payload's bytes, version 2 when
    /// `payloadDigest` (the payload's SHA-256, or the digest a tombstone keeps) is given.
    public static func append(
        previous: EventHash,
        sequence: SequenceNumber,
        id: UUIDValue,
        stream: UUIDValue,
        streamVersion: StreamVersion,
        run: UUIDValue?,
        type: UnsafeRawBufferPointer,
        schemaVersion: Int,
        recordedAt: Timestamp,
        payload: UnsafeRawBufferPointer,
        payloadDigest: EventHash? = nil,
        to buffer: inout [UInt8]
    ) {
        previous.withBytes { buffer.append(contentsOf: $0) }
        appendBigEndian(UInt64(bitPattern: sequence.rawValue), to: &buffer)
        appendBigEndian(id.high, to: &buffer)
        appendBigEndian(id.low, to: &buffer)
        appendBigEndian(stream.high, to: &buffer)
        appendBigEndian(stream.low, to: &buffer)
        appendBigEndian(UInt64(bitPattern: streamVersion.rawValue), to: &buffer)
        if let run {
            buffer.append(1)
            appendBigEndian(run.high, to: &buffer)
            appendBigEndian(run.low, to: &buffer)
        } else {
            buffer.append(0)
        }
        appendBigEndian(UInt32(truncatingIfNeeded: type.count), to: &buffer)
        buffer.append(contentsOf: type)
        appendBigEndian(UInt32(truncatingIfNeeded: schemaVersion), to: &buffer)
        appendBigEndian(UInt64(bitPattern: recordedAt.microseconds), to: &buffer)
        if let payloadDigest {
            payloadDigest.withBytes { buffer.append(contentsOf: $0) }
        } else {
            appendBigEndian(UInt32(truncatingIfNeeded: payload.count), to: &buffer)
            buffer.append(contentsOf: payload)
        }
    }

    private static func appendBigEndian<T: FixedWidthInteger>(_ value: T, to buffer: inout [UInt8]) {
        withUnsafeBytes(of: value.bigEndian) { buffer.append(contentsOf: $0) }
    }
}
