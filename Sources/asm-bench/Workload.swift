import AgentSessionManager

/// The engine's side of the anchor's workload: about 300-byte payloads over 16 sessions,
/// cycling through eight kinds of event the way `evlog.c` cycles through its eight types.
struct Workload {
    static let sessionCount = 16
    static let payloadTarget = 300

    static let filler =
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor "
        + "incididunt ut labore et dolore magna aliqua. Ut enim ad minim veniam, quis nostrud "
        + "exercitation ullamco laboris nisi ut aliquip ex ea commodo consequat. Duis aute irure "
        + "dolor in reprehenderit in voluptate velit esse cillum dolore eu fugiat nulla pariatur. "
        + "Excepteur sint occaecat cupidatat non proident, sunt in culpa qui officia deserunt."

    let sessions: [SessionID]
    let runs: [RunID]
    /// For each kind, how many filler characters make its payload about 300 bytes.
    private let fillerLength: [Int]

    init() {
        sessions = (0..<Self.sessionCount).map { _ in .generate() }
        runs = (0..<Self.sessionCount).map { _ in .generate() }
        var lengths: [Int] = []
        for kind in 0..<8 {
            let empty = (try? EventCodec().encode(Self.payload(kind: kind, index: 0, content: "")).payload) ?? []
            lengths.append(max(8, Self.payloadTarget - empty.count))
        }
        fillerLength = lengths
    }

    /// The events that open each session (not timed).
    func setupEvents(session index: Int) -> [NewEvent] {
        [
            NewEvent(SessionCreated(agentID: "bench-\(index)", metadata: ["workload": "evlog"], tags: ["bench"])),
            NewEvent(SessionActivated()),
            NewEvent(RunRequested(messages: [ChatMessage(role: .user, content: "benchmark")]), run: runs[index]),
            NewEvent(RunStarted(provider: "scripted", model: "bench-model"), run: runs[index]),
        ]
    }

    /// Opens every session of the workload in `store` (not timed).
    func setUp(_ store: SQLiteEventStore) async throws {
        for (index, session) in sessions.enumerated() {
            try await store.append(setupEvents(session: index), to: session.stream, expectedVersion: .noStream)
        }
    }

    /// Appends events `0..<count`, `batch` per append, each batch to the next session in turn.
    /// - Parameter events: the events, prepared in advance so their creation is not timed.
    func append(to store: SQLiteEventStore, count: Int, batch: Int, events prepared: [NewEvent]? = nil) async throws {
        var index = 0
        var round = 0
        while index < count {
            let end = min(count, index + batch)
            let slice = prepared.map { Array($0[index..<end]) } ?? (index..<end).map(event)
            try await store.append(slice, to: sessions[round % Self.sessionCount].stream, expectedVersion: .any)
            index = end
            round += 1
        }
    }

    /// The kind of event `i`, as `evlog.c` picks its type.
    static func kind(of index: Int) -> Int { (index * 7 + index / 3) % 8 }

    /// Event `i` of the workload, in session `i % 16`.
    func event(_ index: Int) -> NewEvent {
        let kind = Self.kind(of: index)
        let length = fillerLength[kind]
        let characters = Array(Self.filler.utf8)
        let offset = index % (characters.count - length)
        let content = String(decoding: characters[offset..<(offset + length)], as: UTF8.self)
        return NewEvent(Self.payload(kind: kind, index: index, content: content), run: runs[index % Self.sessionCount])
    }

    private static func payload(kind: Int, index: Int, content: String) -> SessionEvent {
        switch kind {
        case 0: .messageReceived(MessageReceived(messageID: "msg_\(index)", role: .user, content: content))
        case 1: .messageReceived(MessageReceived(messageID: "msg_\(index)", role: .assistant, content: content))
        case 2:
            .toolCallStarted(
                ToolCallStarted(callID: "call_\(index)", name: "Bash", input: ["command": .string(content)])
            )
        case 3:
            .toolCallCompleted(ToolCallCompleted(callID: "call_\(index)", name: "Bash", output: content, exitCode: 0))
        case 4: .messageStreamed(MessageStreamed(messageID: "msg_\(index)", delta: content))
        case 5:
            .tokenUsageUpdated(
                TokenUsageUpdated(
                    provider: "scripted",
                    model: "bench-model",
                    delta: TokenUsage(input: Int64(index % 997), output: Int64(index % 313)),
                    total: TokenUsage(input: Int64(index), output: Int64(index)),
                    costNanoUSD: Int64(index % 1000),
                    priceTable: content
                )
            )
        case 6:
            .workspaceDiffComputed(
                WorkspaceDiffComputed(
                    fromSnapshot: "pre",
                    toSnapshot: "post",
                    filesChanged: 1,
                    insertions: index % 50,
                    deletions: index % 7,
                    hasPatch: true,
                    patch: content,
                    patchBytes: Int64(content.utf8.count)
                )
            )
        default: .messageStreamed(MessageStreamed(messageID: "msg_\(index)", role: .assistant, delta: content))
        }
    }
}
