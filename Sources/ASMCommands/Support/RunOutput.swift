import AgentSessionManager
import Dispatch
internal import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Prints a run as it happens: assistant text to standard output as it streams, tool
/// calls and warnings to standard error.
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

    func print(_ event: ProviderEvent) {
        guard live else { return }
        for (descriptor, text) in state.withLock({ Self.render(event, &$0) }) {
            Console.write(text, to: descriptor)
        }
    }

    /// Ends an open line.
    func finish() {
        guard live else { return }
        if state.withLock({ state in defer { state.lineOpen = false }; return state.lineOpen }) {
            Console.write("\n", to: 1)
        }
    }

    /// What one event prints, and where.
    private static func render(_ event: ProviderEvent, _ state: inout State) -> [(Int32, String)] {
        var out: [(Int32, String)] = []
        func breakLine() {
            if state.lineOpen {
                out.append((1, "\n"))
                state.lineOpen = false
            }
        }
        switch event {
        case .streamed(let streamed) where streamed.role == .assistant:
            guard !streamed.delta.isEmpty else { break }
            out.append((1, streamed.delta))
            state.streamedCurrent = true
            state.lineOpen = !streamed.delta.hasSuffix("\n")
        case .received(let message) where message.role == .assistant:
            if state.streamedCurrent {
                breakLine()
            } else if !message.content.isEmpty {
                breakLine()
                out.append((1, message.content.hasSuffix("\n") ? message.content : message.content + "\n"))
            }
            state.streamedCurrent = false
        case .toolStarted(let call):
            breakLine()
            out.append((2, "· \(call.name) \(Formatting.clip(call.input.description, 100))\n"))
        case .toolCompleted(let call) where call.isError:
            breakLine()
            out.append((2, "  \(call.name ?? "tool") failed: \(Formatting.clip(call.output, 100))\n"))
        case .warning(let warning):
            breakLine()
            out.append((2, "warning: \(Formatting.clip(warning.message, 120))\n"))
        case .started, .streamed, .received, .toolCompleted, .usage, .completed, .failed, .cancelled:
            break
        }
        return out
    }
}

/// Turns SIGINT and SIGTERM into a cancel of the run while it lasts. A second signal is
/// noted but does not kill `asm`: the provider's own escalation (grace periods, then
/// SIGKILL) already bounds how long the stop takes, and the process must not be orphaned.
final class InterruptHandler {
    private final class Counter: Sendable {
        private let value = Mutex(0)
        func increment() -> Int { value.withLock { $0 += 1; return $0 } }
        var current: Int { value.withLock { $0 } }
    }

    private var sources: [any DispatchSourceSignal] = []
    private let counter = Counter()

    init(onInterrupt: @escaping @Sendable (CancelReason) -> Void) {
        let counter = self.counter
        for (signalNumber, reason) in [(SIGINT, CancelReason.requested), (SIGTERM, CancelReason.shutdown)] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler {
                if counter.increment() == 1 {
                    Console.note("cancelling the run…")
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

/// A recorded run as `asm run` reports it.
struct RunReport: Encodable {
    var status: String
    var sessionID: String
    var runID: String
    var provider: String
    var model: String?
    var providerSessionID: String?
    var outputText: String?
    var failure: RunFailure?
    var cancelReason: String?
    var tokens: TokenUsage
    var reportedCostUSD: Double?
    var eventsWritten: Int
    var firstSequence: Int64
    var lastSequence: Int64
    var elapsedMilliseconds: Int64

    init(_ run: RecordedRun, elapsed: Duration, eventsWritten: Int) {
        status = run.status.rawValue
        sessionID = run.sessionID.description
        runID = run.runID.description
        provider = run.provider
        model = run.model
        providerSessionID = run.providerSessionID
        outputText = run.outputText
        failure = run.failure
        cancelReason = run.cancelReason?.rawValue
        tokens = run.usage
        reportedCostUSD = run.reportedCostUSD
        self.eventsWritten = eventsWritten
        firstSequence = run.firstSequence.rawValue
        lastSequence = run.lastSequence.rawValue
        elapsedMilliseconds = Self.milliseconds(elapsed)
    }

    enum CodingKeys: String, CodingKey {
        case status, provider, model, failure, tokens
        case sessionID = "session_id"
        case runID = "run_id"
        case providerSessionID = "provider_session_id"
        case outputText = "output_text"
        case cancelReason = "cancel_reason"
        case reportedCostUSD = "reported_cost_usd"
        case eventsWritten = "events_written"
        case firstSequence = "first_sequence"
        case lastSequence = "last_sequence"
        case elapsedMilliseconds = "elapsed_ms"
    }

    /// The closing line: status, provider and model, tokens, cost where known, events, ids.
    static func line(_ run: RecordedRun, elapsed: Duration, eventsWritten: Int) -> String {
        var status = "\(run.status.rawValue) in \(seconds(elapsed))"
        switch run.status {
        case .failed:
            status += " — \(run.failure?.kind.rawValue ?? "unknown"): \(Formatting.clip(run.failure?.message ?? "", 100))"
        case .cancelled:
            status += " (\(run.cancelReason?.rawValue ?? "requested"))"
        default:
            break
        }
        var parts = [status, [run.provider, run.model].compactMap { $0 }.joined(separator: " ")]
        let usage = run.usage
        var tokens = "tokens \(grouped(usage.input)) in, \(grouped(usage.output)) out"
        if usage.cacheRead > 0 { tokens += ", \(grouped(usage.cacheRead)) cache read" }
        if usage.cacheWrite > 0 { tokens += ", \(grouped(usage.cacheWrite)) cache write" }
        if usage.reasoning > 0 { tokens += ", \(grouped(usage.reasoning)) reasoning" }
        parts.append(tokens)
        if let cost = run.reportedCostUSD {
            parts.append("cost $\(String(format6: cost)) (reported by \(run.provider))")
        }
        parts.append("\(eventsWritten) events written")
        parts.append("session \(Formatting.short(run.sessionID.uuid)) run \(Formatting.short(run.runID.uuid))")
        return parts.joined(separator: " · ")
    }

    private static func milliseconds(_ duration: Duration) -> Int64 {
        duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    }

    private static func seconds(_ duration: Duration) -> String {
        let milliseconds = milliseconds(duration)
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
