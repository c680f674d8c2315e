/// A run was requested in a session, with the messages it starts from.
public struct RunRequested: EventPayload {
    public static let eventType: EventType = "run.requested"
    public static let fields = Fields(
        RunRequested.init(messages:provider:model:systemPrompt:metadata:),
        Field("messages", \.messages),
        Field("provider", \.provider),
        Field("model", \.model),
        Field("system_prompt", \.systemPrompt),
        Field("metadata", \.metadata)
    )
    /// The input messages, oldest first.
    public var messages: [ChatMessage]
    /// The provider asked for, if one was named.
    public var provider: String?
    /// The model asked for, if one was named.
    public var model: String?
    /// A system prompt for the provider.
    public var systemPrompt: String?
    /// Free-form labels.
    public var metadata: [String: String]?

    public init(
        messages: [ChatMessage],
        provider: String? = nil,
        model: String? = nil,
        systemPrompt: String? = nil,
        metadata: [String: String]? = nil
    ) {
        self.messages = messages
        self.provider = provider
        self.model = model
        self.systemPrompt = systemPrompt
        self.metadata = metadata
    }
}

/// A run waits for a free slot (or a free workspace) before it starts.
public struct RunQueued: EventPayload {
    public static let eventType: EventType = "run.queued"
    public static let fields = Fields(
        RunQueued.init(position:reason:),
        Field("position", \.position),
        Field("reason", \.reason)
    )
    /// 1 for the next run to start.
    public var position: Int
    /// Why it waits (`concurrency limit of 2 reached`, `workspace /src/app is in use by run …`).
    public var reason: String

    public init(position: Int, reason: String) {
        self.position = position
        self.reason = reason
    }
}

/// A provider started executing a run (once per attempt).
public struct RunStarted: EventPayload {
    public static let eventType: EventType = "run.started"
    public static let fields = Fields(
        RunStarted.init(provider:model:providerSessionID:tools:attempt:),
        Field("provider", \.provider),
        Field("model", \.model),
        Field("provider_session_id", \.providerSessionID),
        Field("tools", \.tools),
        Field("attempt", \.attempt)
    )
    /// The provider executing the run (`claude`, `codex`, `amp`, `scripted`...).
    public var provider: String
    /// The model the provider reported or was given.
    public var model: String?
    /// The provider's own session or thread id, for native resume.
    public var providerSessionID: String?
    /// The tools the provider reported as available.
    public var tools: [String]?
    /// The attempt number when a router retries (1 for the first).
    public var attempt: Int?

    public init(
        provider: String,
        model: String? = nil,
        providerSessionID: String? = nil,
        tools: [String]? = nil,
        attempt: Int? = nil
    ) {
        self.provider = provider
        self.model = model
        self.providerSessionID = providerSessionID
        self.tools = tools
        self.attempt = attempt
    }
}

/// A run ended successfully.
public struct RunCompleted: EventPayload {
    public static let eventType: EventType = "run.completed"
    public static let fields = Fields(
        RunCompleted.init(outputText:stopReason:turns:durationMilliseconds:providerSessionID:),
        Field("output_text", \.outputText),
        Field("stop_reason", \.stopReason),
        Field("turns", \.turns),
        Field("duration_ms", \.durationMilliseconds),
        Field("provider_session_id", \.providerSessionID)
    )
    /// The final text of the run.
    public var outputText: String?
    /// The provider's stop reason (`end_turn`, ...).
    public var stopReason: String?
    /// How many model turns the provider counted.
    public var turns: Int?
    /// The provider's own duration of the run, in milliseconds.
    public var durationMilliseconds: Int64?
    /// The provider's session id at the end, for native resume.
    public var providerSessionID: String?

    public init(
        outputText: String? = nil,
        stopReason: String? = nil,
        turns: Int? = nil,
        durationMilliseconds: Int64? = nil,
        providerSessionID: String? = nil
    ) {
        self.outputText = outputText
        self.stopReason = stopReason
        self.turns = turns
        self.durationMilliseconds = durationMilliseconds
        self.providerSessionID = providerSessionID
    }
}

/// A run ended in failure.
public struct RunFailed: EventPayload {
    public static let eventType: EventType = "run.failed"
    public static let fields = Fields(
        RunFailed.init(failure:),
        Field("failure", \.failure)
    )
    public var failure: RunFailure
    public init(failure: RunFailure) { self.failure = failure }
}

/// A run was cancelled before it ended on its own.
public struct RunCancelled: EventPayload {
    public static let eventType: EventType = "run.cancelled"
    public static let fields = Fields(
        RunCancelled.init(reason:message:),
        Field("reason", \.reason),
        Field("message", \.message)
    )
    public var reason: CancelReason
    /// Details, in one line.
    public var message: String?
    public init(reason: CancelReason, message: String? = nil) {
        self.reason = reason
        self.message = message
    }
}
