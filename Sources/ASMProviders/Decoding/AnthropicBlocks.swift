import ASMCore

/// Tool blocks in Anthropic's message shape, which Claude Code and Amp both print.
enum AnthropicBlocks {
    /// A `tool_use` block as a started call, the first time its id is seen; `names` keeps
    /// each call's tool for its result.
    static func toolStarted(_ block: JSONValue, names: inout [String: String]) -> ProviderEvent? {
        guard let callID = block["id"]?.stringValue, names[callID] == nil else { return nil }
        let name = block["name"]?.stringValue ?? "tool"
        names[callID] = name
        return .toolStarted(ToolCallStarted(callID: callID, name: name, input: block["input"] ?? .emptyObject))
    }

    /// The `tool_result` blocks of a user message as completed calls.
    static func toolsCompleted(_ message: JSONValue, names: [String: String]) -> [ProviderEvent] {
        (message["content"]?.arrayValue ?? []).compactMap { block in
            guard block["type"]?.stringValue == "tool_result", let callID = block["tool_use_id"]?.stringValue else {
                return nil
            }
            return .toolCompleted(
                ToolCallCompleted(
                    callID: callID,
                    name: names[callID],
                    output: block["content"]?.textContent ?? "",
                    isError: block["is_error"]?.boolValue ?? false
                )
            )
        }
    }
}
