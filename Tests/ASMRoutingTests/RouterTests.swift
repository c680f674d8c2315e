import ASMCore
import ASMRouting
import Testing

/// The router's pure core: decisions, the breaker, stickiness, and its configuration.
struct RouterTests {
    static let t0 = Timestamp(milliseconds: 1_800_000_000_000)
    static func at(_ ms: Int64) -> Timestamp { t0.adding(microseconds: ms * 1000) }

    static let claude = CandidateProfile(
        name: "claude",
        capabilities: ["streaming", "tool", "tool:read", "tool:shell", "resume"]
    )
    static let codex = CandidateProfile(name: "codex", capabilities: ["tool", "tool:shell", "resume"])
    static let amp = CandidateProfile(name: "amp", capabilities: ["tool", "tool:read", "tool:shell", "resume"])
    static let all = [claude, codex, amp]

    /// A stream of log events, numbered, folded as the runtime folds the log.
    struct Log {
        let router: Router
        var state = RouterState()
        var sequence: Int64 = 0
        var transitions: [ProviderHealthChanged] = []

        init(_ config: RouterConfig) { router = Router(config: config) }

        mutating func fold(_ event: SessionEvent, run: RunID) {
            sequence += 1
            transitions += router.apply(&state, event, run: run, sequence: SequenceNumber(sequence))
        }

        /// Decides and records the decision.
        @discardableResult
        mutating func decide(
            _ request: RouteRequest,
            at time: Timestamp,
            seed: UInt64 = 1,
            candidates: [CandidateProfile] = RouterTests.all
        )
            -> RouteDecision
        {
            let decision = router.decide(state, request, candidates: candidates, now: time, seed: seed)
            fold(.routingDecided(decision.event), run: request.runID)
            return decision
        }

        mutating func fail(_ run: RunID, _ provider: String, _ kind: FailureKind = .overloaded, at time: Timestamp) {
            fold(
                .routingFailedOver(
                    RoutingFailedOver(
                        attempt: 1,
                        from: provider,
                        to: nil,
                        failure: RunFailure(kind: kind, message: "x"),
                        afterOutput: false,
                        failedAt: time
                    )
                ),
                run: run
            )
            fold(.runFailed(RunFailed(failure: RunFailure(kind: kind, message: "x"))), run: run)
        }

        mutating func succeed(_ run: RunID) {
            fold(.runCompleted(RunCompleted(outputText: "ok")), run: run)
        }
    }

    static func run(_ n: UInt64) -> RunID {
        RunID(uuid: UUIDValue(high: 0x0190_0000_0000_7000, low: 0x8000_0000_0000_0000 | n))
    }

    // MARK: Choosing

    @Test("prefer takes the first eligible provider in preference order and scores by rank")
    func prefer() {
        var log = Log(RouterConfig(strategy: .prefer, prefer: ["codex", "claude"]))
        let decision = log.decide(RouteRequest(runID: Self.run(1)), at: Self.at(0))
        #expect(decision.event.chosen == "codex")
        #expect(decision.event.candidates.map(\.score) == [2, 3, 1])
        let second = log.decide(RouteRequest(runID: Self.run(1), attempt: 2, tried: ["codex"]), at: Self.at(1))
        #expect(second.event.chosen == "claude")
        #expect(second.event.candidates.first { $0.provider == "codex" }?.excludedBecause == "already_tried")
    }

    @Test("weights are honoured over many seeded decisions, and the same seed draws the same")
    func weighted() {
        let router = Router(config: RouterConfig(strategy: .weighted, weights: ["claude": 10, "codex": 3, "amp": 1]))
        var counts: [String: Int] = [:]
        for seed in 0..<14_000 as Range<UInt64> {
            let decision = router.decide(
                RouterState(),
                RouteRequest(runID: Self.run(seed)),
                candidates: Self.all,
                now: Self.at(0),
                seed: seed &* 0x9E37_79B9
            )
            counts[decision.event.chosen ?? "-", default: 0] += 1
        }
        #expect(abs(counts["claude", default: 0] - 10_000) < 300)
        #expect(abs(counts["codex", default: 0] - 3_000) < 200)
        #expect(abs(counts["amp", default: 0] - 1_000) < 120)
        let once = router.decide(
            RouterState(),
            RouteRequest(runID: Self.run(1)),
            candidates: Self.all,
            now: Self.at(0),
            seed: 42
        )
        let again = router.decide(
            RouterState(),
            RouteRequest(runID: Self.run(1)),
            candidates: Self.all,
            now: Self.at(0),
            seed: 42
        )
        #expect(once == again && once.event.seed == 42)
        let shares: [Double] = [10.0 / 14, 3.0 / 14, 1.0 / 14]
        #expect(once.event.candidates.compactMap(\.score) == shares)
    }

