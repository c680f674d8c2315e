import ASMCore
import ASMPolicy
import ASMProviders
import ASMRouting
import ASMRuntime
import ASMStore
import AgentSessionManagerTesting
import Synchronization
import Testing

/// The router end to end: failover per error class, breakers, stickiness, cancel, and
/// replay of what it recorded.
struct RouterExecutionTests {
    static func failing(_ kind: FailureKind, status: Int? = nil) -> [ProviderScript.Step] {
        [.fail(RunFailure(kind: kind, message: "\(kind) from the provider", httpStatus: status))]
    }

    static let answer: [ProviderScript.Step] = [.text("Done."), .usage(TokenUsage(input: 10, output: 2))]

    /// A router over `providers` in a manager, on a temporary store.
    func withRouter(
        _ providers: [any ProviderAdapter],
        config: RouterConfig,
        seed: UInt64 = 1,
        clock: ManualClock = ManualClock(),
        _ body: (Harness, ProviderRouter) async throws -> Void
    ) async throws {
        try await withTemporaryStore { store in
            let seeds = Counter()
            let router = ProviderRouter(providers: providers, config: config, seeds: { UInt64(seeds.next()) &* seed })
            try await body(Harness(store: store, providers: [], routers: [router], clock: clock), router)
        }
    }

    private func routingEvents(_ h: Harness, _ run: RunID) async throws -> [SessionEvent] {
        try await h.events(of: run).map(\.event).filter {
            switch $0 {
            case .routingDecided, .routingFailedOver, .providerHealthChanged: true
            default: false
            }
        }
    }

    private func verify(_ h: Harness) async throws {
        let report = try await ReplayVerifier(store: h.store).verify()
        #expect(report.isConsistent, "\(report.mismatches)")
    }

