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
    /// Run with the host permission protocol; the answers are the capture's `.stdin.jsonl`.
    var asks = false

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
                },
                asks: entry["asks"]?.boolValue ?? false
            )
        }
    }()

    /// The host's answers in the capture's `.stdin.jsonl`, by the CLI's request id.
    var answers: [String: ToolPermissionRequest.Verdict] {
        let data = FileManager.default.contents(atPath: "\(path.dropLast(6)).stdin.jsonl") ?? Data()
        var answers: [String: ToolPermissionRequest.Verdict] = [:]
        for line in data.split(separator: 0x0A) {
            guard let frame = try? JSONValue(parsing: Array(line)), frame["type"]?.stringValue == "control_response",
                let id = frame["response"]?["request_id"]?.stringValue,
                let behavior = frame["response"]?["response"]?["behavior"]?.stringValue
            else { continue }
            answers[id] =
                behavior == "allow"
                ? .allow : .deny(frame["response"]?["response"]?["message"]?.stringValue ?? "")
        }
        return answers
    }

    /// Decodes the capture with its provider's decoder.
    func decode() -> [ProviderEvent] {
        switch provider {
        case "claude": return run(ClaudeStreamDecoder(asksBeforeTools: asks))
        case "codex": return run(CodexStreamDecoder(model: model, baseline: baseline))
        default: return run(AmpStreamDecoder())
        }
    }

    /// Decodes as the process runner does; a held tool gets the capture's answer at once and,
    /// when allowed, starts before the CLI's next line.
    private func run(_ decoder: some ProviderStreamDecoder) -> [ProviderEvent] {
        var decoder = decoder
        var events: [ProviderEvent] = []
        let answers = self.answers
        for line in lines {
            for event in decoder.decode(line: line) {
                events.append(event)
                guard case .toolPermission(let question) = event,
                    let verdict = question.providerRequestID.flatMap({ answers[$0] })
                else { continue }
                question.answer(verdict)
                if case .allow = verdict { events.append(.toolStarted(question.call)) }
            }
        }
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
