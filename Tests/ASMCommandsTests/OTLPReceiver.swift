import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A loopback OTLP/HTTP collector for the tests: accepts POSTs on 127.0.0.1 (an ephemeral
/// port), answers 200 (or `status`), and keeps each request's path and decoded JSON body.
final class OTLPReceiver: Sendable {
    let port: UInt16
    private let descriptor: Int32
    private let received = Mutex<[(path: String, body: Data)]>([])
    let status: Int

    init(status: Int = 200) throws {
        self.status = status
        let socketDescriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard socketDescriptor >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(socketDescriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(socketDescriptor, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socketDescriptor, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        descriptor = socketDescriptor
        Thread { [self] in serve() }.start()
    }

    var endpoint: String { "http://127.0.0.1:\(port)" }

    /// The requests so far.
    var requests: [(path: String, body: [String: Any]?)] {
        received.withLock { $0 }.map { ($0.path, try? JSONSerialization.jsonObject(with: $0.body) as? [String: Any]) }
    }

    /// Every span of every request, in the order received.
    var spans: [[String: Any]] {
        requests.flatMap { request -> [[String: Any]] in
            let resources = request.body?["resourceSpans"] as? [[String: Any]] ?? []
            return resources.flatMap { resource in
                (resource["scopeSpans"] as? [[String: Any]] ?? []).flatMap { $0["spans"] as? [[String: Any]] ?? [] }
            }
        }
    }

    func stop() {
        shutdown(descriptor, Int32(SHUT_RDWR))
        close(descriptor)
    }

    private func serve() {
        while true {
            let client = accept(descriptor, nil, nil)
            guard client >= 0 else { return }
            var data: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            var bodyStart: Int?
            var expected = 0
            while true {
                let count = read(client, &buffer, buffer.count)
                guard count > 0 else { break }
                data += buffer[0..<count]
                if bodyStart == nil, let end = Self.headerEnd(data) {
                    bodyStart = end
                    let head = String(decoding: data[0..<end], as: UTF8.self).lowercased()
                    for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
                        expected =
                            Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
                    }
                }
                if let start = bodyStart, data.count - start >= expected { break }
            }
            let head = String(decoding: data.prefix(bodyStart ?? data.count), as: UTF8.self)
            let path = head.split(separator: " ").dropFirst().first.map(String.init) ?? ""
            let body = bodyStart.map { Array(data[$0...]) } ?? []
            received.withLock { $0.append((path, Data(body))) }
            let reply =
                "HTTP/1.1 \(status) X\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
            _ = Array(reply.utf8).withUnsafeBytes { write(client, $0.baseAddress, $0.count) }
            close(client)
        }
    }

    private static func headerEnd(_ data: [UInt8]) -> Int? {
        guard data.count >= 4 else { return nil }
        for index in 0...(data.count - 4)
        where data[index] == 13 && data[index + 1] == 10 && data[index + 2] == 13 && data[index + 3] == 10 {
            return index + 4
        }
        return nil
    }
}
