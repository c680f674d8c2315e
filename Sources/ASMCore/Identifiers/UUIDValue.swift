/// A 128-bit universally unique identifier, stored as two big-endian halves.
///
/// The identifier types of the log (``EventID``, ``SessionID``, ``RunID``, ``StreamID``)
/// wrap this value. It formats as the usual lowercase, hyphenated 36-character text and
/// is stored in SQLite as a 16-byte blob in network byte order.
///
/// Generation lives at the edges (the store and the runtime); this type only holds,
/// parses and formats the bits, so pure code never draws randomness.
public struct UUIDValue: Hashable, Comparable, Sendable {
    /// The first eight bytes, most significant first.
    public var high: UInt64
    /// The last eight bytes, most significant first.
    public var low: UInt64

    /// Creates a value from its two halves.
    public init(high: UInt64, low: UInt64) {
        self.high = high
        self.low = low
    }

    /// The all-zero identifier.
    public static let zero = UUIDValue(high: 0, low: 0)

    /// Builds a version 7 UUID (RFC 9562): 48 bits of Unix milliseconds, then random bits.
    ///
    /// Version 7 identifiers sort by creation time, so the unique index on event ids grows
    /// at its right edge instead of touching a random page per insert.
    /// - Parameters:
    ///   - unixMilliseconds: the creation time.
    ///   - randomHigh: 12 random bits are taken from it (`rand_a`).
    ///   - randomLow: 62 random bits are taken from it (`rand_b`).
    public static func version7(unixMilliseconds: UInt64, randomHigh: UInt64, randomLow: UInt64) -> UUIDValue {
        let high = (unixMilliseconds & 0xFFFF_FFFF_FFFF) << 16 | 0x7000 | (randomHigh & 0x0FFF)
        let low = 0x8000_0000_0000_0000 | (randomLow & 0x3FFF_FFFF_FFFF_FFFF)
        return UUIDValue(high: high, low: low)
    }

    /// Builds a version 4 UUID from 128 random bits (the version and variant bits are set).
    public static func version4(randomHigh: UInt64, randomLow: UInt64) -> UUIDValue {
        UUIDValue(
            high: (randomHigh & 0xFFFF_FFFF_FFFF_0FFF) | 0x4000,
            low: (randomLow & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        )
    }

    /// A deterministic name-based identifier (FNV-1a over the name, version nibble 8).
    ///
    /// Used for well-known system streams, so every build and every process derives the
    /// same identifier from the same name.
    public static func named(_ name: String) -> UUIDValue {
        var h1: UInt64 = 0xcbf2_9ce4_8422_2325
        var h2: UInt64 = 0x8422_2325_cbf2_9ce4
        for byte in name.utf8 {
            h1 = (h1 ^ UInt64(byte)) &* 0x0000_0100_0000_01B3
            h2 = (h2 ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 &+ 0x9E37_79B9
        }
        return UUIDValue(
            high: (h1 & 0xFFFF_FFFF_FFFF_0FFF) | 0x8000,
            low: (h2 & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        )
    }

    /// The Unix milliseconds of a version 7 identifier, or `nil` for other versions.
    public var unixMilliseconds: UInt64? {
        (high >> 12) & 0xF == 7 ? high >> 16 : nil
    }

    public static func < (lhs: UUIDValue, rhs: UUIDValue) -> Bool {
        (lhs.high, lhs.low) < (rhs.high, rhs.low)
    }
}

// MARK: - Bytes

extension UUIDValue {
    /// Reads 16 bytes in network byte order.
    ///
    /// - Returns: `nil` unless `bytes` holds exactly 16 bytes.
    public init?(bytes: UnsafeRawBufferPointer) {
        guard bytes.count == 16 else { return nil }
        self.high = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self))
        self.low = UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self))
    }

    /// Calls `body` with the 16 bytes in network byte order.
    public func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        var pair = (high.bigEndian, low.bigEndian)
        return try withUnsafeBytes(of: &pair) { try body($0) }
    }

    /// The 16 bytes in network byte order.
    public var bytes: [UInt8] {
        withBytes { Array($0) }
    }
}

// MARK: - Text

extension UUIDValue: CustomStringConvertible, LosslessStringConvertible {
    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Writes the 36-character form into `output`.
    public func appendText(to output: inout [UInt8]) {
        Self.hexDigits.withUnsafeBufferPointer { digits in
            for position in 0..<32 {
                if position == 8 || position == 12 || position == 16 || position == 20 {
                    output.append(UInt8(ascii: "-"))
                }
                let word = position < 16 ? high : low
                let shift = UInt64(60 - (position & 15) * 4)
                output.append(digits[Int((word >> shift) & 0xF)])
            }
        }
    }

    public var description: String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(36)
        appendText(to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Parses the hyphenated form (either case); also accepts the 32-digit form without hyphens.
    public init?(_ text: String) {
        var text = text
        let parsed = text.withUTF8 { UUIDValue(utf8: UnsafeRawBufferPointer($0)) }
        guard let parsed else { return nil }
        self = parsed
    }

    /// Parses UTF-8 text: 36 characters with hyphens at 8, 13, 18 and 23, or 32 hex digits.
    public init?(utf8 text: UnsafeRawBufferPointer) {
        guard text.count == 36 || text.count == 32 else { return nil }
        let hyphenated = text.count == 36
        var high: UInt64 = 0
        var low: UInt64 = 0
        var digitCount = 0
        for (offset, byte) in text.enumerated() {
            if hyphenated, offset == 8 || offset == 13 || offset == 18 || offset == 23 {
                guard byte == UInt8(ascii: "-") else { return nil }
                continue
            }
            let value: UInt64
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt64(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): value = UInt64(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): value = UInt64(byte - UInt8(ascii: "A") + 10)
            default: return nil
            }
            if digitCount < 16 {
                high = high << 4 | value
            } else {
                low = low << 4 | value
            }
            digitCount += 1
        }
        guard digitCount == 32 else { return nil }
        self.init(high: high, low: low)
    }
}
