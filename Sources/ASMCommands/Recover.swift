import AgentSessionManager
import ArgumentParser

extension ASM {
    /// `asm recover`: records the end of runs whose process died.
    struct Recover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Record the end of runs whose process died without recording it.",
            discussion: """
                Every process executing runs holds a lease on them (host, boot, pid and the process's start \
                time). A run still requested, queued or running whose holder is gone gets run.failed with kind \
                abandoned, after what is left of its agent's process group is stopped. Runs of a live process, \
                or of a process on another host, are left alone. asm run and asm serve do the same when they \
                open the file; this command does it on demand.

                --include-unowned also closes open runs without a lease: runs recorded by a build without \
                leases, which nothing can show to be running. Exit status: 0 (also when nothing was open).
                """
        )

        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions

        @Flag(help: "Also close open runs that no lease names (recorded before leases existed).")
        var includeUnowned = false

        struct Document: Encodable {
            var abandoned: [Run]
            var leftOpen: Int

            struct Run: Encodable {
                var runID: String
                var sessionID: String
                var status: String
                var reason: String
                var owner: String?
                var stoppedAgent: Bool

                enum CodingKeys: String, CodingKey {
                    case status, reason, owner
                    case runID = "run_id"
                    case sessionID = "session_id"
                    case stoppedAgent = "stopped_agent"
                }
            }

            enum CodingKeys: String, CodingKey {
                case abandoned
                case leftOpen = "left_open"
            }
        }

        func run() async throws {
            let report = try await withStore(try await store.openExisting()) { store in
                try await RunRecovery(store: store).recover(includingUnowned: includeUnowned)
            }
            if output.json {
                Console.line(
                    Formatting.json(
                        Document(
                            abandoned: report.abandoned.map {
                                Document.Run(
                                    runID: $0.runID.description,
                                    sessionID: $0.sessionID.description,
                                    status: $0.status.rawValue,
                                    reason: $0.reason,
                                    owner: $0.owner?.description,
                                    stoppedAgent: $0.stoppedAgent
                                )
                            },
                            leftOpen: report.leftOpen
                        )
                    )
                )
                return
            }
            for run in report.abandoned {
                Console.line(Self.line(run))
            }
            Console.line(
                "\(report.abandoned.count) abandoned run\(report.abandoned.count == 1 ? "" : "s") recorded, "
                    + "\(report.leftOpen) open run\(report.leftOpen == 1 ? "" : "s") left to live processes"
            )
        }

        static func line(_ run: RunRecovery.Abandoned) -> String {
            "abandoned \(run.runID) (was \(run.status)\(run.owner.map { "; \($0)" } ?? "")"
                + "\(run.stoppedAgent ? "; its agent was stopped" : ""))"
        }
    }
}

/// Closes the runs whose process died before a command that executes runs starts, and says
/// so on standard error.
func recoverAbandonedRuns(_ manager: SessionManager) async throws {
    let report = try await manager.recoverAbandonedRuns()
    guard !report.abandoned.isEmpty else { return }
    let count = report.abandoned.count
    Console.note(
        "recorded \(count) run\(count == 1 ? "" : "s") as abandoned (the process running "
            + "\(count == 1 ? "it" : "them") ended without recording the end; resubmit to run again): "
            + report.abandoned.map(\.runID.description).joined(separator: ", ")
    )
}
