public import ASMCore

extension UUIDValue {
    /// A new version 7 UUID from the system clock and the system's random generator.
    public static func generate(now: Timestamp = SystemClock().now()) -> UUIDValue {
        var random = SystemRandomNumberGenerator()
        return .version7(
            unixMilliseconds: UInt64(max(0, now.milliseconds)),
            randomHigh: random.next(),
            randomLow: random.next()
        )
    }
}

extension UUIDIdentifier {
    /// A new, time-ordered identifier (UUID version 7).
    public static func generate() -> Self { Self(uuid: .generate()) }
}

extension NewEvent {
    /// An event to append, with a newly generated id.
    public init(_ event: SessionEvent, run: RunID? = nil) {
        self.init(id: .generate(), runID: run, event: event)
    }

    /// An event to append from a typed payload, with a newly generated id.
    public init(_ payload: some EventPayload, run: RunID? = nil) {
        self.init(id: .generate(), runID: run, event: SessionEvent(payload))
    }
}
