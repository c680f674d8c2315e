import ASMCore
import ASMPolicy
import ASMProviders
import ASMRuntime
import ASMStore
import AgentSessionManagerTesting
import FoundationEssentials
import Synchronization

/// A store, a manager over it, and helpers to read what was recorded.
struct Harness {
    let store: SQLiteEventStore
    let manager: SessionManager

    init(
        store: SQLiteEventStore,
        providers: [any ProviderAdapter],
        routers: [ProviderRouter] = [],
        priceTable: PriceTable = .standard,
        clock: (any WallClock)? = nil
    ) {
        self.store = store
        var configuration = SessionManager.Configuration()
        configuration.priceTable = priceTable
        if let clock { configuration.clock = clock }
        manager = SessionManager(store: store, providers: providers, routers: routers, configuration: configuration)
    }

    /// The session's events, in order.
    func events(_ session: SessionID) async throws -> [EventEnvelope] {
        try await store.stream(session.stream, fromVersion: StreamVersion(1), limit: 100_000)
    }

    /// A run's events, in order.
    func events(of run: RunID) async throws -> [EventEnvelope] {
        try await store.events(from: .zero, limit: 100_000, filter: EventFilter(run: run)).events
    }

    func types(of run: RunID) async throws -> [String] {
        try await events(of: run).map { $0.event.type.rawValue }
    }
}

/// Runs `body` with a temporary store and a manager over `providers`.
func withHarness(
    _ providers: [any ProviderAdapter],
    priceTable: PriceTable = .standard,
    clock: ManualClock? = nil,
    _ body: (Harness) async throws -> Void
) async throws {
    var configuration = SQLiteEventStore.Configuration()
    if let clock { configuration.clock = clock }
    try await withTemporaryStore(configuration: configuration) { store in
        try await body(Harness(store: store, providers: providers, priceTable: priceTable, clock: clock))
    }
}

/// Collects what a callback saw.
final class Seen<Value: Sendable>: Sendable {
    private let values = Mutex<[Value]>([])
    func add(_ value: Value) { values.withLock { $0.append(value) } }
    var all: [Value] { values.withLock { $0 } }
}

/// A provider with memory, like a real CLI: what a session was told can be asked again
/// when the session is resumed by its id.
final class RememberingProvider: ProviderAdapter {
    let name: String
    let capabilities: ProviderCapabilities
    private let memory = Seen<(String, String)>()
    private let inner: ScriptedProvider

    /// - Parameter ignoresResume: resumes are ignored and a new session id is reported (a
    ///   CLI that silently started fresh).
    init(name: String = "memo", resumesNatively: Bool = true, ignoresResume: Bool = false) {
        self.name = name
        let capabilities = ProviderCapabilities(
            streamsText: true,
            reportsToolCalls: true,
            resumesNatively: resumesNatively,
            interrupts: true,
            toolGate: .beforeRun
        )
        self.capabilities = capabilities
        let memory = self.memory
        inner = ScriptedProvider(name: name, capabilities: capabilities) { request in
            let resumed = ignoresResume ? nil : request.resumeSessionID
            let session = resumed ?? "\(name)-session-\(request.runID.description.prefix(13))"
            memory.add((session, request.promptText))
            let everything = memory.all.filter { $0.0 == session }.map(\.1).joined(separator: "\n")
            let answer = Self.code(in: everything).map { "The code is \($0)." } ?? "I do not know any code."
            var script = ProviderScript(
                [.text(answer), .usage(TokenUsage(input: 100, output: 10))],
                providerSessionID: session
            )
            script.model = "memo-1"
            return script
        }
    }

    private static func code(in text: String) -> String? {
        guard let start = text.firstRange(of: "X-") else { return nil }
        let digits = text[start.upperBound...].prefix { $0.isNumber }
        return digits.isEmpty ? nil : "X-" + digits
    }

    func execute(_ request: ProviderRequest) -> ProviderEventStream { inner.execute(request) }
    func cancel(_ run: RunID, reason: CancelReason) async { await inner.cancel(run, reason: reason) }
    var receivedRequests: [ProviderRequest] { inner.receivedRequests }
}

/// A scripted provider whose n-th run plays `plan(n)` (1-based).
final class Flaky: ProviderAdapter {
    let name: String
    let capabilities: ProviderCapabilities
    private let inner: ScriptedProvider

    init(_ name: String, tools: [String] = ["Read", "Bash"], plan: @escaping @Sendable (Int) -> [ProviderScript.Step]) {
        self.name = name
        let capabilities = ProviderCapabilities(
            streamsText: true,
            reportsToolCalls: true,
            resumesNatively: true,
            interrupts: true,
            toolGate: .observeOnly,
            tools: tools
        )
        self.capabilities = capabilities
        let counter = Counter()
        inner = ScriptedProvider(name: name, capabilities: capabilities) { _ in
            ProviderScript(plan(counter.next()), model: "\(name)-model")
        }
    }

    var runs: Int { inner.receivedRequests.count }
    func execute(_ request: ProviderRequest) -> ProviderEventStream { inner.execute(request) }
    func cancel(_ run: RunID, reason: CancelReason) async { await inner.cancel(run, reason: reason) }
}

final class Counter: Sendable {
    private let value = Mutex(0)
    func next() -> Int {
        value.withLock {
            $0 += 1
            return $0
        }
    }
}

/// A one-shot signal a test waits on: the event itself, never a sleep.
final class Latch: Sendable {
    private struct State {
        var open = false
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let ready = state.withLock { state -> Bool in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if ready { continuation.resume() }
        }
    }
}

/// A provider whose executions all wait until `count` of them have started, then play their
/// script: runs in several processes reaching the same step at the same instant.
final class Gathering: ProviderAdapter {
    let name: String
    let capabilities: ProviderCapabilities
    private let inner: Flaky
    private let started = Counter()
    private let count: Int
    private let together = Latch()

    init(_ name: String, together count: Int, plan: @escaping @Sendable (Int) -> [ProviderScript.Step]) {
        self.name = name
        inner = Flaky(name, plan: plan)
        capabilities = inner.capabilities
        self.count = count
    }

    func execute(_ request: ProviderRequest) -> ProviderEventStream {
        let stream = inner.execute(request)
        if started.next() == count { together.open() }
        let together = self.together
        let (gathered, continuation) = AsyncStream<ProviderEvent>.makeStream()
        let task = Task {
            await together.wait()
            for await event in stream { continuation.yield(event) }
            continuation.finish()
        }
        continuation.onTermination = { _ in task.cancel() }
        return ProviderEventStream(gathered)
    }

    func cancel(_ run: RunID, reason: CancelReason) async { await inner.cancel(run, reason: reason) }
}
