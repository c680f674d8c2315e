public import ASMCore
public import ASMWorkspace

/// A request for a run, as JSON: `{"messages": [{"role", "content"}], "options": {…}}`, the
/// shape `asm serve` reads one per line and `POST /v1/sessions/{id}/runs` takes as its body.
///
/// Options a request may set: `model`, `system_prompt`, `continuation`, `deadline_seconds`,
/// `idle_timeout_seconds`, `max_turns`, `workspace` and `metadata`; every other option is the
/// server's.
public struct RunRequest: Sendable {
    /// A request that is not valid, with one line naming the key.
    public struct Invalid: Error, CustomStringConvertible {
        /// What is wrong with the line.
        public struct Code: Hashable, Sendable, CustomStringConvertible {
            private enum Wrapped: String, Hashable, Sendable {
                case invalidJSON = "invalid JSON"
                case unknownKey = "unknown key"
                case unknownOption = "unknown option"
                case invalidValue = "invalid value"
            }
            private let wrapped: Wrapped
            private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

            /// The line is not JSON.
            public static let invalidJSON = Code(.invalidJSON)
            /// A key beside "messages" and "options".
            public static let unknownKey = Code(.unknownKey)
            /// An option a request cannot set.
            public static let unknownOption = Code(.unknownOption)
            /// A message or option of the wrong shape or out of range.
            public static let invalidValue = Code(.invalidValue)

            public var description: String { wrapped.rawValue }
        }

        public var code: Code
        /// One line, naming the key.
        public var message: String
        /// The cause, when another error led to this one.
        public var underlying: (any Error)?

        public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
            self.code = code
            self.message = message
            self.underlying = underlying
        }

        public var description: String { "\(code): \(message)" }

        /// The description followed by the chain of causes, one per line.
        public func detailedDescription() -> String { ErrorDetail.text(description, underlying: underlying) }
    }

    public var messages: [ChatMessage]
    public var options: RunOptions
    public var metadata: [String: String]?

    /// The longest deadline or timeout a request may set, in seconds: a year.
    public static let maxSeconds: Double = 31_536_000

    /// The options a request may set.
    public static let optionKeys: Set<String> = [
        "model", "system_prompt", "continuation", "deadline_seconds", "idle_timeout_seconds", "max_turns", "workspace",
        "metadata",
    ]

    /// Parses one line of JSON.
    /// - Parameter workspace: turns a request's `workspace` path into options (and checks it).
    /// - Throws: ``Invalid``, or what `workspace` throws.
    public init(
        line: some Collection<UInt8>,
        defaults: RunOptions,
        workspace: (String) async throws -> WorkspaceOptions
    ) async throws {
        let root: JSONValue
        do {
            root = try JSONValue(parsing: Array(line))
        } catch {
            throw Invalid(.invalidJSON, "\(error)", underlying: error)
        }
        try await self.init(json: root, defaults: defaults, workspace: workspace)
    }

    /// Checks a parsed request.
    /// - Parameter workspace: turns a request's `workspace` path into options (and checks it).
    /// - Throws: ``Invalid``, or what `workspace` throws.
    public init(
        json root: JSONValue,
        defaults: RunOptions,
        workspace: (String) async throws -> WorkspaceOptions
    ) async throws {
        guard let members = root.objectValue else { throw Invalid(.invalidValue, "a request must be a JSON object") }
        for member in members where member.key != "messages" && member.key != "options" {
            throw Invalid(.unknownKey, "\"\(member.key)\" (a request has \"messages\" and \"options\")")
        }
        guard let list = root["messages"]?.arrayValue, !list.isEmpty else {
            throw Invalid(.invalidValue, "\"messages\" must be a non-empty array of {\"role\", \"content\"}")
        }
        messages = try list.enumerated().map { index, value in
            guard let role = value["role"]?.stringValue, let content = value["content"]?.stringValue,
                value.objectValue?.count == 2
            else {
                throw Invalid(.invalidValue, "messages[\(index)] must be {\"role\": ..., \"content\": ...}")
            }
            guard ["user", "assistant", "system"].contains(role) else {
                throw Invalid(.invalidValue, "messages[\(index)].role must be user, assistant or system")
            }
            return ChatMessage(role: MessageRole(rawValue: role), content: content)
        }
        guard let last = messages.last, last.role == .user, !last.content.allSatisfy(\.isWhitespace) else {
            throw Invalid(.invalidValue, "the last message must be a non-empty user message")
        }

        options = defaults
        guard let overrides = root["options"] else { return }
        guard let given = overrides.objectValue else { throw Invalid(.invalidValue, "\"options\" must be an object") }
        for member in given where !Self.optionKeys.contains(member.key) {
            throw Invalid(
                .unknownOption,
                "\"\(member.key)\" (known: \(Self.optionKeys.sorted().joined(separator: ", ")))"
            )
        }
        func string(_ key: String) throws -> String? {
            guard let value = overrides[key] else { return nil }
            guard let text = value.stringValue else { throw Invalid(.invalidValue, "options.\(key) must be a string") }
            return text
        }
        func seconds(_ key: String) throws -> Duration? {
            guard let value = overrides[key] else { return nil }
            guard let number = value.doubleValue, number > 0, number <= Self.maxSeconds else {
                throw Invalid(
                    .invalidValue,
                    "options.\(key) must be a number of seconds above zero and at most \(Int(Self.maxSeconds))"
                )
            }
            return .seconds(roundedToMilliseconds: number)
        }
        if let model = try string("model") { options.model = model }
        if let prompt = try string("system_prompt") { options.systemPrompt = prompt }
        if let text = try string("continuation") {
            guard let mode = ContinuationMode(rawValue: text) else {
                throw Invalid(.invalidValue, "options.continuation must be off, replay, native or auto")
            }
            options.continuation = mode
        }
        if let deadline = try seconds("deadline_seconds") { options.deadline = deadline }
        if let idle = try seconds("idle_timeout_seconds") { options.idleTimeout = idle }
        if let value = overrides["max_turns"] {
            guard let number = value.doubleValue, number >= 1, number == number.rounded(), number < 1e6 else {
                throw Invalid(.invalidValue, "options.max_turns must be a whole number of at least 1")
            }
            options.maxTurns = Int(number)
        }
        if let path = try string("workspace") {
            options.workspace = try await workspace(path)
            options.workingDirectory = nil
        }
        if let value = overrides["metadata"] {
            guard let entries = value.objectValue else {
                throw Invalid(.invalidValue, "options.metadata must be an object of strings")
            }
            var metadata: [String: String] = [:]
            for entry in entries {
                guard let text = entry.value.stringValue else {
                    throw Invalid(.invalidValue, "options.metadata.\(entry.key) must be a string")
                }
                metadata[entry.key] = text
            }
            self.metadata = metadata
        }
    }
}

extension RunRequest.Invalid: DetailedError {}
