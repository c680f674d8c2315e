/// A piece of a message arrived while the provider was still writing it.
public struct MessageStreamed: EventPayload {
    public static let eventType: EventType = "message.streamed"
    public static let fields = Fields(
        MessageStreamed.init(messageID:role:delta:),
        Field("message_id", \.messageID),
        Field("role", \.role),
        Field("delta", \.delta)
    )
    /// The provider's message id, to group deltas.
    public var messageID: String?
    public var role: MessageRole
    /// The new text.
    public var delta: String

    public init(messageID: String? = nil, role: MessageRole = .assistant, delta: String) {
        self.messageID = messageID
        self.role = role
        self.delta = delta
    }
}

/// A whole message was received: a turn of the transcript.
public struct MessageReceived: EventPayload {
    public static let eventType: EventType = "message.received"
    public static let fields = Fields(
        MessageReceived.init(messageID:role:content:),
        Field("message_id", \.messageID),
        Field("role", \.role),
        Field("content", \.content)
    )
    /// The provider's message id.
    public var messageID: String?
    public var role: MessageRole
    public var content: String

    public init(messageID: String? = nil, role: MessageRole, content: String) {
        self.messageID = messageID
        self.role = role
        self.content = content
    }
}

/// The agent asked to run a tool and waits for the answer (on a provider that can hold
/// tools). A `tool_call.started` with the same call id follows if it was let run.
public struct ToolCallRequested: EventPayload {
    public static let eventType: EventType = "tool_call.requested"
    public static let fields = Fields(
        ToolCallRequested.init(callID:name:input:),
        Field("call_id", \.callID),
        Field("name", \.name),
        Field("input", \.input)
    )
    public var callID: String
    public var name: String
    public var input: JSONValue

    public init(callID: String, name: String, input: JSONValue = .emptyObject) {
        self.callID = callID
        self.name = name
        self.input = input
    }

    public init(_ call: ToolCallStarted) {
        self.init(callID: call.callID, name: call.name, input: call.input)
    }

    /// The call as it would start.
    public var call: ToolCallStarted { ToolCallStarted(callID: callID, name: name, input: input) }
}

/// The agent started a tool call.
public struct ToolCallStarted: EventPayload {
    public static let eventType: EventType = "tool_call.started"
    public static let fields = Fields(
        ToolCallStarted.init(callID:name:input:),
        Field("call_id", \.callID),
        Field("name", \.name),
        Field("input", \.input)
    )
    /// The provider's id of the call, shared with its completion.
    public var callID: String
    /// The tool's name as the provider reports it (`Bash`, `command_execution`...).
    public var name: String
    /// The tool's arguments.
    public var input: JSONValue

    public init(callID: String, name: String, input: JSONValue = .emptyObject) {
        self.callID = callID
        self.name = name
        self.input = input
    }
}

/// The provider refused a tool call itself, before it ran: the tool was not offered to the
/// model (a CLI deny list, a whitelist), so the call never started. Not a policy violation:
/// nothing ran and no rule of the run's stack had to act.
public struct ToolCallRefused: EventPayload {
    public static let eventType: EventType = "tool_call.refused"
    public static let fields = Fields(
        ToolCallRefused.init(callID:name:input:reason:),
        Field("call_id", \.callID),
        Field("name", \.name),
        Field("input", \.input),
        Field("reason", \.reason)
    )
    public var callID: String
    public var name: String
    public var input: JSONValue
    /// What the provider answered the model, bounded and redacted.
    public var reason: String

    public init(callID: String, name: String, input: JSONValue = .emptyObject, reason: String) {
        self.callID = callID
        self.name = name
        self.input = input
        self.reason = reason
    }
}

/// A tool call finished, successfully or not.
public struct ToolCallCompleted: EventPayload {
    public static let eventType: EventType = "tool_call.completed"
    public static let fields = Fields(
        ToolCallCompleted.init(callID:name:output:isError:exitCode:),
        Field("call_id", \.callID),
        Field("name", \.name),
        Field("output", \.output),
        Field("is_error", \.isError),
        Field("exit_code", \.exitCode)
    )
    public var callID: String
    /// The tool's name, when the provider repeats it.
    public var name: String?
    /// The tool's output, bounded and redacted.
    public var output: String
    /// Whether the tool failed or was refused.
    public var isError: Bool
    /// The exit code of a command, when the tool ran one.
    public var exitCode: Int?

    public init(callID: String, name: String? = nil, output: String, isError: Bool = false, exitCode: Int? = nil) {
        self.callID = callID
        self.name = name
        self.output = output
        self.isError = isError
        self.exitCode = exitCode
    }
}

/// Token usage grew during a run.
///
/// `delta` is what this update adds and `total` the run's cumulative usage after it, so
/// summing deltas never double counts and the last total needs no arithmetic.
public struct TokenUsageUpdated: EventPayload {
    public static let eventType: EventType = "token_usage.updated"
    public static let fields = Fields(
        TokenUsageUpdated.init(provider:model:delta:total:costNanoUSD:priceTable:reportedCostUSD:),
        Field("provider", \.provider),
        Field("model", \.model),
        Field("delta", \.delta),
        Field("total", \.total),
        Field("cost_nano_usd", \.costNanoUSD),
        Field("price_table", \.priceTable),
        Field("reported_cost_usd", \.reportedCostUSD)
    )
    public var provider: String?
    public var model: String?
    public var delta: TokenUsage
    public var total: TokenUsage
    /// This delta's cost in billionths of a US dollar, from ``priceTable``.
    public var costNanoUSD: Int64?
    /// The version of the price table the cost was computed with.
    public var priceTable: String?
    /// The provider's own cumulative cost for the run in US dollars (Claude reports one).
    public var reportedCostUSD: Double?

    public init(
        provider: String? = nil,
        model: String? = nil,
        delta: TokenUsage,
        total: TokenUsage,
        costNanoUSD: Int64? = nil,
        priceTable: String? = nil,
        reportedCostUSD: Double? = nil
    ) {
        self.provider = provider
        self.model = model
        self.delta = delta
        self.total = total
        self.costNanoUSD = costNanoUSD
        self.priceTable = priceTable
        self.reportedCostUSD = reportedCostUSD
    }
}
