import ASMCore

/// A script file could not be read.
///
/// Match on ``code``; ``description`` is one line (`code: file: message`). Equality compares
/// the code, message and path, not the cause.
public struct ProviderScriptError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong with the script. New codes may be added; switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: String, Hashable, Sendable {
            case invalidJSON = "invalid JSON"
            case invalidScript = "invalid script"
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The text is not JSON (the ``ProviderScriptError/underlying`` `JSONError` says where).
        public static let invalidJSON = Code(.invalidJSON)
        /// The JSON is not a script: not a list of steps, or a step that is not one.
        public static let invalidScript = Code(.invalidScript)

        public var description: String { wrapped.rawValue }
    }

    public var code: Code
    /// One line: where (`step 2`) and what.
    public var message: String
    /// The cause, when another error led to this one.
    public var underlying: (any Error)?
    /// The file the script was read from, when the reader says (`asm run --script` does).
    public var path: String?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil, path: String? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
        self.path = path
    }

    /// `invalid script: play.json: step 2: "tool" must name the tool`.
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

extension ProviderScriptError: DetailedError {}

extension ProviderScriptError.Code {
    /// Matches an error by code, so `catch ProviderScriptError.Code.invalidJSON` works.
    public static func ~= (code: ProviderScriptError.Code, error: any Error) -> Bool {
        (error as? ProviderScriptError)?.code == code
    }
}

extension ProviderScript {
    /// Reads a script written as JSON, so scenarios can live in files:
    ///
    /// ```json
    /// {
    ///   "provider_session_id": "thread-1", "model": "scripted-1", "tools": ["Bash"],
    ///   "steps": [
    ///     {"text": "Let me look.", "chunks": 3},
    ///     {"tool": "Bash", "input": {"command": "ls"}, "output": "README.md", "is_error": false},
    ///     {"usage": {"input": 812, "output": 64, "cache_read": 2048}, "reported_cost_usd": 0.004},
    ///     {"warning": "slow down"},
    ///     {"delay_ms": 250},
    ///     {"fail": {"kind": "rate_limited", "message": "API Error: 429", "http_status": 429}},
    ///     {"crash": {"exit_code": 1, "stderr": "panic"}},
    ///     {"hang": true}
    ///   ]
    /// }
    /// ```
    ///
    /// A bare array of steps is accepted too.
    /// - Throws: ``ProviderScriptError`` naming the step and what is wrong with it.
    public init(json bytes: [UInt8]) throws(ProviderScriptError) {
        let root: JSONValue
        do {
            root = try JSONValue(parsing: bytes)
        } catch {
            throw ProviderScriptError(.invalidJSON, "\(error)", underlying: error)
        }
        let stepValues: [JSONValue]
        var providerSessionID: String?
        var model: String? = "scripted-1"
        var tools: [String] = []
        if let array = root.arrayValue {
            stepValues = array
        } else if let steps = root["steps"]?.arrayValue {
            stepValues = steps
            providerSessionID = root["provider_session_id"]?.stringValue
            if let value = root["model"] { model = value.stringValue }
            tools = root["tools"]?.arrayValue?.compactMap(\.stringValue) ?? []
        } else {
            throw ProviderScriptError(
                .invalidScript,
                "the script must be an array of steps or an object with \"steps\""
            )
        }
        var steps: [Step] = []
        for (index, value) in stepValues.enumerated() {
            steps.append(try Self.step(value, number: index + 1))
        }
        self.init(steps, providerSessionID: providerSessionID, model: model, tools: tools)
    }

    private static func step(_ value: JSONValue, number: Int) throws(ProviderScriptError) -> Step {
        func failure(_ what: String) -> ProviderScriptError {
            ProviderScriptError(.invalidScript, "step \(number): \(what)")
        }
        func count(
            _ key: String,
            in object: JSONValue,
            default fallback: Int64 = 0
        ) throws(ProviderScriptError) -> Int64 {
            guard let field = object[key] else { return fallback }
            guard let number = field.integerValue, number >= 0 else {
                throw failure("\"\(key)\" must be a whole number, zero or more")
            }
            return number
        }
        guard value.objectValue != nil else { throw failure("a step must be an object") }
        if let text = value["text"] {
            guard let text = text.stringValue else { throw failure("\"text\" must be a string") }
            let chunks = try count("chunks", in: value, default: 1)
            return .text(text, chunks: Int(max(1, chunks)))
        }
        if let tool = value["tool"] {
            guard let name = tool.stringValue, !name.isEmpty else { throw failure("\"tool\" must name the tool") }
            return .toolCall(
                name: name,
                input: value["input"] ?? .emptyObject,
                output: value["output"]?.stringValue ?? "",
                isError: value["is_error"]?.boolValue ?? false
            )
        }
        if let usage = value["usage"] {
            guard usage.objectValue != nil else { throw failure("\"usage\" must be an object of token counts") }
            let tokens = TokenUsage(
                input: try count("input", in: usage),
                output: try count("output", in: usage),
                cacheRead: try count("cache_read", in: usage),
                cacheWrite: try count("cache_write", in: usage),
                reasoning: try count("reasoning", in: usage)
            )
            return .usage(tokens, reportedCostUSD: value["reported_cost_usd"]?.doubleValue)
        }
        if let warning = value["warning"] {
            guard let message = warning.stringValue else { throw failure("\"warning\" must be a string") }
            return .warning(message)
        }
        if value["delay_ms"] != nil {
            return .delay(.milliseconds(try count("delay_ms", in: value)))
        }
        if let hang = value["hang"] {
            guard hang.boolValue == true else { throw failure("\"hang\" must be true") }
            return .hang
        }
        if let fail = value["fail"] {
            guard let kind = fail["kind"]?.stringValue, !kind.isEmpty else {
                throw failure("\"fail\" needs a \"kind\"")
            }
            let status = try fail["http_status"].map { _ throws(ProviderScriptError) in
                Int(try count("http_status", in: fail))
            }
            return .fail(
                RunFailure(
                    kind: FailureKind(rawValue: kind),
                    message: fail["message"]?.stringValue ?? kind,
                    httpStatus: status
                )
            )
        }
        if let crash = value["crash"] {
            return .crash(
                exitCode: Int(try count("exit_code", in: crash, default: 1)),
                stderr: crash["stderr"]?.stringValue ?? ""
            )
        }
        throw failure("unknown step; expected one of text, tool, usage, warning, delay_ms, hang, fail, crash")
    }
}
