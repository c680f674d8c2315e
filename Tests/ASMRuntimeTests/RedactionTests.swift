import ASMCore
import ASMProviders
import ASMRuntime
import ASMStore
import AgentSessionManagerTesting
import FoundationEssentials
import Testing

/// Secrets never reach the log: the engine redacts every event before it is appended,
/// whatever the provider (the scripted one included), and streamed text is held back so a
/// secret split across deltas is never stored in pieces.
struct RedactionTests {
    static let githubToken = "ghp_" + String(repeating: "aB3dE5fG7h", count: 4)
    static let awsKey = "AKIAQWERTYUIOP123456"
    static let envSecret = "Zq8-vault-PASS-77-xK"

    @Test("prompt, output, streamed text, tool input and output, failure and stderr are stored redacted")
    func everySource() async throws {
        let split = Self.githubToken
        let provider = ScriptedProvider(
            script: ProviderScript([
                // The token arrives cut in three deltas.
                .event(
                    .streamed(MessageStreamed(messageID: "m1", role: .assistant, delta: "token: " + split.prefix(9)))
                ),
                .event(
                    .streamed(
                        MessageStreamed(messageID: "m1", role: .assistant, delta: String(split.dropFirst(9).prefix(20)))
                    )
                ),
                .event(
                    .streamed(MessageStreamed(messageID: "m1", role: .assistant, delta: split.dropFirst(29) + " done"))
                ),
                .event(.received(MessageReceived(messageID: "m1", role: .assistant, content: "token: \(split) done"))),
                .toolCall(
                    name: "Bash",
                    input: ["command": .string("aws configure set key \(Self.awsKey) && echo \(Self.envSecret)")],
                    output: "wrote \(Self.awsKey)"
                ),
                .crash(exitCode: 2, stderr: "fatal: bad credentials \(Self.githubToken)"),
            ])
        )
        try await withHarness([provider]) { h in
            let session = try await h.manager.startSession(agentID: "secrets")
            let result = try await h.manager.run(
                "deploy with \(Self.awsKey) and DB_PASSWORD=\(Self.envSecret)",
                in: session,
                options: RunOptions(provider: "scripted", environment: ["VAULT_TOKEN": Self.envSecret])
            )
            #expect(result.status == .failed)
            let events = try await h.events(session)
            let codec = EventCodec()
            let stored = try events.map { String(decoding: try codec.encode($0.event).payload, as: UTF8.self) }
                .joined(separator: "\n")
            for secret in [Self.githubToken, Self.awsKey, Self.envSecret] {
                #expect(!stored.contains(secret), "\(secret) reached the log")
            }
            // Nothing of the split token survives in the concatenated deltas.
            let deltas = events.compactMap { envelope -> String? in
                if case .messageStreamed(let streamed) = envelope.event { return streamed.delta }
                return nil
            }
            .joined()
            #expect(deltas == "token: [REDACTED:github-token] done")
            #expect(stored.contains("[REDACTED:aws-access-key]") && stored.contains("[REDACTED:env:VAULT_TOKEN]"))
            // The file holds none of them either (WAL included).
            for file in [h.store.path, h.store.path + "-wal"] {
                let bytes = (try? Data(contentsOf: URL(fileURLWithPath: file))) ?? Data()
                for secret in [Self.githubToken, Self.awsKey, Self.envSecret] {
                    #expect(Array(bytes).firstRange(of: Array(secret.utf8)) == nil, "\(secret) in \(file)")
                }
            }
        }
    }

    @Test("any event appended to the store directly is redacted too, opaque events included")
    func storeStep() async throws {
        try await withTemporaryStore { store in
            var samples = SampleEvents(seed: 9)
            let session = SessionID.generate()
            let events = samples.oneOfEach().map { event -> NewEvent in
                // Put a secret in every string the payload holds.
                let codec = EventCodec()
                guard let encoded = try? codec.encode(event), let value = try? JSONValue(parsing: encoded.payload)
                else {
                    return NewEvent(event)
                }
                let salted = Self.salt(value)
                let bytes = (try? salted.jsonBytes()) ?? encoded.payload
                return NewEvent(codec.decode(type: encoded.type, schemaVersion: encoded.schemaVersion, payload: bytes))
            }
            let opaque = NewEvent(
                .opaque(
                    OpaqueEvent(
                        type: "future.fact",
                        schemaVersion: 1,
                        payload: Array(#"{"note":"\#(Self.awsKey)"}"#.utf8)
                    )
                )
            )
            try await store.append(events + [opaque], to: session.stream, expectedVersion: .any)
            let page = try await store.recordedEvents(from: .zero, limit: 1000, filter: .all)
            #expect(page.events.count == events.count + 1)
            for recorded in page.events {
                let text = String(decoding: recorded.payload, as: UTF8.self)
                #expect(!text.contains(Self.githubToken) && !text.contains(Self.awsKey), "\(recorded.type): \(text)")
            }
        }
    }

    @Test("the store hides the exact values its redactor was given (by default the process's secret variables)")
    func storeValues() async throws {
        var configuration = SQLiteEventStore.Configuration()
        configuration.redactor = Redactor(environment: ["DEPLOY_TOKEN": "plain-value-1234", "HOME": "/home/ada"])
        try await withTemporaryStore(configuration: configuration) { store in
            let session = SessionID.generate()
            try await store.append(
                NewEvent(MessageReceived(role: .user, content: "token plain-value-1234 in /home/ada")),
                to: session.stream,
                expectedVersion: .any
            )
            let stored = try await store.recordedEvents(from: .zero, limit: 10, filter: .all).events
            let text = stored.map { String(decoding: $0.payload, as: UTF8.self) }.joined()
            #expect(text.contains("token [REDACTED:env:DEPLOY_TOKEN] in /home/ada"))
        }
    }

    /// `value` with a token appended to each of its strings.
    static func salt(_ value: JSONValue) -> JSONValue {
        switch value {
        case .string(let text): .string(text + " " + githubToken + " " + awsKey)
        case .array(let values): .array(values.map(salt))
        case .object(let members): .object(members.map { JSONMember($0.key, salt($0.value)) })
        default: value
        }
    }
}
