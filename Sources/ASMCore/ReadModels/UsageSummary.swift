/// How usage rows are rolled up.
public enum UsageGrouping: String, Hashable, Sendable, CaseIterable, Codable {
    case run, session, provider, model
}

/// Token usage and cost rolled up by run, session, provider or model.
public struct UsageSummary: Hashable, Sendable, Codable {
    /// Set when grouped by run.
    public var runID: RunID?
    /// Set when grouped by run or session.
    public var sessionID: SessionID?
    /// Set when grouped by run, provider or model.
    public var provider: String?
    /// Set when grouped by run or model.
    public var model: String?
    public var tokens: TokenUsage
    /// Our computed cost, in billionths of a US dollar.
    public var costNanoUSD: Int64
    /// The provider's own reported cost, summed, where it reports one.
    public var reportedCostNanoUSD: Int64?
    /// How many runs the row covers.
    public var runs: Int

    public init(
        runID: RunID? = nil,
        sessionID: SessionID? = nil,
        provider: String? = nil,
        model: String? = nil,
        tokens: TokenUsage,
        costNanoUSD: Int64,
        reportedCostNanoUSD: Int64?,
        runs: Int
    ) {
        self.runID = runID
        self.sessionID = sessionID
        self.provider = provider
        self.model = model
        self.tokens = tokens
        self.costNanoUSD = costNanoUSD
        self.reportedCostNanoUSD = reportedCostNanoUSD
        self.runs = runs
    }

    /// The cost in US dollars.
    public var costUSD: Double { Double(costNanoUSD) / 1e9 }

    enum CodingKeys: String, CodingKey {
        case provider, model, tokens, runs
        case runID = "run_id"
        case sessionID = "session_id"
        case costNanoUSD = "cost_nano_usd"
        case reportedCostNanoUSD = "reported_cost_nano_usd"
    }
}
