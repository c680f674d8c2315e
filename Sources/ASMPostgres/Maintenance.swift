internal import ASMCore
internal import ASMMigrations
internal import ASMStore
internal import Foundation
internal import NIOCore
internal import PostgresNIO

/// The log's schema: created, checked and migrated on open.
enum Schema {
    static let migrationsTable = "asm_schema_migrations"

    /// Makes sure `link`'s schema holds this build's log: creates it in an empty schema, applies
    /// the migrations it lacks (one transaction each, under a lock so that two processes
    /// opening at once migrate once), and refuses a schema of another application or a newer
    /// build.
    static func prepare(_ link: Link, create: Bool) async throws(StoreError) {
        let location = link.location
        let encoding = try await link.query("SHOW server_encoding", doing: "opening the log").first.map {
            Columns($0).text(0)
        }
        guard encoding == "UTF8" else {
            throw StoreError(
                .foreignDatabase,
                "database \(location.database) uses encoding \(encoding ?? "?"); the log needs UTF8 (at \(location))"
            )
        }
        var schema = PostgresBindings()
        schema.append(location.schema)
        let lockKey = "hashtext('asm.migrate.' || $1)"
        _ = try await link.query("SELECT pg_advisory_lock(\(lockKey))", schema, doing: "opening the log")
        do {
            try await prepareLocked(link, create: create)
            _ = try await link.query("SELECT pg_advisory_unlock(\(lockKey))", schema, doing: "opening the log")
        } catch {
            _ = try? await link.query("SELECT pg_advisory_unlock(\(lockKey))", schema, doing: "opening the log")
            throw error
        }
    }

    private static func prepareLocked(_ link: Link, create: Bool) async throws(StoreError) {
        let location = link.location
        var schema = PostgresBindings()
        schema.append(location.schema)
        let exists = try await !link.query(
            "SELECT 1 FROM pg_namespace WHERE nspname = $1",
            schema,
            doing: "opening the log"
        ).isEmpty
        if !exists {
            guard create else {
                throw StoreError(.missingDatabase, "no log in schema \(location.schema) at \(location)")
            }
            _ = try await link.query("CREATE SCHEMA \(location.schema)", doing: "creating the log's schema")
        }
        let tracked = try await !link.query(
            "SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename = '\(migrationsTable)'",
            schema,
            doing: "opening the log"
        ).isEmpty
        var applied = 0
        if tracked {
            applied = Int(
                try await link.query(
                    "SELECT coalesce(max(version), 0) FROM \(migrationsTable)",
                    doing: "opening the log"
                )
                .first.map { Columns($0).int64(0) } ?? 0
            )
        } else {
            let tables =
                try await link.query(
                    "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1",
                    schema,
                    doing: "opening the log"
                ).first.map { Columns($0).int64(0) } ?? 0
            guard tables == 0 else {
                throw StoreError(
                    .foreignDatabase,
                    "schema \(location.schema) at \(location) holds tables that are not an asm log"
                )
            }
            guard create else {
                throw StoreError(.missingDatabase, "no log in schema \(location.schema) at \(location)")
            }
        }
        let latest = Migrations.postgres.last?.version ?? 0
        guard applied <= latest else {
            throw StoreError(
                .newerSchema,
                "the log at \(location) is at schema version \(applied); this build knows up to \(latest)"
            )
        }
        guard applied < latest else { return }
        for migration in Migrations.postgres where migration.version > applied {
            let action = "migrating the log to version \(migration.version)"
            _ = try await link.query("BEGIN", doing: action)
            do {
                _ = try await link.query(
                    """
                    CREATE TABLE IF NOT EXISTS \(migrationsTable) (
                        version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())
                    """,
                    doing: action
                )
                for statement in statements(migration.sql) { _ = try await link.query(statement, doing: action) }
                var binds = PostgresBindings()
                binds.append(Int32(migration.version))
                binds.append(migration.name)
                _ = try await link.query(
                    "INSERT INTO \(migrationsTable) (version, name) VALUES ($1, $2)",
                    binds,
                    doing: action
                )
                _ = try await link.query("COMMIT", doing: action)
            } catch {
                _ = try? await link.query("ROLLBACK", doing: action)
                throw error
            }
        }
    }

