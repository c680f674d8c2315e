package import ASMCore

/// An event encoded and checked, ready for the writer.
package struct PreparedEvent: Sendable {
    package var id: UUIDValue
    package var run: UUIDValue?
    package var type: EventType
    package var schemaVersion: Int
    package var payload: [UInt8]
    package var event: SessionEvent
}

/// A batch encoded and checked in the caller's task, so the writer only writes.
///
/// Every check that can refuse a batch runs here, before the writer sees it: a refused
/// batch writes nothing.
package struct PreparedAppend: Sendable {
    package var stream: StreamID
    package var expected: ExpectedVersion
    package var events: [PreparedEvent]

    package init(
        _ events: [NewEvent],
        stream: StreamID,
        expected: ExpectedVersion,
        maximumEventBytes: Int,
        redactor: Redactor = Redactor()
    ) throws(StoreError) {
        guard !events.isEmpty else {
            throw StoreError(.invalidArgument, "an append needs at least one event", stream: stream)
        }
        self.stream = stream
        self.expected = expected
        var prepared: [PreparedEvent] = []
        prepared.reserveCapacity(events.count)
        var ids = Set<EventID>()
        ids.reserveCapacity(events.count)
        let codec = events.contains { if case .opaque = $0.event { true } else { false } } ? EventCodec() : nil
        var writer = JSONWriter(capacity: 512)
        for (index, event) in events.enumerated() {
            guard ids.insert(event.id).inserted else {
                throw StoreError(
                    .invalidArgument,
                    "event \(index) repeats the id \(event.id) within one batch",
                    stream: stream
                )
            }
            var type = EventType("opaque")
            var payload: [UInt8]
            let schemaVersion: Int
            do {
                if let codec {
                    let encoded = try codec.encode(event.event)
                    type = encoded.type
                    payload = encoded.payload
                    schemaVersion = encoded.schemaVersion
                } else {
                    writer.bytes.removeAll(keepingCapacity: true)
                    guard let written = try event.event.writePayload(to: &writer) else {
                        preconditionFailure("an opaque event without a codec")
                    }
                    type = written.type
                    payload = writer.bytes
                    schemaVersion = written.version
                }
            } catch {
                throw StoreError(
                    .invalidEvent,
                    "event \(index) (\(event.event.type)) has an invalid payload: \(error)",
                    underlying: error,
                    stream: stream
                )
            }
            // The redaction step: what is stored, projected, fed to observers and read back
            // is the payload with its secrets replaced.
            var stored = event.event
            if let redacted = redactor.redact(json: payload) {
                payload = redacted
                stored = (codec ?? EventCodec()).decode(type: type, schemaVersion: schemaVersion, payload: redacted)
            }
            guard payload.count <= maximumEventBytes else {
                throw StoreError(
                    .eventTooLarge,
                    "event \(index) (\(type)) has a \(payload.count)-byte payload; the limit is \(maximumEventBytes)",
                    stream: stream
                )
            }
            prepared.append(
                PreparedEvent(
                    id: event.id.uuid,
                    run: event.runID?.uuid,
                    type: type,
                    schemaVersion: schemaVersion,
                    payload: payload,
                    event: stored
                )
            )
        }
        self.events = prepared
    }
}
