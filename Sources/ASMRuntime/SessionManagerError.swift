import ASMCore

/// Why the session manager refused a request. Nothing was appended.
public struct SessionManagerError: Error, Hashable, Sendable, CustomStringConvertible {
    public enum Code: String, Hashable, Sendable {
        case sessionNotFound = "session_not_found"
        case runNotFound = "run_not_found"
        /// The session or run is not in a state that allows it.
        case illegalTransition = "illegal_transition"
        /// The run is already executing.
        case alreadyExecuting = "already_executing"
        case unknownProvider = "unknown_provider"
        /// The policy stack failed its preflight.
        case invalidPolicy = "invalid_policy"
        case approvalNotFound = "approval_not_found"
        case invalidArgument = "invalid_argument"
        /// Another run (here or in another process) is using the workspace.
        case workspaceInUse = "workspace_in_use"
    }

    public var code: Code
    /// One line.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
