import ASMCore
import AgentSessionManagerTesting
import Foundation
import Testing

/// The corpus of secret formats (`Fixtures/secrets/corpus.json`): each realistic fake value
/// is redacted in its usual context, each look-alike stays, and streamed text never keeps a
/// piece of a secret, wherever the deltas are cut.
@Suite struct SecretCorpusTests {
    struct Entry: Decodable, Sendable, CustomTestStringConvertible {
        var name: String
        var kind: String
        var secret: String
        var text: String
        var lookalike: String
        var testDescription: String { name }
    }

    static let entries: [Entry] = {
        struct Corpus: Decodable { var formats: [Entry] }
        let url = URL(fileURLWithPath: PackageFiles.path("Fixtures/secrets/corpus.json"))
        guard let data = try? Data(contentsOf: url), let corpus = try? JSONDecoder().decode(Corpus.self, from: data)
        else { return [] }
        return corpus.formats
    }()

    static let redactor = Redactor()

    @Test("the corpus holds at least 50 formats")
    func size() {
        #expect(Self.entries.count >= 50)
        #expect(Set(Self.entries.map(\.kind)).count >= 40)
    }

    @Test("each secret is replaced in its context, and the marker names its kind", arguments: entries)
    func redacted(_ entry: Entry) {
        let output = Self.redactor.redact(entry.text)
        #expect(!output.contains(entry.secret), "\(entry.name): \(output)")
        #expect(output.contains("[REDACTED:\(entry.kind)]"), "\(entry.name): \(output)")
    }

    @Test("each look-alike is left exactly as it was", arguments: entries)
    func lookalike(_ entry: Entry) {
        #expect(Self.redactor.redact(entry.lookalike) == entry.lookalike)
    }

    @Test(
        "ordinary text that resembles secrets stays",
        arguments: [
            "commit 3f786850e387550fdab836ed7e6dc881de23001b fixed it",
            "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "request id 01a24984-0556-7d1b-a338-4f523113a23b",
            "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==",
            "The primary_key and sort_key columns are indexed.", "Pass the token to the API; see the auth docs.",
            "Set the password field to required.", "Use Bearer authentication.", "key: value",
        ]
    )
    func prose(text: String) {
        #expect(Self.redactor.redact(text) == text)
    }

    @Test("a JSON text that holds a secret comes back canonical and redacted; one that does not is left alone")
    func json() throws {
        let entry = try #require(Self.entries.first { $0.kind == "github-token" })
        let payload = try JSONValue.object([JSONMember("content", .string(entry.text))]).jsonBytes()
        let redacted = try #require(Self.redactor.redact(json: payload))
        #expect(!String(decoding: redacted, as: UTF8.self).contains(entry.secret))
        #expect(Self.redactor.redact(json: try JSONValue.object([JSONMember("content", "hello")]).jsonBytes()) == nil)
    }

    @Test("a large output with no secret comes through byte-identical")
    func largeOutput() throws {
        var generator = SystemRandomNumberGenerator()
        let words = ["build", "test", "swift", "package", "module", "error:", "warning:", "note", "passed", "0x1F"]
        var text = ""
        while text.utf8.count < 1 << 20 {
            text += words.randomElement(using: &generator) ?? "x"
            text += Bool.random(using: &generator) ? " " : "\n"
        }
        #expect(Self.redactor.redact(text) == text)
        let payload = try JSONValue.object([JSONMember("output", .string(text))]).jsonBytes()
        #expect(Self.redactor.redact(json: payload) == nil)
    }

    /// Random text with secrets embedded, cut into deltas at random places: nothing of any
    /// secret survives in the deltas passed on, and they add up to the redacted whole.
    @Test("streamed text never keeps a piece of a secret, wherever the deltas are cut", arguments: [1, 2, 3, 4, 5])
    func streamedSplits(seed: UInt64) {
        var random = SplitMix(seed: seed)
        let filler = ["Here is", "the config:", "then run", "and check", "—", "ok.", "\n", "deploy", "with"]
        for _ in 0..<40 {
            var text = ""
            var secrets: [String] = []
            for _ in 0..<(1 + Int(random.next() % 3)) {
                let entry = Self.entries[Int(random.next() % UInt64(Self.entries.count))]
                text += filler[Int(random.next() % UInt64(filler.count))] + " " + entry.text + " "
                secrets.append(entry.secret)
            }
            text += "done."
            var streaming = StreamingRedaction(redactor: Self.redactor)
            var output = ""
            var index = text.startIndex
            while index < text.endIndex {
                let length = 1 + Int(random.next() % 24)
                let end = text.index(index, offsetBy: length, limitedBy: text.endIndex) ?? text.endIndex
                output += streaming.feed(String(text[index..<end]))
                index = end
            }
            output += streaming.flush()
            for secret in secrets {
                #expect(!output.contains(secret), "seed \(seed)")
                // No long piece of it either (8 characters is far below any format's length).
                let piece = String(secret.suffix(12))
                #expect(!output.contains(piece) || Self.redactor.redact(text).contains(piece), "seed \(seed)")
            }
            #expect(output == Self.redactor.redact(text), "seed \(seed)")
        }
    }
}

/// A small seeded generator, so a failing case can be replayed.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
