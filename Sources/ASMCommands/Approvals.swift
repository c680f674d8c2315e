import AgentSessionManager
import ArgumentParser
import FoundationEssentials

extension ASM {
    /// `asm approvals`: the tool approvals policies asked for, and their fate.
    struct Approvals: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List tool approvals: pending, approved, denied, or closed with their run.",
            discussion: """
                A policy with on_violation request_approval asks for one whenever a tool breaks its rules; a \
                run on a lane that holds tools keeps the tool waiting until someone answers. Answer with asm \
                approve or asm deny, from any process on any terminal: the run executing the tool follows the \
                log and goes on as soon as the answer is recorded.
                """
        )

        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions

        @Flag(help: "Only approvals waiting for an answer.")
        var pending = false

        @Option(help: "Only this session's (an id or an unambiguous prefix).")
        var session: String?

        @Option(help: "At most this many, oldest first.")
        var limit: Int = 1000

        func validate() throws {
            guard limit > 0 else { throw ValidationError("--limit must be positive") }
        }

        func run() async throws {
            let approvals = try await withStore(try await store.openForReading()) { store in
                var sessionID: SessionID?
                if let session { sessionID = try await resolveSession(session, in: store) }
                return try await store.approvals(pendingOnly: pending, session: sessionID, id: nil, limit: limit)
            }
            if output.json {
                for approval in approvals {
                    var writer = JSONWriter()
                    writer.sortsKeys = false
                    var object = writer.beginObject()
                    writer.field("schema_version", 1, in: &object)
                    try approval.writeFields(to: &writer, in: &object)
                    writer.endObject(object)
                    Console.line(String(decoding: writer.bytes, as: UTF8.self))
                }
                return
            }
            guard !approvals.isEmpty else {
                Console.line(pending ? "no approval is waiting" : "no approvals")
                return
            }
            for approval in approvals {
                let fate =
                    approval.status == .pending
                    ? (approval.canBlock ? "pending (the tool waits)" : "pending")
                        + (approval.deadline.map { ", denied at \($0) if unanswered" } ?? "")
                    : approval.status.rawValue + (approval.resolvedBy.map { " by \($0)" } ?? "")
                        + (approval.reason.map { ": \($0)" } ?? "")
                Console.line(
                    "\(approval.approvalID)  \(approval.tool)"
                        + (approval.input.map { " \(Formatting.clip($0.description, 60))" } ?? "")
                        + "  \(approval.policy)/\(approval.rule)  \(fate)  requested \(approval.requestedAt)"
                )
            }
        }
    }

    /// `asm approve` and `asm deny`: answer an approval from any process.
    struct Approve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Approve a pending tool approval (its held tool runs).",
            discussion: Answer.discussion
        )
        @OptionGroup var answer: Answer

        func run() async throws { try await answer.record(approved: true) }
    }

    struct Deny: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Deny a pending tool approval (its held tool does not run).",
            discussion: Answer.discussion
        )
        @OptionGroup var answer: Answer

        func run() async throws { try await answer.record(approved: false) }
    }

    struct Answer: ParsableArguments {
        static let discussion = """
            ID is an approval id or an unambiguous prefix of one (asm approvals lists them). The first answer \
            wins: a second, from this or any other process, is refused. Exit status: 0 recorded, 1 already \
            answered or closed with its run, 64 an ambiguous prefix, 66 no such approval.
            """

        @OptionGroup var store: StoreOptions

        @Argument(help: "The approval id, or an unambiguous prefix of it.")
        var id: String

        @Option(help: "Who answers (default: the OS user).")
        var by: String?

        @Option(help: "Why, recorded with the answer.")
        var reason: String?

        func validate() throws {
            guard !id.isEmpty else { throw ValidationError("name an approval") }
        }

        func record(approved: Bool) async throws {
            let who = by ?? ProcessInfo.processInfo.environment["USER"] ?? "unknown"
            let approvalID = try await withStore(try await store.openExisting()) { store in
                let matches = try await store.approvals(pendingOnly: false, session: nil, id: id, limit: 2)
                guard let first = matches.first else {
                    throw SessionManagerError(.approvalNotFound, "no approval \(id)")
                }
                let exact = matches.first { $0.approvalID == id }
                guard let approval = exact ?? (matches.count == 1 ? first : nil) else {
                    throw SessionManagerError(.invalidArgument, "\(id) names more than one approval; give more of it")
                }
                let manager = SessionManager(store: store, providers: [])
                try await manager.resolveApproval(approval.approvalID, approved: approved, by: who, reason: reason)
                return approval.approvalID
            }
            Console.line("\(approved ? "approved" : "denied") \(approvalID) (by \(who))")
        }
    }
}
