import ASMSystem
import AgentSessionManager
import Foundation
internal import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The session server's delivery: how many events reach in-process subscribers while
/// concurrent runs append, and how long after a commit an event reaches a subscriber.
struct ServerBench {
    let directory: String
    let quick: Bool

    struct Delivery {
        /// Events the runs appended per second, with the subscribers attached.
        var eventsPerSecond: Double
        /// Events handed to subscribers per second (events × subscribers).
        var deliveriesPerSecond: Double
    }

    /// Four runs of `chunks` deltas each on a 4-slot server, with `subscribers` following from the start.
    func delivery(subscribers: Int, chunks: Int) async throws -> Delivery {
        let path = directory + "/server.sqlite"
        removeDatabase(path)
        let store = try SQLiteEventStore(path: path)
        let provider = ScriptedProvider(
            // Whole words, so each delta is passed on as it comes (streamed text waits for the
            // end of a word before it is recorded).
            script: ProviderScript([.text(String(repeating: "word ", count: chunks), chunks: chunks)])
        )
        let manager = SessionManager(store: store, providers: [provider])
        let server = try await SessionServer.start(
            manager: manager,
            agentID: "bench",
            configuration: .init(
                defaultOptions: RunOptions(provider: "scripted", continuation: .off),
                maxConcurrentRuns: 4
            )
        )
        let from = try await store.lastSequence().next
        let followers = (0..<subscribers).map { _ in
            Task {
                var count = 0
                for try await _ in server.subscribe(from: from) { count += 1 }
                return count
            }
        }
        let start = MonotonicTime.nanoseconds()
        for index in 0..<4 { _ = try await server.submitRun("delivery \(index)") }
        await server.drain()
        var delivered = 0
        for follower in followers { delivered += try await follower.value }
        let seconds = Double(MonotonicTime.nanoseconds() - start) / 1e9
        let appended = Int(try await store.lastSequence().rawValue - from.rawValue + 1)
        await store.close()
        removeDatabase(path)
        guard delivered == appended * subscribers else {
            throw BenchError("subscribers got \(delivered) of \(appended * subscribers) events")
        }
        return Delivery(eventsPerSecond: Double(appended) / seconds, deliveriesPerSecond: Double(delivered) / seconds)
    }

    /// One event committed every millisecond to a server's session; the time to each
    /// subscriber receiving it from the append call (the commit itself included) and from the
    /// commit completing, in µs, sorted.
    func latency(subscribers: Int, count: Int) async throws -> (fromAppend: [Double], fromCommit: [Double]) {
        let path = directory + "/latency.sqlite"
        removeDatabase(path)
        let store = try SQLiteEventStore(path: path)
        // The moment each commit completes, taken by the first observer of the writer's commits.
        let committedAt = Mutex<[UInt64]>([])
        committedAt.withLock { $0.reserveCapacity(count) }
        let probe = store.observeCommits { envelopes in
            let now = MonotonicTime.nanoseconds()
            let count = envelopes.filter { $0.type == .messageReceived }.count
            if count > 0 { committedAt.withLock { $0 += Array(repeating: now, count: count) } }
        }
        let manager = SessionManager(store: store, providers: [ScriptedProvider(script: .reply("-"))])
        let server = try await SessionServer.start(
            manager: manager,
            agentID: "bench",
            configuration: .init(defaultOptions: RunOptions(provider: "scripted"))
        )
        let from = try await store.lastSequence().next
        let arrivals = (0..<subscribers).map { _ in
            Task {
                var times: [UInt64] = []
                times.reserveCapacity(count)
                for try await _ in server.subscribe(from: from, filter: EventFilter(types: [.messageReceived])) {
                    times.append(MonotonicTime.nanoseconds())
                    if times.count == count { break }
                }
                return times
            }
        }
        // Let the subscribers reach the live end before the first commit.
        try await Task.sleep(for: .milliseconds(50))
        var commits: [UInt64] = []
        commits.reserveCapacity(count)
        // The writer sleeps without holding a thread, as a run waiting for its provider does.
        var next = ContinuousClock.now
        for index in 0..<count {
            next += .milliseconds(1)
            try await Task.sleep(until: next, clock: .continuous)
            commits.append(MonotonicTime.nanoseconds())
            try await store.append(
                [NewEvent(MessageReceived(role: .user, content: "latency \(index)"))],
                to: server.session.stream,
                expectedVersion: .any
            )
        }
        probe?.cancel()
        let commitTimes = committedAt.withLock { $0 }
        var latencies: [Double] = []
        var fromCommit: [Double] = []
        for arrival in arrivals {
            let times = try await arrival.value
            guard times.count == count else { throw BenchError("a subscriber saw \(times.count) of \(count) events") }
            latencies += zip(times, commits).map { Double($0 > $1 ? $0 - $1 : 0) / 1000 }
            fromCommit += zip(times, commitTimes).map { Double($0 > $1 ? $0 - $1 : 0) / 1000 }
        }
        await server.shutdown()
        await store.close()
        removeDatabase(path)
        return (latencies.sorted(), fromCommit.sorted())
    }

