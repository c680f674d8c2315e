// Direct canonical encodings of the vocabulary: keys written in sorted order, `nil` left
// out, exactly the bytes the `Codable` conformances produce through `PayloadEncoder`
// (a test holds every payload to that).

extension MessageRole: CanonicalJSONEncodable {}
extension FailureKind: CanonicalJSONEncodable {}
extension CancelReason: CanonicalJSONEncodable {}
extension SessionStatus: CanonicalJSONEncodable {}
extension RunStatus: CanonicalJSONEncodable {}
extension EventType: CanonicalJSONEncodable {}

extension SequenceNumber: CanonicalJSONEncodable {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) { writer.integer(rawValue) }
}

extension StreamVersion: CanonicalJSONEncodable {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) { writer.integer(rawValue) }
}

extension Timestamp: CanonicalJSONEncodable {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) { writer.integer(microseconds) }
}

extension ChatMessage: CanonicalJSONEncodable {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("content", content, in: &object)
        writer.field("role", role.rawValue, in: &object)
        writer.endObject(object)
    }
}

extension TokenUsage: CanonicalJSONEncodable {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("cache_read", cacheRead, in: &object)
        writer.field("cache_write", cacheWrite, in: &object)
        writer.field("input", input, in: &object)
        writer.field("output", output, in: &object)
        writer.field("reasoning", reasoning, in: &object)
        writer.endObject(object)
    }
}

extension RunFailure: CanonicalJSONEncodable {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("exit_code", exitCode, in: &object)
        writer.field("http_status", httpStatus, in: &object)
        writer.field("kind", kind.rawValue, in: &object)
        writer.field("message", message, in: &object)
        writer.field("stderr", stderr, in: &object)
        writer.endObject(object)
    }
}

extension RoutingCandidate: CanonicalJSONEncodable {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("excluded_because", excludedBecause, in: &object)
        writer.field("provider", provider, in: &object)
        try writer.field("score", score, in: &object)
        writer.endObject(object)
    }
}

extension PolicyCounters: CanonicalJSONEncodable {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("cost_nano_usd", costNanoUSD, in: &object)
        writer.field("duration_ms", durationMilliseconds, in: &object)
        writer.field("tool_calls", toolCalls, in: &object)
        writer.field("total_tokens", totalTokens, in: &object)
        writer.endObject(object)
    }
}

// MARK: Sessions

extension SessionCreated {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("agent_id", agentID, in: &object)
        writer.field("metadata", metadata, in: &object)
        writer.field("tags", tags, in: &object)
        writer.endObject(object)
    }
}

extension SessionActivated {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        writer.endObject(writer.beginObject())
    }
}

extension SessionCompleted {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("summary", summary, in: &object)
        writer.endObject(object)
    }
}

extension SessionFailed {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("reason", reason, in: &object)
        writer.endObject(object)
    }
}

extension SessionArchived {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        writer.endObject(writer.beginObject())
    }
}

// MARK: Runs

extension RunRequested {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        try writer.field("messages", messages, in: &object)
        writer.field("metadata", metadata, in: &object)
        writer.field("model", model, in: &object)
        writer.field("provider", provider, in: &object)
        writer.field("system_prompt", systemPrompt, in: &object)
        writer.endObject(object)
    }
}

extension RunQueued {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("position", position, in: &object)
        writer.field("reason", reason, in: &object)
        writer.endObject(object)
    }
}

extension RunStarted {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("attempt", attempt, in: &object)
        writer.field("model", model, in: &object)
        writer.field("provider", provider, in: &object)
        writer.field("provider_session_id", providerSessionID, in: &object)
        writer.field("tools", tools, in: &object)
        writer.endObject(object)
    }
}

extension RunCompleted {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("duration_ms", durationMilliseconds, in: &object)
        writer.field("output_text", outputText, in: &object)
        writer.field("provider_session_id", providerSessionID, in: &object)
        writer.field("stop_reason", stopReason, in: &object)
        writer.field("turns", turns, in: &object)
        writer.endObject(object)
    }
}

