import AgentSessionManager
import FoundationEssentials
import HTTPTypes
import Hummingbird

extension HTTPAPI {
    // MARK: Approvals

    /// `GET /v1/approvals?pending=true&session=&limit=`.
    func approvals(_ request: Request) async throws -> Hummingbird.Response {
        let query = try Query(request)
        let pending = try query.flag("pending")
        let session = try query.session()
        let limit = try query.limit(default: 100, maximum: 1000)
        let list = try await store.approvals(pendingOnly: pending, session: session, id: nil, limit: limit)
        var writer = JSONWriter()
        writer.sortsKeys = false
        var object = writer.beginObject()
        writer.key("approvals", in: &object)
        var array = writer.beginArray()
        for approval in list {
            writer.element(in: &array)
            var item = writer.beginObject()
            try approval.writeFields(to: &writer, in: &item)
            writer.endObject(item)
        }
        writer.endArray(array)
        writer.endObject(object)
        return Self.json(.ok, writer.bytes + [0x0A])
    }

    /// `POST /v1/approvals/{id}` with `{"decision": "approve"|"deny", "by": "…", "reason": "…"}`:
    /// 200 when recorded, 409 when already answered, 404 when unknown.
    func resolve(_ request: Hummingbird.Request, id: String) async throws -> Hummingbird.Response {
        let body = try await Self.body(request, limit: maxBodyBytes)
        try Self.allow(body, ["decision", "by", "reason"])
        let approve: Bool
        switch body["decision"]?.stringValue {
        case "approve": approve = true
        case "deny": approve = false
        default: throw HTTPError(.badRequest, message: "decision must be \"approve\" or \"deny\"")
        }
        func text(_ key: String) throws(HTTPError) -> String? {
            guard let value = body[key] else { return nil }
            // One line: no line break of any kind (a CR, an LF, or the two as one character).
            guard let text = value.stringValue, !text.isEmpty, text.unicodeScalars.count <= 200,
                !text.unicodeScalars.contains(where: {
                    $0 == "\n" || $0 == "\r" || $0 == "\u{2028}" || $0 == "\u{2029}"
                })
            else {
                throw HTTPError(.badRequest, message: "\(key) must be one line of text, 200 characters at most")
            }
            return text
        }
        let by = try text("by") ?? "http"
        let reason = try text("reason")
        // 409 when already answered, 404 when unknown (the refusals map the engine's errors).
        try await manager.resolveApproval(id, approved: approve, by: by, reason: reason)
        var writer = JSONWriter()
        var object = writer.beginObject()
        writer.field("approval_id", id, in: &object)
        writer.field("status", approve ? "approved" : "denied", in: &object)
        writer.field("resolved_by", by, in: &object)
        writer.field("reason", reason, in: &object)
        writer.endObject(object)
        return Self.json(.ok, writer.bytes + [0x0A])
    }
}
