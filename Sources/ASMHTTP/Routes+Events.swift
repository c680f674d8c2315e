import AgentSessionManager
import FoundationEssentials
import HTTPTypes
import Hummingbird
import Synchronization

extension HTTPAPI {
    /// `GET /v1/events?after=SEQ&limit=N&session=&run=&type=`: a page in sequence order and the
    /// cursor for the next one.
    func events(_ request: Request) async throws -> Response {
        let query = try Query(request)
        let limit = try query.limit(default: 500, maximum: 5000)
        let page = try await store.events(from: try query.after.next, limit: limit, filter: try query.filter())
        var body: [UInt8] = Array(#"{"events":["#.utf8)
        for (index, envelope) in page.events.enumerated() {
            if index > 0 { body.append(UInt8(ascii: ",")) }
            body += EventJSON.object(envelope)
        }
        let next = max(page.scannedThrough, try query.after)
        body += Array(#"],"next":\#(next.rawValue)}"#.utf8) + [0x0A]
        return Self.json(.ok, body)
    }

    /// `GET /v1/stream?after=SEQ&session=&run=&type=&limit=N` as `text/event-stream`: `id:` the
    /// global sequence, `event:` the type, `data:` the event's JSON; the log's backfill, then
    /// live. `Last-Event-ID` (or `after`) resumes after that sequence; `limit` ends the stream
    /// after that many events.
    ///
    /// The stream reads through the server's subscription: a client behind the newest events
    /// reads the log itself, so a slow client never holds the runs back, and the server keeps
    /// at most a few frames for it.
    func stream(_ request: Request) throws -> Response {
        let query = try Query(request)
        var start = try query.after
        if let name = HTTPField.Name("Last-Event-ID"), let last = request.headers[name] {
            guard let sequence = Query.cursor(last) else {
                throw HTTPError(.badRequest, message: "Last-Event-ID must be a sequence number")
            }
            start = sequence
        }
        let subscription = server.subscribe(from: start.next, filter: try query.filter())
        let limit = try query.optionalLimit()
        let heartbeat = self.heartbeat
        let frames = self.frames
        let body = ResponseBody { writer in
            try await writer.write(ByteBuffer(string: "retry: 2000\n\n"))
            // One task follows the log, one beats when it is quiet; the writer takes both in order
            // from a queue of a few frames. The follower waits while the queue is full, so a slow
            // client is held back by the log, not by memory.
            let queue = FrameQueue(capacity: 32)
            let follower = Task {
                var sent = 0
                do {
                    for try await envelope in subscription {
                        guard await queue.put(frames.frame(for: envelope)) else { break }
                        sent += 1
                        if let limit, sent >= limit { break }
                    }
                } catch {}
                await queue.close()
            }
            let beats = Task {
                while !Task.isCancelled {
                    try? await Task.sleep(for: heartbeat)
                    if Task.isCancelled { break }
                    await queue.offer(ByteBuffer(string: ": heartbeat\n\n"))
                }
            }
            defer {
                follower.cancel()
                beats.cancel()
                Task { await queue.close() }
            }
            // Cancelled (the server stops): the queue closes, so a writer waiting for a frame ends.
            // The frames waiting go out in one write: each write is a task on the connection's
            // event loop, and a write per frame outran the loop in a burst, its task queue
            // holding the burst for every client.
            try await withTaskCancellationHandler {
                while let frames = await queue.takeAll() {
                    try await writer.write(contentsOf: frames)
                }
            } onCancel: {
                Task { await queue.close() }
            }
            try await writer.finish(nil)
        }
        return Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: body
        )
    }
}

/// A few frames between a stream's producers and its writer: `put` waits while it is full,
/// `offer` drops a frame instead (a heartbeat is not needed when frames are waiting),
/// `takeAll` waits for a frame and returns every frame queued, or `nil` once the queue is
/// closed and empty.
actor FrameQueue {
    private var frames: [ByteBuffer] = []
    private var closed = false
    private var taker: CheckedContinuation<ByteBuffer?, Never>?
    private var putters: [CheckedContinuation<Void, Never>] = []
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    private var count: Int { frames.count }

    /// Queues `frame`, waiting for room; `false` once the queue is closed.
    func put(_ frame: ByteBuffer) async -> Bool {
        while count >= capacity, !closed {
            await withCheckedContinuation { putters.append($0) }
        }
        guard !closed else { return false }
        hand(frame)
        return true
    }

    /// Queues `frame` when there is room.
    func offer(_ frame: ByteBuffer) {
        guard !closed, count < capacity else { return }
        hand(frame)
    }

    /// The frames queued, in order (at least one), once there are any.
    func takeAll() async -> [ByteBuffer]? {
        if count > 0 {
            let taken = frames
            frames.removeAll(keepingCapacity: true)
            let waiting = putters
            putters = []
            for putter in waiting { putter.resume() }
            return taken
        }
        if closed { return nil }
        return await withCheckedContinuation { taker = $0 }.map { [$0] }
    }

    func close() {
        guard !closed else { return }
        closed = true
        taker?.resume(returning: nil)
        taker = nil
        for putter in putters { putter.resume() }
        putters = []
    }

    private func hand(_ frame: ByteBuffer) {
        if let taker {
            self.taker = nil
            taker.resume(returning: frame)
        } else {
            frames.append(frame)
        }
    }
}

/// Each event's frame, encoded once for every stream that sends it: clients following the
/// live end read the same events at nearly the same time, so the newest frames are kept
/// (the bytes are shared, not copied, by each write).
final class FrameCache: Sendable {
    private struct State {
        var frames: [Int64: ByteBuffer] = [:]
        var order: [Int64] = []
        var head = 0
    }

    private let state = Mutex(State())
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func frame(for envelope: EventEnvelope) -> ByteBuffer {
        let sequence = envelope.sequence.rawValue
        if let frame = state.withLock({ $0.frames[sequence] }) { return frame }
        var bytes = Array("id: \(sequence)\nevent: \(envelope.type.rawValue)\ndata: ".utf8)
        bytes += EventJSON.object(envelope)
        bytes += Array("\n\n".utf8)
        let frame = ByteBuffer(bytes: bytes)
        state.withLock { state in
            guard state.frames[sequence] == nil else { return }
            state.frames[sequence] = frame
            state.order.append(sequence)
            if state.order.count - state.head > capacity {
                state.frames[state.order[state.head]] = nil
                state.head += 1
                if state.head >= capacity {
                    state.order.removeFirst(state.head)
                    state.head = 0
                }
            }
        }
        return frame
    }
}
