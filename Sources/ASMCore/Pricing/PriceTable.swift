/// Prices per token for providers and models, versioned, so that every cost in the log
/// names the table it came from and can be recomputed when prices change.
///
/// Rates are US dollars per million tokens. A model is looked up by exact match, then by
/// the longest matching prefix, then the provider's default (model `*`); an entry for
/// provider `*` prices a model whichever CLI ran it (Claude models under Claude Code or
/// Amp), and a provider's own entry wins over it at the same length.
///
/// Reasoning tokens are not charged on their own: both Claude and OpenAI count them inside
/// output tokens, and ``TokenUsage/reasoning`` is a breakdown of ``TokenUsage/output``.
public struct PriceTable: Hashable, Sendable {
    /// Rates for one provider and model (or model prefix), in US dollars per million tokens.
    public struct Entry: Hashable, Sendable {
        /// A provider name, or `*` for any.
        public var provider: String
        /// A model name or prefix, or `*` for the provider's default.
        public var model: String
        public var input: Double
        public var output: Double
        public var cacheRead: Double
        public var cacheWrite: Double

        public init(
            provider: String,
            model: String,
            input: Double,
            output: Double,
            cacheRead: Double,
            cacheWrite: Double
        ) {
            self.provider = provider
            self.model = model
            self.input = input
            self.output = output
            self.cacheRead = cacheRead
            self.cacheWrite = cacheWrite
        }
    }

    /// Recorded with each cost (`price_table` on `token_usage.updated`).
    public var version: String
    public var entries: [Entry]

    public init(version: String, entries: [Entry]) {
        self.version = version
        self.entries = entries
    }

    /// The rates for a provider's model, or `nil` when the table has none.
    public func entry(provider: String, model: String?) -> Entry? {
        let model = model ?? ""
        func rank(_ entry: Entry) -> Int {
            entry.provider == provider ? 1 : 0
        }
        let candidates = entries.filter { $0.provider == provider || $0.provider == "*" }
        if let exact = candidates.filter({ $0.model == model && !model.isEmpty }).max(by: { rank($0) < rank($1) }) {
            return exact
        }
        let prefixes = candidates.filter { $0.model != "*" && !$0.model.isEmpty && model.hasPrefix($0.model) }
        if let longest = prefixes.max(by: { ($0.model.count, rank($0)) < ($1.model.count, rank($1)) }) {
            return longest
        }
        return entries.first { $0.provider == provider && $0.model == "*" }
    }

    /// The cost of `usage` in billionths of a US dollar, or `nil` when the model has no price.
    public func costNanoUSD(of usage: TokenUsage, provider: String, model: String?) -> Int64? {
        guard let entry = entry(provider: provider, model: model) else { return nil }
        return Self.cost(of: usage, at: entry)
    }

    /// Exact arithmetic: rates become picodollars per token (a rate of $0.0375 per million
    /// is 37,500), so sub-cent prices do not round away; the sum is rounded half up to
    /// nanodollars once.
    static func cost(of usage: TokenUsage, at entry: Entry) -> Int64 {
        func picodollarsPerToken(_ usdPerMillion: Double) -> Int64 { Int64((usdPerMillion * 1_000_000).rounded()) }
        let picodollars =
            usage.input * picodollarsPerToken(entry.input) + usage.output * picodollarsPerToken(entry.output)
            + usage.cacheRead * picodollarsPerToken(entry.cacheRead) + usage.cacheWrite
            * picodollarsPerToken(entry.cacheWrite)
        return (picodollars + 500) / 1000
    }
}

extension PriceTable {
    /// The built-in table: list prices of the models the three CLIs run, as published by
    /// Anthropic and OpenAI in November 2026. Claude cache writes are the 5-minute rate.
    /// The scripted provider is priced like Sonnet so that cost limits can be exercised
    /// without a real provider.
    public static let standard = PriceTable(
        version: "standard-2026-11",
        entries: [
            // Claude models, under Claude Code or Amp.
            Entry(provider: "*", model: "claude-opus-4-6", input: 5, output: 25, cacheRead: 0.5, cacheWrite: 6.25),
            Entry(provider: "*", model: "claude-opus-4-5", input: 5, output: 25, cacheRead: 0.5, cacheWrite: 6.25),
            Entry(provider: "*", model: "claude-opus-4", input: 15, output: 75, cacheRead: 1.5, cacheWrite: 18.75),
            Entry(provider: "*", model: "claude-sonnet-4", input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75),
            Entry(provider: "*", model: "claude-3-7-sonnet", input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75),
            Entry(provider: "*", model: "claude-haiku-4-5", input: 1, output: 5, cacheRead: 0.1, cacheWrite: 1.25),
            Entry(provider: "*", model: "claude-3-5-haiku", input: 0.8, output: 4, cacheRead: 0.08, cacheWrite: 1),
            // Claude Code's aliases.
            Entry(provider: "claude", model: "opus", input: 5, output: 25, cacheRead: 0.5, cacheWrite: 6.25),
            Entry(provider: "claude", model: "sonnet", input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75),
            Entry(provider: "claude", model: "haiku", input: 1, output: 5, cacheRead: 0.1, cacheWrite: 1.25),
            Entry(provider: "claude", model: "*", input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75),
            // OpenAI models under Codex (cached input is the cache-read rate).
            Entry(provider: "*", model: "gpt-5", input: 1.25, output: 10, cacheRead: 0.125, cacheWrite: 0),
            Entry(provider: "*", model: "gpt-5-mini", input: 0.25, output: 2, cacheRead: 0.025, cacheWrite: 0),
            Entry(provider: "*", model: "gpt-5-nano", input: 0.05, output: 0.4, cacheRead: 0.005, cacheWrite: 0),
            Entry(provider: "*", model: "gpt-5.1-codex-mini", input: 0.25, output: 2, cacheRead: 0.025, cacheWrite: 0),
            Entry(provider: "*", model: "gpt-5.2", input: 1.75, output: 14, cacheRead: 0.175, cacheWrite: 0),
            Entry(provider: "*", model: "gpt-5.3", input: 1.75, output: 14, cacheRead: 0.175, cacheWrite: 0),
            Entry(provider: "*", model: "gpt-5.4", input: 2.5, output: 15, cacheRead: 0.25, cacheWrite: 0),
            Entry(provider: "*", model: "gpt-5.4-mini", input: 0.75, output: 4.5, cacheRead: 0.075, cacheWrite: 0),
            Entry(provider: "codex", model: "*", input: 1.25, output: 10, cacheRead: 0.125, cacheWrite: 0),
            Entry(provider: "scripted", model: "*", input: 3, output: 15, cacheRead: 0.3, cacheWrite: 3.75),
        ]
    )
}

