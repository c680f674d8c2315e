public import ASMPolicy
public import ASMProviders

extension ProviderControls {
    /// A policy stack in the provider's terms, to be enforced by the CLI as well as by the
    /// evaluator:
    /// - allowed tools are pre-approved (`--allowedTools` and the like), so an allowed tool
    ///   actually runs in a non-interactive run;
    /// - denied tools and the cost limit go to the CLI only when the stack's action is
    ///   `cancel`: with `warn` or `request_approval` the tool must be able to run so the
    ///   rule can warn or ask.
    public init(_ stack: PolicyStack) {
        let strict = stack.action == .cancel
        self.init(
            deniedTools: strict ? stack.rules.filter { !$0.isAllow }.map(\.pattern.text) : [],
            allowedTools: stack.rules.filter(\.isAllow).map(\.pattern.text),
            maxBudgetUSD: strict ? stack.limits.maxCostUSD?.value : nil
        )
    }
}
