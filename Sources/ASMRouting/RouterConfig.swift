public import ASMCore

/// How a router chooses providers, fails over and trips breakers.
///
/// As JSON (what `asm run --router` reads):
///
/// ```json
/// {"strategy": "weighted", "weights": {"claude": 10, "codex": 3, "amp": 1},
///  "prefer": ["claude", "codex", "amp"], "exclude": [], "max_attempts": 3,
///  "circuit_breaker": {"failure_threshold": 5, "cooldown_ms": 30000, "half_open_probes": 1},
///  "sticky_ttl_ms": 600000, "required_capabilities": [{"type": "tool", "name": "read"}]}
/// ```
public struct RouterConfig: Hashable, Sendable {
    public enum Strategy: String, Hashable, Sendable, CaseIterable {
        /// The first eligible provider in `prefer` order (then the rest, in registration order).
        case prefer
        /// A seeded draw in proportion to `weights`.
        case weighted
    }

    public struct CircuitBreaker: Hashable, Sendable {
        /// Consecutive counted failures that open the breaker.
        public var failureThreshold: Int
        /// How long an open breaker refuses the provider.
        public var cooldown: Duration
        /// How many attempts a half-open breaker lets through at once.
        public var halfOpenProbes: Int

        public init(failureThreshold: Int = 5, cooldown: Duration = .seconds(30), halfOpenProbes: Int = 1) {
            self.failureThreshold = failureThreshold
            self.cooldown = cooldown
            self.halfOpenProbes = halfOpenProbes
        }
    }

    public var strategy: Strategy
    public var prefer: [String]
    /// For `weighted`; a provider without a weight has weight 1.
    public var weights: [String: Double]
    public var exclude: [String]
    /// Attempts per run, the first included.
    public var maxAttempts: Int
    public var circuitBreaker: CircuitBreaker
    /// How long a session stays bound to the provider that served it; `nil` for no stickiness.
    public var stickyTTL: Duration?
    /// Capabilities every chosen provider must have.
    public var requiredCapabilities: [CapabilityRequirement]

    public init(
        strategy: Strategy = .prefer,
        prefer: [String] = [],
        weights: [String: Double] = [:],
        exclude: [String] = [],
        maxAttempts: Int = 3,
        circuitBreaker: CircuitBreaker = CircuitBreaker(),
        stickyTTL: Duration? = nil,
        requiredCapabilities: [CapabilityRequirement] = []
    ) {
        self.strategy = strategy
        self.prefer = prefer
        self.weights = weights
        self.exclude = exclude
        self.maxAttempts = maxAttempts
        self.circuitBreaker = circuitBreaker
        self.stickyTTL = stickyTTL
        self.requiredCapabilities = requiredCapabilities
    }

    /// Refuses settings no router could follow.
    public func validate() throws(RouterConfigError) {
        guard maxAttempts >= 1 else {
            throw RouterConfigError(.invalidValue, "must be at least 1", key: "max_attempts")
        }
        guard circuitBreaker.failureThreshold >= 1 else {
            throw RouterConfigError(.invalidValue, "must be at least 1", key: "circuit_breaker.failure_threshold")
        }
        guard circuitBreaker.cooldown > .zero else {
            throw RouterConfigError(
                .invalidValue,
                "must be more than zero milliseconds",
                key: "circuit_breaker.cooldown_ms"
            )
        }
        guard circuitBreaker.halfOpenProbes >= 1 else {
            throw RouterConfigError(.invalidValue, "must be at least 1", key: "circuit_breaker.half_open_probes")
        }
        if let stickyTTL, stickyTTL <= .zero {
            throw RouterConfigError(.invalidValue, "must be more than zero milliseconds", key: "sticky_ttl_ms")
        }
        for (name, weight) in weights where !(weight >= 0) || !weight.isFinite {
            throw RouterConfigError(.invalidValue, "must be a number, zero or more", key: "weights.\(name)")
        }
        if strategy == .weighted, !weights.isEmpty, !weights.values.contains(where: { $0 > 0 }) {
            throw RouterConfigError(.invalidValue, "at least one weight must be more than zero", key: "weights")
        }
        for (index, requirement) in requiredCapabilities.enumerated()
        where !CapabilityRequirement.types.contains(requirement.type) {
            throw RouterConfigError(
                .invalidValue,
                "unknown capability type; expected one of \(CapabilityRequirement.types.sorted().joined(separator: ", "))",
                key: "required_capabilities[\(index)].type"
            )
        }
    }

