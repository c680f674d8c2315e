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
        guard !trimmed.isEmpty else { throw PolicyError(key: nil, message: "a tool pattern is empty") }
        if let open = trimmed.firstIndex(of: "(") {
            guard trimmed.hasSuffix(")"), trimmed.filter({ $0 == "(" }).count == 1, trimmed.filter({ $0 == ")" }).count == 1
            else {
                throw PolicyError(key: nil, message: "the tool pattern \"\(text)\" must be Name or Name(argument glob)")
            }
            name = String(trimmed[..<open]).trimmed
            argument = String(trimmed[trimmed.index(after: open)..<trimmed.index(before: trimmed.endIndex)]).trimmed
        } else {
            name = trimmed
            argument = nil
        }
        guard !name.isEmpty else { throw PolicyError(key: nil, message: "the tool pattern \"\(text)\" has no tool name") }
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
public struct PolicyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The JSON key path (`limits.max_cost_usd`, `tool_rules[1].allow`), when there is one.
    public var key: String?
    public var message: String

    public init(key: String?, message: String) {
        self.key = key
        self.message = message
    }

    public var description: String { key.map { "\($0): \(message)" } ?? message }
}
