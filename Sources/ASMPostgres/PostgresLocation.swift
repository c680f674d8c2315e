public import ASMStore

/// Where a PostgreSQL log lives: server, credentials, database and schema, parsed from a URL.
///
/// Accepted forms (those of libpq, which `psql` users know):
/// - `postgres://user:password@host:port/database` (or `postgresql://`), `[::1]` for IPv6;
/// - `postgresql:///database?host=/run/postgresql` — a unix-socket directory (a `host` that
///   starts with `/`, in the query or percent-encoded in the authority);
/// - query parameters `user`, `password`, `host`, `port`, `dbname`, `sslmode`
///   (`disable`, `prefer`, `require`), and `schema` (ours: the schema that holds the log,
///   `public` by default, so that several logs can share one database).
///
/// The password comes from the URL, else `PGPASSWORD`, else the `.pgpass` file (`PGPASSFILE`
/// or `~/.pgpass`, used only when it is not readable by others, as libpq does). It is never
/// part of ``description``.
public struct PostgresLocation: Sendable, Hashable, CustomStringConvertible {
    public enum TLSMode: String, Sendable, Hashable {
        case disable, prefer, require
    }

    /// A host name or address, or a unix-socket directory (starts with `/`).
    public var host: String
    public var port: Int
    public var user: String
    public var password: String?
    public var database: String
    /// The schema holding the log's tables (created when missing).
    public var schema: String
    public var tls: TLSMode

    /// Whether `host` is a unix-socket directory.
    public var isUnixSocket: Bool { host.hasPrefix("/") }
    /// The socket file in ``host`` for ``port``.
    public var socketPath: String { host + "/.s.PGSQL.\(port)" }

    /// The URL without the password: safe to print.
    public var description: String {
        var text = "postgres://\(user)@"
        if isUnixSocket {
            text += "/\(database)?host=\(host)&port=\(port)"
        } else {
            text += (host.contains(":") ? "[\(host)]" : host) + ":\(port)/\(database)"
        }
        if schema != "public" { text += (isUnixSocket ? "&" : "?") + "schema=\(schema)" }
        return text
    }

    /// Whether `text` names a PostgreSQL log rather than an SQLite file.
    public static func isURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    /// Parses `url`; the password falls back to `environment["PGPASSWORD"]`, then `.pgpass`.
    /// - Throws: ``StoreError`` `invalidArgument`, naming what is wrong (never the password).
    public init(
        url: String,
        environment: [String: String] = [:],
        passwordFile: (@Sendable (String) -> String?)? = nil
    ) throws(StoreError) {
        let rest: Substring
        if url.hasPrefix("postgres://") {
            rest = url.dropFirst("postgres://".count)
        } else if url.hasPrefix("postgresql://") {
            rest = url.dropFirst("postgresql://".count)
        } else {
            throw Self.invalid("a PostgreSQL URL starts with postgres:// or postgresql://")
        }
        let (beforeQuery, query) = Self.split(rest, at: "?")
        let (authority, path) = Self.split(beforeQuery, at: "/")
        var user: String?
        var password: String?
        var hostPart = Substring(authority)
        if let at = authority.lastIndex(of: "@") {
            let credentials = authority[..<at]
            hostPart = authority[authority.index(after: at)...]
            let (name, secret) = Self.split(credentials, at: ":")
            user = try Self.decode(name, "user")
            if let secret { password = try Self.decode(secret, "password") }
        }
        var host: String?
        var port: Int?
        if hostPart.hasPrefix("[") {
            guard let close = hostPart.firstIndex(of: "]") else { throw Self.invalid("an IPv6 host needs its ]") }
            host = String(hostPart[hostPart.index(after: hostPart.startIndex)..<close])
            let after = hostPart[hostPart.index(after: close)...]
            if after.hasPrefix(":") { port = try Self.port(after.dropFirst()) }
        } else if !hostPart.isEmpty {
            let (name, number) = Self.split(hostPart, at: ":")
            if !name.isEmpty { host = try Self.decode(name, "host") }
            if let number { port = try Self.port(number) }
        }
        var database = ""
        if let path { database = try Self.decode(path, "database") }
        var schema = "public"
        var tls = TLSMode.prefer
        for pair in (query ?? "").split(separator: "&") where !pair.isEmpty {
            let (key, value) = Self.split(pair, at: "=")
            let text = try Self.decode(value ?? "", String(key))
            switch key {
            case "host": host = text
            case "port": port = try Self.port(Substring(text))
            case "user": user = text
            case "password": password = text
            case "dbname": database = text
            case "schema": schema = text
            case "sslmode":
                switch text {
                case "disable", "allow": tls = .disable
                case "prefer": tls = .prefer
                case "require", "verify-ca", "verify-full": tls = .require
                default: throw Self.invalid("sslmode \(text) is not one of disable, prefer, require")
                }
            case "connect_timeout", "application_name": continue
            default: throw Self.invalid("unknown URL parameter \(key)")
            }
        }
        guard Self.isIdentifier(schema) else {
            throw Self.invalid("schema must be 1 to 40 lowercase letters, digits or _, starting with a letter or _")
        }
        let resolvedHost = host ?? environment["PGHOST"] ?? "/var/run/postgresql"
        let resolvedUser = user ?? environment["PGUSER"] ?? environment["USER"] ?? "postgres"
        var resolvedPort = 5432
        if let port {
            resolvedPort = port
        } else if let text = environment["PGPORT"] {
            resolvedPort = try Self.port(Substring(text))
        }
        if database.isEmpty { database = environment["PGDATABASE"] ?? resolvedUser }
        self.host = resolvedHost
        self.port = resolvedPort
        self.user = resolvedUser
        self.database = database
        self.schema = schema
        self.tls = resolvedHost.hasPrefix("/") ? .disable : tls
        self.password =
            password ?? environment["PGPASSWORD"]
            ?? passwordFile?(
                Self.passwordFileKey(host: resolvedHost, port: resolvedPort, database: database, user: resolvedUser)
            )
    }

