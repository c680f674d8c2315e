import ASMCore
import ASMProviders
import FoundationEssentials
import Testing

/// Every capture in `Fixtures/providers/` maps to its checked-in normalized events.
@Suite struct GoldenTests {
    static let recording = ProcessInfo.processInfo.environment["RECORD_FIXTURES"] == "1"

    @Test("each capture decodes to its expected events", arguments: Capture.all)
    func golden(capture: Capture) throws {
        let actual = eventLines(capture.decode())
        if Self.recording {
            let text = actual.joined(separator: "\n") + "\n"
            _ = FileManager.default.createFile(atPath: capture.expectedPath, contents: Data(text.utf8))
            return
        }
        let expectedText = try #require(
            FileManager.default.contents(atPath: capture.expectedPath).map { String(decoding: $0, as: UTF8.self) },
            "no expected file for \(capture.file)"
        )
        let expected = expectedText.split(separator: "\n").map(String.init)
        #expect(actual == expected)
    }

    @Test("the manifest covers every capture in the folder")
    func manifestComplete() throws {
        let files = try FileManager.default.contentsOfDirectory(atPath: "\(fixtures)/providers")
            .filter { $0.hasSuffix(".jsonl") && !$0.hasSuffix(".stdin.jsonl") }.sorted()
        #expect(files == Capture.all.map(\.file).sorted())
    }

    @Test("every decoded run ends with exactly one terminal event, last", arguments: Capture.all)
    func oneTerminal(capture: Capture) {
        let events = capture.decode()
        #expect(events.filter(\.isTerminal).count == 1)
        #expect(events.last?.isTerminal == true)
    }

    @Test("usage deltas add up to the reported totals", arguments: Capture.all)
    func usageAddsUp(capture: Capture) {
        var sum = TokenUsage.zero
        for case .usage(let update) in capture.decode() {
            sum = sum + update.delta
            #expect(sum == update.total, "\(capture.file): deltas and totals disagree")
        }
    }
}