    /// The statements of a migration file: split at `;` outside quotes, `$$` bodies and comments.
    static func statements(_ sql: String) -> [String] {
        var statements: [String] = []
        var current = ""
        var inDollar = false
        var inQuote = false
        var inComment = false
        var previous: Character = " "
        for character in sql {
            if inComment {
                if character == "\n" { inComment = false }
                previous = character
                continue
            }
            if !inDollar && !inQuote && character == "-" && previous == "-" {
                current.removeLast()
                inComment = true
                previous = " "
                continue
            }
            current.append(character)
            if !inQuote && character == "$" && previous == "$" {
                inDollar.toggle()
                previous = " "
                continue
            }
            if !inDollar && character == "'" { inQuote.toggle() }
            if !inDollar && !inQuote && character == ";" {
                current.removeLast()
                let statement = current.trimmingCharacters(in: .whitespacesAndNewlines)
                if !statement.isEmpty { statements.append(statement) }
                current = ""
            }
            previous = character
        }
        let last = current.trimmingCharacters(in: .whitespacesAndNewlines)
        if !last.isEmpty { statements.append(last) }
        return statements
    }
}

/// Re-deriving the projections from the log.
enum Rebuild {
    static func run(_ link: Link, progress: (@Sendable (WorkProgress) -> Void)?) throws -> RebuildReport {
        _ = try link.blockingQuery("BEGIN", doing: "rebuilding projections")
        do {
            _ = try link.blockingQuery(
                "SELECT pg_advisory_xact_lock('log_head'::regclass::oid::bigint)",
                doing: "rebuilding projections"
            )
            for table in ["sessions", "session_forks", "session_parents", "runs", "transcript", "usage", "approvals"] {
                _ = try link.blockingQuery("DELETE FROM \(table)", doing: "rebuilding projections")
            }
            let snapshot = Snapshot(link: link)
            let total = Int(try snapshot.lastSequence().rawValue)
            var from = SequenceNumber(1)
            var count = 0
            var last: Int64 = 0
            while true {
                let page = try snapshot.events(from: from, limit: 2000, filter: .all)
                var operations: [Int32] = []
                var arguments: [String] = []
                var sequences: [Int64] = []
                var streams: [String] = []
                var runs: [String] = []
                var times: [Int64] = []
                for envelope in page.events {
                    for write in ProjectionWrite.writes(for: envelope.event) {
                        operations.append(write.operation)
                        arguments.append(write.argumentsJSON)
                        sequences.append(envelope.sequence.rawValue)
                        streams.append(envelope.stream.uuid.description)
                        runs.append(envelope.runID?.uuid.description ?? "")
                        times.append(envelope.recordedAt.microseconds)
                    }
                    last = envelope.sequence.rawValue
                }
                if !operations.isEmpty {
                    var binds = PostgresBindings()
                    binds.append(operations)
                    binds.append(arguments)
                    binds.append(sequences)
                    binds.append(streams)
                    binds.append(runs)
                    binds.append(times)
                    _ = try link.blockingQuery(
                        """
                        SELECT count(asm_project(w.op, w.args::jsonb, w.seq, w.stream::uuid, nullif(w.run, '')::uuid, w.at))
                        FROM unnest($1::integer[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bigint[])
                            WITH ORDINALITY AS w(op, args, seq, stream, run, at, n)
                        """,
                        binds,
                        doing: "rebuilding projections"
                    )
                }
                count += page.events.count
                progress?(WorkProgress(done: count, total: total))
                if page.events.isEmpty || page.scannedThrough.rawValue >= Int64(total) { break }
                from = page.scannedThrough.next
            }
            var binds = PostgresBindings()
            binds.append(last)
            _ = try link.blockingQuery(
                "UPDATE projection_checkpoints SET sequence = $1",
                binds,
                doing: "rebuilding projections"
            )
            _ = try link.blockingQuery("COMMIT", doing: "rebuilding projections")
            return RebuildReport(rebuilt: count, projections: Projector.versions, throughSequence: SequenceNumber(last))
        } catch {
            _ = try? link.blockingQuery("ROLLBACK", doing: "rebuilding projections")
            throw error
        }
    }
}

