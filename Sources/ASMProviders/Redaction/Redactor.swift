public import ASMCore

/// Removes secrets from provider output before it is written to the log.
///
/// It replaces, with `[REDACTED:<kind>]`:
/// - API keys and tokens of the common providers and clouds (Anthropic, OpenAI, AWS,
///   GitHub, GitLab, Slack, Google, Stripe, Amp, Hugging Face), JSON Web Tokens, and
///   `Bearer` tokens;
/// - PEM private keys;
/// - the password of connection strings (`scheme://user:password@host`);
/// - the exact values of secret-looking environment variables given to the run.
///
/// Patterns need their prefixes at a word boundary and a minimum length, so ordinary text
/// (`task-list`, "the bearer of", `https://host/path`) is left alone.
public struct Redactor: Sendable {
    private let secrets: [(name: String, value: String)]

    /// - Parameter environment: the run's environment; values of variables whose names look
    ///   secret (KEY, TOKEN, SECRET, PASSWORD, CREDENTIAL, AUTH) and at least 8 characters
    ///   long are redacted wherever they appear.
    public init(environment: [String: String] = [:]) {
        let markers = ["KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH", "COOKIE"]
        secrets =
            environment
            .filter { name, value in
                value.count >= 8 && markers.contains { name.uppercased().contains($0) }
            }
            .map { (name: $0.key, value: $0.value) }
            .sorted { $0.value.count > $1.value.count }
    }

    /// `text` with every secret replaced.
    public func redact(_ text: String) -> String {
        var result = text
        for secret in secrets where result.contains(secret.value) {
            result = result.replacing(secret.value, with: "[REDACTED:env:\(secret.name)]")
        }
        guard Self.mightContainSecret(result) else { return result }
        for rule in Self.rules where rule.triggers.contains(where: result.contains) {
            result = result.replacing(rule.pattern, with: { match in rule.replacement(String(match.output)) })
        }
        return result
    }

    /// `value` with secrets replaced in every string, object key excepted.
    public func redact(_ value: JSONValue) -> JSONValue {
        switch value {
        case .string(let text): .string(redact(text))
        case .array(let values): .array(values.map(redact))
        case .object(let members): .object(members.map { JSONMember($0.key, redact($0.value)) })
        case .null, .bool, .integer, .double: value
        }
    }

    /// The event with secrets replaced in every text it carries.
    public func redact(_ event: ProviderEvent) -> ProviderEvent {
        switch event {
        case .started(var payload):
            payload.tools = payload.tools?.map(redact)
            return .started(payload)
        case .streamed(var payload):
            payload.delta = redact(payload.delta)
            return .streamed(payload)
        case .received(var payload):
            payload.content = redact(payload.content)
            return .received(payload)
        case .toolStarted(var payload):
            payload.input = redact(payload.input)
            return .toolStarted(payload)
        case .toolCompleted(var payload):
            payload.output = redact(payload.output)
            return .toolCompleted(payload)
        case .usage, .toolPermission:
            // Counts; and a tool waiting for an answer, whose handle is the provider's own.
            return event
        case .warning(var payload):
            payload.message = redact(payload.message)
            payload.excerpt = payload.excerpt.map(redact)
            return .warning(payload)
        case .completed(var payload):
            payload.outputText = payload.outputText.map(redact)
            return .completed(payload)
        case .failed(var payload):
            payload.failure.message = redact(payload.failure.message)
            payload.failure.stderr = payload.failure.stderr.map(redact)
            return .failed(payload)
        case .cancelled(var payload):
            payload.message = payload.message.map(redact)
            return .cancelled(payload)
        }
    }

    // MARK: Rules

    private struct Rule: @unchecked Sendable {
        /// Text one of which must occur for the pattern to be tried (a cheap pre-check).
        var triggers: [String]
        var pattern: Regex<Substring>
        var replacement: @Sendable (String) -> String

