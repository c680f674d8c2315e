import ASMCore
import ASMSystem
import AgentSessionManager

/// What redaction costs: the store's step per payload, and the hold-back of streamed text.
struct RedactionBench {
    var quick: Bool

    func rows() -> [Row] {
        let redactor = Redactor()
        var rows: [Row] = []
        // Typical payloads: a 300-byte message, and a 64 KiB tool output (build log lines).
        let message = try? JSONValue.object([
            JSONMember("content", .string(String(repeating: "The build passed; 42 tests ran in 3.2 s. ", count: 7))),
            JSONMember("message_id", "msg_01"), JSONMember("role", "assistant"),
        ]).jsonBytes()
        var output = ""
        var line = 0
        while output.utf8.count < 64 * 1024 {
            line += 1
            output += "[\(line)/900] Compiling Module\(line % 37) File\(line).swift (warning: unused variable)\n"
        }
        let tool = try? JSONValue.object([
            JSONMember("call_id", "toolu_01"), JSONMember("name", "Bash"), JSONMember("output", .string(output)),
        ]).jsonBytes()
        for (label, payload, count) in [
            ("300-byte payload", message ?? [], quick ? 20_000 : 100_000),
            ("64 KiB tool output", tool ?? [], quick ? 200 : 1_000),
        ] {
            var samples: [Double] = []
            samples.reserveCapacity(count)
            var changed = 0
            for _ in 0..<count {
                let start = MonotonicTime.nanoseconds()
                if redactor.redact(json: payload) != nil { changed += 1 }
                samples.append(Double(MonotonicTime.nanoseconds() - start) / 1000)
            }
            samples.sort()
            rows.append(
                Row(
                    name: "redaction, \(label), p50",
                    engine: percentile(samples, 0.5),
                    unit: "µs",
                    lowerIsBetter: true,
                    target: "—"
                )
            )
            rows.append(
                Row(
                    name: "redaction, \(label), p99",
                    engine: percentile(samples, 0.99),
                    unit: "µs",
                    lowerIsBetter: true,
                    target: "—"
                )
            )
            if changed != 0 { print("redaction bench: \(label) was changed \(changed) times (expected none)") }
        }
        // Streamed text: cost per delta, and how many later deltas a character waits for.
        var random = SystemRandomNumberGenerator()
        let words = [
            "The", "build", "passed;", "42", "tests", "ran", "in", "3.2", "s.", "Next,", "review", "the", "diff.",
        ]
        var text = ""
        while text.utf8.count < (quick ? 20_000 : 200_000) {
            text +=
                (words.randomElement(using: &random) ?? "x")
                + (Int.random(in: 0..<12, using: &random) == 0 ? "\n" : " ")
        }
        var streaming = StreamingRedaction(redactor: redactor)
        var costs: [Double] = []
        var waits: [Double] = []
        var pending: [Int] = []  // the delta index each held character arrived in
        var index = text.startIndex
        var delta = 0
        while index < text.endIndex {
            let end =
                text.index(index, offsetBy: Int.random(in: 1...12, using: &random), limitedBy: text.endIndex)
                ?? text.endIndex
            let piece = String(text[index..<end])
            pending += Array(repeating: delta, count: piece.count)
            let start = MonotonicTime.nanoseconds()
            let ready = streaming.feed(piece)
            costs.append(Double(MonotonicTime.nanoseconds() - start) / 1000)
            for _ in 0..<min(ready.count, pending.count) { waits.append(Double(delta - pending.removeFirst())) }
            delta += 1
            index = end
        }
        costs.sort()
        waits.sort()
        rows.append(
            Row(
                name: "streamed delta hold-back, cost p50",
                engine: percentile(costs, 0.5),
                unit: "µs",
                lowerIsBetter: true,
                target: "—"
            )
        )
        rows.append(
            Row(
                name: "streamed delta hold-back, cost p99",
                engine: percentile(costs, 0.99),
                unit: "µs",
                lowerIsBetter: true,
                target: "—"
            )
        )
        rows.append(
            Row(
                name: "streamed text held, p50",
                engine: percentile(waits, 0.5),
                unit: "deltas",
                lowerIsBetter: true,
                target: "—"
            )
        )
        rows.append(
            Row(
                name: "streamed text held, p99",
                engine: percentile(waits, 0.99),
                unit: "deltas",
                lowerIsBetter: true,
                target: "—"
            )
        )
        return rows
    }
}