/// Walking the hash chain.
enum Verification {
    static func run(_ snapshot: Snapshot, progress: (@Sendable (WorkProgress) -> Void)?) throws -> VerificationReport {
        let link = snapshot.link
        let versions = try link.blockingQuery(
            "SELECT version, first_sequence FROM chain_versions ORDER BY version",
            doing: "verifying"
        ).map(Columns.init)
        let version2From = versions.first { $0.int64(0) == 2 }?.int64(1) ?? .max
        let head = try link.blockingQuery("SELECT sequence, hash FROM log_head WHERE id = 1", doing: "verifying")
            .first.map(Columns.init)
        let total = Int(head?.int64(0) ?? 0)
        var previous = EventHash.genesis
        var expected: Int64 = 1
        var checked = 0
        var firstMismatch: SequenceNumber?
        var firstGap: SequenceNumber?
        var input: [UInt8] = []
        var from = SequenceNumber(1)
        while true {
            let page = try snapshot.recordedEvents(from: from, limit: 4096, filter: .all)
            for event in page.events {
                let sequence = event.sequence.rawValue
                if sequence != expected, firstGap == nil { firstGap = SequenceNumber(expected) }
                expected = sequence + 1
                input.removeAll(keepingCapacity: true)
                let digest: EventHash? = sequence >= version2From ? WriteTransaction.sha256(event.payload) : nil
                var type = event.type.rawValue
                type.withUTF8 { typeBytes in
                    event.payload.withUnsafeBytes { payload in
                        HashChainInput.append(
                            previous: previous,
                            sequence: event.sequence,
                            id: event.id.uuid,
                            stream: event.stream.uuid,
                            streamVersion: event.streamVersion,
                            run: event.runID?.uuid,
                            type: UnsafeRawBufferPointer(typeBytes),
                            schemaVersion: event.schemaVersion,
                            recordedAt: event.recordedAt,
                            payload: payload,
                            payloadDigest: digest,
                            to: &input
                        )
                    }
                }
                let computed = WriteTransaction.sha256(input)
                if computed != event.hash, firstMismatch == nil { firstMismatch = event.sequence }
                previous = computed
                checked += 1
                if let progress, checked % WorkProgress.interval == 0 {
                    progress(WorkProgress(done: checked, total: total))
                }
            }
            if page.events.isEmpty || page.scannedThrough.rawValue >= Int64(total) { break }
            from = page.scannedThrough.next
        }
        progress?(WorkProgress(done: checked, total: total))
        var integrity = ["ok"]
        if let head, head.int64(0) != expected - 1 || (checked > 0 && head.hash(1) != previous) {
            integrity = ["the log's head (sequence \(head.int64(0))) does not match its last event (\(expected - 1))"]
        }
        var chainVersions: [VerificationReport.ChainVersion] = []
        if version2From != 1 { chainVersions.append(.init(version: 1, firstSequence: SequenceNumber(1))) }
        if version2From != .max { chainVersions.append(.init(version: 2, firstSequence: SequenceNumber(version2From))) }
        return VerificationReport(
            checked: checked,
            firstMismatch: firstMismatch,
            firstGap: firstGap,
            integrity: integrity,
            head: checked > 0 ? previous : nil,
            chainVersions: chainVersions
        )
    }
}
