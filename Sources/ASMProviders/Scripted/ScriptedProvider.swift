public import ASMCore
internal import Synchronization

/// A deterministic provider: it plays a script (or a recorded capture) with the same event
/// semantics as the real CLIs — a start, deltas, messages, tool calls, usage, one terminal
/// event — including failures, delays, hangs, timeouts and cancellation.
///
/// ```swift
/// let provider = ScriptedProvider { request in
///     .reply("You said: \(request.messages.last?.content ?? "")")
/// }
/// ```
public final class ScriptedProvider: ProviderAdapter {
    public let name: String
    public let capabilities: ProviderCapabilities
    private let clock: any Clock<Duration>
    private let respond: @Sendable (ProviderRequest) -> ProviderScript
    private let runs = RunRegistry<CancelSignal>()
    private let requests = Mutex<[ProviderRequest]>([])

    /// - Parameters:
    ///   - name: the provider name in events.
    ///   - capabilities: what the provider claims to do.
    ///   - clock: the clock delays, deadlines and idle timeouts run on.
    ///   - respond: the script for each request.
    public init(
        name: String = "scripted",
        capabilities: ProviderCapabilities = ProviderCapabilities(
            streamsText: true,
            reportsToolCalls: true,
            resumesNatively: true,
            interrupts: true,
            toolGate: .beforeRun,
            holdsTools: true
        ),
        clock: any Clock<Duration> = ContinuousClock(),
        respond: @escaping @Sendable (ProviderRequest) -> ProviderScript
    ) {
        self.name = name
        self.capabilities = capabilities
        self.clock = clock
        self.respond = respond
    }

    /// Plays the same script for every request.
    public convenience init(name: String = "scripted", script: ProviderScript) {
        self.init(name: name) { _ in script }
    }

    /// Every request received so far, oldest first (for tests and the demo).
    public var receivedRequests: [ProviderRequest] { requests.withLock { $0 } }

    public func execute(_ request: ProviderRequest) -> ProviderEventStream {
        requests.withLock { $0.append(request) }
        let script = respond(request)
        let cancel = CancelSignal()
        runs.insert(cancel, for: request.runID)
        let (stream, continuation) = AsyncStream<ProviderEvent>.makeStream()
        let clock = self.clock
        let name = self.name
        let runs = self.runs
        let task = Task {
            await Self.play(name: name, request: request, script: script, clock: clock, cancel: cancel) {
                continuation.yield($0)
            }
            runs.remove(request.runID)
            continuation.finish()
        }
        continuation.onTermination = { termination in
            if case .cancelled = termination { cancel.fire(.requested) }
            _ = task
        }
        return ProviderEventStream(stream)
    }

    public func cancel(_ run: RunID, reason: CancelReason) async {
        runs[run]?.fire(reason)
    }

    /// Opens the clock's type for the player.
    private static func play<C: Clock>(
        name: String,
        request: ProviderRequest,
        script: ProviderScript,
        clock: C,
        cancel: CancelSignal,
        emit: (ProviderEvent) -> Void
    ) async where C.Duration == Duration {
        await ScriptPlayer(name: name, request: request, script: script, clock: clock, cancel: cancel).play(emit: emit)
    }
}

/// A one-shot cancellation a script can wait on.
final class CancelSignal: Sendable {
    private struct State {
        var reason: CancelReason?
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextID = 0
    }

    private let state = Mutex(State())

    var reason: CancelReason? { state.withLock { $0.reason } }

    func fire(_ reason: CancelReason) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            guard state.reason == nil else { return [] }
            state.reason = reason
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Returns once fired, or when the waiting task is cancelled.
    func wait() async {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if state.reason != nil || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }
}

/// Plays one script.
private struct ScriptPlayer<C: Clock> where C.Duration == Duration {
    let name: String
    let request: ProviderRequest
    let script: ProviderScript
    let clock: C
    let cancel: CancelSignal

    private enum GateOutcome {
        case verdict(ToolPermissionRequest.Verdict)
        case interrupted(Interruption)
    }

    private enum Interruption {
        case cancelled(CancelReason)
        case deadline(Duration)
        case idle(Duration)
    }

