public import ASMCore
import ASMRouting
public import ASMStore

/// A small, fast, seedable random generator, so a failing property test can be replayed
/// from the seed it prints (the router's SplitMix64).
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var generator: SplitMix64

    public init(seed: UInt64) { generator = SplitMix64(seed: seed) }

    public mutating func next() -> UInt64 { generator.next() }
}

/// Random but valid instances of every event in the vocabulary, for codec properties and
/// random histories.
public struct SampleEvents {
    public var random: SeededGenerator

    public init(seed: UInt64) { random = SeededGenerator(seed: seed) }

    /// Text with the characters that stress a JSON codec: quotes, backslashes, control
    /// characters, non-ASCII letters, emoji, U+2028, and long runs.
    public mutating func text(maximumLength: Int = 40) -> String {
        let pieces = [
            "a", "Z", "0", " ", "\"", "\\", "/", "\n", "\t", "\u{01}", "\u{1F}", "é", "ß", "日本", "🙂", "\u{2028}", "{",
            "}", "[", "]", ",", ":", "null", "true", "-1.5e3", "word ",
        ]
        let length = Int.random(in: 0...maximumLength, using: &random)
        var result = ""
        for _ in 0..<length { result += pieces.randomElement(using: &random) ?? "" }
        return result
    }

    public mutating func optionalText() -> String? {
        Bool.random(using: &random) ? text() : nil
    }

    public mutating func integer(_ range: ClosedRange<Int64> = -1_000_000...1_000_000) -> Int64 {
        Int64.random(in: range, using: &random)
    }

    public mutating func usage() -> TokenUsage {
        TokenUsage(
            input: integer(0...100_000),
            output: integer(0...100_000),
            cacheRead: integer(0...100_000),
            cacheWrite: integer(0...100_000),
            reasoning: integer(0...10_000)
        )
    }

    public mutating func double() -> Double {
        [0.0, 0.5, -2.25, 1e-9, 123_456.789, 1e20, 3.0].randomElement(using: &random) ?? 0
    }

    /// Any JSON value, up to `depth` levels deep.
    public mutating func json(depth: Int = 3) -> JSONValue {
        let choice = Int.random(in: 0..<(depth > 0 ? 7 : 5), using: &random)
        switch choice {
        case 0: return .null
        case 1: return .bool(Bool.random(using: &random))
        case 2: return .integer(integer(Int64.min / 2...Int64.max / 2))
        case 3: return .double(double())
        case 4: return .string(text())
        case 5: return .array((0..<Int.random(in: 0...4, using: &random)).map { _ in json(depth: depth - 1) })
        default:
            var members: [JSONMember] = []
            var keys = Set<String>()
            for _ in 0..<Int.random(in: 0...4, using: &random) {
                let key = text(maximumLength: 6)
                if keys.insert(key).inserted { members.append(JSONMember(key, json(depth: depth - 1))) }
            }
            return .object(members)
        }
    }

    public mutating func failure() -> RunFailure {
        RunFailure(
            kind: [.apiError, .timeout, .maxTurns, "some_future_kind"].randomElement(using: &random) ?? .unknown,
            message: text(),
            httpStatus: Bool.random(using: &random) ? 429 : nil,
            exitCode: Bool.random(using: &random) ? 1 : nil,
            stderr: optionalText()
        )
    }

    public mutating func metadata() -> [String: String] {
        var values: [String: String] = [:]
        for _ in 0..<Int.random(in: 0...4, using: &random) { values[text(maximumLength: 5)] = text() }
        return values
    }

    /// One event of each type in the vocabulary, in vocabulary order.
    public mutating func oneOfEach() -> [SessionEvent] {
        SessionEvent.payloadTypes.indices.map { event(kind: $0) }
    }

    /// A random event of any type.
    public mutating func anyEvent() -> SessionEvent {
        event(kind: Int.random(in: 0..<Self.historyKinds, using: &random))
    }

    /// The kinds a history draws from: the session, run and consumer facts (the first 32 of
    /// the vocabulary). The log's own facts (chain upgrades, expunges) are recorded by the
    /// store, never by a session, so histories keep the bytes their golden digests recorded.
    public static let historyKinds = 32

