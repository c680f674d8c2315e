public import ASMCore

/// Amp: `amp --execute --stream-json`, the prompt on standard input; tool rules through a
/// generated `--settings-file` (mode 0600, removed after the run).
public struct Amp: CommandLineDialect {
    public var name: String { AmpStreamDecoder.provider }
    public var defaultExecutable: String { "amp" }

    /// How long SIGTERM has before SIGKILL.
    public var gracePeriod: Duration

    public init(gracePeriod: Duration = .seconds(5)) {
        self.gracePeriod = gracePeriod
    }

    public var capabilities: ProviderCapabilities {
        ProviderCapabilities(
            streamsText: false,
            reportsToolCalls: true,
            resumesNatively: true,
            interrupts: false,
            toolGate: .beforeRun,
            tools: ["Bash", "Read", "Grep", "glob", "create_file", "edit_file", "read_web_page", "web_search", "Task"]
        )
    }

    /// The placeholder replaced by the settings file's path.
    static let settingsPlaceholder = "{amp-settings-file}"

    public func launch(for request: ProviderRequest) -> LaunchSpec {
        var arguments: [String] = []
        if let thread = request.resumeSessionID { arguments += ["threads", "continue", thread] }
        arguments += ["--execute", "--stream-json"]
        // Amp has no model flag; a model names Amp's mode (low, medium, high, smart, rush...).
        if let mode = request.model { arguments += ["--mode", mode] }
        var files: [LaunchFile] = []
        if let settings = Self.settings(for: request.controls) {
            var writer = JSONWriter()
            try? writer.write(settings)
            files.append(LaunchFile(placeholder: Self.settingsPlaceholder, contents: writer.bytes))
            arguments += ["--settings-file", Self.settingsPlaceholder]
        }
        return LaunchSpec(
            arguments: arguments,
            standardInput: Array((request.promptText + "\n").utf8),
            files: files,
            stopSequence: [SignalStep(.terminate, grace: gracePeriod), SignalStep(.kill, grace: gracePeriod)]
        )
    }

    /// The settings that carry a policy's tool rules, or `nil` when there are none.
    ///
    /// Denied tools are both disabled and rejected; allowed tools get `allow` rules; a
    /// whitelist is `amp.tools.enable`. `amp.dangerouslyAllowAll` is forced off, since
    /// permissions apply only then.
    public static func settings(for controls: ProviderControls) -> JSONValue? {
        let denied = ToolNames.translate(controls.deniedTools, ToolNames.amp)
        let allowed = ToolNames.translate(controls.allowedTools, ToolNames.amp)
        let available = controls.availableTools.map { ToolNames.translate($0, ToolNames.amp) }
        guard !denied.isEmpty || !allowed.isEmpty || available != nil else { return nil }
        var permissions: [JSONValue] = denied.map { ["tool": .string($0), "action": "reject"] }
        permissions += allowed.map { ["tool": .string($0), "action": "allow"] }
        var members = [
            JSONMember("amp.dangerouslyAllowAll", false), JSONMember("amp.permissions", .array(permissions)),
        ]
        if !denied.isEmpty { members.append(JSONMember("amp.tools.disable", .array(denied.map(JSONValue.string)))) }
        if let available { members.append(JSONMember("amp.tools.enable", .array(available.map(JSONValue.string)))) }
        return .object(members)
    }

    public func decoder(for request: ProviderRequest) -> AmpStreamDecoder { AmpStreamDecoder() }
}
