import AgentSessionManager
import Dispatch
internal import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Prints a run as it happens: assistant text to standard output as it streams; tool
/// calls, policy decisions, continuation and warnings to standard error.
final class LivePrinter: Sendable {
    private struct State {
        /// Deltas of the current message were printed.
        var streamedCurrent = false
        /// Standard output is in the middle of a line.
        var lineOpen = false
    }

    private let live: Bool
    private let state = Mutex(State())

    init(live: Bool) {
        self.live = live
    }

    func print(_ event: SessionEvent) {
        guard live else { return }
        for (descriptor, text) in state.withLock({ Self.render(event, &$0) }) {
            Console.write(text, to: descriptor)
        }
    }

    /// Ends an open line.
    func finish() {
        guard live else { return }
        if state.withLock({ state in
            defer { state.lineOpen = false }
            return state.lineOpen
        }) {
            Console.write("\n", to: 1)
        }
    }

    /// What one event prints, and where.
    private static func render(_ event: SessionEvent, _ state: inout State) -> [(Int32, String)] {
        var out: [(Int32, String)] = []
        func breakLine() {
            if state.lineOpen {
                out.append((1, "\n"))
                state.lineOpen = false
            }
        }
        func note(_ text: String) {
            breakLine()
            out.append((2, text + "\n"))
        }
        switch event {
        case .messageStreamed(let streamed) where streamed.role == .assistant:
            guard !streamed.delta.isEmpty else { break }
            out.append((1, streamed.delta))
            state.streamedCurrent = true
            state.lineOpen = !streamed.delta.hasSuffix("\n")
        case .messageReceived(let message) where message.role == .assistant:
            if state.streamedCurrent {
                breakLine()
            } else if !message.content.isEmpty {
                breakLine()
                out.append((1, message.content.hasSuffix("\n") ? message.content : message.content + "\n"))
            }
            state.streamedCurrent = false
        case .toolCallStarted(let call):
            note("· \(call.name) \(Formatting.clip(call.input.description, 100))")
        case .toolCallRefused(let call):
            note("· \(call.name) refused by the provider: \(Formatting.clip(call.reason, 100))")
        case .toolCallCompleted(let call) where call.isError:
            note("  \(call.name ?? "tool") failed: \(Formatting.clip(call.output, 100))")
        case .providerWarning(let warning):
            note("warning: \(Formatting.clip(warning.message, 120))")
        case .policyEvaluated(let evaluated):
            note("policies \(evaluated.policies.joined(separator: " + ")) (stack \(evaluated.stackHash.prefix(12)))")
        case .policyViolated(let violated):
            note(
                "policy \(violated.policy) \(violated.rule) → \(violated.action)\(violated.canBlock ? "" : " (observed)"): \(violated.message)"
            )
        case .toolApprovalRequested(let requested):
            note(
                "approval \(requested.approvalID) requested: \(requested.tool)\(requested.canBlock ? " waits" : " already ran")"
            )
        case .toolApprovalResolved(let resolved):
            note(
                "approval \(resolved.approvalID) \(resolved.approved ? "approved" : "denied")"
                    + (resolved.resolvedBy.map { " by \($0)" } ?? "")
            )
        case .routingDecided(let decided):
            let left = decided.candidates.filter { $0.excludedBecause != nil }.map {
                "\($0.provider): \($0.excludedBecause ?? "")"
            }
            note(
                "routed to \(decided.chosen ?? "no provider") (attempt \(decided.attempt), \(decided.strategy)"
                    + (decided.rebound == true ? ", rebound" : "")
                    + (left.isEmpty ? "" : "; left out " + left.joined(separator: ", ")) + ")"
            )
        case .routingFailedOver(let failed):
            note(
                "\(failed.from) failed (\(failed.failure.kind): \(Formatting.clip(failed.failure.message, 80)))"
                    + (failed.afterOutput ? " after output" : "")
                    + (failed.to.map { "; failing over to \($0)" } ?? "; no failover")
            )
        case .providerHealthChanged(let changed):
            note(
                "breaker \(changed.provider): \(changed.previous) → \(changed.current)"
                    + (changed.until.map { " until \($0)" } ?? "") + " (\(changed.reason))"
            )
        case .workspaceSnapshotTaken(let snapshot):
            note(
                "workspace \(snapshot.phase) snapshot \(snapshot.reference.map { String($0.prefix(19)) } ?? "") (\(snapshot.fileCount ?? 0) files)"
            )
        case .workspaceDiffComputed(let diff):
            note(
                "workspace: \(diff.filesChanged) files changed, +\(diff.insertions) -\(diff.deletions)"
                    + (diff.artifact.map { ", patch in \($0.prefix(19))…" } ?? "")
            )
        case .workspaceRolledBack(let rollback):
            note(
                "workspace rolled back to \(rollback.toSnapshot): \(rollback.restored) put back, \(rollback.removed) removed"
                    + (rollback.unrestorable.map { "; not restorable: \($0.joined(separator: ", "))" } ?? "")
            )
        case .continuationApplied(let applied) where applied.applied != "off" || applied.requested != "auto":
            note("continuation \(applied.applied): \(applied.reason)")
        default:
            break
        }
        return out
    }
}

