/// Why a JSON text was refused or a payload could not be encoded or decoded.
public struct JSONError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: Hashable, Sendable {
            case syntax, invalidUTF8, tooDeep, invalidNumber, typeMismatch, missingKey, invalidValue, unsupported
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The text is not JSON.
        public static let syntax = Code(.syntax)
        /// A string holds bytes that are not UTF-8, or an escape that is not a Unicode scalar.
        public static let invalidUTF8 = Code(.invalidUTF8)
        /// Containers are nested deeper than the limit.
        public static let tooDeep = Code(.tooDeep)
        /// A number does not fit the requested type, or is not finite.
        public static let invalidNumber = Code(.invalidNumber)
        /// A value has another JSON type than the payload declares.
        public static let typeMismatch = Code(.typeMismatch)
        /// A required key is absent.
        public static let missingKey = Code(.missingKey)
        /// A value is not allowed (for example NaN, or text that is not an identifier).
        public static let invalidValue = Code(.invalidValue)
        /// The payload uses a coding feature the canonical codec does not support.
        public static let unsupported = Code(.unsupported)

        public var description: String {
            switch wrapped {
            case .syntax: "syntax"
            case .invalidUTF8: "invalid UTF-8"
            case .tooDeep: "too deep"
            case .invalidNumber: "invalid number"
            case .typeMismatch: "type mismatch"
            case .missingKey: "missing key"
            case .invalidValue: "invalid value"
            case .unsupported: "unsupported"
            }
        }
    }

    public var code: Code
    /// A one-line explanation; never contains payload text.
    public var message: String
    /// The byte offset in the input where the problem was found, when parsing.
    public var offset: Int?

    public init(_ code: Code, _ message: String, offset: Int? = nil) {
        self.code = code
        self.message = message
        self.offset = offset
    }

    public var description: String {
        if let offset { return "\(code): \(message) at byte \(offset)" }
        return "\(code): \(message)"
    }
}
