#!/usr/bin/env python3
"""Crash soak: SIGKILL `asm run` and `asm serve` processes at random moments mid-run on one
file, then run one recovery pass and check what is left.

    Scripts/soak.py ASM_EXECUTABLE [--kills N] [--parallel K] [--seed S] [--dir DIR]

Each process is one of: `asm run` with the scripted provider (slow steps, some with a
workspace, so its lock is held), `asm run` with a fake claude CLI (a real agent process
group, which ignores SIGTERM), or `asm serve` with several requests (running and queued
runs). Each is killed with SIGKILL after a random delay. Afterwards `asm recover` runs once,
and the script prints the figures the README reports:

    runs left requested/queued/running, agent processes left, workspace locks held,
    the chain's verification, sequence gaps, and incomplete batches.

Exit status 0 when every figure is as it must be (0 open runs, 0 agents, 0 locks held, chain
verified, 0 gaps, 0 incomplete batches), 1 otherwise.
"""

import argparse
import fcntl
import json
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKE_AGENT = os.path.join(ROOT, "Fixtures", "fake-cli", "fake-agent")
CLAUDE_CAPTURE = os.path.join(ROOT, "Fixtures", "providers", "claude-text.jsonl")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("asm")
    parser.add_argument("--kills", type=int, default=1000)
    parser.add_argument("--parallel", type=int, default=4)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--dir")
    arguments = parser.parse_args()
    asm = os.path.abspath(arguments.asm)
    random.seed(arguments.seed)
    directory = arguments.dir or tempfile.mkdtemp(prefix="asm-soak-")
    os.makedirs(directory, exist_ok=True)
    db = os.path.join(directory, "asm.sqlite")
    setup = prepare(directory)

    environment = dict(os.environ)
    environment.pop("ASM_DB", None)
    started = time.monotonic()
    living = []
    kills = 0
    ended = 0  # processes that ended on their own before their kill came
    kinds = {"run-scripted": 0, "run-workspace": 0, "run-claude": 0, "serve": 0}
    while kills < arguments.kills:
        while len(living) < arguments.parallel:
            kind, command, extra = choose(asm, db, setup)
            kinds[kind] += 1
            process = subprocess.Popen(
                command,
                env={**environment, **extra},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
            living.append((process, time.monotonic() + random.uniform(0.02, 0.6)))
        living.sort(key=lambda entry: entry[1])
        process, deadline = living.pop(0)
        delay = deadline - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        else:
            ended += 1
            continue
        process.wait()
        if kills % 100 == 0:
            print(f"{kills} processes killed ({time.monotonic() - started:.0f} s)", file=sys.stderr)

    for process, _ in living:  # the ones still running are killed too
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()

    # Every watcher has done its work once no watcher process is left.
    wait_for_watchers()
    recovered = subprocess.run(
        [asm, "recover", "--db", db, "--json"], env=environment, capture_output=True, text=True
    )
    report = json.loads(recovered.stdout) if recovered.returncode == 0 else {"abandoned": []}

    figures = check(asm, db, environment)
    figures["processes killed with SIGKILL mid-run"] = kills
    figures["processes that ended before their kill"] = ended
    figures["by kind"] = kinds
    figures["runs recorded abandoned by the recovery pass"] = len(report["abandoned"])
    figures["recovery pass exit status"] = recovered.returncode
    figures["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(figures, indent=2))
    good = (
        recovered.returncode == 0
        and figures["runs left requested/queued/running"] == 0
        and figures["agent processes left"] == 0
        and figures["workspace locks held"] == 0
        and figures["chain verified"]
        and figures["sequence gaps"] == 0
        and figures["incomplete batches"] == 0
    )
    sys.exit(0 if good else 1)


def prepare(directory):
    """The script files and workspace directories the processes use."""
    slow = os.path.join(directory, "slow.json")
    with open(slow, "w") as file:
        json.dump({"steps": [{"text": "step one of a slow run " * 8, "chunks": 12}, {"delay_ms": 150},
                             {"tool": "Bash", "input": {"command": "ls"}, "output": "README.md"},
                             {"delay_ms": 150}, {"text": "done"}]}, file)
    capture = os.path.join(directory, "claude-unfinished.jsonl")
    with open(CLAUDE_CAPTURE) as source, open(capture, "w") as target:
        target.writelines(line for line in source if '"type":"result"' not in line)
    workspaces = []
    for index in range(3):
        workspace = os.path.join(directory, f"workspace-{index}")
        os.makedirs(workspace, exist_ok=True)
        for number in range(20):
            with open(os.path.join(workspace, f"file-{number}.txt"), "w") as file:
                file.write(f"contents {number}\n")
        workspaces.append(workspace)
    requests = os.path.join(directory, "requests.jsonl")
    with open(requests, "w") as file:
        for number in range(6):
            file.write(json.dumps({"messages": [{"role": "user", "content": f"job {number}"}]}) + "\n")
    return {"slow": slow, "capture": capture, "workspaces": workspaces, "requests": requests}


def choose(asm, db, setup):
    kind = random.choice(["run-scripted", "run-workspace", "run-claude", "serve"])
    if kind == "run-scripted":
        return kind, [asm, "run", "--db", db, "--provider", "scripted", "--script", setup["slow"], "hi"], {}
    if kind == "run-workspace":
        workspace = random.choice(setup["workspaces"])
        return kind, [asm, "run", "--db", db, "--provider", "scripted", "--script", setup["slow"],
                      "--workspace", workspace, "--workspace-strategy", "hash", "hi"], {}
    if kind == "run-claude":
        return kind, [asm, "run", "--db", db, "--provider", "claude", "hi"], {
            "ASM_CLAUDE_BIN": FAKE_AGENT, "FAKE_FIXTURE": setup["capture"], "FAKE_DELAY": "0.02",
            "FAKE_HANG": "1", "FAKE_ON_SIGTERM": "ignore", "FAKE_SOAK": "1",
        }
    return kind, [asm, "serve", "--db", db, "--provider", "scripted", "--script", setup["slow"],
                  "--max-concurrent", "2", "--input", setup["requests"], "--quiet"], {}


def processes():
    """(pid, command line, environment has FAKE_SOAK) of every process."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                state = file.read().rsplit(")", 1)[1].split()[0]
            if state in ("Z", "X"):
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as file:
                command = file.read().replace(b"\0", b" ").decode(errors="replace")
            yield int(entry), command
        except (OSError, IndexError):
            continue


def wait_for_watchers():
    """Waits (on pidfds, not by polling) for every agent watcher to exit."""
    for pid, command in list(processes()):
        if "asm-agent-watcher" not in command:
            continue
        try:
            descriptor = os.pidfd_open(pid)
        except ProcessLookupError:
            continue
        poller = select.poll()
        poller.register(descriptor, select.POLLIN)
        poller.poll(30_000)
        os.close(descriptor)


def check(asm, db, environment):
    figures = {}
    connection = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    figures["runs"] = connection.execute("SELECT count(*) FROM runs").fetchone()[0]
    figures["runs left requested/queued/running"] = connection.execute(
        "SELECT count(*) FROM runs WHERE status IN ('requested', 'queued', 'running')").fetchone()[0]
    count, low, high = connection.execute("SELECT count(*), min(sequence), max(sequence) FROM events").fetchone()
    figures["events"] = count
    figures["sequence gaps"] = 0 if count == 0 else (high - low + 1) - count
    # A run's request and its user message are one batch; so are a session's creation and
    # activation: one without the other is a batch committed in part.
    figures["incomplete batches"] = connection.execute(
        """
        SELECT count(*) FROM events AS r WHERE r.type = 'run.requested' AND NOT EXISTS (
            SELECT 1 FROM events AS m WHERE m.sequence = r.sequence + 1 AND m.type = 'message.received'
              AND m.run_id = r.run_id)
        """).fetchone()[0] + connection.execute(
        """
        SELECT count(*) FROM events AS c WHERE c.type = 'session.created' AND NOT EXISTS (
            SELECT 1 FROM events AS a WHERE a.sequence = c.sequence + 1 AND a.type = 'session.activated')
        """).fetchone()[0]
    figures["runs by status"] = dict(connection.execute("SELECT status, count(*) FROM runs GROUP BY status"))
    figures["abandoned runs"] = connection.execute(
        "SELECT count(*) FROM runs WHERE failure_kind = 'abandoned'").fetchone()[0]
    connection.close()
    figures["agent processes left"] = sum(1 for _, command in processes() if "fake-agent" in command)
    locks = os.path.join(os.environ.get("TMPDIR", "/tmp").rstrip("/") or "/tmp", f"asm-workspace-locks-{os.getuid()}")
    held = 0
    if os.path.isdir(locks):
        for name in os.listdir(locks):
            with open(os.path.join(locks, name), "a") as file:
                try:
                    fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(file, fcntl.LOCK_UN)
                except BlockingIOError:
                    held += 1
    figures["workspace locks held"] = held
    verify = subprocess.run([asm, "verify", "--db", db, "--json"], env=environment, capture_output=True, text=True)
    figures["chain verified"] = verify.returncode == 0 and json.loads(verify.stdout).get("ok") is True
    return figures


if __name__ == "__main__":
    main()
