internal import CASMSQLite

extension Connection {
    /// Runs `body` with an authorizer that refuses statements touching `tables` in any way
    /// other than reading, and refuses transaction control, `PRAGMA`, `ATTACH` and `DETACH`.
    ///
    /// Used for code that writes through the store's own transaction: it can add its own
    /// rows, but never edit the log, the projections or the transaction around it.
    package func withProtectedTables<T>(_ tables: Set<String>, _ body: () throws -> T) rethrows -> T {
        let box = Unmanaged.passRetained(ProtectedTables(tables))
        sqlite3_set_authorizer(handle, authorize, box.toOpaque())
        defer {
            sqlite3_set_authorizer(handle, nil, nil)
            box.release()
        }
        return try body()
    }
}

private final class ProtectedTables {
    let names: Set<String>
    init(_ names: Set<String>) { self.names = names }
}

private func authorize(
    _ context: UnsafeMutableRawPointer?,
    _ action: Int32,
    _ first: UnsafePointer<CChar>?,
    _ second: UnsafePointer<CChar>?,
    _ database: UnsafePointer<CChar>?,
    _ trigger: UnsafePointer<CChar>?
) -> Int32 {
    guard let context else { return SQLITE_OK }
    let protected = Unmanaged<ProtectedTables>.fromOpaque(context).takeUnretainedValue()
    func isProtected(_ name: UnsafePointer<CChar>?) -> Bool {
        guard let name else { return false }
        return protected.names.contains(String(cString: name).lowercased())
    }
    switch action {
    case SQLITE_INSERT, SQLITE_UPDATE, SQLITE_DELETE, SQLITE_DROP_TABLE, SQLITE_DROP_VIEW:
        // Writes made by our own triggers are reported with the trigger's name; none exist for user tables.
        return isProtected(first) ? SQLITE_DENY : SQLITE_OK
    case SQLITE_ALTER_TABLE, SQLITE_CREATE_TRIGGER, SQLITE_DROP_TRIGGER, SQLITE_CREATE_INDEX, SQLITE_DROP_INDEX:
        return isProtected(second) ? SQLITE_DENY : SQLITE_OK
    case SQLITE_CREATE_TABLE, SQLITE_CREATE_VIEW, SQLITE_CREATE_VTABLE, SQLITE_DROP_VTABLE:
        // Names starting `asm_` are the log's (the search index is made only when it is turned on).
        guard let first else { return SQLITE_OK }
        return isProtected(first) || String(cString: first).lowercased().hasPrefix("asm_") ? SQLITE_DENY : SQLITE_OK
    case SQLITE_TRANSACTION, SQLITE_SAVEPOINT, SQLITE_PRAGMA, SQLITE_ATTACH, SQLITE_DETACH:
        return SQLITE_DENY
    default:
        return SQLITE_OK
    }
}