    /// The configuration as JSON, recorded with each decision so it can be re-derived.
    public var json: JSONValue {
        var members: [JSONMember] = [
            JSONMember("strategy", .string(strategy.rawValue)),
            JSONMember("prefer", .array(prefer.map(JSONValue.string))),
            JSONMember("weights", .object(weights.keys.sorted().map { JSONMember($0, .double(weights[$0] ?? 0)) })),
            JSONMember("exclude", .array(exclude.map(JSONValue.string))),
            JSONMember("max_attempts", .integer(Int64(maxAttempts))),
            JSONMember(
                "circuit_breaker",
                .object([
                    JSONMember("failure_threshold", .integer(Int64(circuitBreaker.failureThreshold))),
                    JSONMember("cooldown_ms", .integer(circuitBreaker.cooldown.wholeMilliseconds)),
                    JSONMember("half_open_probes", .integer(Int64(circuitBreaker.halfOpenProbes))),
                ])
            ),
            JSONMember(
                "required_capabilities",
                .array(
                    requiredCapabilities.map { requirement in
                        .object(
                            [JSONMember("type", .string(requirement.type))]
                                + (requirement.name.map { [JSONMember("name", .string($0))] } ?? [])
                        )
                    }
                )
            ),
        ]
        if let stickyTTL { members.append(JSONMember("sticky_ttl_ms", .integer(stickyTTL.wholeMilliseconds))) }
        return .object(members)
    }

    /// Reads a configuration from JSON (see the type's documentation). Unknown keys are refused.
    public init(json bytes: [UInt8]) throws(RouterConfigError) {
        let root: JSONValue
        do {
            root = try JSONValue(parsing: bytes)
        } catch {
            throw RouterConfigError(.invalidJSON, "\(error)", underlying: error)
        }
        try self.init(value: root)
    }

    /// Reads a configuration from a parsed value (see ``init(json:)``).
    public init(value root: JSONValue) throws(RouterConfigError) {
        guard let members = root.objectValue else {
            throw RouterConfigError(.invalidValue, "a router must be a JSON object")
        }
        let known = [
            "strategy", "prefer", "weights", "exclude", "max_attempts", "circuit_breaker", "sticky_ttl_ms",
            "required_capabilities",
        ]
        for member in members where !known.contains(member.key) {
            throw RouterConfigError(.unknownKey, "expected one of \(known.joined(separator: ", "))", key: member.key)
        }
        func names(_ key: String) throws(RouterConfigError) -> [String] {
            guard let value = root[key] else { return [] }
            guard let list = value.arrayValue, list.allSatisfy({ $0.stringValue?.isEmpty == false }) else {
                throw RouterConfigError(.invalidValue, "must be an array of provider names", key: key)
            }
            return list.compactMap(\.stringValue)
        }
        func milliseconds(_ value: JSONValue?, _ key: String) throws(RouterConfigError) -> Duration? {
            guard let value else { return nil }
            guard case .integer(let number) = value else {
                throw RouterConfigError(.invalidValue, "must be a whole number of milliseconds", key: key)
            }
            return .milliseconds(number)
        }
        func whole(_ value: JSONValue?, _ key: String) throws(RouterConfigError) -> Int? {
            guard let value else { return nil }
            guard case .integer(let number) = value else {
                throw RouterConfigError(.invalidValue, "must be a whole number", key: key)
            }
            return Int(number)
        }
        var config = RouterConfig()
        if let value = root["strategy"] {
            guard let text = value.stringValue, let strategy = Strategy(rawValue: text) else {
                throw RouterConfigError(.invalidValue, "must be \"prefer\" or \"weighted\"", key: "strategy")
            }
            config.strategy = strategy
        }
        config.prefer = try names("prefer")
        config.exclude = try names("exclude")
        if let value = root["weights"] {
            guard let weights = value.objectValue else {
                throw RouterConfigError(.invalidValue, "must map provider names to numbers", key: "weights")
            }
            for member in weights {
                guard let weight = member.value.doubleValue else {
                    throw RouterConfigError(
                        .invalidValue,
                        "must be a number, zero or more",
                        key: "weights.\(member.key)"
                    )
                }
                config.weights[member.key] = weight
            }
        }
        if let attempts = try whole(root["max_attempts"], "max_attempts") { config.maxAttempts = attempts }
        if let value = root["circuit_breaker"] {
            guard let breaker = value.objectValue else {
                throw RouterConfigError(.invalidValue, "must be an object", key: "circuit_breaker")
            }
            for member in breaker where !["failure_threshold", "cooldown_ms", "half_open_probes"].contains(member.key) {
                throw RouterConfigError(
                    .unknownKey,
                    "expected one of failure_threshold, cooldown_ms, half_open_probes",
                    key: "circuit_breaker.\(member.key)"
                )
            }
            if let threshold = try whole(value["failure_threshold"], "circuit_breaker.failure_threshold") {
                config.circuitBreaker.failureThreshold = threshold
            }
            if let cooldown = try milliseconds(value["cooldown_ms"], "circuit_breaker.cooldown_ms") {
                config.circuitBreaker.cooldown = cooldown
            }
            if let probes = try whole(value["half_open_probes"], "circuit_breaker.half_open_probes") {
                config.circuitBreaker.halfOpenProbes = probes
            }
        }
        config.stickyTTL = try milliseconds(root["sticky_ttl_ms"], "sticky_ttl_ms")
        if let value = root["required_capabilities"] {
            guard let list = value.arrayValue else {
                throw RouterConfigError(
                    .invalidValue,
                    "must be an array of {\"type\": ..., \"name\": ...}",
                    key: "required_capabilities"
                )
            }
            for (index, entry) in list.enumerated() {
                guard let type = entry["type"]?.stringValue else {
                    throw RouterConfigError(
                        .invalidValue,
                        "must name a capability type",
                        key: "required_capabilities[\(index)].type"
                    )
                }
                config.requiredCapabilities.append(CapabilityRequirement(type: type, name: entry["name"]?.stringValue))
            }
        }
        try config.validate()
        self = config
    }
}