    func play(emit output: (ProviderEvent) -> Void) async {
        var emitted = 0
        func emit(_ event: ProviderEvent) {
            emitted += 1
            output(event)
        }
        let start = clock.now
        var lastOutput = start
        var usage = TokenUsage.zero
        var started = false
        var lastText: String?
        var callNumber = 0
        let sessionID =
            script.providerSessionID ?? request.resumeSessionID ?? "\(name)-\(request.runID.description.prefix(8))"
        let model = request.model ?? script.model

        /// Waits for `duration` (forever when `nil`) unless cancelled or timed out.
        func wait(_ duration: Duration?) async -> Interruption? {
            if let reason = cancel.reason { return .cancelled(reason) }
            var limit = duration
            if let deadline = request.deadline {
                let left = deadline - start.duration(to: clock.now)
                if left <= .zero { return .deadline(deadline) }
                limit = min(limit ?? left, left)
            }
            if let idle = request.idleTimeout {
                let left = idle - lastOutput.duration(to: clock.now)
                if left <= .zero { return .idle(idle) }
                limit = min(limit ?? left, left)
            }
            let clock = self.clock
            let cancel = self.cancel
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await cancel.wait() }
                if let limit { group.addTask { try? await clock.sleep(for: limit) } }
                await group.next()
                group.cancelAll()
            }
            if let reason = cancel.reason { return .cancelled(reason) }
            if let deadline = request.deadline, start.duration(to: clock.now) >= deadline { return .deadline(deadline) }
            if let idle = request.idleTimeout, lastOutput.duration(to: clock.now) >= idle { return .idle(idle) }
            return nil
        }

        /// Asks on the stream and waits for the answer, unless the run is cancelled or its
        /// deadline passes first.
        func authorize(_ call: ToolCallStarted) async -> GateOutcome {
            if let reason = cancel.reason { return .interrupted(.cancelled(reason)) }
            var limit: Duration?
            if let deadline = request.deadline {
                let left = deadline - start.duration(to: clock.now)
                if left <= .zero { return .interrupted(.deadline(deadline)) }
                limit = left
            }
            let permission = ToolPermissionRequest(call: call)
            emit(.toolPermission(permission))
            let clock = self.clock
            let cancel = self.cancel
            let verdict = await withTaskGroup(of: ToolPermissionRequest.Verdict?.self) { group in
                group.addTask { await permission.verdict() }
                group.addTask {
                    await cancel.wait()
                    return nil
                }
                if let limit {
                    group.addTask {
                        try? await clock.sleep(for: limit)
                        return nil
                    }
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first
            }
            if let reason = cancel.reason { return .interrupted(.cancelled(reason)) }
            if let verdict { return .verdict(verdict) }
            return .interrupted(.deadline(request.deadline ?? .zero))
        }

        for step in script.steps {
            if case .event(let event) = step {
                // Replayed events speak for themselves: no synthetic start, and a terminal
                // event ends the run.
                if case .started = event { started = true }
                if case .received(let message) = event, message.role == .assistant { lastText = message.content }
                emit(event)
                if event.isTerminal { return }
                lastOutput = clock.now
                if let reason = cancel.reason {
                    emit(Self.terminal(.cancelled(reason), name: name))
                    return
                }
                continue
            }
            if case .fail(let failure) = step {
                // At the very start, the provider fails before it starts, like a CLI that cannot log in.
                emit(.failed(RunFailed(failure: failure)))
                return
            }
            switch step {
            case .text, .toolCall, .usage, .warning:
                // Output means the run has started; waits and a crash before any output do not.
                if !started {
                    started = true
                    emit(
                        .started(
                            RunStarted(
                                provider: name,
                                model: model,
                                providerSessionID: sessionID,
                                tools: script.tools.isEmpty ? nil : script.tools
                            )
                        )
                    )
                }
            case .delay, .hang, .crash, .fail, .event:
                break
            }
            switch step {
            case .text(let text, let chunks):
                for chunk in Self.split(text, into: chunks) {
                    emit(.streamed(MessageStreamed(role: .assistant, delta: chunk)))
                }
                emit(.received(MessageReceived(role: .assistant, content: text)))
                lastText = text
                lastOutput = clock.now
            case .toolCall(let tool, let input, let output, let isError):
                callNumber += 1
                let callID = "call_\(callNumber)"
                let call = ToolCallStarted(callID: callID, name: tool, input: input)
                if request.asksBeforeTools {
                    // The tool waits for the answer; a denied tool does not run and the script goes on.
                    switch await authorize(call) {
                    case .interrupted(let interruption):
                        emit(Self.terminal(interruption, name: name))
                        return
                    case .verdict(.deny):
                        lastOutput = clock.now
                        if let reason = cancel.reason {
                            emit(Self.terminal(.cancelled(reason), name: name))
                            return
                        }
                        continue
                    case .verdict(.allow):
                        lastOutput = clock.now
                    }
                }
                emit(.toolStarted(call))
                emit(.toolCompleted(ToolCallCompleted(callID: callID, name: tool, output: output, isError: isError)))
                lastOutput = clock.now
            case .usage(let delta, let cost):
                usage = usage + delta
                emit(
                    .usage(
                        TokenUsageUpdated(
                            provider: name,
                            model: model,
                            delta: delta,
                            total: usage,
                            reportedCostUSD: cost
                        )
                    )
                )
                lastOutput = clock.now
            case .warning(let message):
                emit(.warning(ProviderWarning(provider: name, message: message)))
                lastOutput = clock.now
            case .delay(let duration):
                if let interruption = await wait(duration) {
                    emit(Self.terminal(interruption, name: name))
                    return
                }
            case .hang:
                if let interruption = await wait(nil) {
                    emit(Self.terminal(interruption, name: name))
                    return
                }
            case .crash(let exitCode, let stderr):
                emit(
                    .failure(
                        .processExited,
                        "\(name) exited with code \(exitCode) without a result",
                        exitCode: exitCode,
                        stderr: stderr
                    )
                )
                return
            case .fail, .event:
                return
            }
            if let reason = cancel.reason {
                emit(Self.terminal(.cancelled(reason), name: name))
                return
            }
        }
        if !started {
            emit(.started(RunStarted(provider: name, model: model, providerSessionID: sessionID)))
        }
        emit(.completed(RunCompleted(outputText: lastText, stopReason: "end_turn", providerSessionID: sessionID)))
    }

    private static func terminal(_ interruption: Interruption, name: String) -> ProviderEvent {
        switch interruption {
        case .cancelled(let reason): .cancelled(RunCancelled(reason: reason, message: "\(name) stopped when asked"))
        case .deadline(let limit): .failure(.timeout, "the run's deadline of \(limit.asText) passed")
        case .idle(let limit): .failure(.timeout, "\(name) wrote nothing for \(limit.asText)")
        }
    }

    static func split(_ text: String, into chunks: Int) -> [String] {
        guard chunks > 1, text.count > 1 else { return [text] }
        let size = max(1, (text.count + chunks - 1) / chunks)
        var result: [String] = []
        var index = text.startIndex
        while index < text.endIndex {
            let end = text.index(index, offsetBy: size, limitedBy: text.endIndex) ?? text.endIndex
            result.append(String(text[index..<end]))
            index = end
        }
        return result
    }
}
