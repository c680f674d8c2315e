/// The secret formats ``Redactor`` knows: one rule per format, each with the literal text
/// that must occur for its pattern to be tried, the pattern, and the kind it is reported as.
///
/// Formats follow what the providers document and what public secret scanners publish
/// (prefixes, lengths, alphabets). Each has a realistic fixture and a look-alike that must
/// stay, in `Fixtures/secrets/corpus.json`.
public enum SecretRules {
    /// One format.
    public struct Rule: @unchecked Sendable {
        /// The kind shown in the marker, `[REDACTED:<kind>]`.
        public let kind: String
        /// Text one of which must occur for the pattern to be tried.
        let triggers: [String]
        /// Whether the triggers match in any letter case.
        let anyCase: Bool
        let pattern: Regex<Substring>
        let replace: @Sendable (Substring, String) -> String

        init(
            _ kind: String,
            _ triggers: [String],
            anyCase: Bool = false,
            _ pattern: Regex<Substring>,
            replace: @escaping @Sendable (Substring, String) -> String = { _, kind in "[REDACTED:\(kind)]" }
        ) {
            self.kind = kind
            self.triggers = triggers
            self.anyCase = anyCase
            self.pattern = pattern
            self.replace = replace
        }

        /// Whether a trigger occurs in `text` (`folded` is `text` lower-cased).
        func isTriggered(by text: String, folded: String) -> Bool {
            triggers.contains { (anyCase ? folded : text).contains($0) }
        }

        func replacement(_ match: Regex<Substring>.Match) -> String { replace(match.output, kind) }
    }

    /// Keeps what comes before the value (a key and its `=` or `:`, a header name, a scheme and
    /// user) and hides the rest.
    static func keepingPrefix(through separators: Set<Character>) -> @Sendable (Substring, String) -> String {
        { match, kind in
            guard let index = match.firstIndex(where: { separators.contains($0) }) else { return "[REDACTED:\(kind)]" }
            var kept = match[...index]
            // Keep an opening quote of the value too, so the text stays well formed.
            let rest = match[match.index(after: index)...]
            let leading = rest.prefix { $0 == " " || $0 == "\t" || $0 == "\"" || $0 == "'" }
            kept += leading
            let quote = leading.last.flatMap { $0 == "\"" || $0 == "'" ? $0 : nil }
            let closing = quote.map { rest.hasSuffix(String($0)) && rest.count > leading.count ? String($0) : "" } ?? ""
            return String(kept) + "[REDACTED:\(kind)]" + closing
        }
    }

    // Names of keys whose values are secrets, in assignments (`API_KEY=…`, `"token": "…"`,
    // `password: …`).
    private static let secretKey =
        #"(?:[A-Za-z0-9_.\-]*(?:_KEY|_TOKEN|_SECRET|_PASSWORD|_PASSWD|_PWD|_CREDENTIALS?|_AUTH|KEY|TOKEN|SECRET|key|token|secret)|(?i:password|passwd|pwd|secret|credentials?|api[_-]?key|access[_-]?token|auth[_-]?token|client[_-]?secret))"#