/// Answers approval requests the way `--approvals` says: asking on the terminal, or
/// approving or denying all of them.
final class Approver: Sendable {
    private let mode: ASM.Run.ApprovalChoice
    private let manager: SessionManager

    init(mode: ASM.Run.ApprovalChoice, manager: SessionManager) {
        self.mode = mode
        self.manager = manager
    }

    func answer(_ requested: ToolApprovalRequested) {
        let manager = self.manager
        let mode = self.mode
        let question =
            "approve \(requested.tool)"
            + (requested.input.map { " \(Formatting.clip($0.description, 80))" } ?? "")
            + " (\(requested.policy): \(requested.rule))? [y/N] "
        DispatchQueue.global().async {
            let approved: Bool
            let resolver: String
            switch mode {
            case .wait: return  // another process answers, through the log
            case .approve: (approved, resolver) = (true, "asm --approvals approve")
            case .deny: (approved, resolver) = (false, "asm --approvals deny")
            case .ask:
                Console.write(question, to: 2)
                approved = Self.readYes()
                resolver = "terminal"
            }
            Task { try? await manager.resolveApproval(requested.approvalID, approved: approved, by: resolver) }
        }
    }

    /// A line from the terminal: yes for `y` or `yes`.
    private static func readYes() -> Bool {
        let descriptor = open("/dev/tty", O_RDONLY)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while read(descriptor, &byte, 1) == 1, byte != 0x0A { line.append(byte) }
        let text = String(decoding: line, as: UTF8.self).lowercased()
        return text == "y" || text == "yes"
    }
}

/// Turns SIGINT and SIGTERM into a cancel of the run while it lasts. A second signal is
/// noted but does not kill `asm`: the provider's own escalation (grace periods, then
/// SIGKILL) already bounds how long the stop takes, and the process must not be orphaned.
final class InterruptHandler {
    private final class Counter: Sendable {
        private let value = Mutex(0)
        func increment() -> Int {
            value.withLock {
                $0 += 1
                return $0
            }
        }
        var current: Int { value.withLock { $0 } }
    }

    private var sources: [any DispatchSourceSignal] = []
    private let counter = Counter()

    init(message: String = "cancelling the run…", onInterrupt: @escaping @Sendable (CancelReason) -> Void) {
        let counter = self.counter
        for (signalNumber, reason) in [(SIGINT, CancelReason.requested), (SIGTERM, CancelReason.shutdown)] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                if counter.increment() == 1 {
                    Console.note(message)
                    onInterrupt(reason)
                } else {
                    Console.note("still stopping the provider; it is killed if it does not exit in time")
                }
            }
            source.resume()
            sources.append(source)
        }
    }

    /// Whether a signal arrived.
    var fired: Bool { counter.current > 0 }

    /// Back to the default dispositions.
    func restore() {
        for source in sources { source.cancel() }
        sources = []
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
    }
}

/// A run's result as `asm run` reports it.
struct RunReport: Encodable {
    var status: String
    var sessionID: String
    var runID: String
    var provider: String
    var attempts: Int
    var model: String?
    var providerSessionID: String?
    var outputText: String?
    var failure: RunFailure?
    var cancelReason: String?
    var tokens: TokenUsage
    var costUSD: Double?
    var priceTable: String?
    var reportedCostUSD: Double?
    var policy: String
    var violations: [PolicyViolated]
    var continuation: String?
    var eventsWritten: Int
    var firstSequence: Int64
    var lastSequence: Int64
    var elapsedMilliseconds: Int64

