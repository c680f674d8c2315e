public import ASMCore

/// One line of a provider's standard output, classified.
///
/// Lines that are not JSON at all (banners, debug output) are ignored; a line that starts
/// like a JSON object but does not parse is reported, and the run goes on.
public enum StreamLine: Hashable, Sendable {
    case object(JSONValue)
    case ignored
    case malformed(reason: String, excerpt: String)

    /// Classifies one line (without its newline).
    public static func classify(_ line: [UInt8], tape: JSONTape) -> StreamLine {
        var start = 0
        while start < line.count, line[start] == 0x20 || line[start] == 0x09 || line[start] == 0x0D { start += 1 }
        guard start < line.count, line[start] == UInt8(ascii: "{") else { return .ignored }
        do {
            let value = try line.withUnsafeBytes { bytes in
                try tape.parse(bytes, validateUTF8: false)
                return try tape.rootValue()
            }
            return .object(value)
        } catch {
            let excerpt = String(decoding: line.prefix(200), as: UTF8.self)
            return .malformed(reason: "\(error)", excerpt: excerpt)
        }
    }

    /// What the line means for `provider`: nothing when ignored, a warning when it could not
    /// be read, and what `decode` makes of an object.
    public func events(provider: String, _ decode: (JSONValue) -> [ProviderEvent]) -> [ProviderEvent] {
        switch self {
        case .ignored:
            []
        case .malformed(let reason, let excerpt):
            [
                .warning(
                    ProviderWarning(provider: provider, message: "unreadable output line: \(reason)", excerpt: excerpt)
                )
            ]
        case .object(let frame):
            decode(frame)
        }
    }
}

extension JSONValue {
    /// The value at a path of object keys.
    subscript(path first: String, _ rest: String...) -> JSONValue? {
        var current = self[first]
        for key in rest { current = current?[key] }
        return current
    }

    /// The text of a string, or of an array of `{type: text, text}` blocks joined by newlines.
    var textContent: String? {
        if let string = stringValue { return string }
        guard let blocks = arrayValue else { return nil }
        let texts = blocks.compactMap { $0["text"]?.stringValue ?? $0.stringValue }
        return texts.isEmpty ? nil : texts.joined(separator: "\n")
    }
}