    /// Every rule, most specific first: a specific format is reported before a generic one
    /// (an assignment, a bearer header) can swallow it.
    public static let rules: [Rule] = [
        // AI providers.
        Rule(
            "anthropic-key",
            ["sk-ant-"],
            #/\bsk-ant-(?:api|admin)\d{2}-[A-Za-z0-9_\-]{80,}|\bsk-ant-[A-Za-z0-9_\-]{32,}/#
        ),
        Rule("openai-key", ["sk-"], #/\bsk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,}/#),
        Rule("groq-key", ["gsk_"], #/\bgsk_[A-Za-z0-9]{48,}/#),
        Rule("xai-key", ["xai-"], #/\bxai-[A-Za-z0-9]{70,}/#),
        Rule("perplexity-key", ["pplx-"], #/\bpplx-[A-Za-z0-9]{40,}/#),
        Rule("replicate-token", ["r8_"], #/\br8_[A-Za-z0-9]{37}\b/#),
        Rule("huggingface-token", ["hf_"], #/\bhf_[A-Za-z0-9]{30,}\b/#),
        Rule("amp-key", ["sgamp_"], #/\bsgamp_[A-Za-z0-9_\-]{20,}/#),
        // Clouds.
        Rule(
            "aws-access-key",
            ["AKIA", "ASIA", "AROA", "AIDA", "AGPA", "ANPA"],
            #/\b(?:AKIA|ASIA|AROA|AIDA|AGPA|ANPA)[0-9A-Z]{16}\b/#
        ),
        Rule(
            "aws-secret-key",
            ["aws_secret_access_key", "aws_session_token", "secretaccesskey"],
            anyCase: true,
            #/(?i:aws_secret_access_key|aws_session_token|SecretAccessKey)["']?\s*[=:]\s*["']?[A-Za-z0-9\/+=]{30,}["']?/#,
            replace: keepingPrefix(through: ["=", ":"])
        ),
        Rule("google-api-key", ["AIza"], #/\bAIza[0-9A-Za-z_\-]{35}\b/#),
        Rule("google-oauth-secret", ["GOCSPX-"], #/\bGOCSPX-[A-Za-z0-9_\-]{28}\b/#),
        Rule("google-oauth-token", ["ya29."], #/\bya29\.[0-9A-Za-z_\-]{30,}/#),
        Rule(
            "azure-storage-key",
            ["AccountKey="],
            #/AccountKey=[A-Za-z0-9+\/]{80,}={0,2}/#,
            replace: keepingPrefix(through: ["="])
        ),
        Rule(
            "azure-sas-signature",
            ["sig="],
            #/[?&]sig=[A-Za-z0-9%+\/=]{30,}/#,
            replace: keepingPrefix(through: ["="])
        ),
        Rule("digitalocean-token", ["dop_v1_", "doo_v1_", "dor_v1_"], #/\bdo[opr]_v1_[a-f0-9]{64}\b/#),
        Rule("heroku-key", ["HRKU-"], #/\bHRKU-[A-Za-z0-9_\-]{20,}/#),
        Rule("databricks-token", ["dapi"], #/\bdapi[a-f0-9]{32}(?:-\d)?\b/#),
        Rule("vault-token", ["hvs.", "hvb."], #/\bhv[sb]\.[A-Za-z0-9_\-]{24,}/#),
        Rule("terraform-token", [".atlasv1."], #/\b[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_\-=]{60,}/#),
        // Source hosting, packages, CI.
        Rule("github-token", ["ghp_", "gho_", "ghu_", "ghs_", "ghr_"], #/\bgh[pousr]_[A-Za-z0-9]{36,}\b/#),
        Rule("github-token", ["github_pat_"], #/\bgithub_pat_[A-Za-z0-9_]{22,}\b/#),
        Rule(
            "gitlab-token",
            ["glpat-", "gldt-", "glrt-", "glptt-", "glcbt-"],
            #/\bgl(?:pat|dt|rt|ptt|cbt)-[A-Za-z0-9_\-]{20,}/#
        ),
        Rule("gitlab-runner-token", ["GR1348941"], #/\bGR1348941[A-Za-z0-9_\-]{20,}/#),
        Rule("npm-token", ["npm_"], #/\bnpm_[A-Za-z0-9]{36}\b/#),
        Rule("pypi-token", ["pypi-"], #/\bpypi-AgEIcHlwaS5vcmc[A-Za-z0-9_\-]{50,}/#),
        Rule("docker-token", ["dckr_pat_"], #/\bdckr_pat_[A-Za-z0-9_\-]{27,}/#),
        Rule("atlassian-token", ["ATATT3"], #/\bATATT3[A-Za-z0-9_\-=]{60,}/#),
        Rule("linear-key", ["lin_api_"], #/\blin_api_[A-Za-z0-9]{40}\b/#),
        Rule("notion-token", ["ntn_", "secret_"], #/\bntn_[0-9]{11}[A-Za-z0-9]{35}\b|\bsecret_[A-Za-z0-9]{43}\b/#),
        Rule(
            "grafana-token",
            ["glc_", "glsa_"],
            #/\bglc_[A-Za-z0-9+\/]{32,}={0,2}|\bglsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}\b/#
        ),
        Rule("newrelic-key", ["NRAK-"], #/\bNRAK-[A-Z0-9]{27}\b/#),
        Rule("sentry-token", ["sntrys_", "sntryu_"], #/\bsntry[su]_[A-Za-z0-9+\/=_]{40,}/#),
        // Chat and mail.
        Rule(
            "slack-token",
            ["xoxb-", "xoxp-", "xoxa-", "xoxo-", "xoxs-", "xoxr-", "xapp-"],
            #/\bx(?:ox[abposr]|app)-[A-Za-z0-9\-]{10,}/#
        ),
        Rule(
            "slack-webhook",
            ["hooks.slack.com"],
            #/https:\/\/hooks\.slack\.com\/(?:services|workflows|triggers)\/[A-Za-z0-9_\/\-]{20,}/#
        ),
        Rule(
            "discord-webhook",
            ["discord.com/api/webhooks", "discordapp.com/api/webhooks"],
            #/https:\/\/(?:ptb\.|canary\.)?discord(?:app)?\.com\/api\/webhooks\/\d+\/[A-Za-z0-9_\-]{40,}/#
        ),
        Rule(
            "teams-webhook",
            ["webhook.office.com"],
            #/https:\/\/[A-Za-z0-9.\-]*webhook\.office\.com\/[A-Za-z0-9@\/_\-]{40,}/#
        ),
        Rule("telegram-bot-token", [":AA"], #/\b\d{8,10}:AA[A-Za-z0-9_\-]{33}\b/#),
        Rule("sendgrid-key", ["SG."], #/\bSG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43}\b/#),
        Rule("mailgun-key", ["key-"], #/\bkey-[0-9a-f]{32}\b/#),
        Rule("mailchimp-key", ["-us"], #/\b[0-9a-f]{32}-us\d{1,2}\b/#),
        Rule("twilio-key", (Array("0123456789abcdef")).map { "SK\($0)" }, #/\bSK[0-9a-f]{32}\b/#),
        // Payments and commerce.
        Rule(
            "stripe-key",
            ["sk_live_", "rk_live_", "sk_test_", "rk_test_"],
            #/\b[sr]k_(?:live|test)_[0-9A-Za-z]{24,}\b/#
        ),
        Rule("stripe-webhook-secret", ["whsec_"], #/\bwhsec_[A-Za-z0-9]{32,}\b/#),
        Rule(
            "square-token",
            ["sq0atp-", "sq0csp-", "EAAA"],
            #/\bsq0(?:atp|csp)-[A-Za-z0-9_\-]{22,}|\bEAAA[A-Za-z0-9_\-]{60}\b/#
        ),
        Rule("braintree-token", ["access_token$production$"], #/access_token\$production\$[0-9a-z]{16}\$[0-9a-f]{32}/#),
        Rule("shopify-token", ["shpat_", "shpss_", "shpca_", "shppa_"], #/\bshp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}\b/#),
        // Keys and tokens of any issuer.
        Rule("age-secret-key", ["AGE-SECRET-KEY-1"], #/AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}/#),
        Rule(
            "private-key",
            ["PRIVATE KEY"],
            #/-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----[\s\S]*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----|$)/#
        ),
        Rule("jwt", ["eyJ"], #/\beyJ[A-Za-z0-9_\-]{10,}\.eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,}/#),
        Rule(
            "bearer-token",
            ["bearer"],
            anyCase: true,
            #/\b(?i:bearer)\s+[A-Za-z0-9\-._~+\/]{16,}=*/#,
            replace: { match, kind in
                String(match.prefix { !$0.isWhitespace }) + " [REDACTED:\(kind)]"
            }
        ),
        Rule(
            "basic-auth",
            ["basic "],
            anyCase: true,
            #/(?i:authorization)["']?\s*[:=]\s*["']?(?i:basic)\s+[A-Za-z0-9+\/]{8,}={0,2}/#,
            replace: { match, kind in
                // Keep the header name and the scheme word.
                let lower = match.lowercased()
                guard let basic = lower.firstRange(of: "basic") else { return "[REDACTED:\(kind)]" }
                return String(match.prefix(lower.distance(from: lower.startIndex, to: basic.upperBound)))
                    + " [REDACTED:\(kind)]"
            }
        ),
        Rule(
            "password",
            ["://"],
            #/\b[a-zA-Z][a-zA-Z0-9+.\-]*:\/\/[^\s:\/@"'<>\[\]]+:[^\s@\/"'<>\[\]]+@/#,
            replace: { match, kind in
                // Keep the scheme and user; hide the password.
                guard let scheme = match.firstRange(of: "://"), let colon = match.lastIndex(of: ":"),
                    colon > scheme.upperBound
                else { return "[REDACTED:\(kind)]" }
                return String(match[...colon]) + "[REDACTED:\(kind)]@"
            }
        ),
        Rule(
            "url-token",
            ["token=", "key=", "secret=", "signature="],
            anyCase: true,
            #/[?&](?i:access_token|auth_token|token|api_key|apikey|key|secret|client_secret|signature)=[A-Za-z0-9%_\-.~+\/]{16,}/#,
            replace: keepingPrefix(through: ["="])
        ),
        // Assignments to secret-named keys, in env, shell, JSON and YAML forms.
        Rule(
            "password",
            ["password", "passwd", "pwd"],
            anyCase: true,
            #/\b[A-Za-z0-9_.\-]*(?i:password|passwd|pwd)["']?\s*(?:=|:)\s*(?!["']?\[REDACTED:)(?:"[^"\n]{4,}"|'[^'\n]{4,}'|[^\s"',;}]{4,})/#,
            replace: keepingPrefix(through: ["=", ":"])
        ),
        Rule(
            "secret",
            ["key", "token", "secret", "credential", "auth"],
            anyCase: true,
            #/\b[A-Za-z0-9_.\-]*(?i:key|token|secret|credentials?|auth)["']?\s*(?:=|:)\s*["']?[A-Za-z0-9_\-+\/=.~]{16,}["']?/#,
            replace: { match, kind in
                // Only high-entropy values: `sort_key: created_at_and_more` stays.
                guard let separator = match.firstIndex(where: { $0 == "=" || $0 == ":" }) else { return String(match) }
                let value = match[match.index(after: separator)...].trimmingCharacters(" \t\"'")
                guard SecretRules.looksRandom(value) else { return String(match) }
                return SecretRules.keepingPrefix(through: ["=", ":"])(match, kind)
            }
        ),
    ]

    /// Whether a value looks machine-made rather than a word: long enough, several kinds of
    /// characters, and enough distinct ones.
    static func looksRandom(_ value: Substring) -> Bool {
        guard value.count >= 16 else { return false }
        var lower = false
        var upper = false
        var digit = false
        for character in value {
            if character.isLowercase {
                lower = true
            } else if character.isUppercase {
                upper = true
            } else if character.isNumber {
                digit = true
            }
        }
        let kinds = [lower, upper, digit].filter { $0 }.count
        guard kinds >= 2 else { return false }
        // Words and identifiers repeat their letters; keys rarely do.
        return Set(value).count >= min(12, value.count * 3 / 5)
    }

    // MARK: The quick scan

    /// Whether `bytes` might hold a secret: some rule's trigger occurs in them (in any letter
    /// case). Almost all text fails this cheaply, and is then left as it is.
    public static func mightContainSecret(_ bytes: some Collection<UInt8>) -> Bool {
        if let found = bytes.withContiguousStorageIfAvailable({ scan($0) }) { return found }
        return Array(bytes).withUnsafeBufferPointer { scan($0) }
    }

    /// Looks at each window of three byte classes (5 bits each: letters case-folded, digits,
    /// a few punctuation marks); where the window can start a trigger (one bit of a 32 Ki-bit
    /// table), compares the triggers that start with that window.
    private static func scan(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard bytes.count >= 3, let text = bytes.baseAddress else { return false }
        return byteClasses.withUnsafeBufferPointer { classes in
            trigramStarts.withUnsafeBufferPointer { starts in
                // Each window's key is made from its own three bytes, so no step waits on the
                // one before it; four windows are tested with one branch.
                let count = bytes.count
                @inline(__always) func key(_ index: Int) -> Int {
                    Int(classes[Int(text[index])]) << 10 | Int(classes[Int(text[index + 1])]) << 5
                        | Int(classes[Int(text[index + 2])])
                }
                var index = 0
                while index + 6 <= count {
                    let (k0, k1, k2, k3) = (key(index), key(index + 1), key(index + 2), key(index + 3))
                    if starts[k0] | starts[k1] | starts[k2] | starts[k3] != 0 {
                        for (offset, key) in [(0, k0), (1, k1), (2, k2), (3, k3)]
                        where starts[key] != 0 && confirm(bytes, at: index + offset, key: key) {
                            return true
                        }
                    }
                    index += 4
                }
                while index + 3 <= count {
                    let key = key(index)
                    if starts[key] != 0, confirm(bytes, at: index, key: key) { return true }
                    index += 1
                }
                return false
            }
        }
    }

    /// The 5-bit class of each byte: `a`–`z` (either case) 1–26, digits 27, `_` 28, `-` 29,
    /// `.` `:` `/` `$` 30, anything else 31.
    private static let byteClasses: [UInt8] = (0..<256).map { value in
        let byte = UInt8(value)
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return byte - UInt8(ascii: "a") + 1
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return byte - UInt8(ascii: "A") + 1
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return 27
        case UInt8(ascii: "_"): return 28
        case UInt8(ascii: "-"): return 29
        case UInt8(ascii: "."), UInt8(ascii: ":"), UInt8(ascii: "/"), UInt8(ascii: "$"): return 30
        default: return 31
        }
    }

    /// Whether a class trigram starts a trigger: one byte per trigram (32 KiB), so a test is
    /// one load.
    private static let trigramStarts: [UInt8] = {
        var starts = [UInt8](repeating: 0, count: 1 << 15)
        for trigger in triggers { starts[classKey(trigger)] = 1 }
        return starts
    }()

    /// Whether a whole trigger starts at `start`, whose window of classes is `key`.
    private static func confirm(_ bytes: UnsafeBufferPointer<UInt8>, at start: Int, key: Int) -> Bool {
        let first = Int(triggerRanges[key])
        let end = Int(triggerRanges[key + 1])
        var candidate = first
        while candidate < end {
            let trigger = triggers[candidate]
            candidate += 1
            guard start + trigger.count <= bytes.count else { continue }
            var matches = true
            for offset in 0..<trigger.count {
                let byte = bytes[start + offset]
                if byte | (byte &- 0x41 < 26 ? 0x20 : 0) != trigger[offset] {
                    matches = false
                    break
                }
            }
            if matches { return true }
        }
        return false
    }

    /// The class window of a trigger's first three bytes.
    private static func classKey(_ trigger: [UInt8]) -> Int {
        Int(byteClasses[Int(trigger[0])]) << 10 | Int(byteClasses[Int(trigger[1])]) << 5
            | Int(byteClasses[Int(trigger[2])])
    }

    /// Every trigger (lower-cased, at least three bytes), ordered by its class window.
    private static let triggers: [[UInt8]] = rules.flatMap { rule in
        rule.triggers.map { Array($0.lowercased().utf8) }.filter { $0.count >= 3 }
    }.sorted { classKey($0) < classKey($1) }

    /// Where each class window's triggers start in ``triggers`` (and, at the next window,
    /// end).
    private static let triggerRanges: [UInt16] = {
        var ranges = [UInt16](repeating: 0, count: (1 << 15) + 1)
        for trigger in triggers { ranges[classKey(trigger) + 1] += 1 }
        for key in 1..<ranges.count { ranges[key] += ranges[key - 1] }
        return ranges
    }()
}

extension Substring {
    fileprivate func trimmingCharacters(_ characters: String) -> Substring {
        var result = self
        while let first = result.first, characters.contains(first) { result = result.dropFirst() }
        while let last = result.last, characters.contains(last) { result = result.dropLast() }
        return result
    }
}
