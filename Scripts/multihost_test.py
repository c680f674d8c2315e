#!/usr/bin/env python3
"""Several machines on one PostgreSQL log: hosts as network namespaces on this machine.

    Scripts/multihost_test.py ASM_EXECUTABLE [--runs N] [--victims N] [--seed S] [--dir DIR]
                                             [--loopback]

Scripts/netns_hosts.sh makes the hosts: asm-db (10.231.0.1) runs PostgreSQL with password
authentication, asm-h1, asm-h2 and asm-h3 (10.231.0.11-13) reach it over veth links and a
bridge. Every `asm` process runs inside its host's namespace with a host name of its own (a
UTS namespace), so the run leases of asm-h1 name asm-h1, and it connects with the password
from PGPASSWORD, never written in a URL.

  - asm-h3 follows the log from sequence 1 (`asm tail --follow --json`) the whole time;
  - asm-h1 and asm-h2 each run sessions at once: `asm run` processes in two lanes and an
    `asm serve` with queued requests, all appending to the same log;
  - meanwhile asm-h1 starts victims, long streaming runs, and kills each with SIGKILL (its
    whole process group) once the follower has seen a seeded, random number of its deltas,
    i.e. while it appends;
  - then the crash-recovery pass: `asm recover` on asm-h2 must leave asm-h1's runs alone
    (another host's leases), `asm recover` on asm-h1 closes whatever victim run asm-h1's
    later processes have not already closed when they opened the log;
  - then the server restarts (a fast shutdown: every connection dropped) and asm-h2 runs one
    more session, which the follower, connected since the start, must see too.

Checked afterwards: the follower saw every event exactly once, in order, and the same events
as a fresh read; no sequence gap; every batch whole (a run's request with its user message, a
session's creation with its activation); every victim run failed with kind abandoned, every
other run completed, none left open; `asm verify` passes from another host; a wrong password
is refused with exit 1 and one line; the password appears in no output of any process.

Without the rights to make namespaces (not root, or no `ip`), the same scenario runs on
loopback (a cluster on 127.0.0.1, every process in this namespace, one host name) and says
so (there every process has one host name, so either recovery pass may close the victims'
runs); --loopback asks for that. Prints the figures as JSON; exit status 0 when all hold, 1 if
not.
"""

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NETNS = os.path.join(ROOT, "Scripts", "netns_hosts.sh")
CLUSTER = os.path.join(ROOT, "Scripts", "pg_cluster.sh")
PASSWORD = "asm-test-password"  # the cluster's role `asm` (Scripts/pg_cluster.sh)
LOOPBACK_PORT = 54379
SKIPPED = 77


class Failure(Exception):
    pass


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("asm")
    parser.add_argument("--runs", type=int, default=6, help="asm run processes per appending host")
    parser.add_argument("--victims", type=int, default=3, help="runs killed with SIGKILL on asm-h1")
    parser.add_argument("--seed", type=int, default=int(time.time()) % 100_000)
    parser.add_argument("--dir")
    parser.add_argument("--loopback", action="store_true", help="run every host on loopback")
    arguments = parser.parse_args()
    asm = os.path.abspath(arguments.asm)
    if not os.access(asm, os.X_OK):
        sys.exit(f"multihost_test: no executable {asm}")
    print(f"multihost_test: seed {arguments.seed}", file=sys.stderr)
    random.seed(arguments.seed)
    directory = arguments.dir or tempfile.mkdtemp(prefix="asm-multihost-")
    os.makedirs(directory, exist_ok=True)

    hosts = Hosts(directory, loopback=arguments.loopback)
    figures = {"seed": arguments.seed}
    good = False
    try:
        hosts.start()
        figures["hosts"] = hosts.kind
        good = scenario(asm, hosts, directory, arguments, figures)
    except Failure as failure:
        figures["failure"] = str(failure)
    finally:
        hosts.stop()
    print(json.dumps(figures, indent=2))
    if not good:
        print(f"multihost_test: FAILED (seed {arguments.seed})", file=sys.stderr)
    else:
        shutil.rmtree(directory, ignore_errors=True)
    sys.exit(0 if good else 1)


