import AgentSessionManagerTesting
import Foundation
import Testing

/// `asm otel export`: the log's runs as OTLP/HTTP traces, checked by a loopback collector.
@Suite struct TelemetryCommandTests {
    private func attributes(_ span: [String: Any]) -> [String: Any] {
        var result: [String: Any] = [:]
        for attribute in span["attributes"] as? [[String: Any]] ?? [] {
            guard let key = attribute["key"] as? String, let value = attribute["value"] as? [String: Any] else {
                continue
            }
            result[key] = value["stringValue"] ?? value["intValue"] ?? value["doubleValue"] ?? value["boolValue"]
        }
        return result
    }

    @Test("each run is an invoke_agent span with its tools under it; two exports send the same trace")
    func export() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("demo.sqlite")
        let demo = try await ASMProcess.run(["demo", "--db", db, "--pace", "0", "--part", "policies"])
        #expect(demo.exitCode == 0, "\(demo.stderr)")
        let receiver = try OTLPReceiver()
        defer { receiver.stop() }

        let first = try await ASMProcess.run(["otel", "export", "--endpoint", receiver.endpoint, "--db", db])
        #expect(first.exitCode == 0, "\(first.stderr)")
        #expect(
            first.stdout.hasPrefix("exported ") && first.stdout.contains(" of 3 runs to \(receiver.endpoint)/v1/traces")
        )
        let spans = receiver.spans
        #expect(receiver.requests.allSatisfy { $0.path == "/v1/traces" })
        let runs = spans.filter { $0["parentSpanId"] == nil }
        #expect(runs.count == 3)
        let traceIDs = Set(spans.compactMap { $0["traceId"] as? String })
        #expect(traceIDs.count == 1 && traceIDs.first?.count == 32, "one session, one trace")
        for run in runs {
            let values = attributes(run)
            #expect(run["name"] as? String == "invoke_agent demo")
            #expect(values["gen_ai.operation.name"] as? String == "invoke_agent")
            #expect(values["gen_ai.provider.name"] as? String == "scripted")
            #expect(values["gen_ai.agent.name"] as? String == "demo")
            #expect(values["gen_ai.request.model"] as? String == "scripted-1")
            #expect(values["gen_ai.conversation.id"] != nil && values["asm.cost_usd"] != nil)
            #expect(values["gen_ai.input.messages"] == nil, "no content unless asked")
            let start = UInt64(run["startTimeUnixNano"] as? String ?? "") ?? 0
            let end = UInt64(run["endTimeUnixNano"] as? String ?? "") ?? 0
            #expect(start > 0 && end >= start)
        }
        // The third run was cancelled by the org policy: an error, with the kind as error.type.
        let failed = runs.filter { ($0["status"] as? [String: Any])?["code"] as? Int == 2 }
        #expect(failed.count == 1 && attributes(failed[0])["error.type"] as? String == "policy_violation")
        #expect(attributes(failed[0])["asm.policy.decisions"] != nil)
        let usage = runs.compactMap { Int(attributes($0)["gen_ai.usage.input_tokens"] as? String ?? "") }
        #expect(usage.count == 3 && usage.reduce(0, +) == 1232, "the runs' input tokens, as asm cost counts them")
        let runIDs = Set(runs.compactMap { $0["spanId"] as? String })
        let tools = spans.filter { $0["parentSpanId"] != nil }
        #expect(!tools.isEmpty && tools.allSatisfy { runIDs.contains($0["parentSpanId"] as? String ?? "") })
        #expect(tools.allSatisfy { attributes($0)["gen_ai.operation.name"] as? String == "execute_tool" })
        #expect(
            tools.allSatisfy {
                attributes($0)["gen_ai.tool.name"] != nil && attributes($0)["gen_ai.tool.call.id"] != nil
            }
        )
        #expect(tools.allSatisfy { attributes($0)["gen_ai.tool.call.arguments"] == nil })

        // Again: the same spans, ids and times included.
        let count = receiver.requests.count
        let again = try await ASMProcess.run(["otel", "export", "--endpoint", receiver.endpoint, "--db", db])
        #expect(again.exitCode == 0)
        let second = Array(receiver.spans.dropFirst(spans.count))
        #expect(receiver.requests.count == count * 2)
        #expect(
            try JSONSerialization.data(withJSONObject: second, options: .sortedKeys)
                == JSONSerialization.data(withJSONObject: spans, options: .sortedKeys)
        )

        // Content only when asked for.
        let withContent = try await ASMProcess.run([
            "otel", "export", "--endpoint", receiver.endpoint + "/v1/traces", "--db", db, "--content",
        ])
        #expect(withContent.exitCode == 0)
        let contentSpans = Array(receiver.spans.dropFirst(spans.count * 2))
        #expect(
            contentSpans.contains { (attributes($0)["gen_ai.input.messages"] as? String)?.contains("Aurora-7") == true }
        )
        #expect(contentSpans.contains { attributes($0)["gen_ai.tool.call.arguments"] != nil })
    }

    @Test("a session started by a tool call joins its parent's trace, its run's span under that tool's span")
    func childSession() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("demo.sqlite")
        let demo = try await ASMProcess.run(["demo", "--db", db, "--pace", "0", "--part", "policies"])
        #expect(demo.exitCode == 0, "\(demo.stderr)")
        let started = try await ASMProcess.run(["events", "--db", db, "--type", "tool_call.started", "--json"])
        let call = try #require(
            JSONSerialization.jsonObject(with: Data((started.lines.first ?? "").utf8)) as? [String: Any]
        )
        let parent = try #require(call["stream_id"] as? String)
        let parentRun = try #require(call["run_id"] as? String)
        let callID = try #require((call["payload"] as? [String: Any])?["call_id"] as? String)
        let child = try await ASMProcess.run([
            "run", "--db", db, "--provider", "scripted", "--agent", "helper", "--parent-session", parent,
            "--parent-run", parentRun, "--parent-call", callID, "--quiet", "Count the tests.",
        ])
        #expect(child.exitCode == 0, "\(child.stderr)")

        let receiver = try OTLPReceiver()
        defer { receiver.stop() }
        let exported = try await ASMProcess.run(["otel", "export", "--endpoint", receiver.endpoint, "--db", db])
        #expect(exported.exitCode == 0, "\(exported.stderr)")
        #expect(exported.stdout.contains(" of 4 runs "), "\(exported.stdout)")
        let spans = receiver.spans
        #expect(Set(spans.compactMap { $0["traceId"] as? String }).count == 1, "one tree, one trace")
        let helper = try #require(spans.first { $0["name"] as? String == "invoke_agent helper" })
        #expect(attributes(helper)["asm.parent.relation"] as? String == "tool_call")
        #expect(attributes(helper)["asm.parent.session_id"] as? String == parent)
        let tool = try #require(spans.first { attributes($0)["gen_ai.tool.call.id"] as? String == callID })
        #expect(helper["parentSpanId"] as? String == tool["spanId"] as? String)
        let run = try #require(spans.first { $0["spanId"] as? String == tool["parentSpanId"] as? String })
        #expect(attributes(run)["gen_ai.conversation.id"] as? String == parent)

        // Live: a run of the child session served later lands under the same tool span.
        let sessions = try await ASMProcess.run(["sessions", "--db", db, "--json"]).lines.compactMap {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let childSession = try #require(sessions.first { $0["agent_id"] as? String == "helper" }?["id"] as? String)
        let input = directory.file("requests.jsonl")
        FileManagerShim.write(input, #"{"messages": [{"role": "user", "content": "Again."}]}"# + "\n")
        let live = try OTLPReceiver()
        defer { live.stop() }
        let served = try await ASMProcess.run([
            "serve", "--db", db, "--session", childSession, "--provider", "scripted", "--input", input, "--quiet",
            "--otel-endpoint", live.endpoint,
        ])
        #expect(served.exitCode == 0, "\(served.stderr)")
        let liveRun = try #require(live.spans.first { $0["name"] as? String == "invoke_agent helper" })
        #expect(liveRun["parentSpanId"] as? String == tool["spanId"] as? String)
        #expect(liveRun["traceId"] as? String == helper["traceId"] as? String)
    }

    @Test("serve --otel-endpoint sends each run as it ends: the same spans a later export sends")
    func live() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("served.sqlite")
        let input = directory.file("requests.jsonl")
        FileManagerShim.write(
            input,
            (1...3).map { #"{"messages": [{"role": "user", "content": "job \#($0)"}]}"# }.joined(separator: "\n") + "\n"
        )
        let receiver = try OTLPReceiver()
        defer { receiver.stop() }
        let served = try await ASMProcess.run([
            "serve", "--db", db, "--provider", "scripted", "--input", input, "--quiet", "--otel-endpoint",
            receiver.endpoint,
        ])
        #expect(served.exitCode == 0, "\(served.stderr)")
        let live = receiver.spans
        #expect(live.filter { $0["parentSpanId"] == nil }.count == 3)
        #expect(receiver.requests.count == 3, "one request per run, as each ended")

        let exported = try await ASMProcess.run(["otel", "export", "--endpoint", receiver.endpoint, "--db", db])
        #expect(exported.exitCode == 0, "\(exported.stderr)")
        let later = Array(receiver.spans.dropFirst(live.count))
        func sorted(_ spans: [[String: Any]]) -> [[String: Any]] {
            spans.sorted { ($0["spanId"] as? String ?? "") < ($1["spanId"] as? String ?? "") }
        }
        #expect(
            try JSONSerialization.data(withJSONObject: sorted(later), options: .sortedKeys)
                == JSONSerialization.data(withJSONObject: sorted(live), options: .sortedKeys)
        )
    }

    @Test("a bad endpoint is a usage error, an unreachable or refusing collector a failure, each in one line")
    func failures() async throws {
        let directory = TemporaryDirectory()
        defer { directory.remove() }
        let db = directory.file("demo.sqlite")
        _ = try await ASMProcess.run(["demo", "--db", db, "--pace", "0", "--part", "policies"])
        let refusing = try OTLPReceiver(status: 503)
        defer { refusing.stop() }
        let closed = try OTLPReceiver()
        closed.stop()
        for (endpoint, code) in [("ftp://127.0.0.1/x", 64), (refusing.endpoint, 1), (closed.endpoint, 1)] {
            let result = try await ASMProcess.run(["otel", "export", "--endpoint", endpoint, "--db", db])
            #expect(result.exitCode == Int32(code), "\(endpoint): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(endpoint): \(result.stderr)")
        }
    }
}
