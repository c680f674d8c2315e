import ASMCore
import ASMStore
import AgentSessionManagerTesting
import Subprocess
import SystemPackage
import Testing

/// Other processes on the same file: a writer killed mid-flight, followers, concurrent writers.
@Suite(.serialized) struct CrossProcessTests {
    @Test(
        "a writer killed with SIGKILL leaves every committed batch whole and the chain intact",
        arguments: [3, 40, 200]
    )
    func killedWriter(commitsBeforeKill: Int) async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        let batchSize = 10
        let result = try await Subprocess.run(
            .path(FilePath(childExecutable())),
            arguments: ["append-loop", path, String(batchSize)],
            input: .none,
            output: .sequence,
            error: .discarded
        ) { execution in
            var lastCommitted: Int64 = 0
            var commits = 0
            for try await line in execution.standardOutput.strings(separatedBy: .unicodeScalarSequence(["\n"])) {
                guard line.hasPrefix("committed "), let sequence = Int64(line.dropFirst(10)) else { continue }
                lastCommitted = sequence
                commits += 1
                if commits == commitsBeforeKill {
                    // The child keeps appending: the kill lands wherever it is.
                    try execution.send(signal: .kill)
                }
            }
            return lastCommitted
        }
        #expect(result.terminationStatus == TerminationStatus.signaled(9))
        let acknowledged = result.closureResult

        let store = try SQLiteEventStore(path: path)
        let report = try await store.verify()
        #expect(report.isIntact, "\(report)")
        let last = try await store.lastSequence()
        #expect(last.rawValue >= acknowledged, "an acknowledged commit was lost")
        // Every batch is all there: the session's creation, then whole batches of ten.
        let events = try await allEvents(store)
        var batches: [String: [Int]] = [:]
        for event in events {
            guard case .messageReceived(let message) = event.event else { continue }
            let words = message.content.split(separator: " ")
            batches[String(words[1]), default: []].append(Int(words[3]) ?? -1)
        }
        for (batch, indices) in batches {
            #expect(indices == Array(0..<batchSize), "batch \(batch) is partial: \(indices)")
        }
        #expect(events.count == 1 + batches.count * batchSize)
        // The file is still a working log.
        try await store.append(messages(1), to: .generate(), expectedVersion: .any)
        #expect(try await store.verify().isIntact)
        await store.close()
    }

    @Test("another process following the file sees every event this one appends, in order")
    func followerProcess() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        let store = try SQLiteEventStore(path: path)
        try await store.append(messages(5), to: .generate(), expectedVersion: .any)
        let count = 200
        let result = try await Subprocess.run(
            .path(FilePath(childExecutable())),
            arguments: ["follow", path, "3", String(count + 3)],
            input: .none,
            output: .sequence,
            error: .discarded
        ) { execution in
            var lines = execution.standardOutput.strings(separatedBy: .unicodeScalarSequence(["\n"]))
                .makeAsyncIterator()
            guard try await lines.next() == "ready" else { return [Int64]() }
            for _ in 0..<count {
                try await store.append(messages(1), to: .generate(), expectedVersion: .any)
            }
            var seen: [Int64] = []
            while let line = try await lines.next() { if let value = Int64(line) { seen.append(value) } }
            return seen
        }
        #expect(result.terminationStatus == TerminationStatus.exited(0))
        #expect(result.closureResult == Array(3...Int64(count + 5)))
        await store.close()
    }

    @Test(
        "this process follows what another process appends",
        arguments: [FollowMode.polling(interval: .milliseconds(1)), .default]
    )
    func followingAnotherWriter(mode: FollowMode) async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        var configuration = SQLiteEventStore.Configuration()
        configuration.follow = mode
        let store = try SQLiteEventStore(path: path, configuration: configuration)
        let reader = Task {
            var sequences: [Int64] = []
            for try await envelope in store.subscribe(from: 1) {
                sequences.append(envelope.sequence.rawValue)
                if sequences.count == 150 { break }
            }
            return sequences
        }
        let result = try await Subprocess.run(
            .path(FilePath(childExecutable())),
            arguments: ["append", path, "150"],
            input: .none,
            output: .string(limit: 4096),
            error: .string(limit: 4096)
        )
        #expect(result.terminationStatus == TerminationStatus.exited(0), "\(result.standardError)")
        #expect(try await reader.value == Array(1...150))
        await store.close()
    }

    @Test("two processes appending to the same file interleave without losing or doubling anything")
    func twoWriters() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("asm.sqlite")
        let store = try SQLiteEventStore(path: path)
        async let child = Subprocess.run(
            .path(FilePath(childExecutable())),
            arguments: ["append", path, "300"],
            input: .none,
            output: .string(limit: 4096),
            error: .string(limit: 4096)
        )
        let stream = StreamID.generate()
        for _ in 0..<300 {
            try await store.append(messages(1), to: stream, expectedVersion: .any)
        }
        let result = try await child
        #expect(result.terminationStatus == TerminationStatus.exited(0), "\(result.standardError)")
        let events = try await allEvents(store)
        #expect(events.count == 600)
        #expect(events.map(\.sequence.rawValue) == Array(1...600))
        #expect(events.filter { $0.stream == stream }.map(\.streamVersion.rawValue) == Array(1...300))
        #expect(try await store.verify().isIntact)
        await store.close()
    }
}
