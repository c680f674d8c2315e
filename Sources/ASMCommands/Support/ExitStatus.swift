import AgentSessionManager

/// The documented exit codes of `asm`.
enum ExitStatus {
    static let failure: Int32 = 1
    static let usage: Int32 = 64
    static let dataError: Int32 = 65
    static let noInput: Int32 = 66
    static let temporaryFailure: Int32 = 75
    /// A run was cancelled (Ctrl-C), as shells report an interrupted command.
    static let cancelled: Int32 = 130

    static func `for`(_ error: StoreError) -> Int32 {
        switch error.code {
        case .notADatabase, .corrupt, .foreignDatabase, .newerSchema: dataError
        case .missingDatabase, .notFound: noInput
        case .busy: temporaryFailure
        case .invalidArgument: usage
        default: failure
        }
    }
}

extension ExitStatus {
    static func `for`(_ error: SessionManagerError) -> Int32 {
        switch error.code {
        case .sessionNotFound, .runNotFound, .approvalNotFound: noInput
        case .invalidPolicy, .invalidArgument, .unknownProvider: usage
        case .illegalTransition, .alreadyExecuting: failure
        case .workspaceInUse: temporaryFailure
        }
    }
}

extension ExitStatus {
    /// The exit status of the errors commands report as one line; `nil` for others
    /// (ArgumentParser's, reported its own way).
    static func of(_ error: any Error) -> Int32? {
        switch error {
        case let error as StoreError: self.for(error)
        case let error as SessionManagerError: self.for(error)
        case let error as SessionServerError: error.code == .invalidArgument ? usage : failure
        case let error as CommandFailure: error.status
        default: nil
        }
    }

    /// An error in one line, without the `asm: ` prefix.
    static func message(_ error: any Error) -> String {
        switch error {
        case let error as StoreError: error.description
        case let error as SessionManagerError: error.message
        case let error as SessionServerError: error.message
        case let error as CommandFailure: error.message
        case let error as WorkspaceError: error.message
        default: String(describing: error)
        }
    }
}

/// A command's own failure: a one-line message and an exit status.
struct CommandFailure: Error {
    var message: String
    var status: Int32

    init(_ message: String, status: Int32 = ExitStatus.failure) {
        self.message = message
        self.status = status
    }
}
