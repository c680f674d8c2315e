import ASMSystem
import AgentSessionManager
import Foundation

/// Full-text search over a large log: a million workload events (half of them with text:
/// whole messages, tool calls and outputs of ~300 bytes) appended with the search index on,
/// then each query timed again and again (p50 and p99, limit 20); and what the index costs an
/// append while a log has it on.
struct SearchBench {
    let suite: Suite
    var directory: String { suite.directory }
    var quick: Bool { suite.quick }

    func rows(rounds: Int) async throws -> [Row] {
        let count = quick ? 100_000 : 1_000_000
        let path = directory + "/search.sqlite"
        removeDatabase(path)
        defer { removeDatabase(path) }
        let store = try SQLiteEventStore(path: path, synchronous: .normal)
        let workload = Workload()
        try await workload.setUp(store)
        _ = try await store.setSearchIndex(true)
        let start = MonotonicTime.nanoseconds()
        try await workload.append(to: store, count: count, batch: 1000)
        let fillRate = Double(count) / (Double(MonotonicTime.nanoseconds() - start) / 1e9)
        let status = try await store.searchIndex()
        guard status.indexedEvents > count / 3 else {
            throw BenchError("the index holds \(status.indexedEvents) of \(count) events")
        }
        var rows = [
            Row(
                name: "search: \(count / 1000)k events appended with the index on, 1000/commit (NORMAL)",
                engine: fillRate,
                anchor: nil,
                unit: "ev/s",
                target: "—"
            )
        ]

        let session = workload.sessions[3]
        let queries: [(String, SearchQuery, Int)] = [
            ("a word in few events", try SearchQuery("lorem"), 50),
            ("two words in most text events", try SearchQuery("voluptate velit"), quick ? 10 : 20),
            ("a prefix in most text events", try SearchQuery("exercit*"), quick ? 10 : 20),
            ("a word never seen", try SearchQuery("zeppelin"), 50),
            ("a common word in one session", try SearchQuery("lorem", session: session), 50),
            ("a common word, one event type", try SearchQuery("dolor", types: [.toolCallCompleted]), quick ? 10 : 20),
        ]
        for (label, query, rounds) in queries {
            var times: [Double] = []
            for _ in 0..<rounds {
                let begin = MonotonicTime.nanoseconds()
                _ = try await store.search(query)
                times.append(Double(MonotonicTime.nanoseconds() - begin) / 1e6)
            }
            times.sort()
            for (name, p) in [("p50", 0.5), ("p99", 0.99)] {
                rows.append(
                    Row(
                        name: "search \(count / 1000)k: \(label), \(name)",
                        engine: percentile(times, p),
                        anchor: nil,
                        unit: "ms",
                        lowerIsBetter: true,
                        target: "—"
                    )
                )
            }
        }
        await store.close()

        // The same appends with the index and without it, alternating round by round (the
        // "C anchor" column is the engine without it).
        let bulk = quick ? 20_000 : 200_000
        for batch in [1, 100, 1000] {
            let count = batch == 1 ? (quick ? 1_000 : 5_000) : bulk
            var with: [Double] = []
            var without: [Double] = []
            for _ in 0..<rounds {
                without.append(try await suite.appendRate(count: count, batch: batch).rate)
                with.append(try await suite.appendRate(count: count, batch: batch, searchIndex: true).rate)
            }
            print(
                "append \(batch)/commit with / without the search index (ev/s): "
                    + "\(with.map { String(Int($0)) }.joined(separator: ", ")) / "
                    + "\(without.map { String(Int($0)) }.joined(separator: ", "))"
            )
            rows.append(
                Row(
                    name: "append \(batch)/commit, search index on / off (FULL)",
                    engine: median(with),
                    anchor: median(without),
                    unit: "ev/s",
                    target: "—"
                )
            )
        }
        return rows
    }
}
