public import ASMCore
public import ASMRouting
public import ASMStore

/// Decides the recorded runs' attempts again under another router configuration — no model
/// is called, nothing is written — and reports where it would have gone differently: an
/// attempt sent to another provider (or to none), a failover it would not have made, or an
/// attempt it would have added where the recorded router gave up.
///
/// Each recorded `routing.decided` is decided again as `asm replay --verify` does — the log
/// folded through its recorded state position with the new configuration (so a different
/// breaker threshold or cooldown opens breakers differently on the same recorded outcomes), the
/// run's own earlier routing events, its recorded candidates, time and seed. A run is compared
/// up to its first difference: what followed depended on an answer the log does not have.
public struct RouterWhatIf: Sendable {
    /// One way the new configuration routes differently.
    public struct Difference: Sendable, Hashable {
        public enum Kind: String, Sendable, CaseIterable {
            /// The attempt would have gone to another provider.
            case elsewhere
            /// No provider would have been eligible for the attempt.
            case noProvider = "no_provider"
            /// The recorded router failed over; the new one would have stopped (its `max_attempts`).
            case stopsEarlier = "stops_earlier"
            /// The recorded router gave up after a retryable failure; the new one would have tried again.
            case triesMore = "tries_more"
        }

        public var kind: Kind
        public var run: RunID
        public var session: SessionID?
        /// The decision or failover the difference falls on.
        public var sequence: SequenceNumber
        public var attempt: Int
        /// The provider the log recorded for the attempt, and the one the new configuration picks.
        public var recorded: String?
        public var proposed: String?
        /// One sentence saying what would have happened, and what the log recorded.
        public var message: String
    }

    public struct Report: Sendable {
        /// Routed runs compared, and the recorded decisions decided again.
        public var runs = 0
        public var decisions = 0
        public var differences: [Difference] = []
        /// Runs with a difference.
        public var runsChanged: Int { Set(differences.map(\.run)).count }

        public func count(_ kind: Difference.Kind) -> Int { differences.filter { $0.kind == kind }.count }
    }

    public let config: RouterConfig

    public init(config: RouterConfig) {
        self.config = config
    }

    /// Compares every routed run of the log, or of one session.
    public func compare(in store: any EventStore, session: SessionID? = nil) async throws -> Report {
        let events = try await store.allEvents(session.map { EventFilter(stream: $0.stream) } ?? EventFilter())
        return compare(events, log: try await store.allEvents(ProviderRouter.foldedTypes))
    }

    /// Compares the routed runs among `events`, folding the routers' state from `log` (the
    /// log's routing events, every session's).
    public func compare(_ events: [EventEnvelope], log: [EventEnvelope]) -> Report {
        var report = Report()
        var folds = FoldCache(log: log)
        let router = Router(config: config)
        for (run, runEvents) in events.groupedByRun() {
            let routing = runEvents.filter {
                [.routingDecided, .routingFailedOver, .providerHealthChanged].contains($0.type)
            }
            guard routing.contains(where: { $0.type == .routingDecided }) else { continue }
            report.runs += 1
            if let difference = compare(run, routing, router: router, folds: &folds, report: &report) {
                report.differences.append(difference)
            }
        }
        return report
    }

    /// The run's first difference, if any.
    private func compare(
        _ run: RunID,
        _ routing: [EventEnvelope],
        router: Router,
        folds: inout FoldCache,
        report: inout Report
    ) -> Difference? {
        let session = routing.first.map { SessionID(uuid: $0.stream.uuid) }
        func difference(
            _ kind: Difference.Kind,
            _ envelope: EventEnvelope,
            attempt: Int,
            recorded: String?,
            proposed: String?,
            _ message: String
        ) -> Difference {
            Difference(
                kind: kind,
                run: run,
                session: session,
                sequence: envelope.sequence,
                attempt: attempt,
                recorded: recorded,
                proposed: proposed,
                message: message
            )
        }
        var tried: [String] = []
        for envelope in routing {
            switch envelope.event {
            case .routingDecided(let recorded):
                report.decisions += 1
                let decision = folds.redecide(
                    recorded,
                    at: envelope,
                    of: run,
                    routing: routing,
                    router: router,
                    tried: tried,
                    profiles: ReplayVerifier.profiles(recorded.router ?? .null)
                )
                let proposed = decision.event.chosen
                guard proposed != recorded.chosen else { continue }
                let was = recorded.chosen ?? "no provider"
                guard let proposed else {
                    return difference(
                        .noProvider,
                        envelope,
                        attempt: recorded.attempt,
                        recorded: recorded.chosen,
                        proposed: nil,
                        "attempt \(recorded.attempt) at sequence \(envelope.sequence.rawValue) would have found no eligible provider (\(Self.exclusions(decision.event))); recorded: \(was)"
                    )
                }
                return difference(
                    .elsewhere,
                    envelope,
                    attempt: recorded.attempt,
                    recorded: recorded.chosen,
                    proposed: proposed,
                    "attempt \(recorded.attempt) at sequence \(envelope.sequence.rawValue) would have gone to \(proposed) (\(decision.event.strategy)); recorded: \(was)"
                )
            case .routingFailedOver(let failed):
                tried.append(failed.from)
                let retryable = FailureClass.isRetryable(failed.failure, afterOutput: failed.afterOutput)
                let wouldRetry = retryable && failed.attempt < config.maxAttempts
                if failed.to != nil, !wouldRetry {
                    return difference(
                        .stopsEarlier,
                        envelope,
                        attempt: failed.attempt,
                        recorded: failed.to,
                        proposed: nil,
                        "would have failed at attempt \(failed.attempt) (max_attempts \(config.maxAttempts)) instead of failing over from \(failed.from) to \(failed.to ?? "")"
                    )
                }
                if failed.to == nil, wouldRetry {
                    return difference(
                        .triesMore,
                        envelope,
                        attempt: failed.attempt,
                        recorded: nil,
                        proposed: nil,
                        "would have tried attempt \(failed.attempt + 1) after \(failed.from) failed (\(failed.failure.kind.rawValue)) instead of giving up (max_attempts \(config.maxAttempts))"
                    )
                }
            default:
                continue
            }
        }
        return nil
    }

    /// Why each candidate of a decision was not eligible.
    private static func exclusions(_ decision: RoutingDecided) -> String {
        let reasons = decision.candidates.compactMap { candidate in
            candidate.excludedBecause.map { "\(candidate.provider): \($0)" }
        }
        return reasons.isEmpty ? "no candidates" : reasons.joined(separator: ", ")
    }
}
