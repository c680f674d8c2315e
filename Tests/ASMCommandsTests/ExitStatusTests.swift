import ASMCore
import ASMStore
import ASMTelemetry
import AgentSessionManager
import Testing

@testable import ASMCommands

/// Every error type the library throws maps to one documented exit status, and prints as one
/// line: the table below is the README's exit-code table, case by case.
@Suite struct ExitStatusTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var error: any Error & Sendable
        var status: Int32
        var testDescription: String { "\(type(of: error)): \(error)" }
    }

    static let cases: [Case] = [
        // The store.
        Case(error: StoreError(.notADatabase, "x.sqlite is not an SQLite database"), status: 65),
        Case(error: StoreError(.corrupt, "the file is damaged"), status: 65),
        Case(error: StoreError(.foreignDatabase, "another application's file"), status: 65),
        Case(error: StoreError(.newerSchema, "schema 9 is newer than 3"), status: 65),
        Case(error: StoreError(.missingDatabase, "no database at x.sqlite"), status: 66),
        Case(error: StoreError(.notFound, "no such consumer"), status: 66),
        Case(error: StoreError(.busy, "the database stayed locked"), status: 75),
        Case(error: StoreError(.consumerBusy, "consumer \"indexer\" is running (pid 7 on h1)"), status: 75),
        Case(error: StoreError(.noSearchIndex, "this log has no search index"), status: 66),
        Case(error: StoreError(.invalidArgument, "a read limit must be positive"), status: 64),
        Case(error: StoreError(.versionConflict, "stream moved on"), status: 1),
        Case(error: StoreError(.diskFull, "the disk is full"), status: 1),
        // Sessions and runs.
        Case(error: SessionManagerError(.sessionNotFound, "no session"), status: 66),
        Case(error: SessionManagerError(.runNotFound, "no run"), status: 66),
        Case(error: SessionManagerError(.approvalNotFound, "no approval"), status: 66),
        Case(error: SessionManagerError(.invalidPolicy, "bad stack"), status: 64),
        Case(error: SessionManagerError(.invalidArgument, "empty prompt"), status: 64),
        Case(error: SessionManagerError(.unknownProvider, "no provider x"), status: 64),
        Case(error: SessionManagerError(.workspaceInUse, "held by run r"), status: 75),
        Case(error: SessionManagerError(.illegalTransition, "session is completed"), status: 1),
        Case(error: SessionManagerError(.alreadyExecuting, "run executes"), status: 1),
        // A workspace problem before a run: what the workspace said decides.
        Case(
            error: SessionManagerError(
                .workspaceFailed,
                "the workspace cannot be used",
                underlying: WorkspaceError(.notARepository, "not a git work tree")
            ),
            status: 64
        ),
        Case(
            error: SessionManagerError(
                .workspaceFailed,
                "the pre-run snapshot failed",
                underlying: WorkspaceError(.gitFailed, "git add failed")
            ),
            status: 1
        ),
        // The session server.
        Case(error: SessionServerError(.invalidArgument, "max runs must be positive"), status: 64),
        Case(error: SessionServerError(.unknownRun, "no run r"), status: 66),
        Case(error: SessionServerError(.notAccepting, "draining"), status: 1),
        // Workspaces and artifacts.
        Case(error: WorkspaceError(.notADirectory, "no directory"), status: 64),
        Case(error: WorkspaceError(.inUse, "held"), status: 75),
        Case(error: WorkspaceError(.snapshotUnavailable, "no snapshot"), status: 66),
        Case(error: WorkspaceError(.ioError, "cannot write"), status: 1),
        Case(error: ArtifactError(.notFound, "no artifact"), status: 66),
        Case(error: ArtifactError(.corrupted, "hash differs"), status: 65),
        Case(error: ArtifactError(.invalidReference, "not sha256:"), status: 65),
        Case(error: ArtifactError(.ioError, "cannot read"), status: 1),
        // Exporting traces.
        Case(error: TelemetryError(.invalidEndpoint, "ftp://x is not an http or https URL"), status: 64),
        Case(error: TelemetryError(.unreachable, "cannot reach http://127.0.0.1:9/v1/traces"), status: 1),
        Case(error: TelemetryError(.refused, "http://127.0.0.1:4318/v1/traces answered HTTP 503"), status: 1),
        // Files a user writes.
        Case(error: PolicyError(.invalidValue, "must be positive", key: "limits.max_turns"), status: 64),
        Case(error: RouterConfigError(.unknownKey, "unknown key", key: "strategy2"), status: 64),
        Case(error: PriceTableError(.invalidTable, "no entries"), status: 64),
        Case(error: ProviderScriptError(.invalidScript, "no steps"), status: 64),
        Case(error: JSONError(.syntax, "unexpected end", offset: 3), status: 65),
        Case(error: RunRequest.Invalid(.unknownKey, "unknown key \"x\""), status: 64),
        // The commands' own failures.
        Case(error: CommandFailure(.notFound, "no session abc"), status: 66),
        Case(error: CommandFailure(.missingFile, "no file p.json"), status: 66),
        Case(error: CommandFailure(.ambiguous, "abc names two runs"), status: 64),
        Case(error: CommandFailure(.invalidArgument, "--to must be pre or post"), status: 64),
        Case(error: CommandFailure(.corrupt, "integrity check failed"), status: 65),
        Case(error: CommandFailure(.cancelled, "cancelled"), status: 130),
        Case(error: CommandFailure(.verificationFailed, "hash mismatch at 7"), status: 1),
        Case(error: CommandFailure(.runFailed, "the run failed"), status: 1),
        Case(error: CancellationError(), status: 130),
    ]

    @Test("each error maps to its documented exit status and prints as one line", arguments: cases)
    func mapping(_ entry: Case) throws {
        #expect(ExitStatus.of(entry.error) == entry.status)
        let message = try #require(ExitStatus.message(entry.error))
        #expect(!message.isEmpty && !message.contains("\n"))
    }

    @Test("a cause's own lines never reach the one-line message")
    func causeStaysOut() throws {
        let error = SessionManagerError(
            .workspaceFailed,
            "the pre-run snapshot failed",
            underlying: WorkspaceError(.gitFailed, "git said:\nfatal: bad object\nhint: …")
        )
        let message = try #require(ExitStatus.message(error))
        #expect(!message.contains("\n"))
        #expect(ExitStatus.detail(error).contains("fatal: bad object"))
    }

    @Test("errors this program does not know are left to their reporter")
    func unknown() {
        struct Other: Error {}
        #expect(ExitStatus.of(Other()) == nil)
    }
}