/// A capability a provider must have: by type only (`streaming`, `tool`) or by type and
/// name (`tool` `read`).
public struct CapabilityRequirement: Hashable, Sendable, CustomStringConvertible {
    /// `tool`, `streaming`, `resume`, `interrupt`, `tool_gate` (name `before_run`) or `holds_tools`.
    public var type: String
    public var name: String?

    public init(type: String, name: String? = nil) {
        self.type = type
        self.name = name
    }

    public static let types: Set<String> = ["tool", "streaming", "resume", "interrupt", "tool_gate", "holds_tools"]

    /// `tool:read`, `streaming`.
    public var description: String { name.map { "\(type):\($0)" } ?? type }
}

/// A router configuration cannot be used; ``key`` names where.
///
/// Match on ``code``; ``description`` is one line (`code: file: key: message`). Equality
/// compares the code, message, key and path, not the cause.
public struct RouterConfigError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong with the configuration. New codes may be added; switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: String, Hashable, Sendable {
            case invalidJSON = "invalid JSON"
            case unknownKey = "unknown key"
            case invalidValue = "invalid value"
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The text is not JSON (the ``RouterConfigError/underlying`` ``JSONError`` says where).
        public static let invalidJSON = Code(.invalidJSON)
        /// A key the configuration format does not have.
        public static let unknownKey = Code(.unknownKey)
        /// A value of the wrong type, or one no router could follow (no attempts, all weights zero).
        public static let invalidValue = Code(.invalidValue)

        public var description: String { wrapped.rawValue }
    }

    public var code: Code
    /// One line, without the key.
    public var message: String
    /// The JSON key path (`circuit_breaker.cooldown_ms`), when there is one.
    public var key: String?
    /// The cause, when another error led to this one.
    public var underlying: (any Error)?
    /// The file the configuration was read from, when the reader says (`asm run --router` does).
    public var path: String?

    public init(
        _ code: Code,
        _ message: String,
        key: String? = nil,
        underlying: (any Error)? = nil,
        path: String? = nil
    ) {
        self.code = code
        self.message = message
        self.key = key
        self.underlying = underlying
        self.path = path
    }

    /// `invalid value: router.json: max_attempts: must be at least 1`.
    public var description: String {
        "\(code): " + (path.map { "\($0): " } ?? "") + (key.map { "\($0): " } ?? "") + message
    }

    /// The description followed by the chain of causes, one per line.
    public func detailedDescription() -> String { ErrorDetail.text(description, underlying: underlying) }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.code == rhs.code && lhs.message == rhs.message && lhs.key == rhs.key && lhs.path == rhs.path
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
        hasher.combine(key)
        hasher.combine(path)
    }
}

extension RouterConfigError: DetailedError {}

extension RouterConfigError.Code {
    /// Matches an error by code, so `catch RouterConfigError.Code.unknownKey` works.
    public static func ~= (code: RouterConfigError.Code, error: any Error) -> Bool {
        (error as? RouterConfigError)?.code == code
    }
}
