internal import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Buffered standard output and unbuffered standard error.
enum Console {
    private static let buffer = Mutex<[UInt8]>([])

    /// Writes a line to standard output (buffered; flushed at 64 KiB and by ``flush()``).
    static func line(_ text: String) {
        let full = buffer.withLock { buffer -> Bool in
            buffer.append(contentsOf: text.utf8)
            buffer.append(0x0A)
            return buffer.count >= 1 << 16
        }
        if full { flush() }
    }

    /// Writes the buffered output.
    static func flush() {
        let bytes = buffer.withLock { buffer -> [UInt8] in
            defer { buffer.removeAll(keepingCapacity: true) }
            return buffer
        }
        write(bytes, to: 1)
    }

    /// Writes `asm: message` to standard error.
    static func error(_ message: String) {
        write(Array(("asm: " + message + "\n").utf8), to: 2)
    }

    /// Writes a line to standard error as it is (no `asm:` prefix): progress and summaries.
    static func note(_ message: String) {
        write(Array((message + "\n").utf8), to: 2)
    }

    /// Writes text now, after anything buffered for standard output.
    static func write(_ text: String, to descriptor: Int32) {
        if descriptor == 1 { flush() }
        write(Array(text.utf8), to: descriptor)
    }

    private static func write(_ bytes: [UInt8], to descriptor: Int32) {
        var offset = 0
        while offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            if written <= 0 { return }
            offset += written
        }
    }
}
