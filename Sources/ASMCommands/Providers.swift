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
            try await withStore(try await store.openForReading()) { store in
                let health = try await ProviderHealth.fold(
                    store,
                    through: at.map { SequenceNumber($0) },
                    config: fileConfig,
                    now: SystemClock().now()
                )
                let through = health.asOf
                let now = health.now
                if output.json {
                    for provider in health.providers { Console.line(Formatting.json(provider)) }
                    for binding in health.bindings { Console.line(Formatting.json(binding)) }
                    return
                }
                Console.line("as of sequence \(through) (\(now))")
                guard !health.providers.isEmpty else {
                    Console.line("no routed runs in the log")
                    return
                }
                var rows = [["PROVIDER", "BREAKER", "FAILURES", "SINCE", "UNTIL", "WHY"]]
                for provider in health.providers {
                    let breaker = provider.breaker
                    var status = breaker.status.rawValue
                    if provider.cooldownOver {
                        status += " (cooldown over: the next decision probes)"
                    }
                    rows.append([
                        provider.name, status, String(breaker.consecutiveFailures), breaker.since?.description ?? "-",
                        breaker.until?.description ?? "-",
                        breaker.status == .closed ? "-" : Formatting.clip(breaker.reason, 70),
                    ])
                }
                Formatting.table(rows, rightAligned: [2]).forEach(Console.line)
                Console.line("")
                Console.line("sticky sessions")
                if health.bindings.isEmpty { Console.line("  none") }
                for binding in health.bindings {
                    Console.line(
                        "  \(binding.key) → \(binding.provider) until \(binding.until)\(binding.expired ? " (expired)" : "")"
                    )
                }
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
