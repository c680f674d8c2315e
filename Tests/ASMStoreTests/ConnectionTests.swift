import ASMCore
import ASMStore
import AgentSessionManagerTesting
import Testing

/// The thin SQLite wrapper: statements, typed values, transactions, errors.
@Suite struct ConnectionTests {
    private func withConnection(_ body: (Connection) throws -> Void) throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let connection = try Connection(path: directory.file("c.sqlite"), mode: .readWriteCreate)
        defer { connection.close() }
        try body(connection)
        #expect(connection.busyStatementCount == 0)
        #expect(connection.isAutocommit)
    }

    @Test("statements are prepared once per SQL text and reused")
    func cache() throws {
        try withConnection { connection in
            let first = try connection.statement("SELECT 1")
            let second = try connection.statement("SELECT 1")
            #expect(first === second)
            #expect(try connection.statement("SELECT 2") !== first)
        }
    }

    @Test("typed values bind and read back unchanged")
    func values() throws {
        try withConnection { connection in
            try connection.execute("CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n TEXT)")
            let uuid = UUIDValue(high: 0xDEAD_BEEF, low: 42)
            let insert = try connection.statement("INSERT INTO t VALUES (?1, ?2, ?3, ?4, ?5)")
            insert.bind(Int64.min, at: 1)
            insert.bind(-0.125, at: 2)
            insert.bind("é\u{0}日本", at: 3)
            insert.bind(uuid, at: 4)
            insert.bindNull(at: 5)
            try insert.execute()
            let select = try connection.statement("SELECT i, r, s, b, n FROM t")
            defer { select.reset() }
            let hasRow = try select.step()
            #expect(hasRow)
            #expect(select.int64(at: 0) == .min)
            #expect(select.double(at: 1) == -0.125)
            #expect(select.text(at: 2) == "é\u{0}日本")
            #expect(select.uuid(at: 3) == uuid)
            #expect(select.isNull(at: 4) && select.optionalText(at: 4) == nil)
            let more = try select.step()
            #expect(!more)
        }
    }

    @Test("arguments are counted against the statement's parameters")
    func argumentCount() throws {
        try withConnection { connection in
            #expect(throws: SQLiteError.self) { try connection.query("SELECT ?1 + ?2", [.integer(1)]) }
            let sum = try connection.query("SELECT ?1 + ?2", [.integer(1), .integer(2)])
            #expect(sum == [[.integer(3)]])
        }
    }

    @Test("a transaction commits when its body returns and rolls back when it throws")
    func transactions() throws {
        struct Boom: Error {}
        try withConnection { connection in
            try connection.execute("CREATE TABLE t (x INTEGER)")
            try connection.transaction { try connection.execute("INSERT INTO t VALUES (1)") }
            #expect(throws: Boom.self) {
                try connection.transaction {
                    try connection.execute("INSERT INTO t VALUES (2)")
                    throw Boom()
                }
            }
            let rows = try connection.query("SELECT x FROM t")
            #expect(rows == [[.integer(1)]])
        }
    }

    @Test("errors carry SQLite's code, extended code, message and statement")
    func errors() throws {
        try withConnection { connection in
            try connection.execute("CREATE TABLE t (x INTEGER PRIMARY KEY)")
            try connection.execute("INSERT INTO t VALUES (1)")
            do {
                try connection.execute("INSERT INTO t VALUES (1)")
                Issue.record("expected a constraint error")
            } catch let error as SQLiteError {
                #expect(error.isConstraint && error.isUniqueConstraint)
                #expect(error.message.contains("UNIQUE"))
                #expect(error.sql == "INSERT INTO t VALUES (1)")
                #expect(error.description.contains("constraint failed"))
            }
            do {
                _ = try connection.statement("SELEKT")
                Issue.record("expected a syntax error")
            } catch let error as SQLiteError {
                #expect(error.code == 1 && error.message.contains("syntax error"))
            }
        }
    }

    @Test("the protected-tables authorizer refuses writes and transaction control, allows reads and other tables")
    func authorizer() throws {
        try withConnection { connection in
            try connection.execute(
                "CREATE TABLE events (x INTEGER); CREATE TABLE mine (x INTEGER); INSERT INTO events VALUES (1)"
            )
            try connection.transaction {
                try connection.withProtectedTables(["events"]) {
                    #expect(throws: SQLiteError.self) {
                        try connection.prepare("INSERT INTO events VALUES (2)").execute()
                    }
                    #expect(throws: SQLiteError.self) { try connection.prepare("DELETE FROM events").execute() }
                    #expect(throws: SQLiteError.self) { try connection.prepare("DROP TABLE events").execute() }
                    #expect(throws: SQLiteError.self) { try connection.prepare("COMMIT").execute() }
                    #expect(throws: SQLiteError.self) { try connection.prepare("PRAGMA writable_schema = 1").execute() }
                    try connection.prepare("INSERT INTO mine SELECT x FROM events").execute()
                }
            }
            let copied = try connection.query("SELECT count(*) FROM mine")
            #expect(copied == [[.integer(1)]])
            try connection.execute("INSERT INTO events VALUES (3)")  // Outside, nothing is refused.
        }
    }
}
