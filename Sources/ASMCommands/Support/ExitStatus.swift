import ASMTelemetry
import AgentSessionManager

/// The documented exit codes of `asm`, and the one place errors are mapped to them.
///
/// | status | meaning |
/// |---|---|
/// | 0 | success |
/// | 1 | failure (a run failed, the log did not verify, a request was rejected; the PostgreSQL server cannot be reached, refused the credentials or reported an error) |
/// | 64 | usage: invalid arguments, a malformed or impossible policy, price, router or script file |
/// | 65 | the data is unusable: not SQLite, corrupt, another application's, a newer schema |
/// | 66 | missing: the database, a session, run, consumer, or a file an option names |
/// | 75 | busy: the database stayed locked, or another run holds the workspace |
/// | 130 | interrupted (Ctrl-C) |
enum ExitStatus {
    static let success: Int32 = 0
    static let failure: Int32 = 1
    /// `EX_USAGE`.
    static let usage: Int32 = 64
    /// `EX_DATAERR`.
    static let dataError: Int32 = 65
    /// `EX_NOINPUT`.
    static let noInput: Int32 = 66
    /// `EX_TEMPFAIL`.
    static let temporaryFailure: Int32 = 75
    /// A run was cancelled (Ctrl-C), as shells report an interrupted command.
    static let cancelled: Int32 = 130

    /// The exit status of an error `asm` reports as one line; `nil` for ArgumentParser's
    /// own errors (usage, `--help`), which it reports its own way.
    static func of(_ error: any Error) -> Int32? {
        switch error {
        case let error as StoreError: of(error)
        case let error as SessionManagerError: of(error)
        case let error as SessionServerError: of(error)
        case let error as WorkspaceError: of(error)
        case let error as ArtifactError: of(error)
        case let error as TelemetryError: error.code == .invalidEndpoint ? usage : failure
        case is PolicyError, is RouterConfigError, is PriceTableError, is ProviderScriptError: usage
        case is JSONError: dataError
        case is RunRequest.Invalid: usage
        case let error as CommandFailure: of(error)
        case is CancellationError: cancelled
        default: nil
        }
    }

    /// The error in one line, without the `asm: ` prefix; `nil` when the command has
    /// already reported it (a run's summary line).
    static func message(_ error: any Error) -> String? {
        if let failure = error as? CommandFailure, failure.message.isEmpty { return nil }
        if error is CancellationError { return "cancelled" }
        let text = String(describing: error)
        // One line, whatever a cause's text holds.
        return text.split(separator: "\n", omittingEmptySubsequences: false).first.map(String.init) ?? text
    }

    /// The error, its context and its chain of causes, one per line (`--verbose`).
    static func detail(_ error: any Error) -> String {
        (error as? any DetailedError)?.detailedDescription() ?? String(describing: error)
    }

    private static func of(_ error: StoreError) -> Int32 {
        switch error.code {
        case .notADatabase, .corrupt, .foreignDatabase, .newerSchema, .readOnly: dataError
        case .missingDatabase, .notFound, .noSearchIndex: noInput
        case .busy, .consumerBusy: temporaryFailure
        case .invalidArgument: usage
        // A PostgreSQL server that cannot be reached or refuses the credentials fails as a file
        // that cannot be opened does (cannotOpen, ioError: 1).
        case .unavailable, .database: failure
        default: failure
        }
    }

    private static func of(_ error: SessionManagerError) -> Int32 {
        switch error.code {
        case .sessionNotFound, .runNotFound, .approvalNotFound: noInput
        case .invalidPolicy, .invalidArgument, .unknownProvider: usage
        case .workspaceInUse: temporaryFailure
        // What the workspace said: not a directory is a usage error, a failed snapshot a failure.
        case .workspaceFailed: error.underlying.flatMap(of) ?? failure
        default: failure  // illegalTransition, alreadyExecuting
        }
    }

    private static func of(_ error: SessionServerError) -> Int32 {
        switch error.code {
        case .invalidArgument: usage
        case .unknownRun: noInput
        default: failure  // notAccepting
        }
    }

    private static func of(_ error: WorkspaceError) -> Int32 {
        switch error.code {
        case .notADirectory, .notARepository: usage
        case .inUse: temporaryFailure
        case .snapshotUnavailable: noInput
        default: failure  // gitFailed, ioError, artifactFailed
        }
    }

    private static func of(_ error: ArtifactError) -> Int32 {
        switch error.code {
        case .notFound: noInput
        case .invalidReference, .corrupted: dataError
        default: failure  // ioError
        }
    }

    private static func of(_ error: CommandFailure) -> Int32 {
        switch error.code {
        case .notFound, .missingFile: noInput
        case .ambiguous, .invalidArgument: usage
        case .corrupt: dataError
        case .cancelled: cancelled
        default: failure  // notRecorded, refused, verificationFailed, runFailed
        }
    }
}