    /// The floor under the delivery latency on this machine, in µs, sorted: a task paced as the
    /// latency writer is (one hand-off a millisecond) resumes a task waiting for it, and the
    /// waiter notes when it runs — the one thread wake-up every in-process delivery pays, with
    /// no log, no hub and no subscriber around it.
    func handOffFloor(count: Int) async -> [Double] {
        // Hand-offs not yet taken (when the waiter is late), and the waiter when it waits.
        let slot = Mutex<(sent: [UInt64], waiter: CheckedContinuation<UInt64, Never>?)>(([], nil))
        let waiter = Task {
            var latencies: [Double] = []
            latencies.reserveCapacity(count)
            for _ in 0..<count {
                let sentAt = await withCheckedContinuation { (continuation: CheckedContinuation<UInt64, Never>) in
                    let sent = slot.withLock { slot -> UInt64? in
                        if !slot.sent.isEmpty { return slot.sent.removeFirst() }
                        slot.waiter = continuation
                        return nil
                    }
                    if let sent { continuation.resume(returning: sent) }
                }
                latencies.append(Double(MonotonicTime.nanoseconds() &- sentAt) / 1000)
            }
            return latencies
        }
        var next = ContinuousClock.now
        for _ in 0..<count {
            next += .milliseconds(1)
            try? await Task.sleep(until: next, clock: .continuous)
            let now = MonotonicTime.nanoseconds()
            let waiting = slot.withLock { slot -> CheckedContinuation<UInt64, Never>? in
                defer { slot.waiter = nil }
                if slot.waiter == nil { slot.sent.append(now) }
                return slot.waiter
            }
            waiting?.resume(returning: now)
        }
        return await waiter.value.sorted()
    }

    /// The latency rows alone, `rounds` rounds of 1 and of 100 subscribers, each round printed.
    func latencyRounds(_ rounds: Int) async throws {
        let count = quick ? 500 : 2_000
        for round in 1...rounds {
            let floor = await handOffFloor(count: count)
            print(
                String(
                    format: "hand-off floor, round %d: p50 %.0f µs, p99 %.0f µs",
                    round,
                    percentile(floor, 0.5),
                    percentile(floor, 0.99)
                )
            )
        }
        for subscribers in [1, 100] {
            var p50s: [Double] = []
            var p99s: [Double] = []
            for round in 1...rounds {
                let (_, fromCommit) = try await latency(
                    subscribers: subscribers,
                    count: subscribers == 1 ? count : count / 4
                )
                p50s.append(percentile(fromCommit, 0.5))
                p99s.append(percentile(fromCommit, 0.99))
                print(
                    String(
                        format: "%d sub., round %d: commit → delivery p50 %.0f µs, p99 %.0f µs",
                        subscribers,
                        round,
                        p50s.last ?? 0,
                        p99s.last ?? 0
                    )
                )
            }
            print(
                String(format: "%d sub., median: p50 %.0f µs, p99 %.0f µs", subscribers, median(p50s), median(p99s))
            )
        }
    }

    func rows(rounds: Int) async throws -> [Row] {
        let chunks = quick ? 500 : 2_500
        var rows: [Row] = []
        for subscribers in [1, 100] {
            var figures: [Delivery] = []
            for _ in 0..<rounds { figures.append(try await delivery(subscribers: subscribers, chunks: chunks)) }
            rows.append(
                Row(
                    name: "server: deliveries/s to \(subscribers) subscriber\(subscribers == 1 ? "" : "s")",
                    engine: median(figures.map(\.deliveriesPerSecond)),
                    anchor: nil,
                    unit: "ev/s",
                    target: "—"
                )
            )
            rows.append(
                Row(
                    name: "server: events/s appended, \(subscribers) sub.",
                    engine: median(figures.map(\.eventsPerSecond)),
                    anchor: nil,
                    unit: "ev/s",
                    target: "—"
                )
            )
        }
        let count = quick ? 500 : 2_000
        var floors: [[Double]] = []
        for _ in 0..<rounds { floors.append(await handOffFloor(count: count)) }
        for (label, fraction) in [("p50", 0.5), ("p99", 0.99)] {
            rows.append(
                Row(
                    name: "hand-off floor \(label) (a waiting task resumed)",
                    engine: median(floors.map { percentile($0, fraction) }),
                    anchor: nil,
                    unit: "µs",
                    lowerIsBetter: true,
                    target: "—"
                )
            )
        }
        for subscribers in [1, 100] {
            var figures: [(p50: Double, p99: Double, appendP50: Double, appendP99: Double)] = []
            for _ in 0..<rounds {
                let (fromAppend, fromCommit) = try await latency(
                    subscribers: subscribers,
                    count: subscribers == 1 ? count : count / 4
                )
                figures.append(
                    (
                        percentile(fromCommit, 0.5), percentile(fromCommit, 0.99), percentile(fromAppend, 0.5),
                        percentile(fromAppend, 0.99)
                    )
                )
            }
            let who = subscribers == 1 ? "1 subscriber" : "\(subscribers) subscribers"
            rows.append(
                Row(
                    name: "server commit→delivery p50, \(who)",
                    engine: median(figures.map(\.p50)),
                    anchor: nil,
                    unit: "µs",
                    lowerIsBetter: true,
                    target: "—"
                )
            )
            rows.append(
                Row(
                    name: "server commit→delivery p99, \(who)",
                    engine: median(figures.map(\.p99)),
                    anchor: nil,
                    unit: "µs",
                    lowerIsBetter: true,
                    target: subscribers == 1 ? "≤ 38 µs + noise" : "—"
                )
            )
            rows.append(
                Row(
                    name: "server append→delivery p99, \(who)",
                    engine: median(figures.map(\.appendP99)),
                    anchor: nil,
                    unit: "µs",
                    lowerIsBetter: true,
                    target: "—"
                )
            )
        }
        return rows
    }
}
