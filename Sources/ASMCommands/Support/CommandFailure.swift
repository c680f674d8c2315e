import ASMCore
import AgentSessionManager
import FoundationEssentials

/// A command's own failure: a code (which decides the exit status), a one-line message,
/// and the cause when another error led to it.
///
/// Errors of the library are not wrapped in one: they reach ``ExitStatus`` as they are.
struct CommandFailure: Error, CustomStringConvertible {
    /// What went wrong; ``ExitStatus/of(_:)`` gives each its exit status.
    struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: String, Hashable, Sendable {
            case notFound = "not found"
            case ambiguous
            case missingFile = "missing file"
            case invalidArgument = "invalid argument"
            case notRecorded = "not recorded"
            case refused
            case verificationFailed = "verification failed"
            case corrupt
            case runFailed = "run failed"
            case cancelled
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// No session or run has the id or prefix given (exit 66).
        static let notFound = Code(.notFound)
        /// An id prefix matches several sessions or runs (exit 64).
        static let ambiguous = Code(.ambiguous)
        /// A file an option names (a policy, price table, router, script, input) cannot be read (exit 66).
        static let missingFile = Code(.missingFile)
        /// An argument cannot be used, though it parsed (exit 64).
        static let invalidArgument = Code(.invalidArgument)
        /// The log does not have what the command needs (a run's snapshots, its diff) (exit 1).
        static let notRecorded = Code(.notRecorded)
        /// The command would lose work and was not forced (exit 1).
        static let refused = Code(.refused)
        /// The log or a replay did not verify (exit 1).
        static let verificationFailed = Code(.verificationFailed)
        /// SQLite's integrity check found the file damaged (exit 65).
        static let corrupt = Code(.corrupt)
        /// A run, or a request to a server, did not complete (exit 1).
        static let runFailed = Code(.runFailed)
        /// A run or a server was cancelled with Ctrl-C (exit 130).
        static let cancelled = Code(.cancelled)

        var description: String { wrapped.rawValue }
    }

    var code: Code
    /// One line; empty when the command already said what happened (a run's summary line).
    var message: String
    /// The cause, when another error led to this one.
    var underlying: (any Error)?

    init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    /// A failure the command has already reported: `asm` prints nothing more and exits
    /// with the code's status.
    static func reported(_ code: Code) -> CommandFailure { CommandFailure(code, "") }

    var description: String { message.isEmpty ? "\(code)" : "\(code): \(message)" }

    /// The description followed by the chain of causes, one per line.
    func detailedDescription() -> String { ErrorDetail.text(description, underlying: underlying) }
}

extension CommandFailure: DetailedError {}

/// The bytes of a file an option names; one that cannot be read is a ``CommandFailure``
/// with code `missingFile` (exit 66), naming `what` it is (`the policy`).
func contents(of path: String, _ what: String) throws(CommandFailure) -> [UInt8] {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw CommandFailure(.missingFile, "cannot read \(what) \(path)")
    }
    return Array(data)
}