    /// The event of kind `kind` (an index into ``SessionEvent/payloadTypes``).
    public mutating func event(kind: Int) -> SessionEvent {
        switch SessionEvent.payloadTypes[kind].eventType {
        case .sessionCreated:
            return .sessionCreated(SessionCreated(agentID: text(), metadata: metadata(), tags: [text(), text()]))
        case .sessionActivated: return .sessionActivated(SessionActivated())
        case .sessionCompleted: return .sessionCompleted(SessionCompleted(summary: optionalText()))
        case .sessionFailed: return .sessionFailed(SessionFailed(reason: text()))
        case .sessionArchived: return .sessionArchived(SessionArchived())
        case .runRequested:
            return .runRequested(
                RunRequested(
                    messages: [
                        ChatMessage(role: .user, content: text()), ChatMessage(role: "critic", content: text()),
                    ],
                    provider: optionalText(),
                    model: optionalText(),
                    systemPrompt: optionalText(),
                    metadata: Bool.random(using: &random) ? metadata() : nil
                )
            )
        case .runStarted:
            return .runStarted(
                RunStarted(
                    provider: text(),
                    model: optionalText(),
                    providerSessionID: optionalText(),
                    tools: Bool.random(using: &random) ? [text(), text()] : nil,
                    attempt: Bool.random(using: &random) ? Int(integer(1...5)) : nil
                )
            )
        case .runCompleted:
            return .runCompleted(
                RunCompleted(
                    outputText: optionalText(),
                    stopReason: optionalText(),
                    turns: Bool.random(using: &random) ? Int(integer(0...50)) : nil,
                    durationMilliseconds: Bool.random(using: &random) ? integer(0...100_000) : nil,
                    providerSessionID: optionalText()
                )
            )
        case .runFailed: return .runFailed(RunFailed(failure: failure()))
        case .runCancelled:
            return .runCancelled(
                RunCancelled(
                    reason: [.requested, .policy, .deadline].randomElement(using: &random) ?? .requested,
                    message: optionalText()
                )
            )
        case .routingDecided:
            return .routingDecided(
                RoutingDecided(
                    attempt: Int(integer(1...3)),
                    strategy: "weighted",
                    candidates: [
                        RoutingCandidate(provider: "claude", score: double()),
                        RoutingCandidate(provider: "codex", excludedBecause: text()),
                    ],
                    chosen: optionalText(),
                    seed: Bool.random(using: &random) ? random.next() : nil,
                    stickyKey: optionalText(),
                    rebound: Bool.random(using: &random) ? true : nil
                )
            )
        case .routingFailedOver:
            return .routingFailedOver(
                RoutingFailedOver(
                    attempt: 1,
                    from: text(),
                    to: optionalText(),
                    failure: failure(),
                    afterOutput: Bool.random(using: &random)
                )
            )
        case .providerHealthChanged:
            return .providerHealthChanged(
                ProviderHealthChanged(
                    provider: text(),
                    previous: "closed",
                    current: "open",
                    reason: text(),
                    until: Bool.random(using: &random) ? Timestamp(microseconds: integer()) : nil,
                    consecutiveFailures: Int(integer(0...9))
                )
            )
        case .providerWarning:
            return .providerWarning(ProviderWarning(provider: text(), message: text(), excerpt: optionalText()))
        case .messageStreamed:
            return .messageStreamed(MessageStreamed(messageID: optionalText(), role: .assistant, delta: text()))
        case .messageReceived:
            return .messageReceived(
                MessageReceived(
                    messageID: optionalText(),
                    role: Bool.random(using: &random) ? .user : .assistant,
                    content: text(maximumLength: 200)
                )
            )
        case .runQueued: return .runQueued(RunQueued(position: Int(integer(1...9)), reason: text()))
        case .toolCallRequested:
            return .toolCallRequested(ToolCallRequested(callID: text(), name: text(), input: json()))
        case .toolCallStarted: return .toolCallStarted(ToolCallStarted(callID: text(), name: text(), input: json()))
        case .workspaceWorktreeCreated:
            return .workspaceWorktreeCreated(
                WorkspaceWorktreeCreated(
                    path: text(),
                    workingDirectory: text(),
                    repository: text(),
                    baseSnapshot: text(),
                    base: text(),
                    retention: text(),
                    copiedIgnored: Bool.random(using: &random) ? [text()] : nil
                )
            )
        case .workspaceWorktreeApplied:
            return .workspaceWorktreeApplied(
                WorkspaceWorktreeApplied(
                    path: text(),
                    to: text(),
                    fromSnapshot: text(),
                    toSnapshot: text(),
                    files: Int(integer(0...99)),
                    threeWay: Bool.random(using: &random) ? true : nil
                )
            )
        case .workspaceWorktreeRemoved:
            return .workspaceWorktreeRemoved(
                WorkspaceWorktreeRemoved(path: text(), reason: text(), lastSnapshot: optionalText())
            )
        case .sessionForked:
            return .sessionForked(
                SessionForked(
                    parentSessionID: SessionID(uuid: .version4(randomHigh: random.next(), randomLow: random.next())),
                    forkedAt: SequenceNumber(integer(1...99_999)),
                    agentID: text(),
                    metadata: metadata(),
                    tags: [text()]
                )
            )
        case .toolCallRefused:
            return .toolCallRefused(ToolCallRefused(callID: text(), name: text(), input: json(), reason: text()))
        case .toolCallCompleted:
            return .toolCallCompleted(
                ToolCallCompleted(
                    callID: text(),
                    name: optionalText(),
                    output: text(),
                    isError: Bool.random(using: &random),
                    exitCode: Bool.random(using: &random) ? Int(integer(0...255)) : nil
                )
            )
        case .tokenUsageUpdated:
            let delta = usage()
            return .tokenUsageUpdated(
                TokenUsageUpdated(
                    provider: optionalText(),
                    model: optionalText(),
                    delta: delta,
                    total: delta + usage(),
                    costNanoUSD: Bool.random(using: &random) ? integer(0...1_000_000) : nil,
                    priceTable: optionalText(),
                    reportedCostUSD: Bool.random(using: &random) ? double() : nil
                )
            )
        case .policyEvaluated:
            return .policyEvaluated(
                PolicyEvaluated(
                    policies: [text(), text()],
                    stackHash: text(),
                    outcome: text(),
                    merged: Bool.random(using: &random) ? json() : nil
                )
            )
        case .policyViolated:
            return .policyViolated(
                PolicyViolated(
                    policy: text(),
                    rule: text(),
                    action: "cancel",
                    message: text(),
                    stackHash: text(),
                    counters: PolicyCounters(
                        totalTokens: integer(0...9999),
                        costNanoUSD: integer(0...9999),
                        durationMilliseconds: integer(0...9999),
                        toolCalls: Int(integer(0...99))
                    ),
                    canBlock: Bool.random(using: &random)
                )
            )
        case .toolApprovalRequested:
            return .toolApprovalRequested(
                ToolApprovalRequested(
                    approvalID: text(),
                    callID: optionalText(),
                    tool: text(),
                    input: Bool.random(using: &random) ? json() : nil,
                    policy: text(),
                    rule: text(),
                    canBlock: Bool.random(using: &random)
                )
            )
        case .toolApprovalResolved:
            return .toolApprovalResolved(
                ToolApprovalResolved(
                    approvalID: text(),
                    approved: Bool.random(using: &random),
                    resolvedBy: optionalText(),
                    reason: optionalText()
                )
            )
        case .continuationApplied:
            return .continuationApplied(
                ContinuationApplied(
                    requested: "auto",
                    applied: "replay",
                    reason: text(),
                    providerSessionID: optionalText(),
                    messageCount: Bool.random(using: &random) ? Int(integer(0...100)) : nil,
                    truncated: Bool.random(using: &random) ? false : nil
                )
            )
        case .workspaceSnapshotTaken:
            return .workspaceSnapshotTaken(
                WorkspaceSnapshotTaken(
                    snapshotID: text(),
                    phase: "pre",
                    strategy: "git",
                    path: text(),
                    reference: optionalText(),
                    fileCount: Bool.random(using: &random) ? Int(integer(0...10_000)) : nil
                )
            )
        case .workspaceDiffComputed:
            return .workspaceDiffComputed(
                WorkspaceDiffComputed(
                    fromSnapshot: text(),
                    toSnapshot: text(),
                    filesChanged: Int(integer(0...99)),
                    insertions: Int(integer(0...999)),
                    deletions: Int(integer(0...999)),
                    hasPatch: true,
                    patch: optionalText(),
                    artifact: optionalText(),
                    patchBytes: integer(0...1_000_000)
                )
            )
        case .workspaceRolledBack:
            return .workspaceRolledBack(
                WorkspaceRolledBack(
                    toSnapshot: text(),
                    safetyReference: optionalText(),
                    restored: Int(integer(0...99)),
                    removed: Int(integer(0...99)),
                    unrestorable: Bool.random(using: &random) ? [text()] : nil
                )
            )
        case .artifactStored:
            return .artifactStored(
                ArtifactStored(
                    artifact: text(),
                    bytes: integer(0...1_000_000),
                    mediaType: optionalText(),
                    purpose: optionalText()
                )
            )
        case .consumerCheckpointed:
            return .consumerCheckpointed(
                ConsumerCheckpointed(consumer: text(), position: SequenceNumber(integer(0...99)))
            )
        case .consumerReset:
            return .consumerReset(
                ConsumerReset(
                    consumer: text(),
                    from: SequenceNumber(integer(0...99)),
                    to: SequenceNumber(integer(0...99)),
                    reason: optionalText()
                )
            )
        case .chainUpgraded:
            return .chainUpgraded(ChainUpgraded(fromVersion: 1, toVersion: 2))
        case .eventExpunged:
            let count = Int(integer(1...3))
            return .eventExpunged(
                EventExpunged(
                    sequences: (0..<count).map { _ in SequenceNumber(integer(1...99_999)) },
                    digests: (0..<count).map { _ in "sha256:" + String(repeating: "ab", count: 32) },
                    reason: text(),
                    by: text()
                )
            )
        default:
            preconditionFailure("SampleEvents does not know \(SessionEvent.payloadTypes[kind].eventType) yet")
        }
    }
}

