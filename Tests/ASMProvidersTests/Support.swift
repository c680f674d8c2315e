import ASMCore
import ASMProviders
import AgentSessionManagerTesting
import FoundationEssentials

/// The repository's `Fixtures/` directory.
let fixtures = PackageFiles.path("Fixtures")

/// One entry of `Fixtures/providers/manifest.json`.
struct Capture: CustomStringConvertible, Sendable {
    var file: String
    var provider: String
    var exit: Int32
    var stderr: String
    var cancelled: CancelReason?
    var model: String?
    var baseline: TokenUsage?

    var description: String { file }

    var path: String { "\(fixtures)/providers/\(file)" }
    var expectedPath: String {
        "\(fixtures)/providers/expected/\(file.dropLast(6)).events.jsonl"
    }

    var outcome: ProcessOutcome {
        ProcessOutcome(termination: .exited(exit), stderr: stderr, stop: cancelled.map { .cancelled($0) })
    }

    /// The capture's lines, as the process runner hands them to a decoder.
    var lines: [[UInt8]] {
        let data = FileManager.default.contents(atPath: path) ?? Data()
        return data.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
    }

    static let all: [Capture] = {
        let data = FileManager.default.contents(atPath: "\(fixtures)/providers/manifest.json") ?? Data()
        let value = (try? JSONValue(parsing: Array(data))) ?? .array([])
        return (value.arrayValue ?? []).map { entry in
            Capture(
                file: entry["file"]?.stringValue ?? "",
                provider: entry["provider"]?.stringValue ?? "",
                exit: Int32(entry["exit"]?.integerValue ?? 0),
                stderr: entry["stderr"]?.stringValue ?? "",
                cancelled: entry["cancelled"]?.stringValue.map(CancelReason.init(rawValue:)),
                model: entry["model"]?.stringValue,
                baseline: entry["baseline"].flatMap { baseline in
                    TokenUsage(
                        input: baseline["input"]?.integerValue ?? 0,
                        output: baseline["output"]?.integerValue ?? 0,
                        cacheRead: baseline["cache_read"]?.integerValue ?? 0,
                        cacheWrite: baseline["cache_write"]?.integerValue ?? 0,
                        reasoning: baseline["reasoning"]?.integerValue ?? 0
                    )
                }
            )
        }
    }()

    /// Decodes the capture with its provider's decoder.
    func decode() -> [ProviderEvent] {
        switch provider {
        case "claude": return run(ClaudeStreamDecoder())
        case "codex": return run(CodexStreamDecoder(model: model, baseline: baseline))
        default: return run(AmpStreamDecoder())
        }
    }

    private func run(_ decoder: some ProviderStreamDecoder) -> [ProviderEvent] {
        var decoder = decoder
        var events: [ProviderEvent] = []
        for line in lines { events += decoder.decode(line: line) }
        events += decoder.finish(outcome)
        return events
    }
}

/// One normalized event per line: `{"type":…,"payload":…}`.
func eventLines(_ events: [ProviderEvent]) -> [String] {
    let codec = EventCodec()
    return events.map { event in
        let encoded = (try? codec.encode(event.sessionEvent))
        var writer = JSONWriter()
        var object = writer.beginObject()
        writer.field("type", encoded?.type.rawValue ?? "?", in: &object)
        writer.key("payload", in: &object)
        writer.raw(encoded?.payload ?? Array("null".utf8))
        writer.endObject(object)
        return String(decoding: writer.bytes, as: UTF8.self)
    }
}
