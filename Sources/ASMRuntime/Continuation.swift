public import ASMCore

/// How a run continues the conversation of the runs before it in its session.
public enum ContinuationMode: String, Hashable, Sendable, CaseIterable {
    /// Send only the new messages.
    case off
    /// Send the session's transcript (truncated to the limits) with the new messages.
    case replay
    /// Resume the provider's own session (Claude session, Codex or Amp thread).
    case native
    /// Native when the same provider has a session to resume and can resume, else replay.
    case auto
}

/// How much transcript a replay may send; the newest turns are kept.
public struct ContinuationLimits: Hashable, Sendable {
    public var maxMessages: Int?
    public var maxCharacters: Int?
    /// Estimated as one token per four characters.
    public var maxApproximateTokens: Int?

    public init(maxMessages: Int? = 40, maxCharacters: Int? = 100_000, maxApproximateTokens: Int? = nil) {
        self.maxMessages = maxMessages
        self.maxCharacters = maxCharacters
        self.maxApproximateTokens = maxApproximateTokens
    }
}

/// What a continuation needs to know of an earlier run of the session.
public struct PriorRun: Hashable, Sendable {
    public var runID: RunID
    public var provider: String?
    public var providerSessionID: String?
    /// The run's own usage (for the provider session's cumulative baseline).
    public var usage: TokenUsage

    public init(runID: RunID, provider: String?, providerSessionID: String?, usage: TokenUsage = .zero) {
        self.runID = runID
        self.provider = provider
        self.providerSessionID = providerSessionID
        self.usage = usage
    }
}

/// The continuation chosen for a run, and why.
public struct ContinuationPlan: Hashable, Sendable {
    public var requested: ContinuationMode
    /// `off`, `replay` or `native`.
    public var applied: ContinuationMode
    public var reason: String
    /// For native: the provider session to resume and its usage so far.
    public var resumeSessionID: String?
    public var resumeUsageBaseline: TokenUsage?
    /// For replay: the earlier messages to send before the new ones, oldest first.
    public var history: [ChatMessage]
    public var truncated: Bool

    /// The event that records the choice.
    public var event: ContinuationApplied {
        ContinuationApplied(
            requested: requested.rawValue,
            applied: applied.rawValue,
            reason: reason,
            providerSessionID: resumeSessionID,
            messageCount: applied == .replay ? history.count : nil,
            truncated: applied == .replay ? truncated : nil
        )
    }
}

/// Chooses a run's continuation from the session's transcript and earlier runs. Pure.
public enum ContinuationPlanner {
    /// - Parameters:
    ///   - provider: the provider the run goes to, and whether it can resume natively.
    ///   - transcript: the session's transcript in log order (the run's own messages are skipped).
    ///   - priorRuns: the session's earlier runs, oldest first.
    public static func plan(
        mode: ContinuationMode,
        provider: String,
        resumesNatively: Bool,
        run: RunID,
        transcript: [TranscriptEntry],
        priorRuns: [PriorRun],
        limits: ContinuationLimits = ContinuationLimits()
    ) -> ContinuationPlan {
        let earlier = transcript.filter { $0.runID != run && ($0.role == .user || $0.role == .assistant) }
        let resumable = priorRuns.last { $0.provider == provider && $0.providerSessionID != nil }
        func off(_ reason: String) -> ContinuationPlan {
            ContinuationPlan(requested: mode, applied: .off, reason: reason, history: [], truncated: false)
        }
        func native(_ prior: PriorRun, _ reason: String) -> ContinuationPlan {
            let session = prior.providerSessionID
            let baseline = priorRuns.filter { $0.provider == provider && $0.providerSessionID == session }
                .reduce(TokenUsage.zero) { $0 + $1.usage }
            return ContinuationPlan(
                requested: mode,
                applied: .native,
                reason: reason,
                resumeSessionID: session,
                resumeUsageBaseline: baseline,
                history: [],
                truncated: false
            )
        }
        func replay(_ reason: String) -> ContinuationPlan {
            let (history, truncated) = truncate(earlier.map { ChatMessage(role: $0.role, content: $0.content) }, limits)
            return ContinuationPlan(
                requested: mode,
                applied: .replay,
                reason: truncated ? reason + "; older turns cut to fit" : reason,
                history: history,
                truncated: truncated
            )
        }

        switch mode {
        case .off:
            return off("continuation is off")
        case .replay:
            guard !earlier.isEmpty else { return off("replay asked for, but the session has no earlier messages") }
            return replay("replaying \(earlier.count) earlier message\(earlier.count == 1 ? "" : "s")")
        case .native:
            guard resumesNatively else {
                return off("native asked for, but \(provider) cannot resume its own sessions: starting fresh")
            }
            guard let resumable else {
                return off(
                    "native asked for, but no earlier \(provider) session in this session to resume: starting fresh"
                )
            }
            return native(resumable, "resuming \(provider) session \(resumable.providerSessionID ?? "")")
        case .auto:
            if resumesNatively, let resumable {
                return native(resumable, "auto: \(provider) has a session to resume")
            }
            guard !earlier.isEmpty else { return off("auto: nothing to continue") }
            let why =
                resumesNatively ? "no earlier \(provider) session to resume" : "\(provider) cannot resume natively"
            return replay("auto: \(why), replaying \(earlier.count) earlier message\(earlier.count == 1 ? "" : "s")")
        }
    }

    /// Keeps the newest messages within the limits, starting at a user message.
    static func truncate(_ messages: [ChatMessage], _ limits: ContinuationLimits) -> ([ChatMessage], Bool) {
        var kept: [ChatMessage] = []
        var characters = 0
        for message in messages.reversed() {
            if let maxMessages = limits.maxMessages, kept.count >= maxMessages { break }
            let size = message.content.count
            if let maxCharacters = limits.maxCharacters, characters + size > maxCharacters { break }
            if let maxTokens = limits.maxApproximateTokens, (characters + size + 3) / 4 > maxTokens { break }
            kept.append(message)
            characters += size
        }
        kept.reverse()
        // A turn starts with the user: an answer whose question was cut goes too.
        while let first = kept.first, first.role != .user, kept.count < messages.count { kept.removeFirst() }
        return (kept, kept.count < messages.count)
    }
}