        init(trigger: String, pattern: Regex<Substring>, replacement: @escaping @Sendable (String) -> String) {
            self.init(triggers: [trigger], pattern: pattern, replacement: replacement)
        }

        init(triggers: [String], pattern: Regex<Substring>, replacement: @escaping @Sendable (String) -> String) {
            self.triggers = triggers
            self.pattern = pattern
            self.replacement = replacement
        }
    }

    private static func mightContainSecret(_ text: String) -> Bool {
        rules.contains { $0.triggers.contains(where: text.contains) }
    }

    private static func replace(_ kind: String) -> @Sendable (String) -> String {
        { _ in "[REDACTED:\(kind)]" }
    }

    // Regex literals are built once.
    private static let rules: [Rule] = [
        Rule(trigger: "sk-ant-", pattern: #/\bsk-ant-[A-Za-z0-9_\-]{20,}/#, replacement: replace("anthropic-key")),
        Rule(
            trigger: "sk-",
            pattern: #/\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_\-]{20,}/#,
            replacement: replace("openai-key")
        ),
        Rule(trigger: "AKIA", pattern: #/\b(?:AKIA|ASIA)[0-9A-Z]{16}\b/#, replacement: replace("aws-access-key")),
        Rule(
            triggers: ["ws_secret_access_key", "WS_SECRET_ACCESS_KEY"],
            pattern: #/(?i:aws_secret_access_key)\s*[=:]\s*["']?[A-Za-z0-9/+=]{30,}["']?/#,
            replacement: replace("aws-secret-key")
        ),
        Rule(trigger: "gh", pattern: #/\bgh[pousr]_[A-Za-z0-9]{36,}\b/#, replacement: replace("github-token")),
        Rule(
            trigger: "github_pat_",
            pattern: #/\bgithub_pat_[A-Za-z0-9_]{22,}\b/#,
            replacement: replace("github-token")
        ),
        Rule(trigger: "glpat-", pattern: #/\bglpat-[A-Za-z0-9_\-]{20,}\b/#, replacement: replace("gitlab-token")),
        Rule(trigger: "xox", pattern: #/\bxox[abposr]-[A-Za-z0-9\-]{10,}/#, replacement: replace("slack-token")),
        Rule(trigger: "AIza", pattern: #/\bAIza[0-9A-Za-z_\-]{35}\b/#, replacement: replace("google-api-key")),
        Rule(trigger: "_live_", pattern: #/\b[sr]k_live_[0-9A-Za-z]{24,}\b/#, replacement: replace("stripe-key")),
        Rule(trigger: "sgamp_", pattern: #/\bsgamp_[A-Za-z0-9_\-]{20,}/#, replacement: replace("amp-key")),
        Rule(trigger: "hf_", pattern: #/\bhf_[A-Za-z0-9]{30,}\b/#, replacement: replace("huggingface-token")),
        Rule(
            trigger: "eyJ",
            pattern: #/\beyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}/#,
            replacement: replace("jwt")
        ),
        Rule(
            trigger: "earer",
            pattern: #/\b[Bb]earer\s+[A-Za-z0-9\-._~+/]{16,}=*/#,
            replacement: { _ in "Bearer [REDACTED:bearer-token]" }
        ),
        Rule(
            trigger: "PRIVATE KEY",
            pattern: #/-----BEGIN (?:[A-Z0-9 ]*)PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z0-9 ]*PRIVATE KEY-----|$)/#,
            replacement: replace("private-key")
        ),
        Rule(
            trigger: "://",
            pattern: #/\b[a-zA-Z][a-zA-Z0-9+.\-]*://[^\s:/@"']+:[^\s@/"']+@/#,
            replacement: { match in
                // Keep the scheme and user; hide the password.
                guard let colon = match.firstRange(of: "://"), let last = match.lastIndex(of: ":"),
                    last > colon.upperBound
                else { return match }
                return String(match[..<match.index(after: last)]) + "[REDACTED:password]@"
            }
        ),
    ]
}
