package import ASMCore
internal import CASMSQLite

/// A prepared statement, owned by its ``Connection``.
///
/// - Important: a statement never escapes the closure that received its connection, and
///   column values that are buffers are valid only until the next `step()`, `reset()` or
///   bind on the same statement.
package final class Statement {
    package let sql: String
    let handle: OpaquePointer
    unowned let connection: Connection

    init(sql: String, handle: OpaquePointer, connection: Connection) {
        self.sql = sql
        self.handle = handle
        self.connection = connection
    }

    deinit {
        sqlite3_finalize(handle)
    }

    // MARK: Binding (indices start at 1)

    package func bind(_ value: Int64, at index: Int32) {
        sqlite3_bind_int64(handle, index, value)
    }

    package func bind(_ value: Int, at index: Int32) {
        sqlite3_bind_int64(handle, index, Int64(value))
    }

    package func bind(_ value: Double, at index: Int32) {
        sqlite3_bind_double(handle, index, value)
    }

    package func bind(_ value: String, at index: Int32) {
        var value = value
        value.withUTF8 { utf8 in
            _ = sqlite3_bind_text(
                handle,
                index,
                UnsafeRawPointer(utf8.baseAddress)?.assumingMemoryBound(to: CChar.self),
                Int32(utf8.count),
                casm_sqlite_transient()
            )
        }
    }

    package func bind(_ value: String?, at index: Int32) {
        if let value { bind(value, at: index) } else { bindNull(at: index) }
    }

    package func bind(_ value: Int64?, at index: Int32) {
        if let value { bind(value, at: index) } else { bindNull(at: index) }
    }

    /// Binds UTF-8 bytes as text (copied).
    package func bind(text bytes: UnsafeRawBufferPointer, at index: Int32) {
        guard let base = bytes.baseAddress, bytes.count > 0 else {
            sqlite3_bind_text(handle, index, "", 0, casm_sqlite_transient())
            return
        }
        sqlite3_bind_text(
            handle,
            index,
            base.assumingMemoryBound(to: CChar.self),
            Int32(bytes.count),
            casm_sqlite_transient()
        )
    }

    /// Binds bytes as a blob (copied).
    package func bind(blob bytes: UnsafeRawBufferPointer, at index: Int32) {
        sqlite3_bind_blob(
            handle,
            index,
            bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 1),
            Int32(bytes.count),
            casm_sqlite_transient()
        )
    }

    package func bind(_ uuid: UUIDValue, at index: Int32) {
        uuid.withBytes { bind(blob: $0, at: index) }
    }

    package func bind(_ uuid: UUIDValue?, at index: Int32) {
        if let uuid { bind(uuid, at: index) } else { bindNull(at: index) }
    }

    package func bindNull(at index: Int32) {
        sqlite3_bind_null(handle, index)
    }

    package func bind(_ value: DatabaseValue, at index: Int32) {
        switch value {
        case .null: bindNull(at: index)
        case .integer(let integer): bind(integer, at: index)
        case .real(let real): bind(real, at: index)
        case .text(let text): bind(text, at: index)
        case .blob(let bytes): bytes.withUnsafeBytes { bind(blob: $0, at: index) }
        }
    }

    /// Binds values to parameters 1, 2, 3...
    /// - Throws: ``SQLiteError`` when the count does not match the statement's parameters.
    package func bind(_ values: [DatabaseValue]) throws(SQLiteError) {
        let expected = Int(sqlite3_bind_parameter_count(handle))
        guard values.count == expected else {
            throw SQLiteError(
                code: SQLITE_RANGE,
                message: "statement takes \(expected) arguments, \(values.count) given",
                sql: sql
            )
        }
        for (offset, value) in values.enumerated() { bind(value, at: Int32(offset + 1)) }
    }

    // MARK: Stepping

    /// Advances to the next row.
    /// - Returns: `true` when a row is available, `false` when the statement is done.
    /// - Throws: ``SQLiteError``.
    @discardableResult
    package func step() throws(SQLiteError) -> Bool {
        let result = sqlite3_step(handle)
        switch result {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw connection.error(result, sql: sql)
        }
    }

    /// Resets the statement and clears its bindings, so it can run again.
    package func reset() {
        sqlite3_reset(handle)
        sqlite3_clear_bindings(handle)
    }

    /// Runs a statement that returns no rows (or ignores them), then resets it.
    /// - Throws: ``SQLiteError``.
    package func execute() throws(SQLiteError) {
        defer { reset() }
        while try step() {}
    }

    // MARK: Columns (indices start at 0)

    package func isNull(at column: Int32) -> Bool {
        sqlite3_column_type(handle, column) == SQLITE_NULL
    }

    package func int64(at column: Int32) -> Int64 {
        sqlite3_column_int64(handle, column)
    }

    package func int(at column: Int32) -> Int {
        Int(sqlite3_column_int64(handle, column))
    }

    package func optionalInt64(at column: Int32) -> Int64? {
        isNull(at: column) ? nil : int64(at: column)
    }

    package func double(at column: Int32) -> Double {
        sqlite3_column_double(handle, column)
    }

    /// The column's bytes, valid until the next step, reset or bind.
    package func bytes(at column: Int32) -> UnsafeRawBufferPointer {
        // Ask for the text or blob pointer first, then its length, as SQLite recommends.
        let pointer = sqlite3_column_blob(handle, column)
        let count = Int(sqlite3_column_bytes(handle, column))
        guard let pointer, count > 0 else { return UnsafeRawBufferPointer(start: nil, count: 0) }
        return UnsafeRawBufferPointer(start: pointer, count: count)
    }

    package func text(at column: Int32) -> String {
        guard let pointer = sqlite3_column_text(handle, column) else { return "" }
        let count = Int(sqlite3_column_bytes(handle, column))
        return String(decoding: UnsafeBufferPointer(start: pointer, count: count), as: UTF8.self)
    }

    package func optionalText(at column: Int32) -> String? {
        isNull(at: column) ? nil : text(at: column)
    }

    package func uuid(at column: Int32) -> UUIDValue? {
        UUIDValue(bytes: bytes(at: column))
    }

    package func value(at column: Int32) -> DatabaseValue {
        switch sqlite3_column_type(handle, column) {
        case SQLITE_INTEGER: .integer(int64(at: column))
        case SQLITE_FLOAT: .real(double(at: column))
        case SQLITE_TEXT: .text(text(at: column))
        case SQLITE_BLOB: .blob(Array(bytes(at: column)))
        default: .null
        }
    }

    package var columnCount: Int32 { sqlite3_column_count(handle) }

    package func columnName(at column: Int32) -> String {
        String(cString: sqlite3_column_name(handle, column))
    }
}

@available(*, unavailable, message: "a statement belongs to one connection, used by one thread at a time")
extension Statement: Sendable {}
