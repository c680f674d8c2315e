/// What a provider can do, so callers (policies, the router) can plan around it.
public struct ProviderCapabilities: Hashable, Sendable {
    /// How a provider can act on a tool rule.
    public enum ToolGate: String, Hashable, Sendable {
        /// The provider refuses a denied tool before it runs (its CLI takes deny lists).
        case beforeRun = "before_run"
        /// The provider cannot stop a tool; a rule can only observe that it ran.
        case observeOnly = "observe_only"
    }

    /// Text arrives as deltas while the model writes.
    public var streamsText: Bool
    /// Tool calls are reported.
    public var reportsToolCalls: Bool
    /// The provider's own session can be resumed by id.
    public var resumesNatively: Bool
    /// A running turn can be interrupted gracefully (it then reports how it ended).
    public var interrupts: Bool
    /// Whether tool rules can block before the tool runs.
    public var toolGate: ToolGate
    /// Whether a tool call can wait for an answer before it runs (``ProviderRequest/asksBeforeTools``),
    /// so a human can approve it.
    public var holdsTools: Bool
    /// The tools the provider is known to offer, by its own names (empty when unknown).
    public var tools: [String]

    public init(
        streamsText: Bool,
        reportsToolCalls: Bool,
        resumesNatively: Bool,
        interrupts: Bool,
        toolGate: ToolGate,
        holdsTools: Bool = false,
        tools: [String] = []
    ) {
        self.holdsTools = holdsTools
        self.streamsText = streamsText
        self.reportsToolCalls = reportsToolCalls
        self.resumesNatively = resumesNatively
        self.interrupts = interrupts
        self.toolGate = toolGate
        self.tools = tools
    }
}
