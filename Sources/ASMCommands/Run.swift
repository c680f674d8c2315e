import AgentSessionManager
import ArgumentParser
import Dispatch
import FoundationEssentials

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ASM {
    /// `asm run`: one run, in a new session or continuing one, printed live and recorded.
    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Execute one run (in a new session, or --session to continue one), print it live and record it.",
            discussion: """
                The provider's CLI is started exactly as a user would start it (claude, codex or amp, found on PATH \
                or given by --executable, $ASM_CLAUDE_BIN, $ASM_CODEX_BIN, $ASM_AMP_BIN); its output is normalized, \
                redacted and appended to the log as it arrives. `scripted` needs no CLI: it answers from a built-in \
                script or from --script FILE.

                --policy FILE (repeatable) stacks JSON policies in order; --deny-tool and --max-budget add a last \
                policy named "cli" that cancels. --continuation says how a --session run continues the conversation: \
                off, replay (send the transcript), native (resume the provider's own session) or auto (the default).

                Streamed text goes to standard output; tool calls, policy decisions, warnings and the closing summary \
                to standard error. Ctrl-C cancels the run the provider's way (the run is recorded as cancelled) and \
                exits 130. Exit status: 0 completed, 1 failed (a policy's cancel included), 130 cancelled, 64 usage \
                or a bad policy, 66 a missing session, policy, price table or script.
                """
        )

        @OptionGroup var store: StoreOptions

        @OptionGroup var execution: ExecutionOptions

        @Option(
            help:
                "Answer policy approval requests: ask (on a terminal, while another process may answer first with asm approve or asm deny), approve, deny, or wait for another process to answer (default: ask on a terminal, else deny)."
        )
        var approvals: ApprovalChoice?

        @Option(help: "The agent name recorded with the new session.")
        var agent: String = "asm"

        @Option(help: "Continue this session (an id or an unambiguous prefix) instead of starting one.")
        var session: String?

        @Option(
            help:
                "Start the new session under this session (an id or an unambiguous prefix), as a sub-agent's: its runs, failures, tokens and cost roll up there (asm cost --tree)."
        )
        var parentSession: String?

        @Option(help: "With --parent-session: the parent's run that started this session.")
        var parentRun: String?

        @Option(help: "With --parent-run: the parent run's tool call that started this session.")
        var parentCall: String?

        @Flag(help: "Print nothing while the run goes on; only the summary.")
        var quiet = false

        @Flag(help: "Print the run's outcome as one JSON object instead of live text and a summary line.")
        var json = false

        @Argument(help: "The prompt; - reads it from standard input.")
        var prompt: String

        typealias ProviderChoice = ExecutionOptions.ProviderChoice

        enum ApprovalChoice: String, ExpressibleByArgument, CaseIterable {
            case ask, approve, deny, wait
        }

        func validate() throws {
            if prompt != "-", prompt.allSatisfy(\.isWhitespace) { throw ValidationError("the prompt is empty") }
            if agent.isEmpty { throw ValidationError("--agent needs a name") }
            if session != nil, agent != "asm" {
                throw ValidationError("--agent names a new session; it does not apply with --session")
            }
            if session != nil, parentSession != nil {
                throw ValidationError("--parent-session names a new session's parent; it does not apply with --session")
            }
            if parentRun != nil, parentSession == nil { throw ValidationError("--parent-run needs --parent-session") }
            if parentCall != nil, parentRun == nil { throw ValidationError("--parent-call needs --parent-run") }
            if parentCall?.isEmpty == true { throw ValidationError("--parent-call needs a tool call id") }
        }

        func run() async throws {
            let promptText = try readPrompt()
            let loaded = try execution.load(database: store.sideFileBase)
            let options = loaded.options
            let answer = approvals ?? (isatty(0) == 1 ? .ask : .deny)
            // Checked before anything is written: no session or run for a workspace that cannot be used.
            if let workspace = options.workspace { try await ExecutionOptions.prepare(workspace) }

            let (result, written, elapsed) = try await withStore(try await store.openOrCreate()) { store in
                var configuration = SessionManager.Configuration()
                configuration.priceTable = loaded.priceTable
                let manager = loaded.manager(store: store, configuration: configuration)
                try await recoverAbandonedRuns(manager)
                var written = 0
                let sessionID: SessionID
                if let session {
                    sessionID = try await resolveSession(session, in: store)
                } else {
                    var parent: ParentLink?
                    if let parentSession {
                        parent = ParentLink(session: try await resolveSession(parentSession, in: store))
                        if let parentRun { parent?.run = try await resolveRun(parentRun, in: store) }
                        parent?.toolCall = parentCall
                    }
                    sessionID = try await manager.startSession(
                        agentID: agent,
                        metadata: ["command": "asm run"],
                        parent: parent
                    )
                    written += 2
                }
                let run = try await manager.startRun(
                    in: sessionID,
                    messages: [ChatMessage(role: .user, content: promptText)]
                )
                written += 2
                let interrupts = InterruptHandler { reason in
                    Task { try? await manager.cancel(run, reason: reason) }
                }
                defer { interrupts.restore() }
                let printer = LivePrinter(live: !quiet && !json)
                let approver = Approver(mode: answer, manager: manager)
                let started = ContinuousClock.now
                let result = try await manager.execute(run, options: options) { event in
                    printer.print(event)
                    if case .toolApprovalRequested(let requested) = event { approver.answer(requested) }
                }
                printer.finish()
                return (result, written + result.eventsWritten, ContinuousClock.now - started)
            }
            if json {
                Console.line(Formatting.json(RunReport(result, elapsed: elapsed, eventsWritten: written)))
            } else {
                Console.note(RunReport.line(result, elapsed: elapsed, eventsWritten: written))
            }
            Console.flush()
            switch result.status {
            case .completed: return
            case .cancelled: throw CommandFailure.reported(.cancelled)
            default: throw CommandFailure.reported(.runFailed)
            }
        }

        private func readPrompt() throws -> String {
            guard prompt == "-" else { return prompt }
            var bytes: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 1 << 16)
            while true {
                let count = chunk.withUnsafeMutableBytes { Glibc.read(0, $0.baseAddress, $0.count) }
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { break }
                bytes += chunk[..<count]
            }
            let text = String(decoding: bytes, as: UTF8.self)
            guard !text.allSatisfy(\.isWhitespace) else {
                throw CommandFailure(.invalidArgument, "the prompt on standard input is empty")
            }
            return text.hasSuffix("\n") ? String(text.dropLast()) : text
        }
    }
}
