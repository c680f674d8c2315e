/// One event that matched a search.
public struct SearchHit: Hashable, Sendable, Codable {
    public var sequence: SequenceNumber
    public var sessionID: SessionID
    public var runID: RunID?
    public var type: EventType
    /// The matching passage, the matched words in `[brackets]`, cut with `…`.
    public var snippet: String
    /// Higher matches better (each backend ranks in its own way: SQLite's BM25, PostgreSQL's
    /// `ts_rank`).
    public var score: Double

    public init(
        sequence: SequenceNumber,
        sessionID: SessionID,
        runID: RunID?,
        type: EventType,
        snippet: String,
        score: Double
    ) {
        self.sequence = sequence
        self.sessionID = sessionID
        self.runID = runID
        self.type = type
        self.snippet = snippet
        self.score = score
    }

    enum CodingKeys: String, CodingKey {
        case sequence, type, snippet, score
        case sessionID = "session_id"
        case runID = "run_id"
    }
}

/// What a search looks for: words, every one of which must occur (case and diacritics
/// folded); a word ending in `*` matches as a prefix. Anything but letters and digits
/// separates words, as it does in the indexed text, so a word holds no quote or operator.
public struct SearchQuery: Hashable, Sendable {
    public struct Term: Hashable, Sendable {
        public var word: String
        public var isPrefix: Bool
    }

    public var terms: [Term]
    public var session: SessionID?
    /// Only events of these types (all searchable ones when empty).
    public var types: [EventType]
    public var limit: Int

    /// - Throws: ``SearchQuery/Invalid`` when `text` holds no word, `limit` is not positive, or
    ///   a type is not one of ``searchableTypes``.
    public init(_ text: String, session: SessionID? = nil, types: [EventType] = [], limit: Int = 20) throws(Invalid) {
        var terms: [Term] = []
        var word = String.UnicodeScalarView()
        func flush(prefix: Bool) {
            if !word.isEmpty { terms.append(Term(word: String(word).lowercased(), isPrefix: prefix)) }
            word = String.UnicodeScalarView()
        }
        // Scalar by scalar, as the index splits text: a character made of a letter and a mark or
        // a quote is two scalars, and only the letter belongs to a word.
        for scalar in text.unicodeScalars {
            if Self.isWordScalar(scalar) {
                word.append(scalar)
            } else {
                flush(prefix: scalar == "*")
            }
        }
        flush(prefix: false)
        guard !terms.isEmpty else { throw Invalid(message: "a search needs at least one word") }
        guard limit > 0 else { throw Invalid(message: "a search's limit must be positive") }
        if let type = types.first(where: { !Self.searchableTypes.contains($0) }) {
            throw Invalid(
                message: "type \(type) is not searched; searched are "
                    + Self.searchableTypes.map(\.rawValue).joined(separator: ", ")
            )
        }
        self.terms = terms
        self.session = session
        self.types = types
        self.limit = limit
    }

    /// Letters, digits and private-use characters make words (the categories FTS5's
    /// `unicode61` tokenizer keeps); everything else separates them.
    static func isWordScalar(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter, .decimalNumber,
            .letterNumber, .otherNumber, .privateUse:
            true
        default: false
        }
    }

    public struct Invalid: Error, Sendable, CustomStringConvertible {
        public var message: String
        public var description: String { message }
    }

    /// The event types whose text is indexed: a whole message (a run's prompt is one too,
    /// recorded with its request), a tool's name with its input or output, a refusal with its
    /// reason, a run's failure. Streamed pieces are not (their whole message is).
    public static let searchableTypes: [EventType] = [
        .messageReceived, .toolCallRequested, .toolCallStarted, .toolCallCompleted, .toolCallRefused,
        .runFailed,
    ]

    /// The passage of `text` around the first word this query matches, at most `words` words,
    /// with matched words in `[brackets]` and `…` where it was cut (the beginning of the
    /// text when no word matches as written, e.g. only with diacritics folded).
    public func snippet(of text: String, words limit: Int = 16) -> String {
        // The words of the text (letters and digits) with their ranges.
        var words: [Range<String.Index>] = []
        var start: String.Index?
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if character.isLetter || character.isNumber {
                if start == nil { start = index }
            } else if let begun = start {
                words.append(begun..<index)
                start = nil
            }
            index = text.index(after: index)
        }
        if let begun = start { words.append(begun..<text.endIndex) }
        guard !words.isEmpty else { return String(text.prefix(120)) }
        func matches(_ range: Range<String.Index>) -> Bool {
            let word = text[range].lowercased()
            return terms.contains { $0.isPrefix ? word.hasPrefix($0.word) : word == $0.word }
        }
        let first = words.firstIndex(where: matches) ?? 0
        let from = max(0, min(first - limit / 3, words.count - limit))
        let to = min(words.count, from + limit)
        var result = from > 0 ? "…" : ""
        var cursor = words[from].lowerBound
        for position in from..<to {
            let range = words[position]
            result += text[cursor..<range.lowerBound]
            result += matches(range) ? "[" + text[range] + "]" : String(text[range])
            cursor = range.upperBound
        }
        if to < words.count { result += "…" } else { result += text[cursor...] }
        return result
    }
}

/// Whether a log's search index is on, and how many events it holds.
///
/// The index is a log's choice: off until it is turned on (``EventStore/setSearchIndex(_:)``,
/// `asm search --index on`), which indexes every event already logged; from then on each append
/// indexes its events in its own transaction, so a search never lags the log.
public struct SearchIndexStatus: Hashable, Sendable, Codable {
    public var isOn: Bool
    /// Events with searchable text in the index (0 when off).
    public var indexedEvents: Int

    public init(isOn: Bool, indexedEvents: Int) {
        self.isOn = isOn
        self.indexedEvents = indexedEvents
    }

    enum CodingKeys: String, CodingKey {
        case isOn = "on"
        case indexedEvents = "indexed_events"
    }
}