    /// The five fields a `.pgpass` line is matched on, joined by `:`.
    static func passwordFileKey(host: String, port: Int, database: String, user: String) -> String {
        "\(host.hasPrefix("/") ? "localhost" : host):\(port):\(database):\(user)"
    }

    /// Finds the password for `key` (`host:port:database:user`) in `.pgpass` text: the first
    /// line whose fields match, `*` matching anything; `\:` and `\\` escape.
    public static func password(in pgpass: String, for key: String) -> String? {
        let wanted = key.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        for line in pgpass.split(separator: "\n") where !line.hasPrefix("#") {
            var fields: [String] = [""]
            var escaped = false
            for character in line {
                if escaped {
                    fields[fields.count - 1].append(character)
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == ":" && fields.count < 5 {
                    fields.append("")
                } else {
                    fields[fields.count - 1].append(character)
                }
            }
            guard fields.count == 5 else { continue }
            if zip(fields.prefix(4), wanted).allSatisfy({ $0 == "*" || $0 == $1 }) { return fields[4] }
        }
        return nil
    }

    // MARK: Parsing helpers

    private static func split(_ text: Substring, at separator: Character) -> (Substring, Substring?) {
        guard let index = text.firstIndex(of: separator) else { return (text, nil) }
        return (text[..<index], text[text.index(after: index)...])
    }

    private static func port(_ text: Substring) throws(StoreError) -> Int {
        guard let value = Int(text), (1...65535).contains(value) else {
            throw invalid("port \(text) is not a number from 1 to 65535")
        }
        return value
    }

    private static func decode(_ text: Substring, _ what: String) throws(StoreError) -> String {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8).makeIterator()
        while let byte = iterator.next() {
            if byte == UInt8(ascii: "%") {
                guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else {
                    throw invalid("the URL's \(what) has a bad percent escape")
                }
                bytes.append(high << 4 | low)
            } else {
                bytes.append(byte)
            }
        }
        guard let decoded = String(validating: bytes, as: UTF8.self) else {
            throw invalid("the URL's \(what) is not UTF-8")
        }
        return decoded
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    static func isIdentifier(_ text: String) -> Bool {
        guard let first = text.utf8.first, text.utf8.count <= 40 else { return false }
        let isStart = (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) || first == UInt8(ascii: "_")
        return isStart
            && text.utf8.allSatisfy {
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains($0)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0)
                    || $0 == UInt8(ascii: "_")
            }
    }

    private static func invalid(_ message: String) -> StoreError {
        StoreError(.invalidArgument, "invalid PostgreSQL URL: \(message)")
    }
}
