public import ASMCore

/// An error from the event store.
///
/// Match on ``code``; ``description`` is one line (`code: message`) fit for a CLI, and
/// never contains payloads or bound values. ``detailedDescription()`` adds the cause.
///
/// ```swift
/// do {
///     try await store.append(events, to: stream, expectedVersion: .exact(3))
/// } catch let error as StoreError where error.code == .versionConflict {
///     // reload and retry
/// }
/// ```
public struct StoreError: Error, CustomStringConvertible, Sendable {
    /// What went wrong. New codes may be added; switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: String, Hashable, Sendable {
            case cannotOpen = "cannot open"
            case notADatabase = "not a database"
            case corrupt
            case newerSchema = "newer schema"
            case foreignDatabase = "foreign database"
            case missingDatabase = "missing database"
            case busy
            case readOnly = "read-only"
            case ioError = "I/O error"
            case diskFull = "disk full"
            case versionConflict = "version conflict"
            case staleBreakerChange = "stale breaker change"
            case alreadyResolved = "already resolved"
            case idempotencyConflict = "idempotency conflict"
            case eventTooLarge = "event too large"
            case invalidEvent = "invalid event"
            case invalidArgument = "invalid argument"
            case closed
            case notFound = "not found"
            case sqlite
            case unavailable
            case database
            case consumerBusy = "consumer busy"
            case noSearchIndex = "no search index"
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// The file could not be opened (permissions, a directory, a missing parent).
        public static let cannotOpen = Code(.cannotOpen)
        /// The file is not an SQLite database.
        public static let notADatabase = Code(.notADatabase)
        /// SQLite found the file damaged.
        public static let corrupt = Code(.corrupt)
        /// The file was written by a newer build with a schema this build does not know.
        public static let newerSchema = Code(.newerSchema)
        /// The file is an SQLite database of another application.
        public static let foreignDatabase = Code(.foreignDatabase)
        /// A read was asked of a database file that does not exist.
        public static let missingDatabase = Code(.missingDatabase)
        /// Another connection held the lock past the busy timeout.
        public static let busy = Code(.busy)
        /// The file or its directory cannot be written.
        public static let readOnly = Code(.readOnly)
        /// The operating system reported an I/O error.
        public static let ioError = Code(.ioError)
        /// The disk is full.
        public static let diskFull = Code(.diskFull)
        /// A `provider.health_changed` was derived from a state another process has changed
        /// since: a change of the same provider's breaker was appended after its
        /// `state_sequence`. Nothing was written; drop the change (the breaker moved already)
        /// and append the rest.
        public static let staleBreakerChange = Code(.staleBreakerChange)
        /// A `tool_approval.resolved` for an approval that is not waiting: resolved already
        /// (the first resolution wins) or closed with its run. Nothing was written.
        public static let alreadyResolved = Code(.alreadyResolved)
        /// The stream was not at the version the append expected.
        public static let versionConflict = Code(.versionConflict)
        /// Some of a batch's event ids are already recorded, but not as this batch.
        public static let idempotencyConflict = Code(.idempotencyConflict)
        /// An event's payload is larger than the configured limit.
        public static let eventTooLarge = Code(.eventTooLarge)
        /// An event's payload is not valid (malformed JSON, invalid UTF-8, a bad type name).
        public static let invalidEvent = Code(.invalidEvent)
        /// An argument is out of range (a negative limit, an empty batch, an unknown name).
        public static let invalidArgument = Code(.invalidArgument)
        /// The store was closed.
        public static let closed = Code(.closed)
        /// The session, run or consumer does not exist.
        public static let notFound = Code(.notFound)
        /// Any other SQLite error.
        public static let sqlite = Code(.sqlite)
        /// The database server cannot be reached, refused the credentials, or dropped the
        /// connection before it answered.
        public static let unavailable = Code(.unavailable)
        /// Any other error the database server reported.
        public static let database = Code(.database)
        /// Another live instance (in this or another process, on this or another host) runs the
        /// durable consumer.
        public static let consumerBusy = Code(.consumerBusy)
        /// A search on a log whose search index is off (``EventStore/setSearchIndex(_:)`` turns it on).
        public static let noSearchIndex = Code(.noSearchIndex)

        public var description: String { wrapped.rawValue }
    }

    public var code: Code
    /// One line for humans; never payloads or bound values.
    public var message: String
    /// The cause, when another error led to this one.
    public var underlying: (any Error)?
    /// The database file.
    public var path: String?
    /// The stream concerned, for append errors.
    public var stream: StreamID?
    /// The sequence concerned, when one is.
    public var sequence: SequenceNumber?

    public init(
        _ code: Code,
        _ message: String,
        underlying: (any Error)? = nil,
        path: String? = nil,
        stream: StreamID? = nil,
        sequence: SequenceNumber? = nil
    ) {
        self.code = code
        self.message = message
        self.underlying = underlying
        self.path = path
        self.stream = stream
        self.sequence = sequence
    }

    public var description: String { "\(code): \(message)" }

    /// The description followed by the chain of causes, one per line.
    public func detailedDescription() -> String {
        var lines = [description]
        if let path { lines.append("  file: \(path)") }
        if let stream { lines.append("  stream: \(stream)") }
        if let sequence { lines.append("  sequence: \(sequence)") }
        if let sqlite = underlying as? SQLiteError {
            lines.append("  caused by: \(sqlite.detailedDescription)")
        } else if let underlying {
            lines.append("  caused by: \(underlying)")
        }
        return lines.joined(separator: "\n")
    }

}

extension StoreError.Code {
    /// Matches an error by code, so `catch StoreError.Code.busy` works.
    public static func ~= (code: StoreError.Code, error: any Error) -> Bool {
        (error as? StoreError)?.code == code
    }
}

extension StoreError {
    /// Maps an SQLite error to a store error with the closest code.
    static func from(_ error: SQLiteError, path: String?, doing action: String) -> StoreError {
        let code: Code
        let message: String
        if error.isBusy {
            code = .busy
            message = "\(action): the database is locked by another connection (waited past the busy timeout)"
        } else if error.isNotADatabase {
            code = .notADatabase
            message = "\(action): the file is not an SQLite database"
        } else if error.isCorrupt {
            code = .corrupt
            message = "\(action): the database file is corrupt (\(error.message))"
        } else if error.isFull {
            code = .diskFull
            message = "\(action): the disk is full"
        } else if error.isReadOnly {
            code = .readOnly
            message = "\(action): the database cannot be written (\(error.message))"
        } else if error.isIOError {
            code = .ioError
            message = "\(action): I/O error (\(error.message))"
        } else if error.isCantOpen {
            code = .cannotOpen
            message = "\(action): cannot open the database file (\(error.message))"
        } else {
            code = .sqlite
            message = "\(action): \(error.message)"
        }
        // Problems with the file itself name it.
        let namesFile = code != .sqlite && path != nil
        return StoreError(code, namesFile ? "\(path ?? ""): \(message)" : message, underlying: error, path: path)
    }
}