    init(_ run: RunResult, elapsed: Duration, eventsWritten: Int) {
        status = run.status.rawValue
        sessionID = run.sessionID.description
        runID = run.runID.description
        provider = run.provider
        attempts = run.attempts
        model = run.model
        providerSessionID = run.providerSessionID
        outputText = run.outputText
        failure = run.failure
        cancelReason = run.cancelReason?.rawValue
        tokens = run.usage
        costUSD = run.costNanoUSD.map { Double($0) / 1e9 }
        priceTable = run.priceTable
        reportedCostUSD = run.reportedCostUSD
        policy = run.policy.summary
        violations = run.policy.violations
        continuation = run.continuation?.applied
        self.eventsWritten = eventsWritten
        firstSequence = run.firstSequence.rawValue
        lastSequence = run.lastSequence.rawValue
        elapsedMilliseconds = elapsed.wholeMilliseconds
    }

    enum CodingKeys: String, CodingKey {
        case status, provider, attempts, model, failure, tokens, policy, violations, continuation
        case sessionID = "session_id"
        case runID = "run_id"
        case providerSessionID = "provider_session_id"
        case outputText = "output_text"
        case cancelReason = "cancel_reason"
        case costUSD = "cost_usd"
        case priceTable = "price_table"
        case reportedCostUSD = "reported_cost_usd"
        case eventsWritten = "events_written"
        case firstSequence = "first_sequence"
        case lastSequence = "last_sequence"
        case elapsedMilliseconds = "elapsed_ms"
    }

    /// The closing line: status, provider and model, tokens, cost, policy, events, ids.
    static func line(_ run: RunResult, elapsed: Duration, eventsWritten: Int) -> String {
        var status = "\(run.status.rawValue) in \(seconds(elapsed))"
        switch run.status {
        case .failed:
            status +=
                " — \(run.failure?.kind.rawValue ?? "unknown"): \(Formatting.clip(run.failure?.message ?? "", 100))"
        case .cancelled:
            status += " (\(run.cancelReason?.rawValue ?? "requested"))"
        default:
            break
        }
        var parts = [
            status,
            [run.provider, run.model].compactMap { $0 }.joined(separator: " ")
                + (run.attempts > 1 ? " (attempt \(run.attempts))" : ""),
        ]
        let usage = run.usage
        var tokens = "tokens \(grouped(usage.input)) in, \(grouped(usage.output)) out"
        if usage.cacheRead > 0 { tokens += ", \(grouped(usage.cacheRead)) cache read" }
        if usage.cacheWrite > 0 { tokens += ", \(grouped(usage.cacheWrite)) cache write" }
        if usage.reasoning > 0 { tokens += ", \(grouped(usage.reasoning)) reasoning" }
        parts.append(tokens)
        var cost: [String] = []
        if let nano = run.costNanoUSD { cost.append("cost \(Formatting.usd(nano: nano)) (\(run.priceTable ?? "?"))") }
        if let reported = run.reportedCostUSD { cost.append("\(run.provider) reported $\(String(format6: reported))") }
        if !cost.isEmpty { parts.append(cost.joined(separator: ", ")) }
        if !run.policy.policies.isEmpty {
            parts.append("policy \(run.policy.summary) (\(run.policy.policies.joined(separator: "+")))")
        }
        if let continuation = run.continuation, continuation.applied != "off" {
            parts.append("continuation \(continuation.applied)")
        }
        parts.append("\(eventsWritten) events written")
        parts.append("session \(Formatting.short(run.sessionID.uuid)) run \(Formatting.short(run.runID.uuid))")
        return parts.joined(separator: " · ")
    }

    private static func seconds(_ duration: Duration) -> String {
        let milliseconds = duration.wholeMilliseconds
        return milliseconds < 1000 ? "\(milliseconds) ms" : "\(milliseconds / 1000).\((milliseconds % 1000) / 100) s"
    }

    private static func grouped(_ value: Int64) -> String {
        let digits = String(value.magnitude)
        var result = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { result.append(",") }
            result.append(digit)
        }
        return (value < 0 ? "-" : "") + result
    }
}
