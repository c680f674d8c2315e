public import ASMCore

/// How a provider process ended: what a decoder needs to write the run's last event.
public struct ProcessOutcome: Hashable, Sendable {
    /// How the process ended.
    public enum Termination: Hashable, Sendable {
        case exited(Int32)
        case signaled(Int32)
        /// The process never started (the outcome's stop cause or message says why).
        case notStarted(String)
    }

    /// Why the library stopped the process, when it did.
    public enum StopCause: Hashable, Sendable {
        case cancelled(CancelReason)
        case deadline(Duration)
        case idleTimeout(Duration)
        case lineTooLong(limit: Int)
    }

    public var termination: Termination
    /// The end of standard error, bounded and redacted.
    public var stderr: String
    public var stop: StopCause?

    public init(termination: Termination, stderr: String = "", stop: StopCause? = nil) {
        self.termination = termination
        self.stderr = stderr
        self.stop = stop
    }

    /// The exit code, when the process exited normally.
    public var exitCode: Int32? {
        if case .exited(let code) = termination { return code }
        return nil
    }

    /// The last non-empty line of standard error.
    public var stderrSummary: String? {
        stderr.split(whereSeparator: \.isNewline).last { !$0.allSatisfy(\.isWhitespace) }.map(String.init)
    }

    /// A phrase for messages: "exited with code 1", "was killed by signal 9".
    public var terminationPhrase: String {
        switch termination {
        case .exited(let code): "exited with code \(code)"
        case .signaled(let signal): "was stopped by signal \(signal)"
        case .notStarted(let why): "did not start (\(why))"
        }
    }

    /// The last event of a run whose provider wrote no final result of its own.
    ///
    /// Our own stop comes first (a cancel, a timeout, an over-long line); then `known`, a
    /// failure the decoder recognised; then the process's exit and standard error.
    public func terminalWithoutResult(provider: String, known: RunFailure? = nil) -> ProviderEvent {
        switch stop {
        case .cancelled(let reason)?:
            return .cancelled(
                RunCancelled(reason: reason, message: "\(provider) \(terminationPhrase) after the run was cancelled")
            )
        case .deadline(let limit)?:
            return .failure(
                .timeout,
                "the run's deadline of \(limit.asText) passed",
                exitCode: exitCode.map(Int.init),
                stderr: stderrOrNil
            )
        case .idleTimeout(let limit)?:
            return .failure(
                .timeout,
                "\(provider) wrote nothing for \(limit.asText)",
                exitCode: exitCode.map(Int.init),
                stderr: stderrOrNil
            )
        case .lineTooLong(let limit)?:
            return .failure(.invalidOutput, "\(provider) wrote a line longer than \(limit) bytes", stderr: stderrOrNil)
        case nil:
            break
        }
        if var known {
            if known.exitCode == nil { known.exitCode = exitCode.map(Int.init) }
            if known.stderr == nil { known.stderr = stderrOrNil }
            return .failed(RunFailed(failure: known))
        }
        let detail = stderrSummary.map { ": \($0)" } ?? ""
        return .failure(
            .processExited,
            "\(provider) \(terminationPhrase) without a result\(detail)",
            exitCode: exitCode.map(Int.init),
            stderr: stderrOrNil
        )
    }

    var stderrOrNil: String? { stderr.isEmpty ? nil : stderr }
}

extension Duration {
    /// "30 s", "1.5 s", "250 ms".
    package var asText: String {
        let milliseconds = wholeMilliseconds
        if milliseconds < 1000 { return "\(milliseconds) ms" }
        if milliseconds % 1000 == 0 { return "\(milliseconds / 1000) s" }
        return "\(Double(milliseconds) / 1000) s"
    }
}
