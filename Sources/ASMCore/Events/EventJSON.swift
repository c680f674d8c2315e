/// One event as the JSON object `asm events --json`, `asm tail --json` and the HTTP API print:
/// `schema_version` first, then the header, then the stored payload.
public enum EventJSON {
    /// A stored event.
    public static func object(_ event: RecordedEvent) -> [UInt8] {
        var writer = JSONWriter(capacity: 512)
        writer.sortsKeys = false
        var object = writer.beginObject()
        writer.field("schema_version", 1, in: &object)
        writer.field("sequence", event.sequence.rawValue, in: &object)
        writer.key("event_id", in: &object)
        writer.uuid(event.id.uuid)
        writer.key("stream_id", in: &object)
        writer.uuid(event.stream.uuid)
        writer.field("stream_version", event.streamVersion.rawValue, in: &object)
        writer.key("run_id", in: &object)
        if let run = event.runID { writer.uuid(run.uuid) } else { writer.null() }
        writer.field("type", event.type.rawValue, in: &object)
        writer.field("payload_version", event.schemaVersion, in: &object)
        writer.field("recorded_at", event.recordedAt.description, in: &object)
        writer.field("recorded_at_us", event.recordedAt.microseconds, in: &object)
        writer.field("hash", event.hash.description, in: &object)
        writer.key("payload", in: &object)
        writer.raw(event.payload)
        writer.endObject(object)
        return writer.bytes
    }

    /// A typed event in the same shape: its payload encoded canonically is the stored payload.
    public static func object(_ envelope: EventEnvelope) -> [UInt8] {
        let encoded = try? EventCodec().encode(envelope.event)
        return object(
            RecordedEvent(
                sequence: envelope.sequence,
                id: envelope.id,
                stream: envelope.stream,
                streamVersion: envelope.streamVersion,
                runID: envelope.runID,
                recordedAt: envelope.recordedAt,
                type: envelope.type,
                schemaVersion: encoded?.schemaVersion ?? 1,
                payload: encoded?.payload ?? Array("{}".utf8),
                hash: envelope.hash
            )
        )
    }
}