extension RunFailed {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        try writer.field("failure", failure, in: &object)
        writer.endObject(object)
    }
}

extension RunCancelled {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("message", message, in: &object)
        writer.field("reason", reason.rawValue, in: &object)
        writer.endObject(object)
    }
}

// MARK: Routing

extension RoutingDecided {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("attempt", attempt, in: &object)
        try writer.field("candidates", candidates, in: &object)
        writer.field("chosen", chosen, in: &object)
        try writer.field("decided_at", decidedAt, in: &object)
        writer.field("rebound", rebound, in: &object)
        try writer.field("router", router, in: &object)
        writer.field("seed", seed, in: &object)
        writer.field("state_sequence", stateSequence?.rawValue, in: &object)
        writer.field("sticky_key", stickyKey, in: &object)
        try writer.field("sticky_until", stickyUntil, in: &object)
        writer.field("strategy", strategy, in: &object)
        writer.endObject(object)
    }
}

extension RoutingFailedOver {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("after_output", afterOutput, in: &object)
        writer.field("attempt", attempt, in: &object)
        try writer.field("failed_at", failedAt, in: &object)
        try writer.field("failure", failure, in: &object)
        writer.field("from", from, in: &object)
        writer.field("to", to, in: &object)
        writer.endObject(object)
    }
}

extension ProviderHealthChanged {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        try writer.field("changed_at", changedAt, in: &object)
        writer.field("consecutive_failures", consecutiveFailures, in: &object)
        writer.field("current", current, in: &object)
        writer.field("previous", previous, in: &object)
        writer.field("provider", provider, in: &object)
        writer.field("reason", reason, in: &object)
        writer.field("state_sequence", stateSequence?.rawValue, in: &object)
        try writer.field("until", until, in: &object)
        writer.endObject(object)
    }
}

extension ProviderWarning {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("excerpt", excerpt, in: &object)
        writer.field("message", message, in: &object)
        writer.field("provider", provider, in: &object)
        writer.endObject(object)
    }
}

// MARK: Messages, tools, usage

extension MessageStreamed {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("delta", delta, in: &object)
        writer.field("message_id", messageID, in: &object)
        writer.field("role", role.rawValue, in: &object)
        writer.endObject(object)
    }
}

extension MessageReceived {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("content", content, in: &object)
        writer.field("message_id", messageID, in: &object)
        writer.field("role", role.rawValue, in: &object)
        writer.endObject(object)
    }
}

extension ToolCallRequested {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("call_id", callID, in: &object)
        try writer.field("input", input, in: &object)
        writer.field("name", name, in: &object)
        writer.endObject(object)
    }
}

extension ToolCallStarted {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("call_id", callID, in: &object)
        try writer.field("input", input, in: &object)
        writer.field("name", name, in: &object)
        writer.endObject(object)
    }
}

extension ToolCallCompleted {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("call_id", callID, in: &object)
        writer.field("exit_code", exitCode, in: &object)
        writer.field("is_error", isError, in: &object)
        writer.field("name", name, in: &object)
        writer.field("output", output, in: &object)
        writer.endObject(object)
    }
}

extension TokenUsageUpdated {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("cost_nano_usd", costNanoUSD, in: &object)
        try writer.field("delta", delta, in: &object)
        writer.field("model", model, in: &object)
        writer.field("price_table", priceTable, in: &object)
        writer.field("provider", provider, in: &object)
        try writer.field("reported_cost_usd", reportedCostUSD, in: &object)
        try writer.field("total", total, in: &object)
        writer.endObject(object)
    }
}

// MARK: Policies

extension PolicyEvaluated {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        try writer.field("merged", merged, in: &object)
        writer.field("outcome", outcome, in: &object)
        writer.field("policies", policies, in: &object)
        writer.field("stack_hash", stackHash, in: &object)
        writer.endObject(object)
    }
}

