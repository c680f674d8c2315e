import AgentSessionManager
import ArgumentParser
import FoundationEssentials

extension ASM {
    /// `asm cost`: usage and cost rolled up by session, provider and model.
    struct Cost: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show token usage and cost rolled up by session, provider and model.",
            discussion: """
                Costs are the ones recorded with each usage update (with the price table named in the log); the \
                provider's own report is shown beside them where it gives one. --prices FILE recomputes every cost \
                with another price table, without changing the log.
                """
        )

        @OptionGroup var store: StoreOptions
        @OptionGroup var output: OutputOptions

        @Option(help: "Only one roll-up: session, provider, model or run (default: session, provider and model).")
        var by: Grouping?

        enum Grouping: String, ExpressibleByArgument, CaseIterable {
            case session, provider, model, run
        }

        @Option(help: "Only this session (an id or an unambiguous prefix).")
        var session: String?

        @Option(help: "A JSON price table to recompute costs with.")
        var prices: String?

        @Flag(
            help: """
                The session named by --session and every session under it — forked from it, or started under it as a \
                sub-agent or by one of its runs' tool calls — and under those, each with its own runs, failed runs, \
                tokens and cost and the totals of its subtree.
                """
        )
        var tree = false

        func validate() throws {
            if tree, session == nil {
                throw ValidationError("--tree rolls up one session's tree: name it with --session")
            }
            if tree, by != nil || prices != nil {
                throw ValidationError("--tree cannot be combined with --by or --prices")
            }
        }

        func run() async throws {
            if tree, let session {
                return try await withStore(try await store.openForReading()) { store in
                    let tree = try await SessionTree.read(try await resolveSession(session, in: store), from: store)
                    Self.printTree(tree, json: output.json)
                }
            }
            var table: PriceTable?
            if let prices {
                let bytes = try contents(of: prices, "the price table")
                do {
                    table = try PriceTable(json: bytes)
                } catch {
                    var error = error
                    error.path = prices
                    throw error
                }
            }
            try await withStore(try await store.openForReading()) { store in
                var sessionID: SessionID?
                if let session { sessionID = try await resolveSession(session, in: store) }
                let groupings =
                    by.map { [UsageGrouping(rawValue: $0.rawValue) ?? .session] } ?? [.session, .provider, .model]
                // Recomputing prices each run's usage per provider and model, then rolls it up.
                let perRun = table == nil ? [] : try await store.usage(by: .run, session: sessionID)
                var first = true
                for grouping in groupings {
                    let rows = try await store.usage(by: grouping, session: sessionID)
                    let recomputed = table.map { Self.recompute(perRun, with: $0, by: grouping) }
                    if output.json {
                        for row in rows {
                            Console.line(
                                Formatting.json(
                                    CostRow(
                                        row,
                                        grouping: grouping,
                                        recomputed: recomputed.map { $0[Self.key(row, grouping)] ?? nil },
                                        table: table?.version
                                    )
                                )
                            )
                        }
                        continue
                    }
                    if !first { Console.line("") }
                    first = false
                    Console.line("by \(grouping.rawValue)")
                    guard !rows.isEmpty else {
                        Console.line("  no usage")
                        continue
                    }
                    var header = [
                        "  " + grouping.rawValue.uppercased(), "RUNS", "INPUT", "OUTPUT", "CACHE READ", "CACHE WRITE",
                        "COST", "REPORTED",
                    ]
                    if let table { header.append("AT \(table.version)") }
                    var lines = [header]
                    for row in rows {
                        let tokens = row.tokens
                        var line = [
                            "  " + Self.key(row, grouping), String(row.runs), String(tokens.input),
                            String(tokens.output),
                            String(tokens.cacheRead), String(tokens.cacheWrite), Formatting.usd(nano: row.costNanoUSD),
                            row.reportedCostNanoUSD.map { Formatting.usd(nano: $0) } ?? "-",
                        ]
                        if let recomputed {
                            line.append(
                                (recomputed[Self.key(row, grouping)] ?? nil).map { Formatting.usd(nano: $0) }
                                    ?? "no price"
                            )
                        }
                        lines.append(line)
                    }
                    Formatting.table(lines, rightAligned: Set(1..<header.count)).forEach(Console.line)
                }
            }
        }

        static func printTree(_ tree: SessionTree, json: Bool) {
            let nodes = tree.flattened
            if json {
                for (depth, node) in nodes { Console.line(Formatting.json(TreeRow(node, depth: depth))) }
                return
            }
            var lines = [
                [
                    "SESSION", "UNDER PARENT BY", "RUNS", "FAILED", "INPUT", "OUTPUT", "COST", "TREE RUNS",
                    "TREE FAILED",
                    "TREE COST",
                ]
            ]
            for (depth, node) in nodes {
                let name =
                    (depth == 0 ? "" : String(repeating: "  ", count: depth - 1) + "└ ") + node.session.id.description
                lines.append([
                    name, via(node), String(node.runs),
                    String(node.failedRuns), String(node.tokens.input), String(node.tokens.output),
                    Formatting.usd(nano: node.costNanoUSD), String(node.treeRuns), String(node.treeFailedRuns),
                    Formatting.usd(nano: node.treeCostNanoUSD),
                ])
            }
            Formatting.table(lines, rightAligned: Set(1..<lines[0].count)).forEach(Console.line)
        }

        /// How a session of the tree hangs under its parent: a fork (at a sequence), a sub-agent,
        /// a tool call.
        private static func via(_ node: SessionTree) -> String {
            switch node.relation {
            case .fork: "fork at \(node.fork?.forkedAt.rawValue ?? 0)"
            case .subAgent: "sub-agent"
            case .toolCall: "tool call \(node.parent?.parentCallID ?? "")"
            case nil: "-"
            }
        }

        static func key(_ row: UsageSummary, _ grouping: UsageGrouping) -> String {
            switch grouping {
            case .run: row.runID?.description ?? "-"
            case .session: row.sessionID?.description ?? "-"
            case .provider: row.provider ?? "-"
            case .model: row.model ?? "-"
            }
        }

        /// Each group's cost at `table`; `nil` for a group with usage the table cannot price.
        static func recompute(
            _ perRun: [UsageSummary],
            with table: PriceTable,
            by grouping: UsageGrouping
        ) -> [String: Int64?] {
            var totals: [String: Int64?] = [:]
            for row in perRun {
                // Per-run rows carry every key a roll-up needs.
                let key = key(row, grouping)
                let cost = table.costNanoUSD(of: row.tokens, provider: row.provider ?? "", model: row.model)
                let sum: Int64?? = totals[key]
                switch (sum, cost) {
                case (.none, let cost): totals[key] = .some(cost)
                case (.some(.some(let running)), .some(let cost)): totals[key] = .some(running + cost)
                default: totals[key] = .some(nil)
                }
            }
            return totals
        }
    }
}

