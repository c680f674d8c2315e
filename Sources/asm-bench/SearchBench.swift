import ASMSystem
import AgentSessionManager
import Foundation

/// Search over a large log (p50/p99 per query), what-if replay speed, and what the search
/// index costs an append.
struct SearchBench {
    let directory: String
    let quick: Bool

    func run() async throws {
        let count = quick ? 100_000 : 1_000_000
        let path = directory + "/search.sqlite"
        removeDatabase(path)
        var configuration = SQLiteEventStore.Configuration()
        configuration.synchronous = .normal
        let store = try SQLiteEventStore(path: path, configuration: configuration)
        let workload = Workload()
        try await workload.setUp(store)
        let start = MonotonicTime.nanoseconds()
        try await workload.append(to: store, count: count, batch: 1000)
        let filled = Double(MonotonicTime.nanoseconds() - start) / 1e9
        print(
            String(
                format: "filled %d events at 1000/commit in %.1f s (%.0f ev/s, search index kept)",
                count,
                filled,
                Double(count) / filled
            )
        )

        let session = workload.sessions[3]
        let queries: [(String, SearchQuery)] = [
            ("a rarer word", try SearchQuery("lorem")),
            ("two common words", try SearchQuery("voluptate velit")),
            ("a common prefix", try SearchQuery("exercit*")),
            ("a rare pair", try SearchQuery("msg cillum")),
            ("no hit", try SearchQuery("zeppelin")),
            ("one session", try SearchQuery("lorem", session: session)),
            ("a common word, one type", try SearchQuery("dolor", types: [.toolCallCompleted])),
        ]
        let rounds = quick ? 20 : 50
        for (label, query) in queries {
            var times: [Double] = []
            var hits = 0
            for _ in 0..<rounds {
                let begin = MonotonicTime.nanoseconds()
                hits = try await store.search(query).count
                times.append(Double(MonotonicTime.nanoseconds() - begin) / 1e6)
            }
            times.sort()
            print(
                String(
                    format: "search %@ (%d hits, limit 20): p50 %.2f ms, p99 %.2f ms",
                    label,
                    hits,
                    percentile(times, 0.5),
                    percentile(times, 0.99)
                )
            )
        }

        let stack = try PolicyStack([
            try Policy(
                json: Array(
                    #"{"name": "whatif", "limits": {"max_tool_calls": 100000}, "tool_rules": [{"deny": ["Bash(rm *)"]}], "on_violation": "warn"}"#
                        .utf8
                )
            )
        ])
        let replayStart = MonotonicTime.nanoseconds()
        let report = try await PolicyWhatIf(stack: stack).compare(in: store)
        let replayed = Double(MonotonicTime.nanoseconds() - replayStart) / 1e9
        let events = try await store.lastSequence().rawValue
        print(
            String(
                format: "what-if replay: %lld events, %d runs, %d differences in %.2f s (%.0f ev/s)",
                events,
                report.runs,
                report.differences.count,
                replayed,
                Double(events) / replayed
            )
        )
        await store.close()
        removeDatabase(path)

        // What the index costs an append: the same workload with it and without, alternating.
        let suite = try Suite(arguments: ["--dir", directory])
        let appendCount = quick ? 20_000 : 200_000
        for batch in [1, 100, 1000] {
            var ratios: [Double] = []
            let n = batch == 1 ? appendCount / 50 : appendCount
            for _ in 0..<3 {
                let with = try await suite.appendRate(count: n, batch: batch).rate
                let without = try await suite.appendRate(count: n, batch: batch, indexingSearch: false).rate
                ratios.append(with / without)
            }
            print(
                String(
                    format: "append %d/commit with the search index / without: %.2fx (median of 3)",
                    batch,
                    median(ratios)
                )
            )
        }
    }
}