    @Test("capabilities filter before the strategy: a heavy provider without the capability is never chosen")
    func capabilities() {
        let router = Router(
            config: RouterConfig(
                strategy: .weighted,
                weights: ["codex": 1000, "claude": 1, "amp": 0],
                requiredCapabilities: [CapabilityRequirement(type: "tool", name: "Read")]
            )
        )
        for seed in 0..<500 as Range<UInt64> {
            let decision = router.decide(
                RouterState(),
                RouteRequest(runID: Self.run(seed)),
                candidates: Self.all,
                now: Self.at(0),
                seed: seed
            )
            #expect(decision.event.chosen == "claude")
            #expect(
                decision.event.candidates.map(\.excludedBecause) == [
                    nil, "missing_capability:tool:Read", "weight_zero",
                ]
            )
        }
        let streaming = Router(config: RouterConfig()).decide(
            RouterState(),
            RouteRequest(runID: Self.run(1), required: [CapabilityRequirement(type: "streaming")]),
            candidates: [Self.codex, Self.amp],
            now: Self.at(0),
            seed: 0
        )
        #expect(streaming.event.chosen == nil, "no eligible provider: nothing chosen")
    }

    // MARK: The breaker

    @Test("closed, open after the threshold, half-open after the cooldown with limited probes, closed on success")
    func breakerCycle() throws {
        let config = RouterConfig(
            prefer: ["claude", "codex"],
            circuitBreaker: .init(failureThreshold: 3, cooldown: .seconds(30), halfOpenProbes: 1)
        )
        var log = Log(config)
        for n in 1...2 as ClosedRange<UInt64> {
            log.decide(RouteRequest(runID: Self.run(n)), at: Self.at(Int64(n)))
            log.fail(Self.run(n), "claude", at: Self.at(Int64(n) + 1))
        }
        #expect(log.transitions.isEmpty && log.state.breakers["claude"]?.consecutiveFailures == 2)
        log.decide(RouteRequest(runID: Self.run(3)), at: Self.at(10))
        log.fail(Self.run(3), "claude", .rateLimited, at: Self.at(11))
        let opened = try #require(log.transitions.last)
        #expect(
            opened.previous == "closed" && opened.current == "open" && opened.until == Self.at(30_011)
                && opened.consecutiveFailures == 3
        )
        #expect(opened.reason == "3 consecutive failures (last rate_limited: x)")

        // While open, it is excluded until the deadline.
        let during = log.decide(RouteRequest(runID: Self.run(4)), at: Self.at(20_000))
        #expect(during.event.chosen == "codex")
        #expect(during.event.candidates[0].excludedBecause == "open_circuit_until:\(Self.at(30_011))")
        log.succeed(Self.run(4))

        // After the cooldown: half-open, one probe at a time.
        let probe = log.decide(RouteRequest(runID: Self.run(5)), at: Self.at(30_011))
        #expect(probe.transitions.map(\.current) == ["half_open"] && probe.event.chosen == "claude")
        let concurrent = log.decide(RouteRequest(runID: Self.run(6)), at: Self.at(30_012))
        #expect(
            concurrent.event.chosen == "codex"
                && concurrent.event.candidates[0].excludedBecause == "half_open_probe_in_flight"
        )
        log.succeed(Self.run(5))
        #expect(
            log.transitions.last
                == ProviderHealthChanged(
                    provider: "claude",
                    previous: "half_open",
                    current: "closed",
                    reason: "probe succeeded",
                    consecutiveFailures: 0
                )
        )
        #expect(log.state.breakers["claude"]?.status == .closed)
    }

    @Test("a failed probe opens the breaker again, and failures that are not the provider's do not count")
    func probeFailsAndUncounted() {
        var log = Log(RouterConfig(circuitBreaker: .init(failureThreshold: 1, cooldown: .seconds(1))))
        log.decide(RouteRequest(runID: Self.run(1)), at: Self.at(0))
        log.fail(Self.run(1), "claude", at: Self.at(1))
        log.decide(RouteRequest(runID: Self.run(2)), at: Self.at(2000))
        log.fail(Self.run(2), "claude", .timeout, at: Self.at(2001))
        #expect(log.transitions.map(\.current) == ["open", "half_open", "open"])
        #expect(
            log.transitions.last?.reason == "probe failed (timeout: x)" && log.transitions.last?.until == Self.at(3001)
        )

        var quiet = Log(RouterConfig(circuitBreaker: .init(failureThreshold: 1)))
        for (n, kind) in [FailureKind.policyViolation, .invalidRequest, .maxTurns, .permissionDenied].enumerated() {
            quiet.decide(RouteRequest(runID: Self.run(UInt64(n))), at: Self.at(Int64(n)))
            quiet.fail(Self.run(UInt64(n)), "claude", kind, at: Self.at(Int64(n)))
        }
        #expect(quiet.transitions.isEmpty && quiet.state.breakers["claude"]?.consecutiveFailures ?? 0 == 0)
    }

    @Test("a breaker never closes without a successful probe, over random histories")
    func neverClosesWithoutProbe() {
        var random = SplitMix64(seed: 2026)
        for _ in 0..<50 {
            var log = Log(
                RouterConfig(
                    prefer: ["claude", "codex", "amp"],
                    circuitBreaker: .init(failureThreshold: 2, cooldown: .milliseconds(50), halfOpenProbes: 2)
                )
            )
            var time: Int64 = 0
            var open: [RunID] = []
            for n in 0..<200 as Range<UInt64> {
                time += Int64(random.next() % 40)
                let run = Self.run(n)
                switch random.next() % 4 {
                case 0, 1:
                    log.decide(RouteRequest(runID: run), at: Self.at(time))
                    open.append(run)
                case 2 where !open.isEmpty:
                    let run = open.remove(at: Int(random.next() % UInt64(open.count)))
                    if let provider = log.state.inFlight[run]?.provider { log.fail(run, provider, at: Self.at(time)) }
                case 3 where !open.isEmpty:
                    log.succeed(open.remove(at: Int(random.next() % UInt64(open.count))))
                default:
                    break
                }
            }
            for (index, transition) in log.transitions.enumerated() where transition.current == "closed" {
                #expect(
                    transition.previous == "half_open" && transition.reason == "probe succeeded",
                    "closed from \(transition.previous) at \(index)"
                )
            }
            for transition in log.transitions where transition.current == "half_open" {
                #expect(transition.previous == "open")
            }
        }
    }

    // MARK: Stickiness

    @Test(
        "a sticky session keeps its provider until the TTL, and is rebound (recorded) when the provider is unavailable"
    )
    func sticky() {
        var log = Log(
            RouterConfig(
                strategy: .weighted,
                weights: ["claude": 1, "codex": 1, "amp": 1],
                circuitBreaker: .init(failureThreshold: 1),
                stickyTTL: .seconds(60)
            )
        )
        let first = log.decide(RouteRequest(runID: Self.run(1), stickyKey: "session-a"), at: Self.at(0), seed: 7)
        let bound = first.event.chosen
        #expect(first.event.stickyUntil == Self.at(60_000) && first.event.stickyKey == "session-a")
        log.succeed(Self.run(1))
        for n in 2...20 as ClosedRange<UInt64> {
            let next = log.decide(
                RouteRequest(runID: Self.run(n), stickyKey: "session-a"),
                at: Self.at(Int64(n) * 1000),
                seed: n
            )
            #expect(next.event.chosen == bound && next.event.strategy == "sticky")
            log.succeed(Self.run(n))
        }
        // Each use slides the TTL: the binding expires 60 s after the last decision.
        #expect(log.state.bindings["session-a"]?.until == Self.at(80_000))
        let expired = log.decide(
            RouteRequest(runID: Self.run(30), stickyKey: "session-a"),
            at: Self.at(80_000),
            seed: 3
        )
        #expect(expired.event.strategy == "weighted", "at the TTL the binding no longer holds")
        log.succeed(Self.run(30))

        // The bound provider fails and opens: the next decision rebinds and says so.
        let now = log.state.bindings["session-a"]?.provider ?? ""
        log.decide(RouteRequest(runID: Self.run(31), stickyKey: "session-a"), at: Self.at(81_000))
        log.fail(Self.run(31), now, at: Self.at(81_001))
        let rebound = log.decide(
            RouteRequest(runID: Self.run(32), stickyKey: "session-a"),
            at: Self.at(81_002),
            seed: 5
        )
        #expect(rebound.event.rebound == true && rebound.event.chosen != now)
        #expect(log.state.bindings["session-a"]?.provider == rebound.event.chosen)
    }

    // MARK: Failure classes and configuration

    @Test(
        "failover only for retryable failures",
        arguments: [
            (FailureKind.rateLimited, nil as Int?, false, true), (.overloaded, nil, true, true),
            (.timeout, nil, false, true),
            (.apiError, 502, false, true), (.apiError, 400, false, false), (.processExited, nil, false, true),
            (.processExited, nil, true, false),
            (.missingBinary, nil, false, true), (.authentication, nil, false, false), (.billing, nil, false, false),
            (.invalidRequest, nil, false, false), (.policyViolation, nil, false, false),
        ]
    )
    func retryable(kind: FailureKind, status: Int?, afterOutput: Bool, retry: Bool) {
        #expect(
            FailureClass.isRetryable(RunFailure(kind: kind, message: "x", httpStatus: status), afterOutput: afterOutput)
                == retry
        )
    }

    @Test("the documented configuration reads, and a bad one is refused naming the key")
    func configuration() throws {
        let config = try RouterConfig(
            json: Array(
                #"{"strategy": "weighted", "weights": {"claude": 10, "codex": 3, "amp": 1}, "prefer": ["claude", "codex", "amp"], "max_attempts": 3, "circuit_breaker": {"failure_threshold": 5, "cooldown_ms": 30000}, "sticky_ttl_ms": 600000, "required_capabilities": [{"type": "tool", "name": "read"}]}"#
                    .utf8
            )
        )
        #expect(
            config.strategy == .weighted && config.weights == ["claude": 10, "codex": 3, "amp": 1]
                && config.maxAttempts == 3
        )
        #expect(config.circuitBreaker == .init(failureThreshold: 5, cooldown: .seconds(30), halfOpenProbes: 1))
        #expect(
            config.stickyTTL == .seconds(600)
                && config.requiredCapabilities == [CapabilityRequirement(type: "tool", name: "read")]
        )
        #expect(try RouterConfig(value: config.json) == config, "the recorded form reads back the same")

        for (text, message) in [
            (#"{"strategy": "random"}"#, #"invalid value: strategy: must be "prefer" or "weighted""#),
            (#"{"max_attempts": 0}"#, "invalid value: max_attempts: must be at least 1"),
            (
                #"{"circuit_breaker": {"cooldown_ms": 0}}"#,
                "invalid value: circuit_breaker.cooldown_ms: must be more than zero milliseconds"
            ),
            (
                #"{"circuit_breaker": {"cooldown": 5}}"#,
                "unknown key: circuit_breaker.cooldown: expected one of failure_threshold, cooldown_ms, half_open_probes"
            ),
            (#"{"weights": {"claude": -1}}"#, "invalid value: weights.claude: must be a number, zero or more"),
            (
                #"{"strategy": "weighted", "weights": {"claude": 0}}"#,
                "invalid value: weights: at least one weight must be more than zero"
            ),
            (
                #"{"required_capabilities": [{"type": "magic"}]}"#,
                "invalid value: required_capabilities[0].type: unknown capability type; expected one of holds_tools, interrupt, resume, streaming, tool, tool_gate"
            ),
            (#"{"prefer": "claude"}"#, "invalid value: prefer: must be an array of provider names"),
            (
                #"{"sticky": 5}"#,
                "unknown key: sticky: expected one of strategy, prefer, weights, exclude, max_attempts, circuit_breaker, sticky_ttl_ms, required_capabilities"
            ),
        ] {
            #expect(throws: RouterConfigError.self) { try RouterConfig(json: Array(text.utf8)) }
            do {
                _ = try RouterConfig(json: Array(text.utf8))
            } catch {
                #expect(error.description == message)
            }
        }
    }
}
