import Testing
import ASMCore
import ASMStore
import AgentSessionManagerTesting

@Test func followOtherConnection() async throws {
    let dir = TemporaryDirectory()
    defer { dir.remove() }
    let a = try SQLiteEventStore(path: dir.file("x.sqlite"))
    let b = try SQLiteEventStore(path: dir.file("x.sqlite"))
    let session = SessionID.generate()
    let task = Task {
        var seen = 0
        for try await e in b.subscribe(from: .zero) { seen += 1; print("seen", e.sequence); if seen == 3 { break } }
        return seen
    }
    try await Task.sleep(for: .milliseconds(50))
    for _ in 0..<3 {
        try await a.append(NewEvent(SessionActivated()), to: session.stream)
    }
    let n = try await task.value
    #expect(n == 3)
    await a.close(); await b.close()
}