/// A price table file could not be read.
///
/// Match on ``code``; ``description`` is one line (`code: file: message`) and never contains
/// the table's values. Equality compares the code, message and path, not the cause.
extension PriceTable {
    /// Billionths of a US dollar as dollars to the millionth: `$0.002370`.
    public static func usd(_ nano: Int64) -> String {
        let micro = (max(0, nano) + 500) / 1_000
        let fraction = String(micro % 1_000_000)
        return "$\(micro / 1_000_000)." + String(repeating: "0", count: 6 - fraction.count) + fraction
    }
}

public struct PriceTableError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong with the table. New codes may be added; switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: String, Hashable, Sendable {
            case invalidJSON = "invalid JSON"
            case invalidTable = "invalid price table"
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The text is not JSON (the ``PriceTableError/underlying`` ``JSONError`` says where).
        public static let invalidJSON = Code(.invalidJSON)
        /// The JSON is not a price table: a key is missing or a rate is not a number, zero or more.
        public static let invalidTable = Code(.invalidTable)

        public var description: String { wrapped.rawValue }
    }

    public var code: Code
    /// One line, naming the entry and key (`prices[0].output is missing`).
    public var message: String
    /// The cause, when another error led to this one.
    public var underlying: (any Error)?
    /// The file the table was read from, when the reader says (`asm --prices` does).
    public var path: String?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil, path: String? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
        self.path = path
    }

    /// `invalid price table: prices.json: prices[0].output is missing`.
    public var description: String { "\(code): " + (path.map { "\($0): " } ?? "") + message }

    /// The description followed by the chain of causes, one per line.
    public func detailedDescription() -> String { ErrorDetail.text(description, underlying: underlying) }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.path == rhs.path
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
        hasher.combine(path)
    }
}

extension PriceTableError: DetailedError {}

extension PriceTableError.Code {
    /// Matches an error by code, so `catch PriceTableError.Code.invalidJSON` works.
    public static func ~= (code: PriceTableError.Code, error: any Error) -> Bool {
        (error as? PriceTableError)?.code == code
    }
}

extension PriceTable {
    /// Reads a table written as JSON:
    ///
    /// ```json
    /// {"version": "acme-2026-12", "prices": [
    ///   {"provider": "claude", "model": "claude-sonnet-4", "input": 3, "output": 15, "cache_read": 0.3, "cache_write": 3.75}
    /// ]}
    /// ```
    ///
    /// Rates are US dollars per million tokens; `cache_read` and `cache_write` default to 0.
    public init(json bytes: [UInt8]) throws(PriceTableError) {
        let root: JSONValue
        do {
            root = try JSONValue(parsing: bytes)
        } catch {
            throw PriceTableError(.invalidJSON, "\(error)", underlying: error)
        }
        guard let version = root["version"]?.stringValue, !version.isEmpty else {
            throw PriceTableError(.invalidTable, "\"version\" must name the table")
        }
        guard let prices = root["prices"]?.arrayValue else {
            throw PriceTableError(.invalidTable, "\"prices\" must be an array")
        }
        var entries: [Entry] = []
        for (index, price) in prices.enumerated() {
            func rate(_ key: String, required: Bool) throws(PriceTableError) -> Double {
                guard let value = price[key] else {
                    if required { throw PriceTableError(.invalidTable, "prices[\(index)].\(key) is missing") }
                    return 0
                }
                guard let number = value.doubleValue, number >= 0, number.isFinite else {
                    throw PriceTableError(.invalidTable, "prices[\(index)].\(key) must be a number, zero or more")
                }
                return number
            }
            guard let provider = price["provider"]?.stringValue, !provider.isEmpty else {
                throw PriceTableError(.invalidTable, "prices[\(index)].provider must be a provider name or \"*\"")
            }
            guard let model = price["model"]?.stringValue, !model.isEmpty else {
                throw PriceTableError(.invalidTable, "prices[\(index)].model must be a model, a prefix or \"*\"")
            }
            entries.append(
                Entry(
                    provider: provider,
                    model: model,
                    input: try rate("input", required: true),
                    output: try rate("output", required: true),
                    cacheRead: try rate("cache_read", required: false),
                    cacheWrite: try rate("cache_write", required: false)
                )
            )
        }
        self.init(version: version, entries: entries)
    }
}
