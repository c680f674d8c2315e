/// Streamed text, redacted without ever cutting a secret in two.
///
/// A delta is passed on only up to the point where no secret can still be starting: the end
/// of the last whole word, and before that before any construct still open (a `Bearer` or
/// `password =` whose value has not arrived, a private key block without its end line). The
/// undecided tail waits for the next delta or the end of the message, then is redacted
/// together with what completes it. The concatenated output equals the redaction of the
/// whole text.
public struct StreamingRedaction: Sendable {
    /// The most text held back before it is passed on regardless (a private key block is
    /// held whole up to this size).
    public static let maximumHeld = 64 * 1024

    private let redactor: Redactor
    private var held = ""
    /// Whether the held text has whitespace in it (a construct still open was held back
    /// from before it); otherwise a delta without whitespace cannot make anything ready.
    private var heldHasWhitespace = false

    public init(redactor: Redactor) {
        self.redactor = redactor
    }

    /// Whether text is waiting for more.
    public var isHolding: Bool { !held.isEmpty }

    /// Takes the next delta; returns the redacted text that can be passed on now (possibly
    /// empty).
    public mutating func feed(_ delta: String) -> String {
        held += delta
        // Cheap for a word still growing: only the new text is looked at.
        guard heldHasWhitespace || delta.contains(where: \.isWhitespace) || held.utf8.count > Self.maximumHeld else {
            return ""
        }
        let cut = Self.safeCut(held)
        heldHasWhitespace = held[cut...].contains(where: \.isWhitespace)
        guard cut > held.startIndex else { return "" }
        let ready = String(held[..<cut])
        held = String(held[cut...])
        return redactor.redact(ready)
    }

    /// The rest, redacted: the message ended.
    public mutating func flush() -> String {
        defer {
            held = ""
            heldHasWhitespace = false
        }
        return held.isEmpty ? "" : redactor.redact(held)
    }

    /// Where `text` can be cut so that everything before the cut is decided.
    static func safeCut(_ text: String) -> String.Index {
        // After the last whitespace: a token without whitespace may still be growing.
        guard var cut = text.lastIndex(where: \.isWhitespace).map({ text.index(after: $0) }) else {
            return text.utf8.count > maximumHeld ? text.index(text.endIndex, offsetBy: -4096) : text.startIndex
        }
        let decided = text[..<cut]
        // A private key block still open is held from its first line.
        if let begin = decided.ranges(of: "-----BEGIN").last,
            decided[begin.lowerBound...].firstRange(of: "-----END") == nil
        {
            cut = begin.lowerBound
        }
        // A keyword whose value has not arrived yet (`Bearer `, `password = `, `API_KEY: `).
        cut = min(cut, openAssignmentStart(text[..<cut]) ?? cut)
        // Never inside a secret already whole.
        if SecretRules.mightContainSecret(text.utf8) {
            let folded = text.lowercased()
            for rule in SecretRules.rules where rule.isTriggered(by: text, folded: folded) {
                // A match that reaches the end of the text may still grow (a key block's end
                // line not yet here): it is open too.
                for match in text.matches(of: rule.pattern)
                where match.range.lowerBound < cut
                    && (match.range.contains(cut) || match.range.upperBound == text.endIndex)
                {
                    cut = match.range.lowerBound
                }
            }
        }
        if cut == text.startIndex, text.utf8.count > maximumHeld { return text.index(text.endIndex, offsetBy: -4096) }
        return cut
    }

    /// Where the keyword starts when `text` ends with one whose value follows after whitespace
    /// (`Bearer `, `Authorization: Basic `, `password = `, `API_KEY: "`).
    private static func openAssignmentStart(_ text: Substring) -> String.Index? {
        var end = text.endIndex
        // Skip what may stand between a key and its value.
        while end > text.startIndex {
            let previous = text.index(before: end)
            guard " \t\n\r\"'=:".contains(text[previous]) else { break }
            end = previous
        }
        guard end < text.endIndex else { return nil }  // nothing stands there: the last word is whole
        var start = end
        while start > text.startIndex {
            let previous = text.index(before: start)
            guard text[previous].isLetter || text[previous].isNumber || "_.-".contains(text[previous]) else { break }
            start = previous
        }
        let word = text[start..<end].lowercased()
        guard !word.isEmpty else { return nil }
        if word == "bearer" || word == "basic" {
            // Keep `Authorization: ` with its scheme.
            let before = text[..<start].reversed().drop { " \t\"':=".contains($0) }
            let header = String(before.prefix(13).reversed()).lowercased()
            return header == "authorization"
                ? text.index(start, offsetBy: -(text[..<start].count - before.count + 13)) : start
        }
        let keywords = [
            "key", "token", "secret", "password", "passwd", "pwd", "credential", "credentials", "auth", "authorization",
        ]
        return keywords.contains(where: { word.hasSuffix($0) }) ? start : nil
    }
}

extension Redactor {
    /// The event with its strings redacted (every field of its payload).
    public func redact(_ event: SessionEvent) -> SessionEvent {
        var writer = JSONWriter()
        guard let written = try? event.writePayload(to: &writer), let redacted = redact(json: writer.bytes) else {
            return event
        }
        return EventCodec().decode(type: written.type, schemaVersion: written.version, payload: redacted)
    }
}