    @Test(
        "a retryable failure before output fails over to the next provider, and the run completes there",
        arguments: [
            (FailureKind.rateLimited, nil as Int?), (.overloaded, 529), (.apiError, 503), (.timeout, nil),
            (.processExited, nil), (.missingBinary, nil),
        ]
    )
    func failover(kind: FailureKind, status: Int?) async throws {
        let claude = Flaky("claude") { _ in Self.failing(kind, status: status) }
        let codex = Flaky("codex") { _ in Self.answer }
        try await withRouter([claude, codex], config: RouterConfig(prefer: ["claude", "codex"])) { h, _ in
            let session = try await h.manager.startSession(agentID: "a")
            let result = try await h.manager.run("x", in: session, options: RunOptions(provider: "router"))
            #expect(result.status == .completed && result.provider == "codex" && result.attempts == 2)
            let types = try await h.types(of: result.runID).filter { $0.hasPrefix("routing.") || $0.hasPrefix("run.") }
            // claude failed before it started (as a CLI that cannot reach its API does).
            #expect(
                types == [
                    "run.requested", "routing.decided", "routing.failed_over", "routing.decided", "run.started",
                    "run.completed",
                ]
            )
            let failed = try #require(
                try await routingEvents(h, result.runID).compactMap { event -> RoutingFailedOver? in
                    if case .routingFailedOver(let failed) = event { return failed }
                    return nil
                }.first
            )
            #expect(
                failed.from == "claude" && failed.to == "codex" && failed.failure.kind == kind && !failed.afterOutput
            )
            let started = try await h.events(of: result.runID).compactMap { envelope -> RunStarted? in
                if case .runStarted(let started) = envelope.event { return started }
                return nil
            }
            #expect(started.map(\.attempt) == [2] && started.map(\.provider) == ["codex"])
            try await verify(h)
        }
    }

    @Test(
        "no failover for authentication, invalid requests or policy violations",
        arguments: [FailureKind.authentication, .invalidRequest, .billing]
    )
    func noFailover(kind: FailureKind) async throws {
        let claude = Flaky("claude") { _ in Self.failing(kind) }
        let codex = Flaky("codex") { _ in Self.answer }
        try await withRouter([claude, codex], config: RouterConfig(prefer: ["claude", "codex"])) { h, _ in
            let session = try await h.manager.startSession(agentID: "a")
            let result = try await h.manager.run("x", in: session, options: RunOptions(provider: "router"))
            #expect(result.status == .failed && result.failure?.kind == kind && codex.runs == 0)
            let events = try await routingEvents(h, result.runID)
            // A failure that counts against the provider is recorded, with no next provider.
            let failedOver = events.contains {
                if case .routingFailedOver(let failed) = $0 { return failed.to == nil }
                return false
            }
            #expect(failedOver == FailureClass.countsAgainstProvider(RunFailure(kind: kind, message: "")))
            try await verify(h)
        }
    }

    @Test("a failover after output is recorded as such, and the transcript keeps both attempts")
    func failoverAfterOutput() async throws {
        let claude = Flaky("claude") { _ in
            [.text("Half an answer"), .fail(RunFailure(kind: .overloaded, message: "529", httpStatus: 529))]
        }
        let codex = Flaky("codex") { _ in Self.answer }
        try await withRouter([claude, codex], config: RouterConfig(prefer: ["claude", "codex"])) { h, _ in
            let session = try await h.manager.startSession(agentID: "a")
            let result = try await h.manager.run("x", in: session, options: RunOptions(provider: "router"))
            #expect(result.status == .completed)
            let failed = try await routingEvents(h, result.runID).compactMap { event -> RoutingFailedOver? in
                if case .routingFailedOver(let failed) = event { return failed }
                return nil
            }
            #expect(failed.first?.afterOutput == true)
            let transcript = try await h.manager.transcript(of: session)
            #expect(transcript.map(\.content) == ["x", "Half an answer", "Done."])
            #expect(transcript.map(\.provider) == [nil, "claude", "codex"])
            try await verify(h)
        }
    }

    @Test("max attempts bounds the failovers; the last failure ends the run")
    func maxAttempts() async throws {
        let providers = ["claude", "codex", "amp"].map { name in Flaky(name) { _ in Self.failing(.overloaded) } }
        try await withRouter(providers, config: RouterConfig(prefer: ["claude", "codex", "amp"], maxAttempts: 2)) {
            h,
            _ in
            let session = try await h.manager.startSession(agentID: "a")
            let result = try await h.manager.run("x", in: session, options: RunOptions(provider: "router"))
            #expect(result.status == .failed && result.attempts == 2 && providers[2].runs == 0)
            let failed = try await routingEvents(h, result.runID).compactMap { event -> RoutingFailedOver? in
                if case .routingFailedOver(let failed) = event { return failed }
                return nil
            }
            #expect(failed.map(\.to) == ["codex", nil])
            try await verify(h)
        }
    }

    @Test("a missing CLI binary is a retryable failure before any output")
    func missingBinary() async throws {
        let claude = CommandLineProvider(dialect: ClaudeCode(), configuration: .init(executable: "/nonexistent/claude"))
        let codex = Flaky("codex") { _ in Self.answer }
        try await withRouter([claude, codex], config: RouterConfig(prefer: ["claude", "codex"])) { h, _ in
            let session = try await h.manager.startSession(agentID: "a")
            let result = try await h.manager.run("x", in: session, options: RunOptions(provider: "router"))
            #expect(result.status == .completed && result.provider == "codex")
            try await verify(h)
        }
    }

    @Test("the breaker opens after the threshold, skips the provider until the cooldown, probes, and closes on success")
    func breaker() async throws {
        // claude fails twice, then works; codex always works.
        let claude = Flaky("claude") { n in n <= 2 ? Self.failing(.overloaded) : Self.answer }
        let codex = Flaky("codex") { _ in Self.answer }
        let config = RouterConfig(
            prefer: ["claude", "codex"],
            circuitBreaker: .init(failureThreshold: 2, cooldown: .milliseconds(300))
        )
        let clock = ManualClock()
        try await withRouter([claude, codex], config: config, clock: clock) { h, _ in
            let session = try await h.manager.startSession(agentID: "a")
            for _ in 0..<2 {
                let result = try await h.manager.run("x", in: session, options: RunOptions(provider: "router"))
                #expect(result.provider == "codex")
            }
            let health = try await h.store.events(
                from: .zero,
                limit: 1000,
                filter: EventFilter(types: [.providerHealthChanged])
            ).events
            let opened = try #require(
                health.last.flatMap { envelope -> ProviderHealthChanged? in
                    if case .providerHealthChanged(let changed) = envelope.event { return changed }
                    return nil
                }
            )
            #expect(
                opened.provider == "claude" && opened.current == "open" && opened.consecutiveFailures == 2
                    && opened.until != nil
            )

            // While open: claude is not even tried.
            let skipped = try await h.manager.run("x", in: session, options: RunOptions(provider: "router"))
            #expect(skipped.provider == "codex" && skipped.attempts == 1 && claude.runs == 2)
            let decided = try await routingEvents(h, skipped.runID).compactMap { event -> RoutingDecided? in
                if case .routingDecided(let decided) = event { return decided }
                return nil
            }
            #expect(decided.first?.candidates.first?.excludedBecause?.hasPrefix("open_circuit_until:") == true)

            // Just before the cooldown ends claude is still skipped; after it: half-open,
            // claude is probed, succeeds, closes.
            clock.advance(by: .milliseconds(299))
            let early = try await h.manager.run("x", in: session, options: RunOptions(provider: "router"))
            #expect(early.provider == "codex" && claude.runs == 2)
            clock.advance(by: .milliseconds(1))
            let probed = try await h.manager.run("x", in: session, options: RunOptions(provider: "router"))
            #expect(probed.provider == "claude" && probed.status == .completed)
            let changes = try await routingEvents(h, probed.runID).compactMap { event -> String? in
                if case .providerHealthChanged(let changed) = event { return "\(changed.previous)→\(changed.current)" }
                return nil
            }
            #expect(changes == ["open→half_open", "half_open→closed"])
            try await verify(h)
        }
    }

    /// Two processes, each with its own router folded from the log, see claude's third
    /// failure at the same instant: one `closed → open` is recorded, not two.
    @Test("two routers deciding the same breaker change at the same instant record it once")
    func concurrentBreakerChange() async throws {
        let claude = Gathering("claude", together: 2) { _ in Self.failing(.overloaded) }
        let codex = Flaky("codex") { _ in Self.answer }
        let config = RouterConfig(
            prefer: ["claude", "codex"],
            circuitBreaker: .init(failureThreshold: 1, cooldown: .seconds(600))
        )
        try await withTemporaryStore { store in
            // Two managers with routers of their own: two processes, as far as the log goes.
            let first = SessionManager(
                store: store,
                providers: [],
                routers: [ProviderRouter(providers: [claude, codex], config: config)]
            )
            let second = SessionManager(
                store: store,
                providers: [],
                routers: [ProviderRouter(providers: [claude, codex], config: config)]
            )
            let one = try await first.startSession(agentID: "a")
            let two = try await second.startSession(agentID: "b")
            async let left = first.run("x", in: one, options: RunOptions(provider: "router"))
            async let right = second.run("y", in: two, options: RunOptions(provider: "router"))
            let results = try await [left, right]
            #expect(
                results.map(\.provider) == ["codex", "codex"] && results.map(\.status) == [.completed, .completed]
            )

            let changes = try await store.events(
                from: .zero,
                limit: 1000,
                filter: EventFilter(types: [.providerHealthChanged])
            ).events.compactMap { envelope -> String? in
                guard case .providerHealthChanged(let changed) = envelope.event else { return nil }
                return "\(changed.provider): \(changed.previous)→\(changed.current)"
            }
            #expect(changes == ["claude: closed→open"])
            // Both runs' failovers are recorded whole, and replay re-derives every decision.
            let failovers = try await store.events(
                from: .zero,
                limit: 1000,
                filter: EventFilter(types: [.routingFailedOver])
            ).events
            #expect(failovers.count == 2)
            let report = try await ReplayVerifier(store: store).verify()
            #expect(report.isConsistent, "\(report.mismatches)")
        }
    }

    @Test("another router on the same file, with nothing in memory, decides from the log alone")
    func restartedRouterAgrees() async throws {
        let claude = Flaky("claude") { _ in Self.failing(.rateLimited) }
        let codex = Flaky("codex") { _ in Self.answer }
        let config = RouterConfig(
            prefer: ["claude", "codex"],
            circuitBreaker: .init(failureThreshold: 1, cooldown: .seconds(600))
        )
        try await withTemporaryStore { store in
            let first = ProviderRouter(providers: [claude, codex], config: config)
            let manager = SessionManager(store: store, providers: [], routers: [first])
            let session = try await manager.startSession(agentID: "a")
            _ = try await manager.run("x", in: session, options: RunOptions(provider: "router"))
            // A fresh router (a restarted process) sees claude's breaker open.
            let fresh = ProviderRouter(providers: [claude, codex], config: config)
            let again = SessionManager(store: store, providers: [], routers: [fresh])
            let result = try await again.run("y", in: session, options: RunOptions(provider: "router"))
            #expect(result.provider == "codex" && result.attempts == 1 && claude.runs == 1)
        }
    }

    @Test(
        "a sticky session stays on its provider; when that provider's breaker opens it is rebound, and the rebinding is recorded"
    )
    func sticky() async throws {
        let fail = Counter()
        let claude = Flaky("claude") { _ in fail.next() > 2 ? Self.failing(.overloaded) : Self.answer }
        let codex = Flaky("codex") { _ in Self.answer }
        let amp = Flaky("amp") { _ in Self.answer }
        let config = RouterConfig(
            strategy: .weighted,
            weights: ["claude": 100, "codex": 1, "amp": 1],
            circuitBreaker: .init(failureThreshold: 1, cooldown: .seconds(600)),
            stickyTTL: .seconds(600)
        )
        try await withRouter([claude, codex, amp], config: config) { h, _ in
            let session = try await h.manager.startSession(agentID: "a")
            var providers: [String] = []
            var strategies: [String] = []
            for _ in 0..<4 {
                let result = try await h.manager.run("x", in: session, options: RunOptions(provider: "router"))
                providers.append(result.provider)
                let decided = try await routingEvents(h, result.runID).compactMap { event -> RoutingDecided? in
                    if case .routingDecided(let decided) = event { return decided }
                    return nil
                }
                strategies += decided.map { $0.strategy + ($0.rebound == true ? "+rebound" : "") }
            }
            #expect(providers[0] == "claude" && providers[1] == "claude")
            #expect(strategies[0] == "weighted" && strategies[1] == "sticky")
            // Run 3: claude fails (breaker opens), the failover rebinds; run 4 stays on the new provider.
            #expect(strategies[2] == "sticky" && strategies[3].hasSuffix("+rebound"))
            #expect(providers[3] == providers[2] && providers[2] != "claude" && strategies[4] == "sticky")
            try await verify(h)
        }
    }

    @Test("required capabilities leave out providers without them")
    func capabilities() async throws {
        let codex = Flaky("codex", tools: ["command_execution"]) { _ in Self.answer }
        let claude = Flaky("claude") { _ in Self.answer }
        let config = RouterConfig(
            prefer: ["codex", "claude"],
            requiredCapabilities: [CapabilityRequirement(type: "tool", name: "read")]
        )
        try await withRouter([codex, claude], config: config) { h, _ in
            let session = try await h.manager.startSession(agentID: "a")
            let result = try await h.manager.run("x", in: session, options: RunOptions(provider: "router"))
            #expect(result.provider == "claude" && codex.runs == 0)
            try await verify(h)
        }
    }

    @Test("a run's own capability requirements join the router's, and are recorded so replay agrees")
    func requestRequirements() async throws {
        let codex = Flaky("codex", tools: ["command_execution"]) { _ in Self.answer }
        let claude = Flaky("claude") { _ in Self.answer }
        try await withRouter([codex, claude], config: RouterConfig(prefer: ["codex", "claude"])) { h, _ in
            let session = try await h.manager.startSession(agentID: "a")
            let free = try await h.manager.run("x", in: session, options: RunOptions(provider: "router"))
            #expect(free.provider == "codex")
            let needsRead = try await h.manager.run(
                "y",
                in: session,
                options: RunOptions(
                    provider: "router",
                    requiredCapabilities: [CapabilityRequirement(type: "tool", name: "read")]
                )
            )
            #expect(needsRead.provider == "claude")
            try await verify(h)
        }
    }

    @Test("cancel goes to the provider that owns the run, and no failover follows")
    func cancel() async throws {
        let claude = Flaky("claude") { _ in [.text("thinking"), .hang] }
        let codex = Flaky("codex") { _ in Self.answer }
        try await withRouter([claude, codex], config: RouterConfig(prefer: ["claude", "codex"])) { h, _ in
            let session = try await h.manager.startSession(agentID: "a")
            let manager = h.manager
            let result = try await manager.run("x", in: session, options: RunOptions(provider: "router")) { event in
                if case .messageReceived(let message) = event, message.role == .assistant,
                    let run = try? await manager.runs(in: session).last?.id
                {
                    try? await manager.cancel(run)
                }
            }
            #expect(result.status == .cancelled && codex.runs == 0)
        }
    }

    @Test("no eligible provider fails the run, saying why each was left out")
    func noneEligible() async throws {
        let codex = Flaky("codex") { _ in Self.answer }
        try await withRouter([codex], config: RouterConfig(exclude: ["codex"])) { h, _ in
            let session = try await h.manager.startSession(agentID: "a")
            let result = try await h.manager.run("x", in: session, options: RunOptions(provider: "router"))
            #expect(
                result.failure
                    == RunFailure(kind: .noProviderAvailable, message: "no provider is available: codex excluded")
            )
            try await verify(h)
        }
    }
}
