import ASMCore
import ASMProviders
import Synchronization

/// A provider whose runs start, then wait for the test to let them finish (or for a
/// cancel), so tests decide exactly which runs are executing at any moment.
final class GateProvider: ProviderAdapter {
    let name: String
    let capabilities = ProviderCapabilities(
        streamsText: true,
        reportsToolCalls: true,
        resumesNatively: false,
        interrupts: true,
        toolGate: .beforeRun
    )
    /// Text deltas each run streams once released.
    let chunks: Int

    private struct State {
        /// Prompts of the runs started, in order.
        var started: [String] = []
        /// The running ones now.
        var running: Set<String> = []
        var maximumRunning = 0
        var gates: [RunID: CheckedContinuation<CancelReason?, Never>] = [:]
        var prompts: [RunID: String] = [:]
        /// Released before they reached their gate.
        var released: Set<String> = []
        var cancelled: [RunID: CancelReason] = [:]
        /// What each run was sent, by its prompt.
        var messages: [String: [String]] = [:]
        /// Tests waiting for this many runs to have started.
        var watchers: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    }

    private let state = Mutex(State())

    init(name: String = "gate", chunks: Int = 2) {
        self.name = name
        self.chunks = chunks
    }

    var started: [String] { state.withLock { $0.started } }
    /// The messages the run with this prompt was sent.
    func messages(of prompt: String) -> [String]? { state.withLock { $0.messages[prompt] } }
    var running: Set<String> { state.withLock { $0.running } }
    /// The most runs that were executing at once.
    var maximumRunning: Int { state.withLock { $0.maximumRunning } }

    func execute(_ request: ProviderRequest) -> ProviderEventStream {
        let (stream, continuation) = AsyncStream<ProviderEvent>.makeStream()
        let prompt = request.messages.last?.content ?? ""
        let woken = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.started.append(prompt)
            state.running.insert(prompt)
            state.maximumRunning = max(state.maximumRunning, state.running.count)
            state.prompts[request.runID] = prompt
            state.messages[prompt] = request.messages.map(\.content)
            let count = state.started.count
            defer { state.watchers.removeAll { $0.count <= count } }
            return state.watchers.filter { $0.count <= count }.map(\.continuation)
        }
        for continuation in woken { continuation.resume() }
        let name = self.name
        let chunks = self.chunks
        Task {
            continuation.yield(.started(RunStarted(provider: name, model: "gate-1")))
            let cancelled = await self.gate(request.runID, prompt)
            if let cancelled {
                continuation.yield(.cancelled(RunCancelled(reason: cancelled)))
            } else {
                for index in 0..<chunks { continuation.yield(.streamed(MessageStreamed(delta: "part \(index) "))) }
                continuation.yield(.received(MessageReceived(role: .assistant, content: "done: \(prompt)")))
                continuation.yield(.completed(RunCompleted(outputText: "done: \(prompt)")))
            }
            self.state.withLock { _ = $0.running.remove(prompt) }
            continuation.finish()
        }
        return ProviderEventStream(stream)
    }

    private func gate(_ run: RunID, _ prompt: String) async -> CancelReason? {
        await withCheckedContinuation { (continuation: CheckedContinuation<CancelReason?, Never>) in
            let immediate = state.withLock { state -> CancelReason?? in
                if let reason = state.cancelled[run] { return .some(reason) }
                if state.released.remove(prompt) != nil { return .some(nil) }
                state.gates[run] = continuation
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
    }

    func cancel(_ run: RunID, reason: CancelReason) async {
        let gate = state.withLock { state -> CheckedContinuation<CancelReason?, Never>? in
            state.cancelled[run] = reason
            return state.gates.removeValue(forKey: run)
        }
        gate?.resume(returning: reason)
    }

    /// Lets the run with this prompt finish (now, or as soon as it reaches its gate).
    func release(_ prompt: String) {
        let gate = state.withLock { state -> CheckedContinuation<CancelReason?, Never>? in
            guard let run = state.prompts.first(where: { $0.value == prompt && state.gates[$0.key] != nil })?.key else {
                state.released.insert(prompt)
                return nil
            }
            return state.gates.removeValue(forKey: run)
        }
        gate?.resume(returning: nil)
    }

    /// Returns once `count` runs have started.
    func waitUntilStarted(_ count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if state.started.count >= count { return true }
                state.watchers.append((count, continuation))
                return false
            }
            if ready { continuation.resume() }
        }
    }
}
