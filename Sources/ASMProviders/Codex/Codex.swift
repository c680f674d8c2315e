import ASMCore

/// Codex: `codex exec --json`, the prompt as the last argument, standard input closed.
public struct Codex: CommandLineDialect {
    public var name: String { CodexStreamDecoder.provider }
    public var defaultExecutable: String { "codex" }

    /// Pass `--skip-git-repo-check`, so runs work outside git repositories.
    public var skipGitRepoCheck: Bool
    /// `-s`: `read-only`, `workspace-write` or `danger-full-access`; codex's default when `nil`.
    /// A policy that denies the shell forces `read-only`.
    public var sandbox: String?
    public var gracePeriod: Duration

    public init(skipGitRepoCheck: Bool = true, sandbox: String? = nil, gracePeriod: Duration = .seconds(5)) {
        self.skipGitRepoCheck = skipGitRepoCheck
        self.sandbox = sandbox
        self.gracePeriod = gracePeriod
    }

    public var capabilities: ProviderCapabilities {
        ProviderCapabilities(
            streamsText: false,
            reportsToolCalls: true,
            resumesNatively: true,
            interrupts: true,
            toolGate: .observeOnly,
            tools: ["command_execution", "file_change", "web_search", "mcp_tool_call"]
        )
    }

    public func launch(for request: ProviderRequest) -> LaunchSpec {
        var arguments = ["exec", "--json"]
        if skipGitRepoCheck { arguments.append("--skip-git-repo-check") }
        if let directory = request.workingDirectory { arguments += ["-C", directory] }
        if let model = request.model { arguments += ["-m", model] }
        if let systemPrompt = request.systemPrompt {
            arguments += ["-c", "developer_instructions=\(Self.tomlString(systemPrompt))"]
        }
        let controls = request.controls
        var sandbox = self.sandbox
        // Codex has no per-tool lists: a denied shell (or one left out of a whitelist) removes
        // the shell tools, with a read-only sandbox as defense in depth; likewise web search.
        if controls.deniesShell {
            arguments += ["-c", "features.shell_tool=false"]
            sandbox = "read-only"
        }
        if controls.deniesWebSearch { arguments += ["-c", "web_search=\"disabled\""] }
        if let sandbox { arguments += ["-s", sandbox] }
        if let session = request.resumeSessionID {
            arguments += ["resume", session, request.promptText]
        } else {
            arguments += ["--", request.promptText]
        }
        return LaunchSpec(
            arguments: arguments,
            standardInput: nil,
            stopSequence: [
                SignalStep(.interrupt, grace: gracePeriod), SignalStep(.terminate, grace: gracePeriod),
                SignalStep(.kill, grace: gracePeriod),
            ]
        )
    }

    public func decoder(for request: ProviderRequest) -> CodexStreamDecoder {
        CodexStreamDecoder(model: request.model, baseline: request.resumeUsageBaseline)
    }

    /// A TOML basic string, for `-c key=value`.
    static func tomlString(_ text: String) -> String {
        var result = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": result += "\\\""
            case "\\": result += "\\\\"
            case "\n": result += "\\n"
            case "\r": result += "\\r"
            case "\t": result += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F {
                    let hex = String(scalar.value, radix: 16, uppercase: true)
                    result += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    result.unicodeScalars.append(scalar)
                }
            }
        }
        return result + "\""
    }
}