class Hosts:
    """The database server and the hosts that run `asm`: namespaces, or loopback."""

    def __init__(self, directory, loopback):
        self.directory = directory
        # Its own directory under /tmp: the server's user must be able to reach it.
        self.cluster = tempfile.mkdtemp(prefix="asm-mh-pg-")
        self.loopback = loopback
        self.kind = None
        self.namespaces = False
        self.cluster_started = False

    def start(self):
        if not self.loopback:
            made = subprocess.run([NETNS, "up"], capture_output=True, text=True)
            if made.returncode == 0:
                self.namespaces = True
            elif made.returncode == SKIPPED:
                reason = made.stderr.strip().splitlines()[-1] if made.stderr.strip() else "no reason given"
                print(f"multihost_test: no network namespaces here ({reason}); running on loopback",
                      file=sys.stderr)
            else:
                raise Failure(f"netns_hosts.sh up failed: {made.stderr.strip()}")
        if self.namespaces:
            started = subprocess.run([NETNS, "pg-start", self.cluster], capture_output=True, text=True)
            self.kind = "network namespaces asm-db, asm-h1, asm-h2, asm-h3 (veth, bridge)"
            self.server = "10.231.0.1:5432"
        else:
            started = subprocess.run([CLUSTER, "start", "--listen", "127.0.0.1", "--port", str(LOOPBACK_PORT),
                                      self.cluster], capture_output=True, text=True)
            self.kind = "loopback (no network namespaces)"
            self.server = f"127.0.0.1:{LOOPBACK_PORT}"
        if started.returncode != 0:
            raise Failure(f"the PostgreSQL server did not start: {started.stderr.strip()}")
        self.cluster_started = True
        variables = {}
        for line in started.stdout.splitlines():
            if line.startswith("export "):
                name, _, value = line[len("export "):].partition("=")
                variables[name] = value.strip("'")
        # The hosts' URL carries no password: it comes from PGPASSWORD.
        self.url = f"postgresql://asm@{self.server}/asm_test"
        self.local_url = variables["ASM_TEST_POSTGRES"]

    def stop(self):
        if self.cluster_started:
            subprocess.run([CLUSTER, "stop", self.cluster], capture_output=True)
        if self.namespaces:
            subprocess.run([NETNS, "down"], capture_output=True)

    def command(self, host, argv):
        """argv run on `host` (asm-h1…): in its namespace, under its own host name."""
        if not self.namespaces:
            return argv
        return ["ip", "netns", "exec", host, "unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', host,
                *argv]


class Outputs:
    """Everything every process printed, to check that the password never appears."""

    def __init__(self):
        self.lock = threading.Lock()
        self.chunks = []

    def add(self, text):
        with self.lock:
            self.chunks.append(text)

    def leaks(self):
        with self.lock:
            return sum(chunk.count(PASSWORD) for chunk in self.chunks)


class Follower:
    """`asm tail --follow --json --from 1` on a host; every line kept, waited on by predicate."""

    def __init__(self, argv, environment, outputs):
        self.events = []
        self.bad_lines = []
        self.condition = threading.Condition()
        self.outputs = outputs
        self.process = subprocess.Popen(argv, env=environment, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True, start_new_session=True)
        self.ended = False
        self.reader = threading.Thread(target=self.read, daemon=True)
        self.reader.start()
        self.errors = threading.Thread(target=lambda: outputs.add(self.process.stderr.read()), daemon=True)
        self.errors.start()

    def read(self):
        for line in self.process.stdout:
            self.outputs.add(line)
            try:
                event = json.loads(line)
            except ValueError:
                self.bad_lines.append(line)
                continue
            with self.condition:
                self.events.append(event)
                self.condition.notify_all()
        with self.condition:
            self.ended = True
            self.condition.notify_all()

    def wait(self, predicate, what, timeout=120):
        """Waits until predicate(events) holds: woken by each event the follower prints."""
        with self.condition:
            if not self.condition.wait_for(lambda: self.ended or predicate(self.events), timeout):
                raise Failure(f"the follower did not see {what} within {timeout} s")
            if not predicate(self.events):
                raise Failure(f"the follower ended before it saw {what}: {self.process.poll()}")

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait()
        self.reader.join()
        self.errors.join()


