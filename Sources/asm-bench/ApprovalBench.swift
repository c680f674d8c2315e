import ASMSystem
import AgentSessionManager
import Foundation
import Subprocess
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// An approval answered by another process, to the held tool answered on the CLI's standard
/// input: a run on Claude Code (the fake CLI speaking the host permission protocol) asks
/// `count` times; a child process follows the log and approves each request; the child notes
/// when each approval committed, the CLI when each answer reached it.
struct ApprovalBench {
    var directory: String
    var count: Int
    /// The fake CLI, from the repository the benchmark runs in.
    var fakeAgent = FileManager.default.currentDirectoryPath + "/Fixtures/fake-cli/fake-agent"

    func rows() async throws -> [Row] {
        guard FileManager.default.isExecutableFile(atPath: fakeAgent) else {
            print("note: \(fakeAgent) not found; the approval row is left out (run from the repository)")
            return []
        }
        let latencies = try await measure()
        return [
            Row(
                name: "approval by another process → control_response read by the CLI, p50 (\(count))",
                engine: percentile(latencies, 0.5),
                anchor: nil,
                unit: "µs",
                lowerIsBetter: true,
                target: "—"
            ),
            Row(
                name: "approval by another process → control_response read by the CLI, p99 (\(count))",
                engine: percentile(latencies, 0.99),
                anchor: nil,
                unit: "µs",
                lowerIsBetter: true,
                target: "≤ 5 ms"
            ),
        ]
    }

    /// The latencies in microseconds, sorted.
    func measure() async throws -> [Double] {
        let path = directory + "/approvals.sqlite"
        let fixture = directory + "/approvals-fixture.jsonl"
        let answers = directory + "/approvals-answers.txt"
        let commits = directory + "/approvals-commits.txt"
        removeDatabase(path)
        for file in [answers, commits] { unlink(file) }
        try Data(Self.fixture(count).utf8).write(to: URL(fileURLWithPath: fixture))

        let store = try SQLiteEventStore(path: path)
        let claude = CommandLineProvider(dialect: ClaudeCode(), configuration: .init(executable: fakeAgent))
        let manager = SessionManager(store: store, providers: [claude])
        let session = try await manager.startSession(agentID: "approval-bench")
        let policy = try Policy(
            json: Array(
                #"{"name": "ask", "tool_rules": [{"deny": ["Bash"]}], "on_violation": "request_approval"}"#.utf8
            )
        )
        let executable = CommandLine.arguments[0]
        let child = Task {
            try await Subprocess.run(
                .path(FilePath(executable)),
                arguments: ["approver", path, String(count), commits],
                output: .discarded,
                error: .string(limit: 65536)
            )
        }
        let result = try await manager.run(
            "deploy",
            in: session,
            options: RunOptions(
                provider: "claude",
                environment: ["FAKE_FIXTURE": fixture, "FAKE_ANSWERS": answers],
                policies: [policy]
            )
        )
        let approver = try await child.value
        await store.close()
        guard case .exited(0) = approver.terminationStatus else {
            throw BenchError("the approver failed: \(approver.standardError ?? "")")
        }
        guard result.status == .completed else { throw BenchError("the run ended \(result.status)") }

        // Commit times by call number, from the approver; read times from the CLI's answers.
        var committed: [Int: Double] = [:]
        for line in try String(contentsOfFile: commits, encoding: .utf8).split(separator: "\n") {
            let parts = line.split(separator: " ")
            guard parts.count == 2, let call = Int(parts[0]), let time = Double(parts[1]) else { continue }
            committed[call] = time
        }
        var latencies: [Double] = []
        for line in try String(contentsOfFile: answers, encoding: .utf8).split(separator: "\n") {
            // "<seconds.micros> {…"request_id":"req_N"…}"
            guard let space = line.firstIndex(of: " "), let read = Double(line[..<space]),
                let range = line.range(of: #""request_id":"req_"#),
                let call = Int(line[range.upperBound...].prefix { $0.isNumber }), let commit = committed[call]
            else { continue }
            latencies.append(max(0, read - commit) * 1e6)
        }
        guard latencies.count == count else { throw BenchError("\(latencies.count) of \(count) answers measured") }
        removeDatabase(path)
        return latencies.sorted()
    }

    /// A Claude turn of `count` Bash calls, each asked about before it runs (FORMATS §1.6).
    static func fixture(_ count: Int) -> String {
        var lines = [
            #"{"type":"control_response","response":{"subtype":"success","request_id":"req_init","response":{}}}"#,
            #"{"type":"system","subtype":"init","session_id":"bench","model":"bench","tools":["Bash"]}"#,
        ]
        for call in 1...count {
            let input = #"{"command":"make deploy \#(call)"}"#
            lines.append(
                #"{"type":"assistant","message":{"id":"msg_\#(call)","type":"message","role":"assistant","model":"bench","content":[{"type":"tool_use","id":"toolu_\#(call)","name":"Bash","input":\#(input)}],"usage":{"input_tokens":1,"output_tokens":1}},"session_id":"bench"}"#
            )
            lines.append(
                #"{"type":"control_request","request_id":"req_\#(call)","request":{"subtype":"can_use_tool","tool_name":"Bash","input":\#(input),"tool_use_id":"toolu_\#(call)"}}"#
            )
            lines.append(
                #"{"type":"user","message":{"role":"user","content":[{"tool_use_id":"toolu_\#(call)","type":"tool_result","content":"deployed","is_error":false}]},"session_id":"bench"}"#
            )
        }
        lines.append(
            #"{"type":"result","subtype":"success","is_error":false,"result":"done","session_id":"bench","num_turns":1}"#
        )
        return lines.joined(separator: "\n") + "\n"
    }
}

/// The other process: `asm-bench approver DB COUNT FILE` follows the log, approves each
/// request as it appears, and writes the call number and the wall-clock time each approval
/// committed.
enum Approver {
    static func run(arguments: [String]) async throws {
        guard arguments.count == 3, let count = Int(arguments[1]) else {
            throw BenchError("usage: asm-bench approver DB COUNT FILE")
        }
        let store = try SQLiteEventStore(path: arguments[0])
        let manager = SessionManager(store: store, providers: [])
        var lines: [String] = []
        for try await envelope in store.subscribe(from: .zero, filter: EventFilter(types: [.toolApprovalRequested])) {
            guard case .toolApprovalRequested(let requested) = envelope.event else { continue }
            try await manager.resolveApproval(requested.approvalID, approved: true, by: "bench", reason: nil)
            var now = timespec()
            clock_gettime(CLOCK_REALTIME, &now)
            let call = requested.callID.map { String($0.dropFirst("toolu_".count)) } ?? "?"
            lines.append("\(call) \(Double(now.tv_sec) + Double(now.tv_nsec) / 1e9)")
            if lines.count == count { break }
        }
        await store.close()
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: arguments[2]))
    }
}
