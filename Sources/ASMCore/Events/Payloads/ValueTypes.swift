/// Who wrote a message.
///
/// A string-backed value rather than an enum, so a role a newer build adds still decodes.
public struct MessageRole: RawRepresentable, Hashable, Sendable, StringPayloadValue, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    public static let user: MessageRole = "user"
    public static let assistant: MessageRole = "assistant"
    public static let system: MessageRole = "system"
    public static let tool: MessageRole = "tool"
}

/// One message of a conversation: the input of a run, or a turn of a transcript.
public struct ChatMessage: Hashable, Sendable, PayloadObject, Codable {
    public static let fields = Fields(
        ChatMessage.init(role:content:),
        Field("role", \.role),
        Field("content", \.content)
    )
    public var role: MessageRole
    public var content: String
    public init(role: MessageRole, content: String) {
        self.role = role
        self.content = content
    }
}

/// Token counts, split the way providers bill them.
///
/// `input` excludes cached tokens: `cacheRead` and `cacheWrite` count separately, as
/// Anthropic reports them. `reasoning` is part of `output` where a provider reports it
/// (Codex), kept apart for display; it is never added to `output` a second time.
public struct TokenUsage: Hashable, Sendable, PayloadObject, Codable {
    public static let fields = Fields(
        TokenUsage.init(input:output:cacheRead:cacheWrite:reasoning:),
        Field("input", \.input),
        Field("output", \.output),
        Field("cache_read", \.cacheRead),
        Field("cache_write", \.cacheWrite),
        Field("reasoning", \.reasoning)
    )
    public var input: Int64
    public var output: Int64
    public var cacheRead: Int64
    public var cacheWrite: Int64
    public var reasoning: Int64

    public init(input: Int64 = 0, output: Int64 = 0, cacheRead: Int64 = 0, cacheWrite: Int64 = 0, reasoning: Int64 = 0)
    {
        self.input = input
        self.output = output
        self.cacheRead = cacheRead
        self.cacheWrite = cacheWrite
        self.reasoning = reasoning
    }

    /// No tokens.
    public static let zero = TokenUsage()

    /// Every billed token: input, output and both cache kinds.
    public var total: Int64 { input + output + cacheRead + cacheWrite }

    public static func + (lhs: TokenUsage, rhs: TokenUsage) -> TokenUsage {
        TokenUsage(
            input: lhs.input + rhs.input,
            output: lhs.output + rhs.output,
            cacheRead: lhs.cacheRead + rhs.cacheRead,
            cacheWrite: lhs.cacheWrite + rhs.cacheWrite,
            reasoning: lhs.reasoning + rhs.reasoning
        )
    }

    public static func - (lhs: TokenUsage, rhs: TokenUsage) -> TokenUsage {
        TokenUsage(
            input: lhs.input - rhs.input,
            output: lhs.output - rhs.output,
            cacheRead: lhs.cacheRead - rhs.cacheRead,
            cacheWrite: lhs.cacheWrite - rhs.cacheWrite,
            reasoning: lhs.reasoning - rhs.reasoning
        )
    }
}

/// Why a run failed, as a class callers and the router can act on.
public struct FailureKind: RawRepresentable, Hashable, Sendable, StringPayloadValue, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    /// The provider's API answered with an error (see ``RunFailure/httpStatus``).
    public static let apiError: FailureKind = "api_error"
    /// The provider is rate limiting.
    public static let rateLimited: FailureKind = "rate_limited"
    /// The provider is overloaded or answered 5xx.
    public static let overloaded: FailureKind = "overloaded"
    /// Credentials are missing or refused.
    public static let authentication: FailureKind = "authentication"
    /// The account cannot pay for the run (no credits, billing problem).
    public static let billing: FailureKind = "billing"
    /// The request itself is invalid (unknown model, bad arguments).
    public static let invalidRequest: FailureKind = "invalid_request"
    /// The run reached its turn limit.
    public static let maxTurns: FailureKind = "max_turns"
    /// The run reached its budget.
    public static let budgetExceeded: FailureKind = "budget_exceeded"
    /// A tool was denied permission and the run could not go on.
    public static let permissionDenied: FailureKind = "permission_denied"
    /// The process exited without a result.
    public static let processExited: FailureKind = "process_exited"
    /// The provider binary was not found.
    public static let missingBinary: FailureKind = "missing_binary"
    /// The run's deadline or idle timeout passed.
    public static let timeout: FailureKind = "timeout"
    /// The provider wrote output that could not be understood.
    public static let invalidOutput: FailureKind = "invalid_output"
    /// A policy ended the run.
    public static let policyViolation: FailureKind = "policy_violation"
    /// The provider resumed something that does not exist.
    public static let sessionNotFound: FailureKind = "session_not_found"
    /// No provider was eligible (all excluded, open-circuit or already tried).
    public static let noProviderAvailable: FailureKind = "no_provider_available"
    /// Anything else.
    public static let unknown: FailureKind = "unknown"
}

/// A typed failure: the class, a one-line message, and what the provider reported.
public struct RunFailure: Hashable, Sendable, PayloadObject, Codable {
    public static let fields = Fields(
        RunFailure.init(kind:message:httpStatus:exitCode:stderr:),
        Field("kind", \.kind),
        Field("message", \.message),
        Field("http_status", \.httpStatus),
        Field("exit_code", \.exitCode),
        Field("stderr", \.stderr)
    )
    public var kind: FailureKind
    /// One line, no secrets.
    public var message: String
    /// The HTTP status the provider's API answered, when known.
    public var httpStatus: Int?
    /// The process exit code, when the process exited.
    public var exitCode: Int?
    /// The end of the process's standard error, bounded and redacted.
    public var stderr: String?

    public init(kind: FailureKind, message: String, httpStatus: Int? = nil, exitCode: Int? = nil, stderr: String? = nil)
    {
        self.kind = kind
        self.message = message
        self.httpStatus = httpStatus
        self.exitCode = exitCode
        self.stderr = stderr
    }
}

/// Why a run was cancelled.
public struct CancelReason: RawRepresentable, Hashable, Sendable, StringPayloadValue, Codable, CustomStringConvertible,
    ExpressibleByStringLiteral
{
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    public init(stringLiteral value: String) { self.rawValue = value }
    public var description: String { rawValue }

    /// A caller asked for it.
    public static let requested: CancelReason = "requested"
    /// A policy with the cancel action fired.
    public static let policy: CancelReason = "policy"
    /// The run's total deadline passed.
    public static let deadline: CancelReason = "deadline"
    /// The provider wrote nothing for longer than the idle timeout.
    public static let idleTimeout: CancelReason = "idle_timeout"
    /// The server shut down.
    public static let shutdown: CancelReason = "shutdown"
}
