import ASMSystem
import ASMTelemetry
import AgentSessionManager

/// The analyses over a recorded history: what-if under another policy stack (events/s) and
/// runs as OpenTelemetry spans, mapped and encoded as OTLP/JSON (spans/s, no network).
struct AnalysisBench {
    let quick: Bool

    /// `runs` runs of a tool-using agent over 16 sessions: request, start, four tool calls
    /// (asked, started, completed), an answer, usage and the end — 17 events each.
    static func history(runs: Int) -> [EventEnvelope] {
        let sessions = (0..<16).map { _ in SessionID.generate() }
        var versions = [Int64](repeating: 0, count: 16)
        var events: [EventEnvelope] = []
        events.reserveCapacity(runs * 17)
        var sequence: Int64 = 0
        var time: Int64 = 1_780_000_000_000_000
        let tools = ["Read", "Bash", "Edit", "Grep"]
        for index in 0..<runs {
            let session = index % 16
            let run = RunID.generate()
            func add(_ event: SessionEvent) {
                sequence += 1
                versions[session] += 1
                time += 250
                events.append(
                    EventEnvelope(
                        sequence: SequenceNumber(sequence),
                        id: .generate(),
                        stream: sessions[session].stream,
                        streamVersion: StreamVersion(versions[session]),
                        runID: run,
                        recordedAt: Timestamp(microseconds: time),
                        event: event,
                        hash: .genesis
                    )
                )
            }
            add(.runRequested(RunRequested(messages: [ChatMessage(role: .user, content: "task \(index)")])))
            add(.runStarted(RunStarted(provider: "claude", model: "claude-sonnet-4")))
            for (number, tool) in tools.enumerated() {
                let call = "call_\(index)_\(number)"
                let input: JSONValue = .object([
                    JSONMember("command", .string(tool == "Bash" ? "ls -la src" : "src/main.swift"))
                ])
                add(.toolCallRequested(ToolCallRequested(callID: call, name: tool, input: input)))
                add(.toolCallStarted(ToolCallStarted(callID: call, name: tool, input: input)))
                add(.toolCallCompleted(ToolCallCompleted(callID: call, name: tool, output: "ok: 42 lines")))
            }
            add(.messageReceived(MessageReceived(role: .assistant, content: "Done with task \(index).")))
            let usage = TokenUsage(input: 1200, output: 300, cacheRead: 4000, cacheWrite: 0)
            add(
                .tokenUsageUpdated(
                    TokenUsageUpdated(
                        provider: "claude",
                        model: "claude-sonnet-4",
                        delta: usage,
                        total: usage,
                        costNanoUSD: 8_100_000
                    )
                )
            )
            add(.runCompleted(RunCompleted()))
        }
        return events
    }

    func rows(rounds: Int) throws -> [Row] {
        let history = Self.history(runs: quick ? 5_000 : 50_000)
        let stack = try PolicyStack([
            try Policy(
                json: Array(
                    #"{"name": "bench", "limits": {"max_total_tokens": 100000000, "max_tool_calls": 1000}, "tool_rules": [{"deny": ["Bash(rm *)", "Edit(/etc/*)"]}], "on_violation": "warn"}"#
                        .utf8
                )
            )
        ])
        var whatIf: [Double] = []
        var spansPerSecond: [Double] = []
        for _ in 0..<rounds {
            var start = MonotonicTime.nanoseconds()
            let report = PolicyWhatIf(stack: stack).compare(history)
            whatIf.append(Double(history.count) / (Double(MonotonicTime.nanoseconds() - start) / 1e9))
            guard report.runs > 0 else { throw BenchError("what if compared no runs") }
            start = MonotonicTime.nanoseconds()
            let spans = RunTraces.spans(history)
            var bytes = 0
            var index = 0
            while index < spans.count {
                let end = min(spans.count, index + 512)
                bytes += OTLPJSON.request(Array(spans[index..<end])).count
                index = end
            }
            spansPerSecond.append(Double(spans.count) / (Double(MonotonicTime.nanoseconds() - start) / 1e9))
            guard bytes > 0 else { throw BenchError("no spans") }
        }
        return [
            Row(
                name: "what-if: policy stack over recorded runs",
                engine: median(whatIf),
                anchor: nil,
                unit: "ev/s",
                target: "—"
            ),
            Row(
                name: "OpenTelemetry: runs → spans → OTLP/JSON",
                engine: median(spansPerSecond),
                anchor: nil,
                unit: "spans/s",
                target: "—"
            ),
        ]
    }
}
