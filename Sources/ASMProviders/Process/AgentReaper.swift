public import ASMCore
internal import ASMSystem
internal import Synchronization

#if canImport(Glibc)
internal import Glibc
#elseif canImport(Darwin)
internal import Darwin
#endif

/// Stops the agent process groups this process started when this process dies, however it
/// dies (`kill -9` included), so an agent never goes on spending tokens and editing files
/// for an owner that is gone.
///
/// On the first agent start it spawns a watcher: a small `/bin/sh` program in its own process
/// group, ignoring terminal and termination signals, reading one end of a socket pair whose
/// other end only this process holds (close-on-exec, so agents never inherit it). Each agent
/// group is announced to it when it starts (with its leader's start time) and withdrawn when
/// it ends. When this process dies the kernel closes its end; the watcher reads end of file,
/// sends SIGTERM to every group still announced, waits two seconds and sends SIGKILL, then
/// exits. A group is signalled only if its leader is gone (a group id is not reused while
/// any member lives) or is still the process that was announced (same start time), never
/// on a bare pid.
///
/// Where no watcher can be started (no `/bin/sh`), agents are still stopped by every normal
/// exit path, not on the owner's death.
public final class AgentReaper: Sendable {
    public static let shared = AgentReaper()

    private struct State {
        var socket: Int32 = -1
        var failed = false
        var groups: [RunID: AgentProcessGroup] = [:]
    }

    private let state = Mutex(State())

    private init() {}

    /// The agent process group started for `run`, while it runs.
    public func group(for run: RunID) -> AgentProcessGroup? { state.withLock { $0.groups[run] } }

    /// Announces an agent's process group, started for `run`.
    func watch(_ group: Int32, for run: RunID) {
        let started = ProcessIdentity.startTime(of: group) ?? 0
        state.withLock { state in
            state.groups[run] = AgentProcessGroup(group: group, startTime: started)
            if state.socket < 0, !state.failed { Self.startWatcher(&state) }
            Self.announce("+ \(group) \(started)\n", on: &state)
        }
    }

    /// Withdraws the group of `run`: it has exited (or been stopped) and was waited for.
    func forget(_ run: RunID) {
        state.withLock { state in
            guard let group = state.groups.removeValue(forKey: run) else { return }
            Self.announce("- \(group.group)\n", on: &state)
        }
    }

    private static func announce(_ line: String, on state: inout State) {
        guard state.socket >= 0 else { return }
        let bytes = Array(line.utf8)
        let written = bytes.withUnsafeBytes { send(state.socket, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
        if written != bytes.count {
            // The watcher is gone: agents are still stopped on every normal exit path.
            close(state.socket)
            state.socket = -1
            state.failed = true
        }
    }

    /// The watcher's program, in POSIX sh: reads `+ GROUP START` and `- GROUP` lines to the end.
    static let program = """
        trap '' INT TERM HUP QUIT PIPE
        groups=''
        while read -r op group started; do
          case "$op" in
            +) groups="$groups $group:$started" ;;
            -) kept=''; for entry in $groups; do [ "${entry%%:*}" = "$group" ] || kept="$kept $entry"; done
               groups=$kept ;;
          esac
        done
        same() {
          want=$2
          stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
          stat=${stat##*) }
          set -- $stat
          [ "$want" = 0 ] || [ "${20}" = "$want" ]
        }
        [ -n "$groups" ] || exit 0
        for entry in $groups; do same "${entry%%:*}" "${entry#*:}" && kill -TERM "-${entry%%:*}" 2>/dev/null; done
        sleep 2
        for entry in $groups; do same "${entry%%:*}" "${entry#*:}" && kill -KILL "-${entry%%:*}" 2>/dev/null; done
        exit 0
        """

    private static func startWatcher(_ state: inout State) {
        var ends: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &ends) == 0 else {
            state.failed = true
            return
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, ends[1], 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var none = sigset_t()
        sigemptyset(&none)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(
            &attributes,
            Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)
        )
        var pid: pid_t = 0
        let arguments = ["sh", "-c", program, "asm-agent-watcher"]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        defer { for pointer in argv { free(pointer) } }
        let result = posix_spawn(&pid, "/bin/sh", &actions, &attributes, &argv, environ)
        close(ends[1])
        guard result == 0 else {
            close(ends[0])
            state.failed = true
            return
        }
        state.socket = ends[0]
    }
}
