public import ASMCore

/// A tool name with an optional argument glob, as in `Bash`, `Bash(rm *)`, `Read(/etc/*)`,
/// `mcp__github__*`.
///
/// Names match across providers: `bash`, `shell`, Claude's and Amp's `Bash` and Codex's
/// `command_execution` are one tool, and likewise for read, edit, write, web search, web
/// fetch, glob and grep (``ToolPattern/family(of:)``). Other names match case-insensitively,
/// with `*` and `?` as wildcards. The argument glob is matched against the call's command
/// (with a `bash -lc` wrapper removed), else its path, else its URL or query.
public struct ToolPattern: Hashable, Sendable, CustomStringConvertible {
    /// As written.
    public let text: String
    public let name: String
    public let argument: String?

    /// - Throws: ``PolicyError`` for an empty name or unbalanced parentheses.
    public init(_ text: String) throws(PolicyError) {
        let trimmed = text.trimmed
        guard !trimmed.isEmpty else { throw PolicyError(.invalidPattern, "a tool pattern is empty") }
        if let open = trimmed.firstIndex(of: "(") {
            guard trimmed.hasSuffix(")"), trimmed.filter({ $0 == "(" }).count == 1,
                trimmed.filter({ $0 == ")" }).count == 1
            else {
                throw PolicyError(.invalidPattern, "the tool pattern \"\(text)\" must be Name or Name(argument glob)")
            }
            name = String(trimmed[..<open]).trimmed
            argument = String(trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)]).trimmed
        } else {
            name = trimmed
            argument = nil
        }
        guard !name.isEmpty else { throw PolicyError(.invalidPattern, "the tool pattern \"\(text)\" has no tool name") }
        self.text = trimmed
    }

    public var description: String { text }

    /// Whether a call of tool `toolName` with `input` matches.
    public func matches(toolName: String, input: JSONValue) -> Bool {
        guard matchesName(toolName) else { return false }
        guard let argument else { return true }
        guard let value = Self.argument(of: input) else { return false }
        return Glob.matches(argument, value)
    }

    /// Whether the pattern names this tool, whatever its arguments.
    public func matchesName(_ toolName: String) -> Bool {
        if let family = Self.family(of: name) { return family == Self.family(of: toolName) }
        return Glob.matches(name.lowercased(), toolName.lowercased())
    }

    /// The provider-neutral family of a tool name (`shell`, `read`, `edit`, `write`,
    /// `web_search`, `web_fetch`, `glob`, `grep`), or `nil` for other tools.
    public static func family(of toolName: String) -> String? {
        families[toolName.lowercased()]
    }

    private static let families: [String: String] = {
        let groups: [String: [String]] = [
            "shell": ["bash", "shell", "sh", "exec_command", "command_execution", "shell_command", "local_shell"],
            "read": ["read", "read_file", "view"],
            "edit": ["edit", "multiedit", "edit_file", "file_change", "apply_patch"],
            "write": ["write", "create_file"],
            "web_search": ["web_search", "websearch"],
            "web_fetch": ["web_fetch", "webfetch", "read_web_page"],
            "glob": ["glob"],
            "grep": ["grep"],
        ]
        var table: [String: String] = [:]
        for (family, names) in groups { for name in names { table[name] = family } }
        return table
    }()

    /// What an argument glob is matched against.
    static func argument(of input: JSONValue) -> String? {
        for key in ["command", "cmd"] {
            if let command = input[key]?.stringValue { return unwrapShell(command) }
            if let parts = input[key]?.arrayValue?.compactMap(\.stringValue), !parts.isEmpty {
                return unwrapShell(parts.joined(separator: " "))
            }
        }
        for key in ["file_path", "path", "filePath", "notebook_path", "url", "query", "pattern"] {
            if let value = input[key]?.stringValue { return value }
        }
        return nil
    }

    /// `/bin/bash -lc 'rm -rf x'` → `rm -rf x` (how Codex reports commands).
    static func unwrapShell(_ command: String) -> String {
        var text = command.trimmed
        for shell in ["/bin/bash", "/usr/bin/bash", "bash", "/bin/sh", "sh", "/bin/zsh", "zsh"] {
            for flag in ["-lc", "-c"] where text.hasPrefix("\(shell) \(flag) ") {
                text = String(text.dropFirst(shell.count + flag.count + 2)).trimmed
                if text.count >= 2, let first = text.first, first == "'" || first == "\"", text.last == first {
                    text = String(text.dropFirst().dropLast())
                }
                return text
            }
        }
        return text
    }
}

extension String {
    var trimmed: String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}

/// A policy (or a stack of them) cannot be used; ``key`` names where.
///
/// Match on ``code``; ``description`` is one line (`code: file: key: message`) and never
/// contains the policy's values. Equality compares the code, message, key and path, not
/// the cause.
public struct PolicyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What is wrong with the policy. New codes may be added; switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: String, Hashable, Sendable {
            case invalidJSON = "invalid JSON"
            case unknownKey = "unknown key"
            case invalidValue = "invalid value"
            case invalidPattern = "invalid tool pattern"
            case conflict
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The text is not JSON (the ``PolicyError/underlying`` ``JSONError`` says where).
        public static let invalidJSON = Code(.invalidJSON)
        /// A key the policy format does not have (a misspelt limit is not ignored).
        public static let unknownKey = Code(.unknownKey)
        /// A value of the wrong type, or one no run could satisfy (a zero budget, an empty allow list).
        public static let invalidValue = Code(.invalidValue)
        /// A tool pattern that is not `Name` or `Name(argument glob)`.
        public static let invalidPattern = Code(.invalidPattern)
        /// The policies contradict each other (a tool both allowed and denied, two policies with one name).
        public static let conflict = Code(.conflict)

        public var description: String { wrapped.rawValue }
    }

    public var code: Code
    /// One line, without the key.
    public var message: String
    /// The JSON key path (`limits.max_cost_usd`, `tool_rules[1].allow`), when there is one;
    /// in a stack, prefixed with the policy's name.
    public var key: String?
    /// The cause, when another error led to this one.
    public var underlying: (any Error)?
    /// The file the policy was read from, when the reader says (`asm run --policy` does).
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

    /// `invalid value: org.json: limits.max_cost_usd: must be more than zero dollars`.
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

extension PolicyError: DetailedError {}

extension PolicyError.Code {
    /// Matches an error by code, so `catch PolicyError.Code.conflict` works.
    public static func ~= (code: PolicyError.Code, error: any Error) -> Bool {
        (error as? PolicyError)?.code == code
    }
}
