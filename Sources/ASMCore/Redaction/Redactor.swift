/// Finds secrets in text and replaces each with `[REDACTED:<kind>]`, so readers know what was
/// there but not what it was.
///
/// It knows the formats in ``SecretRules`` (provider and cloud keys, VCS, chat and payment
/// tokens, private keys, JWTs, authorization headers, passwords in connection strings and
/// webhook URLs, assignments to secret-named keys), plus exact values given to it: the
/// process environment's and a run's secret-named variables.
///
/// Patterns need their prefix at a word boundary and a realistic length and alphabet, so
/// hashes, UUIDs, commit ids, base64 image data and ordinary prose are left alone.
public struct Redactor: Sendable {
    /// Exact values to hide, longest first, with the name to show.
    private var values: [(name: String, value: String)]
    /// The values as they appear inside JSON strings (escaped), for the quick scan of payloads.
    private var jsonForms: [[UInt8]] = []
    /// Off only for measuring what the redaction step costs (never offered outside the package).
    private var isEnabled = true

    /// A redactor for the formats alone.
    public init() { values = [] }

    /// A redactor that changes nothing: what an append costs without the redaction step.
    package static var measuringOnlyDisabled: Redactor {
        var redactor = Redactor()
        redactor.isEnabled = false
        return redactor
    }

    /// A redactor that also hides the values of secret-named variables in `environment`.
    ///
    /// - Parameter environment: variables whose names look secret (`KEY`, `TOKEN`, `SECRET`,
    ///   `PASSWORD`, `PASSWD`, `PWD`, `CREDENTIAL`, `AUTH`, `COOKIE`) and whose values are at
    ///   least 8 characters long are redacted wherever those values appear.
    public init(environment: [String: String]) {
        values = []
        add(environment: environment)
    }

    /// Adds the values of secret-named variables in `environment`.
    public mutating func add(environment: [String: String]) {
        for (name, value) in environment where value.count >= 8 && Self.isSecretName(name) {
            guard !values.contains(where: { $0.value == value }) else { continue }
            values.append((name, value))
        }
        values.sort { $0.value.count > $1.value.count }
        jsonForms = values.map { secret in
            var writer = JSONWriter()
            writer.string(secret.value)
            return Array(writer.bytes.dropFirst().dropLast())
        }
    }

    /// Whether a variable or key name says its value is a secret.
    ///
    /// Variables the shell and desktop set whose names only look secret (`PWD` and `OLDPWD`
    /// are directories, `SSH_AUTH_SOCK` and `XAUTHORITY` paths) are not: hiding their values
    /// would hide every path under the working directory.
    public static func isSecretName(_ name: String) -> Bool {
        let upper = name.uppercased()
        guard !notSecretNames.contains(upper) else { return false }
        return ["KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PWD", "CREDENTIAL", "AUTH", "COOKIE"].contains {
            upper.contains($0)
        }
    }

    /// Well-known variables whose names contain a secret-sounding word but hold paths.
    static let notSecretNames: Set<String> = [
        "PWD", "OLDPWD", "SSH_AUTH_SOCK", "XAUTHORITY", "GPG_AGENT_INFO", "KEYTIMEOUT", "XKB_KEYMAP",
    ]

    /// Whether `needle` occurs in `haystack`.
    static func occurs(_ needle: [UInt8], in haystack: [UInt8]) -> Bool {
        guard let first = needle.first, needle.count <= haystack.count else { return needle.isEmpty }
        return haystack.withUnsafeBufferPointer { text in
            needle.withUnsafeBufferPointer { pattern in
                var index = 0
                let last = text.count - pattern.count
                while index <= last {
                    if text[index] == first {
                        var offset = 1
                        while offset < pattern.count, text[index + offset] == pattern[offset] { offset += 1 }
                        if offset == pattern.count { return true }
                    }
                    index += 1
                }
                return false
            }
        }
    }

    /// `text` with every secret replaced.
    public func redact(_ text: String) -> String {
        var result = text
        for secret in values where result.contains(secret.value) {
            result = result.replacing(secret.value, with: "[REDACTED:env:\(secret.name)]")
        }
        guard SecretRules.mightContainSecret(result.utf8) else { return result }
        // A replacement never brings a trigger in, so the text is folded once for all rules.
        let folded = result.lowercased()
        for rule in SecretRules.rules where rule.isTriggered(by: result, folded: folded) {
            result = result.replacing(rule.pattern) { match in rule.replacement(match) }
        }
        return result
    }

    /// `value` with secrets replaced in every string; object keys are kept.
    public func redact(_ value: JSONValue) -> JSONValue {
        switch value {
        case .string(let text): .string(redact(text))
        case .array(let values): .array(values.map(redact))
        case .object(let members): .object(members.map { JSONMember($0.key, redact($0.value)) })
        case .null, .bool, .integer, .double: value
        }
    }

    /// A JSON text (an event payload) with secrets replaced in its strings, written
    /// canonically again; `nil` when nothing needed replacing.
    ///
    /// A quick scan of the bytes rules out almost every payload before anything is parsed.
    public func redact(json bytes: [UInt8]) -> [UInt8]? {
        guard isEnabled else { return nil }
        guard SecretRules.mightContainSecret(bytes) || jsonForms.contains(where: { Self.occurs($0, in: bytes) }) else {
            return nil
        }
        guard let value = try? JSONValue(parsing: bytes) else { return nil }
        let redacted = redact(value)
        guard redacted != value else { return nil }
        return try? redacted.jsonBytes()
    }
}
