// A child process for the store's tests.
//
//   asm-test-child append-loop DB BATCH   appends batches of BATCH events to one session
//                                         until killed; prints "committed LAST" after each
//   asm-test-child append DB COUNT        appends COUNT single events, one commit each
//   asm-test-child follow DB FROM COUNT [polling]
//                                         subscribes from FROM, prints each sequence, stops after COUNT
import AgentSessionManager

#if canImport(Glibc)
import Glibc
#endif

func say(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { bytes in _ = write(1, bytes.baseAddress, bytes.count) }
}

func fail(_ message: String) -> Never {
    var text = "asm-test-child: " + message + "\n"
    text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
    exit(2)
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard arguments.count >= 2 else { fail("usage: append-loop|append|follow DB ...") }
let path = arguments[1]

do {
    switch arguments[0] {
    case "append-loop":
        let batch = Int(arguments[2]) ?? 10
        let store = try SQLiteEventStore(path: path)
        let session = SessionID.generate()
        _ = try await store.append(
            NewEvent(SessionCreated(agentID: "crash")),
            to: session.stream,
            expectedVersion: .noStream
        )
        var round = 0
        while true {
            round += 1
            let events = (0..<batch).map { index in
                NewEvent(MessageReceived(role: .assistant, content: "batch \(round) event \(index) of \(batch)"))
            }
            let result = try await store.append(events, to: session.stream, expectedVersion: .any)
            say("committed \(result.lastSequence)")
        }
    case "append":
        let count = Int(arguments[2]) ?? 1
        let store = try SQLiteEventStore(path: path)
        let session = SessionID.generate()
        for index in 0..<count {
            _ = try await store.append(
                NewEvent(MessageReceived(role: .assistant, content: "event \(index)")),
                to: session.stream
            )
        }
        await store.close()
        say("appended \(count)")
    case "follow":
        let from = SequenceNumber(Int64(arguments[2]) ?? 1)
        let count = Int(arguments[3]) ?? 1
        var configuration = SQLiteEventStore.Configuration()
        if arguments.count > 4, arguments[4] == "polling" {
            configuration.follow = .polling(interval: .milliseconds(1))
        }
        let store = try SQLiteEventStore(path: path, configuration: configuration)
        say("ready")
        var seen = 0
        for try await envelope in store.subscribe(from: from) {
            say("\(envelope.sequence)")
            seen += 1
            if seen == count { break }
        }
        await store.close()
    default:
        fail("unknown command \(arguments[0])")
    }
} catch {
    fail("\(error)")
}
