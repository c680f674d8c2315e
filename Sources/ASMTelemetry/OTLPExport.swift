import ASMCore

/// Spans as an OTLP `ExportTraceServiceRequest` in OTLP's JSON encoding (ids in hex, 64-bit
/// integers as strings, enums as numbers).
public enum OTLPJSON {
    public static func request(_ spans: [TraceSpan], serviceName: String = "asm") -> [UInt8] {
        var writer = JSONWriter(capacity: 512 + spans.count * 512)
        var root = writer.beginObject()
        writer.key("resourceSpans", in: &root)
        var resources = writer.beginArray()
        writer.element(in: &resources)
        var resource = writer.beginObject()
        writer.key("resource", in: &resource)
        var resourceObject = writer.beginObject()
        writer.key("attributes", in: &resourceObject)
        attributes([("service.name", .string(serviceName))], &writer)
        writer.endObject(resourceObject)
        writer.key("scopeSpans", in: &resource)
        var scopes = writer.beginArray()
        writer.element(in: &scopes)
        var scope = writer.beginObject()
        writer.key("scope", in: &scope)
        var scopeObject = writer.beginObject()
        writer.key("name", in: &scopeObject)
        writer.string("AgentSessionManager")
        writer.endObject(scopeObject)
        writer.key("schemaUrl", in: &scope)
        writer.string("https://opentelemetry.io/schemas/\(RunTraces.conventions)")
        writer.key("spans", in: &scope)
        var list = writer.beginArray()
        for span in spans {
            writer.element(in: &list)
            var object = writer.beginObject()
            writer.key("traceId", in: &object)
            writer.string(span.traceID)
            writer.key("spanId", in: &object)
            writer.string(span.spanID)
            if let parent = span.parentSpanID {
                writer.key("parentSpanId", in: &object)
                writer.string(parent)
            }
            writer.key("name", in: &object)
            writer.string(span.name)
            writer.key("kind", in: &object)
            writer.integer(Int64(span.kind.rawValue))
            writer.key("startTimeUnixNano", in: &object)
            writer.string(String(span.startNanoseconds))
            writer.key("endTimeUnixNano", in: &object)
            writer.string(String(span.endNanoseconds))
            writer.key("attributes", in: &object)
            attributes(span.attributes, &writer)
            writer.key("status", in: &object)
            var status = writer.beginObject()
            writer.key("code", in: &status)
            writer.integer(span.error == nil ? 1 : 2)
            if let error = span.error {
                writer.key("message", in: &status)
                writer.string(error)
            }
            writer.endObject(status)
            writer.endObject(object)
        }
        writer.endArray(list)
        writer.endObject(scope)
        writer.endArray(scopes)
        writer.endObject(resource)
        writer.endArray(resources)
        writer.endObject(root)
        return writer.bytes
    }

    private static func attributes(_ attributes: [(key: String, value: TraceSpan.Value)], _ writer: inout JSONWriter) {
        var list = writer.beginArray()
        for (key, value) in attributes {
            writer.element(in: &list)
            var object = writer.beginObject()
            writer.key("key", in: &object)
            writer.string(key)
            writer.key("value", in: &object)
            var any = writer.beginObject()
            switch value {
            case .string(let text):
                writer.key("stringValue", in: &any)
                writer.string(text)
            case .int(let number):
                writer.key("intValue", in: &any)
                writer.string(String(number))
            case .double(let number):
                writer.key("doubleValue", in: &any)
                if (try? writer.double(number)) == nil { writer.integer(0) }
            case .bool(let flag):
                writer.key("boolValue", in: &any)
                writer.bool(flag)
            }
            writer.endObject(any)
            writer.endObject(object)
        }
        writer.endArray(list)
    }
}

