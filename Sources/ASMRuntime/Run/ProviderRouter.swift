public import ASMCore
import ASMPolicy
public import ASMProviders
public import ASMRouting
public import ASMStore
internal import Synchronization

/// Several providers behind one name: each attempt of a run goes to the provider the router
/// chooses, and a retryable failure fails over to the next one.
///
/// ```swift
/// let router = ProviderRouter(
///     providers: [CommandLineProvider(dialect: ClaudeCode()), CommandLineProvider(dialect: Codex())],
///     config: try RouterConfig(json: Array(routerFile)))
/// let manager = SessionManager(store: store, providers: [], routers: [router])
/// let result = try await manager.run("Fix the build", in: session, options: RunOptions(provider: "router"))
/// ```
///
/// A router is configuration: the runtime decides each attempt with the pure ``Router`` over
/// the log folded through its end (breakers, cooldowns, sticky bindings), with the time and
/// a seed it records, drives the chosen provider, and records the decisions and the breaker
/// changes they imply as events of the run (`routing.decided`, `routing.failed_over`,
/// `provider.health_changed`) — so another process on the same file decides the same, and
/// `asm replay --verify` can check every decision.
public struct ProviderRouter: Sendable {
    /// The name runs ask for (``RunOptions/provider``).
    public let name: String
    public let config: RouterConfig
    /// The candidates, in the order `prefer` falls back to; names are unique.
    public let providers: [any ProviderAdapter]
    /// Where weighted draws get their seed (recorded with each decision).
    let seeds: @Sendable () -> UInt64

    /// - Parameters:
    ///   - providers: the candidates, in the order `prefer` falls back to; a repeated name is ignored.
    ///   - seeds: where weighted draws get their seed (recorded with each decision).
    public init(
        name: String = "router",
        providers: [any ProviderAdapter],
        config: RouterConfig,
        seeds: @escaping @Sendable () -> UInt64 = { UInt64.random(in: .min ... .max) }
    ) {
        self.name = name
        self.config = config
        var seen = Set<String>()
        self.providers = providers.filter { seen.insert($0.name).inserted }
        self.seeds = seeds
    }

    /// A provider's capabilities as the router matches them.
    public static func profile(of provider: any ProviderAdapter) -> CandidateProfile {
        let capabilities = provider.capabilities
        var offered: Set<String> = []
        if capabilities.streamsText { offered.insert("streaming") }
        if capabilities.reportsToolCalls { offered.insert("tool") }
        if capabilities.resumesNatively { offered.insert("resume") }
        if capabilities.interrupts { offered.insert("interrupt") }
        if capabilities.toolGate == .beforeRun { offered.insert("tool_gate:before_run") }
        if capabilities.holdsTools { offered.insert("holds_tools") }
        for tool in capabilities.tools { offered.insert(CandidateProfile.tool(tool)) }
        return CandidateProfile(name: provider.name, capabilities: offered)
    }

    /// The candidates as the router matches them.
    public var profiles: [CandidateProfile] { providers.map(Self.profile(of:)) }

    /// What every candidate can do. A router does not resume natively: an attempt may land
    /// on another provider, so conversations continue by replay.
    public var capabilities: ProviderCapabilities {
        let all = providers.map(\.capabilities)
        return ProviderCapabilities(
            streamsText: all.contains { $0.streamsText },
            reportsToolCalls: all.allSatisfy(\.reportsToolCalls),
            resumesNatively: false,
            interrupts: all.allSatisfy(\.interrupts),
            toolGate: all.allSatisfy { $0.toolGate == .beforeRun } ? .beforeRun : .observeOnly,
            holdsTools: !all.isEmpty && all.allSatisfy(\.holdsTools),
            tools: Array(Set(all.flatMap(\.tools))).sorted()
        )
    }

    /// The router a run decides with: the configuration plus the run's own capability
    /// requirements, and that configuration as the decisions record it.
    func lane(for run: RunID, stickyKey: String, requiring required: [CapabilityRequirement]) -> RunMachine.RoutedLane {
        var effective = config
        for requirement in required where !effective.requiredCapabilities.contains(requirement) {
            effective.requiredCapabilities.append(requirement)
        }
        let profiles = self.profiles
        return RunMachine.RoutedLane(
            router: Router(config: effective),
            folding: Router(config: config),
            candidates: profiles,
            recordedConfig: Self.recordedConfig(effective, profiles),
            stickyKey: stickyKey
        )
    }

    /// The events the router's state is folded from.
    public static let foldedTypes = EventFilter(types: [
        .routingDecided, .routingFailedOver, .runCompleted, .runFailed, .runCancelled,
    ])

    /// The configuration with the candidates' capabilities, as a decision records it.
    static func recordedConfig(_ config: RouterConfig, _ profiles: [CandidateProfile]) -> JSONValue {
        guard case .object(var members) = config.json else { return config.json }
        members.append(
            JSONMember(
                "providers",
                .array(
                    profiles.map { profile in
                        .object([
                            JSONMember("name", .string(profile.name)),
                            JSONMember("capabilities", .array(profile.capabilities.sorted().map(JSONValue.string))),
                        ])
                    }
                )
            )
        )
        return .object(members)
    }

    /// Why each candidate was left out, for the failure message.
    static func why(_ decided: RoutingDecided) -> String {
        decided.candidates.map { "\($0.provider) \($0.excludedBecause ?? "eligible")" }.joined(separator: ", ")
    }
}
