import ASMCore

/// A log's full-text index: an FTS5 table `asm_search` (its rowid the event's sequence) filled
/// from the view `asm_search_source` (Migrations/0008_asm_search_source.sql) by every append, in its
/// transaction, one statement per batch (``Projector/indexSearch(from:through:)``) — so a search
/// never lags the log. The table exists only while the index is on; a log starts without it,
/// and an append then pays nothing for search.
///
/// Contentless (`content = ''`): the words are indexed, the text is not stored a second time
/// (the event holds it). Words are runs of letters and digits, case and diacritics folded.
enum SearchIndex {
    /// The index and the tables FTS5 keeps behind it, and the view it is filled from: a
    /// consumer's own SQL may neither change nor create them (names starting `asm_` are the log's).
    static let tables: Set<String> = [
        "asm_search", "asm_search_data", "asm_search_idx", "asm_search_content", "asm_search_docsize",
        "asm_search_config", "asm_search_source",
    ]

    static func isOn(_ connection: Connection) throws(SQLiteError) -> Bool {
        try connection.scalar(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'asm_search' AND sql LIKE '%USING fts5%'"
        ) != nil
    }

    /// Creates the index and indexes every event already logged; in the caller's transaction.
    /// Returns the events indexed.
    static func turnOn(_ connection: Connection) throws(SQLiteError) -> Int {
        guard try !isOn(connection) else { return try count(connection) }
        try connection.execute(
            "CREATE VIRTUAL TABLE asm_search USING fts5(text, content = '', tokenize = 'unicode61 remove_diacritics 2')"
        )
        return try fill(connection)
    }

    /// Drops the index, overwriting the pages its words were on; in the caller's transaction.
    static func turnOff(_ connection: Connection) throws(SQLiteError) {
        try connection.execute("PRAGMA secure_delete = ON")
        defer { try? connection.execute("PRAGMA secure_delete = OFF") }
        try connection.execute("DROP TABLE IF EXISTS asm_search")
    }

    /// Indexes the log again from scratch when the index is on (a projection rebuild, an
    /// expunge); nothing when it is off.
    static func refill(_ connection: Connection) throws(SQLiteError) {
        guard try isOn(connection) else { return }
        try connection.execute("INSERT INTO asm_search (asm_search) VALUES ('delete-all')")
        _ = try fill(connection)
        // Merged into one segment: the words of what left the log leave the index's pages.
        try connection.execute("INSERT INTO asm_search (asm_search) VALUES ('optimize')")
    }

    static func count(_ connection: Connection) throws(SQLiteError) -> Int {
        Int(try connection.scalar("SELECT count(*) FROM asm_search")?.integerValue ?? 0)
    }

    /// Indexes the events `first...last` (one append's batch) when the index is on.
    static func index(_ connection: Connection, from first: Int64, through last: Int64) throws(SQLiteError) {
        let statement = try connection.statement(
            """
            INSERT INTO asm_search (rowid, text) SELECT sequence, text FROM asm_search_source
            WHERE sequence BETWEEN ?1 AND ?2 AND text IS NOT NULL
            """
        )
        statement.bind(first, at: 1)
        statement.bind(last, at: 2)
        try statement.execute()
    }

    private static func fill(_ connection: Connection) throws(SQLiteError) -> Int {
        try connection.execute(
            "INSERT INTO asm_search (rowid, text) SELECT sequence, text FROM asm_search_source WHERE text IS NOT NULL"
        )
        return try count(connection)
    }
}
