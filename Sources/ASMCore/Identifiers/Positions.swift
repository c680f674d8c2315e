/// A position in the global log: the gap-free sequence every event receives on commit.
///
/// The first event has sequence 1. ``zero`` means "before the first event" and is the
/// starting cursor of a reader that has seen nothing.
public struct SequenceNumber: RawRepresentable, Hashable, Comparable, Sendable, Codable,
    CustomStringConvertible, ExpressibleByIntegerLiteral
{
    public var rawValue: Int64
    public init(rawValue: Int64) { self.rawValue = rawValue }
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public init(integerLiteral value: Int64) { self.rawValue = value }

    /// Before the first event.
    public static let zero = SequenceNumber(0)

    /// The sequence right after this one.
    public var next: SequenceNumber { SequenceNumber(rawValue + 1) }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { String(rawValue) }
}

/// The position of an event inside its stream: 1 for the stream's first event.
public struct StreamVersion: RawRepresentable, Hashable, Comparable, Sendable, Codable,
    CustomStringConvertible, ExpressibleByIntegerLiteral
{
    public var rawValue: Int64
    public init(rawValue: Int64) { self.rawValue = rawValue }
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public init(integerLiteral value: Int64) { self.rawValue = value }

    /// The version of a stream that has no events.
    public static let none = StreamVersion(0)

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { String(rawValue) }
}

/// What an append expects of its stream before writing; a mismatch is a version conflict.
public enum ExpectedVersion: Hashable, Sendable, CustomStringConvertible {
    /// Append whatever the stream's version is.
    case any
    /// The stream must have no events yet.
    case noStream
    /// The stream must have at least one event.
    case streamExists
    /// The stream's current version must be exactly this (``StreamVersion/none`` equals ``noStream``).
    case exact(StreamVersion)
    /// The stream must be at this version or later, with none of the events appended after
    /// it of these types: others may have appended, but nothing that changes the decision
    /// the caller made when it read the stream at that version.
    case noneSince(StreamVersion, types: Set<EventType>)

    /// Whether a stream currently at `current` satisfies the version part of this
    /// expectation (for ``noneSince(_:types:)`` the store also checks the types).
    public func isSatisfied(by current: StreamVersion) -> Bool {
        switch self {
        case .any: true
        case .noStream: current == .none
        case .streamExists: current > .none
        case .exact(let version): current == version
        case .noneSince(let version, _): current >= version
        }
    }

    public var description: String {
        switch self {
        case .any: "any"
        case .noStream: "no stream"
        case .streamExists: "stream exists"
        case .exact(let version): "version \(version)"
        case .noneSince(let version, let types):
            "no \(types.map(\.rawValue).sorted().joined(separator: ", ")) after version \(version)"
        }
    }
}

/// A point in time as microseconds since the Unix epoch (UTC).
///
/// The log records time in microseconds; pure code receives it as a value and never
/// reads a clock.
public struct Timestamp: RawRepresentable, Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    /// Microseconds since 1970-01-01T00:00:00Z.
    public var microseconds: Int64
    public var rawValue: Int64 { microseconds }
    public init(rawValue: Int64) { self.microseconds = rawValue }
    public init(microseconds: Int64) { self.microseconds = microseconds }
    public init(milliseconds: Int64) { self.microseconds = milliseconds * 1000 }

    /// Milliseconds since the epoch, rounded down.
    public var milliseconds: Int64 {
        microseconds >= 0 ? microseconds / 1000 : (microseconds - 999) / 1000
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.microseconds < rhs.microseconds }

    /// This time moved by a number of microseconds.
    public func adding(microseconds delta: Int64) -> Timestamp { Timestamp(microseconds: microseconds + delta) }

    /// RFC 3339 text in UTC with microseconds, e.g. `2026-11-25T10:04:05.123456Z`.
    public var description: String {
        let seconds = microseconds >= 0 ? microseconds / 1_000_000 : (microseconds - 999_999) / 1_000_000
        let fraction = microseconds - seconds * 1_000_000
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (year, month, day) = Timestamp.civilDate(daysSinceEpoch: days)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):"
            + "\(pad(secondOfDay % 3600 / 60, 2)):\(pad(secondOfDay % 60, 2)).\(pad(fraction, 6))Z"
    }

    /// Howard Hinnant's days-to-civil conversion (proleptic Gregorian calendar).
    private static func civilDate(daysSinceEpoch: Int64) -> (Int64, Int64, Int64) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (m <= 2 ? y + 1 : y, m, d)
    }
}
