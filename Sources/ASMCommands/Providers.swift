import AgentSessionManager
import ArgumentParser
import FoundationEssentials

extension ASM {
    /// `asm providers`: each provider's breaker and the sticky bindings, folded from the log.
    struct Providers: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Show each provider's circuit breaker, cooldown deadline and sticky sessions, as derived from the log.",
            discussion: """
                The router's state is a fold of the log: breakers from recorded failures and routed runs' outcomes, \
                cooldowns from failure times, sticky bindings from routing decisions. --at N shows it as it was at \
                sequence N. Thresholds and cooldowns are the last recorded router configuration's, or --router FILE's.
                """
        )

        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions

        @Option(help: "A router configuration to fold with (default: the last one recorded in the log).")
        var router: String?

        @Option(help: "Show the state as of this sequence number.")
        var at: Int64?

        func validate() throws {
            if let at, at < 1 { throw ValidationError("--at must be a sequence number, 1 or more") }
        }

        func run() async throws {
            let fileConfig = try router.map(loadRouterConfig)
            try await withStore(try store.openForReading()) { store in
                let last = try await store.lastSequence()
                let through = at.map { SequenceNumber($0) } ?? last
                var events: [EventEnvelope] = []
                var cursor = SequenceNumber.zero.next
                while cursor <= through {
                    let page = try await store.events(from: cursor, limit: 2000, filter: ProviderRouter.foldedTypes)
                    events += page.events.filter { $0.sequence <= through }
                    guard page.events.count == 2000 else { break }
                    cursor = page.scannedThrough.next
                }
                // The configuration: the file's, else the last decision's.
                var recorded: JSONValue?
                for envelope in events.reversed() {
                    if case .routingDecided(let decided) = envelope.event, let config = decided.router {
                        recorded = config
                        break
                    }
                }
                var config = fileConfig ?? RouterConfig()
                if fileConfig == nil, case .object(let members)? = recorded {
                    config = (try? RouterConfig(value: .object(members.filter { $0.key != "providers" }))) ?? config
                }
                let fold = Router(config: config)
                var state = RouterState()
                for envelope in events {
                    _ = fold.apply(&state, envelope.event, run: envelope.runID, sequence: envelope.sequence)
                }
                // "Now" is the clock, or the time of the event --at names.
                var now = SystemClock().now()
                if let at,
                    let event = try await store.events(from: SequenceNumber(at), limit: 1, filter: EventFilter()).events
                        .first
                {
                    now = event.recordedAt
                }
                var names = (recorded?["providers"]?.arrayValue ?? []).compactMap { $0["name"]?.stringValue }
                names += config.prefer + config.weights.keys.sorted() + state.breakers.keys.sorted()
                var seen = Set<String>()
                names = names.filter { seen.insert($0).inserted }

                if output.json {
                    for name in names {
                        Console.line(
                            Formatting.json(
                                ProviderLine(
                                    name: name,
                                    breaker: state.breakers[name] ?? RouterState.Breaker(),
                                    now: now,
                                    through: through
                                )
                            )
                        )
                    }
                    for (key, binding) in state.bindings.sorted(by: { $0.key < $1.key }) {
                        Console.line(Formatting.json(BindingLine(key: key, binding: binding, now: now)))
                    }
                    return
                }
                Console.line("as of sequence \(through) (\(now))")
                guard !names.isEmpty else {
                    Console.line("no routed runs in the log")
                    return
                }
                var rows = [["PROVIDER", "BREAKER", "FAILURES", "SINCE", "UNTIL", "WHY"]]
                for name in names {
                    let breaker = state.breakers[name] ?? RouterState.Breaker()
                    var status = breaker.status.rawValue
                    if breaker.status == .open, let until = breaker.until, until <= now {
                        status += " (cooldown over: the next decision probes)"
                    }
                    rows.append([
                        name, status, String(breaker.consecutiveFailures), breaker.since?.description ?? "-",
                        breaker.until?.description ?? "-",
                        breaker.status == .closed ? "-" : Formatting.clip(breaker.reason, 70),
                    ])
                }
                Formatting.table(rows, rightAligned: [2]).forEach(Console.line)
                Console.line("")
                Console.line("sticky sessions")
                if state.bindings.isEmpty { Console.line("  none") }
                for (key, binding) in state.bindings.sorted(by: { $0.key < $1.key }) {
                    Console.line(
                        "  \(key) → \(binding.provider) until \(binding.until)\(binding.until <= now ? " (expired)" : "")"
                    )
                }
            }
        }

        private struct ProviderLine: Encodable {
            var provider: String
            var breaker: String
            var consecutiveFailures: Int
            var since: String?
            var until: String?
            var cooldownOver: Bool
            var reason: String?
            var asOfSequence: Int64
            init(name: String, breaker: RouterState.Breaker, now: Timestamp, through: SequenceNumber) {
                provider = name
                self.breaker = breaker.status.rawValue
                consecutiveFailures = breaker.consecutiveFailures
                since = breaker.since?.description
                until = breaker.until?.description
                cooldownOver = breaker.status == .open && (breaker.until.map { $0 <= now } ?? false)
                reason = breaker.status == .closed ? nil : breaker.reason
                asOfSequence = through.rawValue
            }
            enum CodingKeys: String, CodingKey {
                case provider, breaker, since, until, reason
                case consecutiveFailures = "consecutive_failures"
                case cooldownOver = "cooldown_over"
                case asOfSequence = "as_of_sequence"
            }
        }

        private struct BindingLine: Encodable {
            var stickyKey: String
            var provider: String
            var until: String
            var expired: Bool
            init(key: String, binding: RouterState.Binding, now: Timestamp) {
                stickyKey = key
                provider = binding.provider
                until = binding.until.description
                expired = binding.until <= now
            }
            enum CodingKeys: String, CodingKey {
                case provider, until, expired
                case stickyKey = "sticky_key"
            }
        }
    }
}

/// Reads a router configuration file; errors name the file and the key.
func loadRouterConfig(_ path: String) throws -> RouterConfig {
    let bytes = try contents(of: path, "the router configuration")
    do {
        return try RouterConfig(json: bytes)
    } catch {
        var error = error
        error.path = path
        throw error
    }
}