extension PolicyViolated {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("action", action, in: &object)
        writer.field("can_block", canBlock, in: &object)
        try writer.field("counters", counters, in: &object)
        writer.field("message", message, in: &object)
        writer.field("policy", policy, in: &object)
        writer.field("rule", rule, in: &object)
        writer.field("stack_hash", stackHash, in: &object)
        writer.endObject(object)
    }
}

extension ToolApprovalRequested {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("approval_id", approvalID, in: &object)
        writer.field("call_id", callID, in: &object)
        writer.field("can_block", canBlock, in: &object)
        try writer.field("input", input, in: &object)
        writer.field("policy", policy, in: &object)
        writer.field("rule", rule, in: &object)
        writer.field("tool", tool, in: &object)
        writer.endObject(object)
    }
}

extension ToolApprovalResolved {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("approval_id", approvalID, in: &object)
        writer.field("approved", approved, in: &object)
        writer.field("reason", reason, in: &object)
        writer.field("resolved_by", resolvedBy, in: &object)
        writer.endObject(object)
    }
}

// MARK: Continuation, workspace, artifacts

extension ContinuationApplied {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("applied", applied, in: &object)
        writer.field("message_count", messageCount, in: &object)
        writer.field("provider_session_id", providerSessionID, in: &object)
        writer.field("reason", reason, in: &object)
        writer.field("requested", requested, in: &object)
        writer.field("truncated", truncated, in: &object)
        writer.endObject(object)
    }
}

extension WorkspaceSnapshotTaken {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("file_count", fileCount, in: &object)
        writer.field("path", path, in: &object)
        writer.field("phase", phase, in: &object)
        writer.field("reference", reference, in: &object)
        writer.field("snapshot_id", snapshotID, in: &object)
        writer.field("strategy", strategy, in: &object)
        writer.endObject(object)
    }
}

extension WorkspaceFileChange: CanonicalJSONEncodable {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("binary", binary, in: &object)
        writer.field("change", change, in: &object)
        writer.field("deletions", deletions, in: &object)
        writer.field("insertions", insertions, in: &object)
        writer.field("path", path, in: &object)
        writer.endObject(object)
    }
}

extension WorkspaceDiffComputed {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("artifact", artifact, in: &object)
        try writer.field("changes", changes, in: &object)
        writer.field("deletions", deletions, in: &object)
        writer.field("files_changed", filesChanged, in: &object)
        writer.field("from_snapshot", fromSnapshot, in: &object)
        writer.field("has_patch", hasPatch, in: &object)
        writer.field("insertions", insertions, in: &object)
        writer.field("patch", patch, in: &object)
        writer.field("patch_bytes", patchBytes, in: &object)
        writer.field("to_snapshot", toSnapshot, in: &object)
        writer.endObject(object)
    }
}

extension WorkspaceRolledBack {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("removed", removed, in: &object)
        writer.field("restored", restored, in: &object)
        writer.field("safety_reference", safetyReference, in: &object)
        writer.field("to_snapshot", toSnapshot, in: &object)
        writer.field("unrestorable", unrestorable, in: &object)
        writer.endObject(object)
    }
}

extension ArtifactStored {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("artifact", artifact, in: &object)
        writer.field("bytes", bytes, in: &object)
        writer.field("media_type", mediaType, in: &object)
        writer.field("purpose", purpose, in: &object)
        writer.endObject(object)
    }
}

// MARK: Consumers

extension ConsumerCheckpointed {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("consumer", consumer, in: &object)
        writer.field("position", position.rawValue, in: &object)
        writer.endObject(object)
    }
}

extension ConsumerReset {
    public func writeCanonicalJSON(to writer: inout JSONWriter) throws(JSONError) {
        var object = writer.beginObject()
        writer.field("consumer", consumer, in: &object)
        writer.field("from", from.rawValue, in: &object)
        writer.field("reason", reason, in: &object)
        writer.field("to", to.rawValue, in: &object)
        writer.endObject(object)
    }
}