/// Why spans could not be exported.
public struct TelemetryError: Error, Hashable, Sendable, CustomStringConvertible {
    /// What went wrong. New codes may be added; switch with a default.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Wrapped: String, Hashable, Sendable {
            case invalidEndpoint = "invalid endpoint"
            case unreachable
            case refused
        }
        private let wrapped: Wrapped
        private init(_ wrapped: Wrapped) { self.wrapped = wrapped }

        /// Not an http or https URL.
        public static let invalidEndpoint = Code(.invalidEndpoint)
        /// The collector could not be reached.
        public static let unreachable = Code(.unreachable)
        /// The collector answered with an error status.
        public static let refused = Code(.refused)

        public var description: String { wrapped.rawValue }
    }

    public var code: Code
    /// One line.
    public var message: String
    /// The cause, when another error led to this one.
    public var underlying: (any Error)?

    public init(_ code: Code, _ message: String, underlying: (any Error)? = nil) {
        self.code = code
        self.message = message
        self.underlying = underlying
    }

    public var description: String { "\(code): \(message)" }

    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code && lhs.message == rhs.message }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(code)
        hasher.combine(message)
    }
}

/// Sends spans to an OpenTelemetry collector over OTLP/HTTP (JSON encoding), in batches,
/// one HTTP/1.1 POST each (on SwiftNIO, TLS for https).
public struct OTLPHTTPExporter: Sendable {
    /// Where the traces go: the endpoint's `/v1/traces`, unless it names that path itself.
    public let url: String
    public var batchSize = 512
    let secure: Bool
    let host: String
    let port: Int
    let path: String

    /// - Throws: ``TelemetryError`` `invalidEndpoint` for anything but an http(s) URL.
    public init(endpoint: String) throws(TelemetryError) {
        let invalid = TelemetryError(.invalidEndpoint, "\(endpoint) is not an http or https URL")
        let lowered = endpoint.lowercased()
        let secure = lowered.hasPrefix("https://")
        guard secure || lowered.hasPrefix("http://") else { throw invalid }
        let rest = endpoint.dropFirst(secure ? 8 : 7)
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        var path = String(rest.dropFirst(authority.count).prefix { $0 != "?" && $0 != "#" })
        var host = Substring(authority)
        var port = secure ? 443 : 80
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { throw invalid }
            let after = host[host.index(after: close)...]
            if after.hasPrefix(":") {
                guard let number = Int(after.dropFirst()), (1...65535).contains(number) else { throw invalid }
                port = number
            } else if !after.isEmpty {
                throw invalid
            }
            host = host[host.index(after: host.startIndex)..<close]
        } else if let colon = host.lastIndex(of: ":") {
            guard let number = Int(host[host.index(after: colon)...]), (1...65535).contains(number) else {
                throw invalid
            }
            port = number
            host = host[..<colon]
        }
        guard !host.isEmpty, !host.contains("@") else { throw invalid }
        if !path.hasSuffix("/v1/traces") {
            path = (path.hasSuffix("/") ? String(path.dropLast()) : path) + "/v1/traces"
        }
        self.secure = secure
        self.host = String(host)
        self.port = port
        self.path = path
        url = (secure ? "https://" : "http://") + authority + path
    }

    /// Posts `spans`, `batchSize` at a time.
    /// - Throws: ``TelemetryError`` `unreachable` or `refused`; spans of earlier batches stay sent.
    public func export(_ spans: [TraceSpan]) async throws(TelemetryError) {
        var start = 0
        while start < spans.count {
            let end = min(spans.count, start + batchSize)
            try await post(OTLPJSON.request(Array(spans[start..<end])))
            start = end
        }
    }

    private func post(_ body: [UInt8]) async throws(TelemetryError) {
        let status: Int
        do {
            status = try await HTTPPost.send(
                host: host,
                port: port,
                secure: secure,
                path: path,
                contentType: "application/json",
                body: body
            )
        } catch {
            throw TelemetryError(.unreachable, "cannot reach \(url)", underlying: error)
        }
        guard (200..<300).contains(status) else { throw TelemetryError(.refused, "\(url) answered HTTP \(status)") }
    }
}
