import AgentSessionManager
import Foundation
import Subprocess
import SystemPackage

/// The C anchor, `evlog`, run on the same workloads in the same run.
struct Anchor {
    let executable: String
    let directory: String

    private func run(_ arguments: [String]) async throws -> [JSONValue] {
        let result = try await Subprocess.run(
            .path(FilePath(executable)),
            arguments: Arguments(arguments),
            input: .none,
            output: .string(limit: 1 << 20),
            error: .string(limit: 65536)
        )
        guard case .exited(0) = result.terminationStatus else {
            throw BenchError("evlog \(arguments.joined(separator: " ")) failed: \(result.standardError)")
        }
        let tape = JSONTape()
        return try result.standardOutput.split(separator: "\n").map { line in
            var text = String(line)
            return try text.withUTF8 { bytes in
                try tape.parse(UnsafeRawBufferPointer(bytes), validateUTF8: true)
                return try tape.rootValue()
            }
        }
    }

    struct AppendFigures {
        var rate: Double
        var bytesPerEvent: Double
    }

    func append(count: Int, batch: Int) async throws -> AppendFigures {
        let path = directory + "/anchor-append.db"
        let line = try await run(["append", path, String(count), String(batch), "full"]).first
        removeDatabase(path)
        return AppendFigures(
            rate: line?["ev_s"]?.doubleValue ?? 0,
            bytesPerEvent: line?["bytes_per_ev"]?.doubleValue ?? 0
        )
    }

    struct ReadFigures {
        var page: Double
        var session: Double
    }

    func read(count: Int, seconds: Double) async throws -> ReadFigures {
        let path = directory + "/anchor-read.db"
        _ = try await run(["append", path, String(count), "1000", "normal"])
        let lines = try await run(["read", path, String(seconds)])
        removeDatabase(path)
        func rate(_ op: String) -> Double {
            lines.first { $0["op"]?.stringValue == op }?["ev_s"]?.doubleValue ?? 0
        }
        return ReadFigures(page: rate("read_page500"), session: rate("read_session_seq500"))
    }

    func tail(count: Int, mode: String) async throws -> Suite.Latency {
        let path = directory + "/anchor-tail.db"
        let line = try await run(["tail", path, String(count), "1000", mode, "full"]).first
        removeDatabase(path)
        return Suite.Latency(
            p50: line?["commit_to_read_us"]?["p50"]?.doubleValue ?? 0,
            p99: line?["commit_to_read_us"]?["p99"]?.doubleValue ?? 0
        )
    }
}

enum Report {
    static func print(_ rows: [Row], quick: Bool) {
        func format(_ value: Double?) -> String {
            guard let value, value.isFinite else { return "—" }
            if value >= 100 { return String(Int(value.rounded())) }
            if value >= 10 { return String(format: "%.1f", value) }
            return String(format: "%.2f", value)
        }
        let header = ["workload", "engine", "C anchor", "unit", "ratio", "target"]
        var table = [header]
        for row in rows {
            table.append([
                row.name, format(row.engine), format(row.anchor), row.unit,
                row.ratio.map { String(format: "%.2fx", $0) } ?? "—", row.target,
            ])
        }
        let widths = (0..<header.count).map { column in table.map { $0[column].count }.max() ?? 0 }
        Swift.print("")
        Swift.print(
            "AgentSessionManager benchmark\(quick ? " (quick)" : "") — ratios are engine / C anchor in the same run"
        )
        for (index, line) in table.enumerated() {
            let cells = line.enumerated().map { column, cell in
                column == 0
                    ? cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
                    : String(repeating: " ", count: widths[column] - cell.count) + cell
            }
            Swift.print("| " + cells.joined(separator: " | ") + " |")
            if index == 0 {
                Swift.print(
                    "|"
                        + widths.enumerated().map { String(repeating: "-", count: $1 + 1) + ($0 == 0 ? "-" : ":") }
                        .joined(separator: "|") + "|"
                )
            }
        }
    }
}
