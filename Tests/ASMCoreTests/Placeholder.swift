import Testing
import ASMCore

@Test func sanity() throws {
    let event = TokenUsageUpdated(provider: "claude", model: "m", delta: TokenUsage(input: 3, output: 4), total: TokenUsage(input: 3, output: 4), reportedCostUSD: 0.25)
    let bytes = try PayloadEncoder().encode(event)
    print(String(decoding: bytes, as: UTF8.self))
    let back = try PayloadDecoder().decode(TokenUsageUpdated.self, from: bytes)
    #expect(back == event)
    let s = SessionCreated(agentID: "a\"b\n", metadata: ["z": "1", "a": "2", "m": "3"], tags: ["x"])
    let b2 = try PayloadEncoder().encode(s)
    print(String(decoding: b2, as: UTF8.self))
    #expect(try PayloadDecoder().decode(SessionCreated.self, from: b2) == s)
    let t = ToolCallStarted(callID: "c1", name: "Bash", input: ["command": "ls -la", "timeout": 5, "nested": ["b": true, "a": nil]])
    let b3 = try PayloadEncoder().encode(t)
    print(String(decoding: b3, as: UTF8.self))
    #expect(try PayloadDecoder().decode(ToolCallStarted.self, from: b3) == t)
    let codec = EventCodec()
    let e = try codec.encode(.sessionActivated(SessionActivated()))
    print(e.type, String(decoding: e.payload, as: UTF8.self))
    print(codec.decode(type: "nope.x", schemaVersion: 1, payload: Array("{}".utf8)))
    print(codec.decode(type: "run.started", schemaVersion: 1, payload: Array("{\"provider\":\"x\"}".utf8)))
    print(codec.decode(type: "run.started", schemaVersion: 2, payload: Array("{\"provider\":\"x\"}".utf8)))
    print(codec.decode(type: "run.started", schemaVersion: 1, payload: Array("{\"provider\":3}".utf8)))
}
