internal import ASMStore
internal import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A one-line progress report on standard error for walks over a big log (`asm verify`,
/// `asm rebuild`), redrawn in place. Shown only when standard error is a terminal and the
/// output is not `--json`; otherwise it stays silent.
final class ProgressLine: Sendable {
    let label: String
    let isShown: Bool
    private let drawn = Mutex(false)

    init(_ label: String, json: Bool, isTerminal: Bool = isatty(2) == 1) {
        self.label = label
        isShown = isTerminal && !json
    }

    /// The callback to hand to the store, or `nil` when nothing is shown.
    var report: (@Sendable (WorkProgress) -> Void)? {
        guard isShown else { return nil }
        return { [self] progress in
            drawn.withLock { $0 = true }
            Console.write("\r\u{1B}[K" + ProgressLine.text(label, progress), to: 2)
        }
    }

    /// Erases the line once the walk is over, so the result starts on a clean line.
    func finish() {
        if drawn.withLock({ $0 }) { Console.write("\r\u{1B}[K", to: 2) }
    }

    /// `verifying 12,288 of 40,000 events (30%)`.
    static func text(_ label: String, _ progress: WorkProgress) -> String {
        let percent = progress.total > 0 ? min(100, progress.done * 100 / progress.total) : 100
        return
            "\(label) \(grouped(progress.done)) of \(grouped(max(progress.total, progress.done))) events (\(percent)%)"
    }

    static func grouped(_ value: Int) -> String {
        let digits = Array(String(value))
        var text = ""
        for (index, digit) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { text.append(",") }
            text.append(digit)
        }
        return text
    }
}
