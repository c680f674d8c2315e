/// The log's hash chain moved to a new version from the next event on.
///
/// Version 1 links each event to its payload's bytes; version 2 to the SHA-256 digest of its
/// payload, so a payload can be expunged (replaced by a tombstone that keeps the digest)
/// while the chain still verifies. A log started by this build is at version 2 from its
/// first event and records no upgrade; an older log records this event (itself linked under
/// version 1) the first time this build appends to it.
public struct ChainUpgraded: EventPayload {
    public static let eventType: EventType = "log.chain_upgraded"
    public static let fields = Fields(
        ChainUpgraded.init(fromVersion:toVersion:),
        Field("from_version", \.fromVersion),
        Field("to_version", \.toVersion)
    )
    public var fromVersion: Int
    public var toVersion: Int

    public init(fromVersion: Int, toVersion: Int) {
        self.fromVersion = fromVersion
        self.toVersion = toVersion
    }
}

/// Payloads were replaced by tombstones: who did it, when (the event's time) and why.
///
/// The expunged events keep their type, position and hash; their payload becomes
/// `{"digest":"sha256:…","expunged":true}`, the digest the chain links to.
public struct EventExpunged: EventPayload {
    public static let eventType: EventType = "event.expunged"
    public static let fields = Fields(
        EventExpunged.init(sequences:digests:reason:by:),
        Field("sequences", \.sequences),
        Field("digests", \.digests),
        Field("reason", \.reason),
        Field("by", \.by)
    )
    /// The events whose payloads were replaced.
    public var sequences: [SequenceNumber]
    /// The SHA-256 of each original payload (`sha256:<hex>`), in the same order.
    public var digests: [String]
    public var reason: String
    /// Who asked for it (the OS user by default).
    public var by: String

    public init(sequences: [SequenceNumber], digests: [String], reason: String, by: String) {
        self.sequences = sequences
        self.digests = digests
        self.reason = reason
        self.by = by
    }
}

extension StreamID {
    /// The stream of facts about the log itself: chain upgrades and expunges.
    public static let log = StreamID(uuid: .named("asm.system.log"))
}

/// The payload an expunged event keeps: its original payload's digest.
public enum Tombstone {
    /// The tombstone for a payload whose SHA-256 is `digest` (`sha256:<hex>`).
    public static func payload(digest: String) -> [UInt8] {
        Array(#"{"digest":"\#(digest)","expunged":true}"#.utf8)
    }

    /// The length of every tombstone, in bytes.
    public static let size = 18 + 64 + 18

    /// The digest a tombstone keeps, or `nil` when `payload` is not a tombstone.
    public static func digest(of payload: some Collection<UInt8>) -> String? {
        let prefix = Array(#"{"digest":"sha256:"#.utf8)
        let suffix = Array(#"","expunged":true}"#.utf8)
        let bytes = Array(payload)
        guard bytes.count == prefix.count + 64 + suffix.count, bytes.starts(with: prefix),
            bytes.suffix(suffix.count).elementsEqual(suffix)
        else { return nil }
        return String(decoding: bytes[(prefix.count - 7)..<(prefix.count + 64)], as: UTF8.self)
    }
}