def scenario(asm, hosts, directory, arguments, figures):
    outputs = Outputs()
    environment = {key: value for key, value in os.environ.items() if key not in ("ASM_DB", "PGPASSWORD")}
    environment["PGPASSWORD"] = PASSWORD
    scripts = write_scripts(directory)
    homes = {}
    for host in ("asm-h1", "asm-h2", "asm-h3"):
        homes[host] = os.path.join(directory, host)  # each host's working directory (side files)
        os.makedirs(homes[host], exist_ok=True)

    def run(host, *argv, check=True):
        done = subprocess.run(hosts.command(host, [asm, *argv, "--db", hosts.url]), env=environment,
                              cwd=homes[host], stdin=subprocess.DEVNULL, capture_output=True, text=True)
        outputs.add(done.stdout)
        outputs.add(done.stderr)
        if check and done.returncode != 0:
            raise Failure(f"{host}: asm {' '.join(argv)} exited {done.returncode}: {done.stderr.strip()}")
        return done

    def start(host, *argv):
        return subprocess.Popen(hosts.command(host, [asm, *argv, "--db", hosts.url]), env=environment,
                                cwd=homes[host], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)

    run("asm-h1", "init")

    # A wrong password: refused, exit 1, one line, and the wrong password is not printed.
    wrong = "not-the-" + PASSWORD[::-1]
    refused = subprocess.run(hosts.command("asm-h3", [asm, "sessions", "--db",
                                                      f"postgresql://asm:{wrong}@{hosts.server}/asm_test"]),
                             env={k: v for k, v in environment.items() if k != "PGPASSWORD"},
                             cwd=homes["asm-h3"], capture_output=True, text=True)
    figures["wrong password"] = {"exit": refused.returncode, "stderr": refused.stderr.strip()}
    if refused.returncode != 1 or len(refused.stderr.strip().splitlines()) != 1 or wrong in refused.stderr:
        raise Failure(f"a wrong password gave exit {refused.returncode}: {refused.stderr!r}")

    follower_argv = hosts.command("asm-h3", [asm, "tail", "--follow", "--json", "--from", "1", "--db", hosts.url])
    follower = Follower(follower_argv, {**environment}, outputs)
    # Every event up to init's is there to see; the follower is live once it has printed nothing
    # yet is running: the workload below only starts appending after it was started, and it
    # reads from sequence 1 whatever it missed.
    try:
        workers = []
        started = time.monotonic()
        for host in ("asm-h1", "asm-h2"):
            for lane in range(2):
                workers.append(threading.Thread(target=lane_runs, args=(
                    start, host, lane, arguments.runs // 2 + (lane < arguments.runs % 2), scripts, outputs)))
            workers.append(threading.Thread(target=serve_requests, args=(start, host, scripts, outputs)))
        results = {}
        for worker in workers:
            worker.results = results
            worker.start()

        victims = []
        for number in range(arguments.victims):
            agent = f"victim-{number}"
            process = start("asm-h1", "run", "--provider", "scripted", "--script", scripts["long"],
                            "--agent", agent, "--quiet", f"a long job {number}")
            deltas = random.randint(5, 300)
            run_id = victim_run(follower, agent, deltas)
            os.killpg(process.pid, signal.SIGKILL)
            out, err = process.communicate()
            outputs.add(out)
            outputs.add(err)
            victims.append({"agent": agent, "run_id": run_id, "killed_after_deltas_seen": deltas,
                            "exit": process.returncode})
        for worker in workers:
            worker.join()
        figures["workload seconds"] = round(time.monotonic() - started, 1)
        failed = {name: result for name, result in results.items() if result != 0}
        figures["processes"] = len(results) + len(victims)
        if failed:
            raise Failure(f"processes failed: {failed}")
        figures["victims"] = victims

        # The crash-recovery pass: another host leaves asm-h1's runs alone; asm-h1 closes them.
        open_before = open_runs(run, victims)
        other = json.loads(run("asm-h2", "recover", "--json").stdout)
        own = json.loads(run("asm-h1", "recover", "--json").stdout)
        figures["victim runs still open before the recovery pass"] = len(open_before)
        figures["runs closed by asm-h2's recover"] = len(other["abandoned"])
        figures["runs closed by asm-h1's recover"] = len(own["abandoned"])
        # On loopback every process has the same host name: either pass may close them.
        closed = sorted(r["run_id"] for r in other["abandoned"] + own["abandoned"])
        if hosts.namespaces and other["abandoned"]:
            raise Failure(f"asm-h2 closed runs of asm-h1: {other['abandoned']}")
        if closed != open_before:
            raise Failure(f"the recovery pass closed {closed}, expected {open_before}")

        # The server restarts under the follower: it must go on (polling, then listening again)
        # and see what a host appends afterwards.
        restarted = subprocess.run([CLUSTER, "restart", hosts.cluster], capture_output=True, text=True)
        if restarted.returncode != 0:
            raise Failure(f"the server did not restart: {restarted.stderr.strip()}")
        after = start("asm-h2", "run", "--provider", "scripted", "--script", scripts["short"],
                      "--agent", "asm-h2-lane-after-restart", "--quiet", "after the restart")
        out, err = after.communicate()
        outputs.add(out)
        outputs.add(err)
        if after.returncode != 0:
            raise Failure(f"a run after the server's restart exited {after.returncode}: {err.strip()}")
        figures["a run after the server restarted"] = "completed"

        # The follower reaches the head: it must see every event there is, then nothing more.
        events = read_all(run)
        head = events[-1]["sequence"]
        follower.wait(lambda seen: len(seen) > 0 and seen[-1]["sequence"] >= head, f"sequence {head}")
    finally:
        follower.stop()

    figures["events"] = len(events)
    seen = follower.events
    figures["events the follower saw"] = len(seen)
    sequences = [event["sequence"] for event in events]
    figures["sequence gaps"] = (sequences[-1] - sequences[0] + 1) - len(sequences)
    figures["follower: duplicates"] = len(seen) - len({event["sequence"] for event in seen})
    figures["follower: out of order"] = sum(1 for a, b in zip(seen, seen[1:]) if b["sequence"] <= a["sequence"])
    figures["follower: same events as a fresh read"] = (
        [(e["sequence"], e["event_id"], e["hash"]) for e in seen[:len(events)]]
        == [(e["sequence"], e["event_id"], e["hash"]) for e in events] and len(seen) == len(events))
    figures["follower: unreadable lines"] = len(follower.bad_lines)
    figures["appending hosts seen"] = sorted(hosts_of(events))
    figures["incomplete batches"] = incomplete_batches(events)

    runs = run_statuses(run)
    victim_ids = {victim["run_id"] for victim in figures["victims"]}
    figures["runs"] = len(runs)
    figures["runs left requested/queued/running"] = sum(
        1 for status, _ in runs.values() if status in ("requested", "queued", "running"))
    figures["victim runs failed as abandoned"] = sum(
        1 for run_id in victim_ids if runs.get(run_id) == ("failed", "abandoned"))
    figures["other runs not completed"] = sum(
        1 for run_id, (status, _) in runs.items() if run_id not in victim_ids and status != "completed")
    verify = run("asm-h2", "verify", "--json", check=False)
    figures["chain verified from asm-h2"] = verify.returncode == 0 and json.loads(verify.stdout).get("ok") is True
    figures["password printed"] = outputs.leaks()

    return (
        figures["sequence gaps"] == 0
        and figures["follower: duplicates"] == 0
        and figures["follower: out of order"] == 0
        and figures["follower: same events as a fresh read"]
        and figures["follower: unreadable lines"] == 0
        and figures["incomplete batches"] == 0
        and figures["runs left requested/queued/running"] == 0
        and figures["victim runs failed as abandoned"] == len(victim_ids)
        and figures["other runs not completed"] == 0
        and figures["chain verified from asm-h2"]
        and figures["password printed"] == 0
        and len(figures["appending hosts seen"]) >= (2 if hosts.namespaces else 1)
    )


def write_scripts(directory):
    """Scripted-provider scripts: a short run with a tool call, and a long streaming one."""
    short = os.path.join(directory, "short.json")
    with open(short, "w") as file:
        json.dump({"steps": [{"text": "Looking at the repository now. " * 4, "chunks": 12},
                             {"tool": "Bash", "input": {"command": "ls"}, "output": "README.md"},
                             {"delay_ms": 20},
                             {"text": "Done: the tree has one file. " * 3, "chunks": 8},
                             {"usage": {"input": 900, "output": 120}}]}, file)
    long = os.path.join(directory, "long.json")
    with open(long, "w") as file:
        steps = []
        for _ in range(60):
            steps += [{"text": "streaming a long answer, token by token. " * 4, "chunks": 20}, {"delay_ms": 10}]
        json.dump({"steps": steps}, file)
    requests = os.path.join(directory, "requests.jsonl")
    with open(requests, "w") as file:
        for number in range(4):
            file.write(json.dumps({"messages": [{"role": "user", "content": f"served job {number}"}]}) + "\n")
    return {"short": short, "long": long, "requests": requests}


def lane_runs(start, host, lane, count, scripts, outputs):
    """`count` runs one after another on `host`, each a new session."""
    me = threading.current_thread()
    for number in range(count):
        process = start(host, "run", "--provider", "scripted", "--script", scripts["short"],
                        "--agent", f"{host}-lane{lane}", "--quiet", f"job {number} of lane {lane}")
        out, err = process.communicate()
        outputs.add(out)
        outputs.add(err)
        me.results[f"{host} lane {lane} run {number}"] = process.returncode


def serve_requests(start, host, scripts, outputs):
    """`asm serve` on `host` with queued requests (two at a time), ending with its input."""
    me = threading.current_thread()
    process = start(host, "serve", "--provider", "scripted", "--script", scripts["short"], "--max-concurrent",
                    "2", "--input", scripts["requests"], "--quiet")
    out, err = process.communicate()
    outputs.add(out)
    outputs.add(err)
    me.results[f"{host} serve"] = process.returncode


def victim_run(follower, agent, deltas):
    """The run of the victim session of `agent`, once the follower saw `deltas` of its deltas."""
    state = {}

    def seen_enough(events):
        for event in events[state.get("scanned", 0):]:
            kind = event["type"]
            if kind == "session.created" and event["payload"].get("agent_id") == agent:
                state["session"] = event["stream_id"]
            elif kind == "run.requested" and event["stream_id"] == state.get("session"):
                state["run"] = event["run_id"]
            elif kind == "message.streamed" and event["run_id"] is not None and event["run_id"] == state.get("run"):
                state["deltas"] = state.get("deltas", 0) + 1
        state["scanned"] = len(events)
        return state.get("deltas", 0) >= deltas

    follower.wait(seen_enough, f"{deltas} deltas of {agent}'s run")
    return state["run"]


def read_all(run):
    done = run("asm-h2", "tail", "--json", "--from", "1")
    return [json.loads(line) for line in done.stdout.splitlines() if line.strip()]


def open_runs(run, victims):
    statuses = run_statuses(run)
    return sorted(v["run_id"] for v in victims if statuses.get(v["run_id"], ("?", None))[0] in
                  ("requested", "queued", "running"))


def run_statuses(run):
    """run_id -> (status, failure kind), folded from the log's run events."""
    statuses = {}
    for event in read_all(run):
        kind, run_id = event["type"], event["run_id"]
        if run_id is None:
            continue
        if kind == "run.requested":
            statuses[run_id] = ("requested", None)
        elif kind == "run.started":
            statuses[run_id] = ("running", None)
        elif kind == "run.completed":
            statuses[run_id] = ("completed", None)
        elif kind == "run.failed":
            statuses[run_id] = ("failed", event["payload"].get("failure", {}).get("kind"))
        elif kind == "run.cancelled":
            statuses[run_id] = ("cancelled", None)
    return statuses


def hosts_of(events):
    """The agents (host-lane) that started sessions: both appending hosts must be there."""
    return {event["payload"].get("agent_id", "").split("-lane")[0]
            for event in events if event["type"] == "session.created"
            and event["payload"].get("agent_id", "").startswith("asm-h")}


def incomplete_batches(events):
    """A run's request and its user message are one batch, a session's creation and activation
    another: one without the other right after it is a batch committed in part."""
    count = 0
    for this, following in zip(events, events[1:] + [None]):
        if this["type"] == "run.requested":
            if not (following and following["type"] == "message.received"
                    and following["run_id"] == this["run_id"]):
                count += 1
        elif this["type"] == "session.created":
            if not (following and following["type"] == "session.activated"
                    and following["stream_id"] == this["stream_id"]):
                count += 1
    return count


if __name__ == "__main__":
    main()
