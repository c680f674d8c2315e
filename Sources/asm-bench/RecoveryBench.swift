import ASMCore
import ASMStore
import ASMSystem
import AgentSessionManager

/// What the recovery pass on open costs: on a log of 10,000 runs of which 1,000 were left
/// running by a process that died, and on the same log with none left open.
struct RecoveryBench {
    var directory: String
    var quick: Bool

    func rows(rounds: Int) async throws -> [Row] {
        let runs = quick ? 2_000 : 10_000
        let orphans = runs / 10
        var closeTimes: [Double] = []
        var openTimes: [Double] = []
        var cleanTimes: [Double] = []
        for round in 0..<rounds {
            let path = directory + "/recovery-\(round).sqlite"
            removeDatabase(path)
            try await fill(path, runs: runs, orphans: orphans)
            let opened = MonotonicTime.nanoseconds()
            let store = try SQLiteEventStore(path: path)
            openTimes.append(Double(MonotonicTime.nanoseconds() - opened) / 1e6)
            let start = MonotonicTime.nanoseconds()
            let report = try await RunRecovery(store: store).recover()
            closeTimes.append(Double(MonotonicTime.nanoseconds() - start) / 1e6)
            guard report.abandoned.count == orphans, report.leftOpen == 0 else {
                throw BenchError("recovery closed \(report.abandoned.count) of \(orphans) orphaned runs")
            }
            // The same file again: nothing is open, a pass is one query.
            var samples: [Double] = []
            for _ in 0..<200 {
                let begin = MonotonicTime.nanoseconds()
                _ = try await RunRecovery(store: store).recover()
                samples.append(Double(MonotonicTime.nanoseconds() - begin) / 1000)
            }
            cleanTimes.append(median(samples))
            await store.close()
            removeDatabase(path)
        }
        let label = "\(runs / 1000)k runs"
        return [
            Row(
                name: "recovery: close \(orphans) orphaned of \(label)",
                engine: median(closeTimes),
                anchor: nil,
                unit: "ms",
                lowerIsBetter: true,
                target: "≤ 100 ms"
            ),
            Row(
                name: "recovery: open of that file (before the pass)",
                engine: median(openTimes),
                anchor: nil,
                unit: "ms",
                lowerIsBetter: true,
                target: "—"
            ),
            Row(
                name: "recovery: pass on a file with none open",
                engine: median(cleanTimes),
                anchor: nil,
                unit: "µs",
                lowerIsBetter: true,
                target: "one query"
            ),
        ]
    }

    /// Sessions of ten runs each; one run in ten left running by a process that is gone.
    private func fill(_ path: String, runs: Int, orphans: Int) async throws {
        var configuration = SQLiteEventStore.Configuration()
        configuration.synchronous = .normal
        // A holder on this host and boot whose pid names no process.
        configuration.owner = ProcessOwner(
            host: ProcessOwner.current.host,
            bootID: ProcessOwner.current.bootID,
            pid: 0x3FFF_FFF0,
            startTime: 1
        )
        let store = try SQLiteEventStore(path: path, configuration: configuration)
        let perSession = 10
        for sessionIndex in 0..<(runs / perSession) {
            let session = SessionID.generate()
            var events = [NewEvent(SessionCreated(agentID: "bench")), NewEvent(SessionActivated())]
            for runIndex in 0..<perSession {
                let run = RunID.generate()
                events.append(NewEvent(RunRequested(messages: [ChatMessage(role: .user, content: "job")]), run: run))
                events.append(NewEvent(RunStarted(provider: "scripted"), run: run))
                let orphaned = (sessionIndex * perSession + runIndex) % (runs / orphans) == 0
                if !orphaned { events.append(NewEvent(RunCompleted(outputText: "done"), run: run)) }
            }
            try await store.append(events, to: session.stream, expectedVersion: .noStream)
        }
        await store.close()
    }
}