/// A plausible history: sessions that are created, activated, run, stream, call tools,
/// use tokens, and end — interleaved, in batches of varying size, with opaque events of
/// unknown types mixed in.
public struct SampleHistory {
    public struct Batch: Sendable {
        public var stream: StreamID
        public var events: [NewEvent]
    }

    public private(set) var batches: [Batch] = []

    public init(seed: UInt64, sessions sessionCount: Int, events eventCount: Int) {
        var samples = SampleEvents(seed: seed)
        var sessions: [(id: SessionID, runs: [RunID], open: Bool)] = []
        var produced = 0
        while produced < eventCount {
            if sessions.count < sessionCount, sessions.isEmpty || Int.random(in: 0..<4, using: &samples.random) == 0 {
                let id = SessionID(uuid: .version4(randomHigh: samples.random.next(), randomLow: samples.random.next()))
                sessions.append((id, [], true))
                batches.append(
                    Batch(
                        stream: id.stream,
                        events: [
                            NewEvent(
                                id: Self.eventID(&samples),
                                event: .sessionCreated(
                                    SessionCreated(agentID: samples.text(), metadata: samples.metadata(), tags: ["t"])
                                )
                            ),
                            NewEvent(id: Self.eventID(&samples), event: .sessionActivated(SessionActivated())),
                        ]
                    )
                )
                produced += 2
                continue
            }
            let index = Int.random(in: 0..<sessions.count, using: &samples.random)
            var events: [NewEvent] = []
            for _ in 0..<Int.random(in: 1...8, using: &samples.random) {
                let roll = Int.random(in: 0..<20, using: &samples.random)
                if roll == 0 || sessions[index].runs.isEmpty {
                    let run = RunID(
                        uuid: .version4(randomHigh: samples.random.next(), randomLow: samples.random.next())
                    )
                    sessions[index].runs.append(run)
                    events.append(
                        NewEvent(
                            id: Self.eventID(&samples),
                            runID: run,
                            event: .runRequested(
                                RunRequested(
                                    messages: [ChatMessage(role: .user, content: samples.text())],
                                    provider: "scripted"
                                )
                            )
                        )
                    )
                    events.append(
                        NewEvent(
                            id: Self.eventID(&samples),
                            runID: run,
                            event: .runStarted(
                                RunStarted(
                                    provider: ["claude", "codex", "amp"].randomElement(using: &samples.random)
                                        ?? "claude",
                                    model: samples.optionalText()
                                )
                            )
                        )
                    )
                    continue
                }
                let run = sessions[index].runs.randomElement(using: &samples.random)
                let event: SessionEvent
                switch roll {
                case 1: event = .runCompleted(RunCompleted(outputText: samples.text()))
                case 2: event = .runFailed(RunFailed(failure: samples.failure()))
                case 3: event = .runCancelled(RunCancelled(reason: .requested))
                case 4, 5, 6:
                    event = .messageReceived(
                        MessageReceived(
                            role: Bool.random(using: &samples.random) ? .user : .assistant,
                            content: samples.text()
                        )
                    )
                case 7, 8:
                    event = .tokenUsageUpdated(
                        TokenUsageUpdated(
                            provider: samples.optionalText(),
                            model: Bool.random(using: &samples.random) ? "m1" : nil,
                            delta: samples.usage(),
                            total: samples.usage(),
                            costNanoUSD: samples.integer(0...5000),
                            reportedCostUSD: Bool.random(using: &samples.random) ? samples.double() : nil
                        )
                    )
                case 9: event = .sessionCompleted(SessionCompleted(summary: samples.optionalText()))
                case 10: event = .sessionFailed(SessionFailed(reason: samples.text()))
                case 11:
                    event = .opaque(
                        OpaqueEvent(type: "future.fact", schemaVersion: 3, payload: Array("{\"x\":1}".utf8))
                    )
                default: event = samples.anyEvent()
                }
                let belongsToRun = Bool.random(using: &samples.random)
                events.append(NewEvent(id: Self.eventID(&samples), runID: belongsToRun ? run : nil, event: event))
            }
            produced += events.count
            batches.append(Batch(stream: sessions[index].id.stream, events: events))
        }
    }

    private static func eventID(_ samples: inout SampleEvents) -> EventID {
        EventID(uuid: .version4(randomHigh: samples.random.next(), randomLow: samples.random.next()))
    }

    /// Appends every batch to `store`, in order.
    public func append(to store: some EventStore) async throws {
        for batch in batches {
            _ = try await store.append(batch.events, to: batch.stream, expectedVersion: .any)
        }
    }
}
