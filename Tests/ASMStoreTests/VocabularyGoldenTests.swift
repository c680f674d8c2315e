import ASMCore
import ASMStore
import AgentSessionManagerTesting
import FoundationEssentials
import Testing

/// The vocabulary's stored bytes and decoded values never change: digests recorded once,
/// over the fixture log and over the sample histories, must stay the same.
@Suite struct VocabularyGoldenTests {
    static let fixture = PackageFiles.path("Fixtures/logs/multi-provider.sqlite")

    /// FNV-1a over bytes, enough to notice a single changed byte.
    struct Digest {
        var value: UInt64 = 0xcbf2_9ce4_8422_2325
        mutating func add(_ bytes: some Sequence<UInt8>) {
            for byte in bytes { value = (value ^ UInt64(byte)) &* 0x100_0000_01B3 }
            value = (value ^ 0xff) &* 0x100_0000_01B3
        }
        mutating func add(_ text: String) { add(text.utf8) }
        var hex: String { String(value, radix: 16) }
    }

    /// A value's whole structure, with dictionaries in key order so the text does not depend
    /// on the process's hash seed.
    func describe(_ value: Any) -> String {
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .dictionary:
            return "[" + mirror.children.map { describe($0.value) }.sorted().joined(separator: ",") + "]"
        case .set:
            return "{" + mirror.children.map { describe($0.value) }.sorted().joined(separator: ",") + "}"
        case nil:
            return String(reflecting: value)
        default:
            // Absent optionals are left out, as in the canonical bytes: a payload that gains an
            // optional field describes its old values as before.
            let children = mirror.children.filter { child in
                let inner = Mirror(reflecting: child.value)
                return !(inner.displayStyle == .optional && inner.children.isEmpty)
            }.map { "\($0.label ?? "_"):\(describe($0.value))" }
            return "\(mirror.subjectType)(" + children.joined(separator: ",") + ")"
        }
    }

    @Test("the fixture log decodes to the recorded values, re-encodes to its stored bytes and verifies")
    func fixtureLog() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let copy = directory.file("fixture.sqlite")
        try FileManager.default.copyItem(atPath: Self.fixture, toPath: copy)
        let store = try SQLiteEventStore(path: copy)
        #expect(try await store.verify().isIntact)
        let codec = EventCodec()
        var values = Digest()
        var count = 0
        var cursor = SequenceNumber.zero
        while true {
            let page = try await store.recordedEvents(from: cursor.next, limit: 500, filter: .all)
            for recorded in page.events {
                let event = codec.decode(
                    type: recorded.type,
                    schemaVersion: recorded.schemaVersion,
                    payload: recorded.payload
                )
                if case .opaque = event { Issue.record("\(recorded.type) at \(recorded.sequence) did not decode") }
                let again = try codec.encode(event)
                #expect(
                    again.payload == recorded.payload,
                    "\(recorded.type) at \(recorded.sequence) re-encodes differently"
                )
                #expect(again.type == recorded.type && again.schemaVersion == recorded.schemaVersion)
                values.add(describe(event))
                count += 1
            }
            if page.events.isEmpty { break }
            cursor = page.scannedThrough
        }
        await store.close()
        #expect(count > 0)
        #expect(values.hex == "ca5a755f6d2a99a8", "decoded values: \(values.hex) over \(count) events")
    }

    @Test("sample events and histories keep their canonical bytes and decoded values")
    func samples() throws {
        let codec = EventCodec()
        var bytes = Digest()
        var values = Digest()
        for seed: UInt64 in [1, 2, 3, 42, 2026] {
            var samples = SampleEvents(seed: seed)
            var events: [SessionEvent] = []
            // The vocabulary as these digests were recorded: the first 32 kinds.
            for _ in 0..<25 {
                events += (0..<SampleEvents.historyKinds).map { samples.event(kind: $0) }
            }
            for batch in SampleHistory(seed: seed, sessions: 6, events: 400).batches {
                events += batch.events.map(\.event)
            }
            for event in events {
                let encoded = try codec.encode(event)
                bytes.add(encoded.type.rawValue)
                bytes.add(String(encoded.schemaVersion))
                bytes.add(encoded.payload)
                let decoded = codec.decode(
                    type: encoded.type,
                    schemaVersion: encoded.schemaVersion,
                    payload: encoded.payload
                )
                if case .opaque(let sent) = event, case .opaque(let read) = decoded {
                    #expect(read.payload == sent.payload && read.type == sent.type)
                } else {
                    #expect(decoded == event, "\(encoded.type) did not round-trip")
                }
                values.add(describe(decoded))
            }
        }
        #expect(bytes.hex == "344166eb6e9f383a", "canonical bytes: \(bytes.hex)")
        #expect(values.hex == "32830cb4b6edd97a", "decoded values: \(values.hex)")
    }
}
