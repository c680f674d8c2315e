import ASMCore

/// Why the session manager refused a request. Nothing was appended.
///
/// Match on ``code`` (`catch let error as SessionManagerError where error.code == .runNotFound`);
/// ``description`` is one line (`code: message`), never prompts or payloads.
/// ``detailedDescription()`` adds the cause. Equality compares the code and message, not
/// the cause.
public struct SessionManagerError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What was refused. New codes may be added; switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: String, Hashable, Sendable {
            case sessionNotFound = "session not found"
            case runNotFound = "run not found"
            case illegalTransition = "illegal transition"
            case alreadyExecuting = "already executing"
            case unknownProvider = "unknown provider"
            case invalidPolicy = "invalid policy"
            case approvalNotFound = "approval not found"
            case alreadyResolved = "already resolved"
            case invalidArgument = "invalid argument"
            case workspaceInUse = "workspace in use"
            case workspaceFailed = "workspace failed"
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The session does not exist.
        public static let sessionNotFound = Code(.sessionNotFound)
        /// The run does not exist, or its request is not in the log.
        public static let runNotFound = Code(.runNotFound)
        /// The session or run is not in a state that allows it.
        public static let illegalTransition = Code(.illegalTransition)
        /// The run is already executing.
        public static let alreadyExecuting = Code(.alreadyExecuting)
        /// No provider of the manager has the name the options give.
        public static let unknownProvider = Code(.unknownProvider)
        /// The policy stack failed its preflight (the ``SessionManagerError/underlying``
        /// `PolicyError` names the policy and key).
        public static let invalidPolicy = Code(.invalidPolicy)
        /// The approval does not exist or is no longer waiting for an answer.
        public static let approvalNotFound = Code(.approvalNotFound)
        /// The approval was answered already (the first answer wins), or closed with its run.
        public static let alreadyResolved = Code(.alreadyResolved)
        /// An argument cannot be used (no message, an empty agent id, options that contradict).
        public static let invalidArgument = Code(.invalidArgument)
        /// Another run (here or in another process) is using the workspace.
        public static let workspaceInUse = Code(.workspaceInUse)
        /// The workspace could not be prepared or snapshotted before the run; the
        /// ``SessionManagerError/underlying`` `WorkspaceError` says what happened.
        public static let workspaceFailed = Code(.workspaceFailed)

        public var description: String { wrapped.rawValue }
    }

    public var code: Code
    /// One line.
    public var message: String
    /// The cause, when another error led to this one.
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String { "\(code): \(message)" }

    /// The description followed by the chain of causes, one per line.
    public func detailedDescription() -> String { ErrorDetail.text(description, underlying: underlying) }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code && lhs.message == rhs.message }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
    }
}

extension SessionManagerError: DetailedError {}

extension SessionManagerError.Code {
    /// Matches an error by code, so `catch SessionManagerError.Code.runNotFound` works.
    public static func ~= (code: SessionManagerError.Code, error: any Error) -> Bool {
        (error as? SessionManagerError)?.code == code
    }
}
