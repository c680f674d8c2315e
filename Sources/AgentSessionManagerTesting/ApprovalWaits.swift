public import ASMCore
public import ASMStore

extension SQLiteEventStore {
    /// Waits — on the log, not on time — for the first approval requested after `after`.
    /// - Throws: `CancellationError` when the waiting task is cancelled first.
    public func nextApprovalRequest(after: SequenceNumber = .zero) async throws -> ToolApprovalRequested {
        for try await envelope in subscribe(from: after.next, filter: EventFilter(types: [.toolApprovalRequested])) {
            if case .toolApprovalRequested(let requested) = envelope.event { return requested }
        }
        throw CancellationError()
    }
}