/// One `asm cost --json` line.
private struct CostRow: Encodable {
    var grouping: String
    var key: String
    var runs: Int
    var tokens: TokenUsage
    var costUSD: Double
    var reportedCostUSD: Double?
    var recomputedCostUSD: Double?
    var recomputedWith: String?

    init(_ row: UsageSummary, grouping: UsageGrouping, recomputed: Int64??, table: String?) {
        self.grouping = grouping.rawValue
        key = ASM.Cost.key(row, grouping)
        runs = row.runs
        tokens = row.tokens
        costUSD = Double(row.costNanoUSD) / 1e9
        reportedCostUSD = row.reportedCostNanoUSD.map { Double($0) / 1e9 }
        if let recomputed { recomputedCostUSD = recomputed.map { Double($0) / 1e9 } }
        recomputedWith = table
    }

    enum CodingKeys: String, CodingKey {
        case grouping, key, runs, tokens
        case costUSD = "cost_usd"
        case reportedCostUSD = "reported_cost_usd"
        case recomputedCostUSD = "recomputed_cost_usd"
        case recomputedWith = "recomputed_with"
    }
}

/// One `asm cost --tree --json` line: a session of the tree, depth first.
private struct TreeRow: Encodable {
    var sessionID: SessionID
    var parentSessionID: SessionID?
    var relation: SessionParent.Relation?
    var forkedAt: SequenceNumber?
    var parentRunID: RunID?
    var parentCallID: String?
    var depth: Int
    var runs: Int
    var failedRuns: Int
    var tokens: TokenUsage
    var costUSD: Double
    var treeRuns: Int
    var treeFailedRuns: Int
    var treeTokens: TokenUsage
    var treeCostUSD: Double

    init(_ node: SessionTree, depth: Int) {
        sessionID = node.session.id
        parentSessionID = node.parentSessionID
        relation = node.relation
        forkedAt = node.fork?.forkedAt
        parentRunID = node.parent?.parentRunID
        parentCallID = node.parent?.parentCallID
        self.depth = depth
        runs = node.runs
        failedRuns = node.failedRuns
        tokens = node.tokens
        costUSD = Double(node.costNanoUSD) / 1e9
        treeRuns = node.treeRuns
        treeFailedRuns = node.treeFailedRuns
        treeTokens = node.treeTokens
        treeCostUSD = Double(node.treeCostNanoUSD) / 1e9
    }

    enum CodingKeys: String, CodingKey {
        case sessionID = "session_id"
        case parentSessionID = "parent_session_id"
        case relation
        case forkedAt = "forked_at"
        case parentRunID = "parent_run_id"
        case parentCallID = "parent_call_id"
        case depth, runs
        case failedRuns = "failed_runs"
        case tokens
        case costUSD = "cost_usd"
        case treeRuns = "tree_runs"
        case treeFailedRuns = "tree_failed_runs"
        case treeTokens = "tree_tokens"
        case treeCostUSD = "tree_cost_usd"
    }
}
