/// An error that keeps what led to it: ``description`` is one line (`code: message`);
/// ``detailedDescription()`` adds the context and the chain of causes.
///
/// Every error type of the package conforms, so a cause of a cause is shown with its own
/// detail, indented beneath.
package protocol DetailedError: Error, CustomStringConvertible {
    /// The description, then the context and the chain of causes, one per line.
    func detailedDescription() -> String
}

/// Builds the text of `detailedDescription()` for the package's errors.
package enum ErrorDetail {
    /// `description`, then `  name: value` for each context value present, then
    /// `  caused by: …` with the underlying error's own detail (indented) when it has one.
    ///
    /// Context values are paths, keys, names and positions: never payloads or bound values.
    package static func text(
        _ description: String,
        context: [(name: String, value: String?)] = [],
        underlying: (any Error)?
    ) -> String {
        var lines = [description]
        for (name, value) in context {
            if let value { lines.append("  \(name): \(value)") }
        }
        if let underlying {
            let detail =
                (underlying as? any DetailedError)?.detailedDescription() ?? String(describing: underlying)
            let causeLines = detail.split(separator: "\n", omittingEmptySubsequences: false)
            lines.append("  caused by: " + (causeLines.first.map(String.init) ?? ""))
            for line in causeLines.dropFirst() { lines.append("  " + line) }
        }
        return lines.joined(separator: "\n")
    }
}
