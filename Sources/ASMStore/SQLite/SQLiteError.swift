internal import CASMSQLite

/// An error reported by SQLite: its result code, extended code and message.
///
/// The message never includes bound values (which may hold secrets); the SQL text is kept
/// for ``detailedDescription``.
package struct SQLiteError: Error, CustomStringConvertible, Sendable {
    /// The primary result code (`SQLITE_BUSY`, `SQLITE_CORRUPT`, ...).
    package var code: Int32
    /// The extended result code.
    package var extendedCode: Int32
    /// SQLite's message.
    package var message: String
    /// The statement that failed, if any.
    package var sql: String?

    package init(code: Int32, extendedCode: Int32? = nil, message: String, sql: String? = nil) {
        self.code = code
        self.extendedCode = extendedCode ?? code
        self.message = message
        self.sql = sql
    }

    /// The name of the primary code, as in SQLite's documentation.
    package var codeName: String {
        String(cString: sqlite3_errstr(code))
    }

    package var description: String { "SQLite error \(extendedCode) (\(codeName)): \(message)" }

    package var detailedDescription: String {
        guard let sql else { return description }
        return "\(description) [\(sql)]"
    }

    package var isBusy: Bool { code == SQLITE_BUSY || code == SQLITE_LOCKED }
    package var isCorrupt: Bool { code == SQLITE_CORRUPT }
    package var isNotADatabase: Bool { code == SQLITE_NOTADB }
    package var isConstraint: Bool { code == SQLITE_CONSTRAINT }
    package var isUniqueConstraint: Bool {
        // SQLITE_CONSTRAINT_PRIMARYKEY and SQLITE_CONSTRAINT_UNIQUE: macros Swift cannot import.
        extendedCode == SQLITE_CONSTRAINT | (6 << 8) || extendedCode == SQLITE_CONSTRAINT | (8 << 8)
    }
    package var isFull: Bool { code == SQLITE_FULL }
    package var isIOError: Bool { code == SQLITE_IOERR }
    package var isReadOnly: Bool { code == SQLITE_READONLY }
    package var isCantOpen: Bool { code == SQLITE_CANTOPEN }
}
