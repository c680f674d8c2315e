/// One numbered SQL file of `Migrations/`.
package struct Migration: Sendable {
    /// The number in the file name; migrations apply in increasing order.
    package var version: Int
    /// The file name without its number and extension.
    package var name: String
    /// The SQL, run inside the migration's transaction.
    package var sql: String
}

/// The migrations of this build, in order.
///
/// Every `Migrations/NNNN_name.sql` file must be listed here and embedded in Package.swift;
/// a test compares this list with the directory.
package enum Migrations {
    package static let all: [Migration] = [
        Migration(version: 1, name: "events", sql: text(PackageResources._001_events_sql)),
        Migration(version: 2, name: "projections", sql: text(PackageResources._002_projections_sql)),
        Migration(version: 3, name: "consumers", sql: text(PackageResources._003_consumers_sql)),
        Migration(version: 4, name: "chain_versions", sql: text(PackageResources._004_chain_versions_sql)),
        Migration(version: 5, name: "run_leases", sql: text(PackageResources._005_run_leases_sql)),
        Migration(version: 6, name: "approvals", sql: text(PackageResources._006_approvals_sql)),
        Migration(version: 7, name: "session_forks", sql: text(PackageResources._007_session_forks_sql)),
        Migration(version: 8, name: "asm_search_source", sql: text(PackageResources._008_asm_search_source_sql)),
        Migration(version: 9, name: "session_parents", sql: text(PackageResources._009_session_parents_sql)),
    ]

    /// The PostgreSQL store's, from `Migrations/postgres/`, applied to the schema that holds a log.
    package static let postgres: [Migration] = [
        Migration(version: 1, name: "log", sql: text(PackageResources._001_log_sql)),
        Migration(version: 2, name: "import", sql: text(PackageResources._002_import_sql)),
        Migration(version: 3, name: "set_append", sql: text(PackageResources._003_set_append_sql)),
        Migration(version: 4, name: "session_forks", sql: text(PackageResources._004_session_forks_sql)),
        Migration(version: 5, name: "search_text", sql: text(PackageResources._005_search_text_sql)),
        Migration(version: 6, name: "session_parents", sql: text(PackageResources._006_session_parents_sql)),
    ]

    /// The schema version a database has once every migration of this build is applied.
    package static var latestVersion: Int { all.last?.version ?? 0 }

    private static func text(_ bytes: [UInt8]) -> String {
        String(decoding: bytes, as: UTF8.self)
    }
}
