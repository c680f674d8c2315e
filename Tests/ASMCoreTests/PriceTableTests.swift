import ASMCore
import Testing

/// Costs from the price table, against values computed by hand.
struct PriceTableTests {
    let table = PriceTable.standard

    @Test("Claude usage with cache reads and writes, by hand")
    func claude() {
        // 1,000 × $3 + 500 × $15 + 20,000 × $0.30 + 3,000 × $3.75, per million = $0.02775.
        let usage = TokenUsage(input: 1000, output: 500, cacheRead: 20_000, cacheWrite: 3000)
        #expect(table.costNanoUSD(of: usage, provider: "claude", model: "claude-sonnet-4-5-20250929") == 27_750_000)
        // The run in Fixtures/providers/claude-tool.jsonl: Claude reported $0.029999; we get $0.0299988.
        let capture = TokenUsage(input: 10, output: 79, cacheRead: 29_696, cacheWrite: 5300)
        #expect(table.costNanoUSD(of: capture, provider: "claude", model: "claude-sonnet-4-5-20250929") == 29_998_800)
    }

    @Test("Codex usage: cached input at the cache rate, reasoning inside output and not charged twice")
    func codex() {
        // 2,000 × $1.25 + 8,000 × $0.125 + 300 × $10, per million = $0.0065.
        let usage = TokenUsage(input: 2000, output: 300, cacheRead: 8000, reasoning: 100)
        #expect(table.costNanoUSD(of: usage, provider: "codex", model: "gpt-5-codex") == 6_500_000)
    }

    @Test(
        "lookup: exact model, then the longest prefix, then the provider's default",
        arguments: [
            ("codex", "gpt-5-mini-2025-08-07", "gpt-5-mini"),
            ("codex", "gpt-5.4-mini", "gpt-5.4-mini"),
            ("codex", "gpt-5.4", "gpt-5.4"),
            ("codex", "o4-something", "*"),
            ("claude", "sonnet", "sonnet"),
            ("claude", "claude-opus-4-1-20250805", "claude-opus-4"),
            ("claude", "claude-opus-4-5-20251101", "claude-opus-4-5"),
            ("claude", "claude-future-9", "*"),
            ("amp", "claude-haiku-4-5", "claude-haiku-4-5"),
            ("scripted", "scripted-1", "*"),
        ]
    )
    func lookup(provider: String, model: String, entry: String) {
        #expect(table.entry(provider: provider, model: model)?.model == entry)
    }

    @Test("a provider's own entry wins over a shared one of the same length; an unpriced model has no cost")
    func precedence() {
        let custom = PriceTable(
            version: "t",
            entries: [
                .init(provider: "*", model: "m", input: 1, output: 1, cacheRead: 0, cacheWrite: 0),
                .init(provider: "amp", model: "m", input: 2, output: 2, cacheRead: 0, cacheWrite: 0),
            ]
        )
        #expect(custom.entry(provider: "amp", model: "m")?.input == 2)
        #expect(custom.entry(provider: "claude", model: "m")?.input == 1)
        #expect(table.costNanoUSD(of: TokenUsage(input: 5), provider: "amp", model: "smart") == nil)
        #expect(table.costNanoUSD(of: TokenUsage(input: 5), provider: "amp", model: nil) == nil)
    }

    @Test("sub-cent rates keep their precision and round half up once")
    func rounding() {
        let table = PriceTable(
            version: "t",
            entries: [.init(provider: "p", model: "*", input: 0.0375, output: 0.05, cacheRead: 0.005, cacheWrite: 0)]
        )
        #expect(table.costNanoUSD(of: TokenUsage(input: 1), provider: "p", model: nil) == 38)  // 37.5 nanodollars
        #expect(table.costNanoUSD(of: TokenUsage(input: 2), provider: "p", model: nil) == 75)
        #expect(table.costNanoUSD(of: TokenUsage(output: 1, cacheRead: 1), provider: "p", model: nil) == 55)
    }

    @Test("a table reads from JSON; a bad one is refused naming the entry")
    func json() throws {
        let table = try PriceTable(
            json: Array(
                #"{"version": "acme-1", "prices": [{"provider": "claude", "model": "*", "input": 1, "output": 2, "cache_read": 0.1}]}"#
                    .utf8
            )
        )
        #expect(table.version == "acme-1")
        #expect(
            table.entries == [.init(provider: "claude", model: "*", input: 1, output: 2, cacheRead: 0.1, cacheWrite: 0)]
        )
        #expect(throws: PriceTableError(.invalidTable, "prices[0].output is missing")) {
            try PriceTable(
                json: Array(#"{"version": "v", "prices": [{"provider": "p", "model": "m", "input": 1}]}"#.utf8)
            )
        }
        #expect(throws: PriceTableError(.invalidTable, "prices[0].input must be a number, zero or more")) {
            try PriceTable(
                json: Array(
                    #"{"version": "v", "prices": [{"provider": "p", "model": "m", "input": -1, "output": 1}]}"#.utf8
                )
            )
        }
        #expect(throws: PriceTableError(.invalidTable, "\"version\" must name the table")) {
            try PriceTable(json: Array(#"{"prices": []}"#.utf8))
        }
    }
}
