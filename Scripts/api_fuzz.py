#!/usr/bin/env python3
"""Fuzzes the HTTP API against its OpenAPI document with Schemathesis.

    python3 Scripts/api_fuzz.py --asm .build/debug/asm [--examples 50] [--seed 1] [--log FILE]

Starts `asm serve --http 127.0.0.1:0 --provider scripted` on a temporary database with a
token file, reads the document the server serves (`/v1/openapi.json`), and runs Schemathesis
against every operation but the endless `/v1/stream` with a bounded number of cases each.
Checks: no 5xx; statuses, content types, headers and bodies as the document says; invalid
data refused; routes refuse requests without the token; and nothing appended by a refused
request: around every 4xx the log is read for the events a request itself appends
(session.created, session.activated, session.completed, session.archived, run.requested,
run.cancelled, tool_approval.resolved), so runs finishing in the background do not count.

Prints a short summary; exits 0 when every check passed, 1 with a one-line reason when
not, 2 when the fuzzing could not run. The server is always stopped.

The same file is the Schemathesis hooks module: the run imports it (SCHEMATHESIS_HOOKS)
with ASM_FUZZ_ROLE=hooks, which registers the hooks and the refusal check.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

# Event types a request appends itself; a refused request must append none of them.
REQUEST_EVENT_TYPES = [
    "session.created",
    "session.activated",
    "session.completed",
    "session.archived",
    "run.requested",
    "run.cancelled",
    "tool_approval.resolved",
]
# Operations left out of the fuzzing: the stream stays open for live events.
EXCLUDED_PATHS = ["/v1/stream"]
# Schemathesis checks left out, with the reason printed in the summary.
EXCLUDED_CHECKS = {
    "unsupported_method": "an unrouted method is a 404, not a 405 with Allow",
    "positive_data_acceptance": "ids a schema allows are mostly unknown: 404 is the right answer",
}
MINIMUM_SCHEMATHESIS = (4, 0)
# Runs of one operation when the server dies under it (each crash is reported, the server restarted).
ATTEMPTS = 3


# MARK: The hooks (imported by Schemathesis)


def _request(method: str, path: str, token: str | None = None, timeout: float = 10.0):
    """One request to the server under test: (status, parsed JSON or None)."""
    base = os.environ["ASM_FUZZ_BASE"]
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(base + path, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        body = error.read()
        status = error.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


def _identifier(value) -> str | None:
    """An id as the server reads it: case and hyphens do not matter."""
    return str(value).replace("-", "").lower() if value is not None else None


def _register_hooks() -> None:
    import hypothesis.strategies as st
    import schemathesis

    token = os.environ["ASM_FUZZ_TOKEN"]
    known = json.loads(os.environ["ASM_FUZZ_KNOWN"])
    record_path = os.environ["ASM_FUZZ_RECORD"]
    state = {"before": None, "runs": 0}

    def record(entry: dict) -> None:
        with open(record_path, "a", encoding="utf-8") as file:
            file.write(json.dumps(entry) + "\n")

    def last_sequence() -> int:
        status, body = _request("GET", "/v1/status", token)
        if status != 200 or not isinstance(body, dict):
            raise RuntimeError(f"GET /v1/status answered {status}")
        return int(body["last_sequence"])

    @schemathesis.hook
    def flatmap_path_parameters(context, path_parameters):
        # Known ids beside the generated ones, so cases reach real sessions, runs and approvals.
        if not path_parameters:
            return st.just(path_parameters)
        choices = [dict(path_parameters)]
        for name, values in (("session", known["sessions"]), ("run", known["runs"])):
            if name in path_parameters:
                choices += [{**path_parameters, name: value} for value in values]
        if "number" in path_parameters:
            choices += [{**path_parameters, "id": run, "number": number} for run, number in known["approvals"]]
        return st.sampled_from(choices)

    @schemathesis.hook
    def map_case(context, case):
        # A run request's last message must be a non-blank user message, which a schema cannot
        # say: every other valid case gets one, so runs start and their options are exercised.
        meta = getattr(case, "meta", None)
        negative = meta is None or meta.generation.mode.is_negative
        body = case.body
        if case.operation.path.endswith("/runs") and not negative and isinstance(body, dict) \
                and isinstance(body.get("messages"), list):
            state["runs"] += 1
            if state["runs"] % 2 == 0:
                case.body = {**body, "messages": body["messages"] + [{"role": "user", "content": "hello"}]}
        return case

    @schemathesis.hook
    def before_call(context, case, kwargs):
        state["before"] = last_sequence()

    @schemathesis.hook
    def after_call(context, case, response):
        record({"operation": f"{case.method.upper()} {case.operation.path}", "status": response.status_code})

    @schemathesis.check
    def nothing_appended_by_refusals(ctx, response, case):
        """A request refused with a 4xx appended none of the events a request appends."""
        before = state["before"]
        if before is None or not 400 <= response.status_code < 500:
            return None
        types = ",".join(REQUEST_EVENT_TYPES)
        status, page = _request("GET", f"/v1/events?after={before}&limit=5000&type={types}", token)
        if status != 200 or not isinstance(page, dict):
            raise AssertionError(f"GET /v1/events answered {status} after a refusal")
        parameters = case.path_parameters or {}
        target_run = _identifier(parameters.get("run") or parameters.get("id"))
        approval = f"{parameters.get('id')}/{parameters.get('number')}" if "number" in parameters else None
        culprits = []
        for event in page.get("events", []):
            kind = event["type"]
            # Runs end on their own (a cancel answered 202 lands later): only the target's count.
            if kind == "run.cancelled" and _identifier(event.get("run_id")) != target_run:
                continue
            if kind == "tool_approval.resolved" and event["payload"].get("approval_id") != approval:
                continue
            culprits.append(f"{kind}@{event['sequence']}")
        if culprits:
            raise AssertionError(
                f"refused with {response.status_code}, yet appended {', '.join(culprits)}"
            )
        return None


if __name__ != "__main__" and os.environ.get("ASM_FUZZ_ROLE") == "hooks":
    _register_hooks()


# MARK: The run


class Failure(Exception):
    """The run failed: the message is the one-line reason; `code` the exit status."""

    def __init__(self, message: str, code: int = 1):
        super().__init__(message)
        self.code = code


class Server:
    """`asm serve --http` on a temporary database, stopped with SIGTERM; started again on the
    same log after a crash."""

    def __init__(self, asm: str, directory: Path):
        self.directory = directory
        self.token = secrets.token_urlsafe(24)
        token_file = directory / "token"
        token_file.write_text(self.token + "\n", encoding="utf-8")
        os.chmod(token_file, 0o600)
        self.database = directory / "asm.db"
        self.command = [asm, "serve", "--http", "127.0.0.1:0", "--db", str(self.database),
                        "--token-file", str(token_file), "--provider", "scripted"]
        self.process: subprocess.Popen | None = None
        self.reader: threading.Thread | None = None
        self.lines: list[str] = []
        self.port: int | None = None

    def start(self, timeout: float = 60.0) -> None:
        self.lines = []
        self.port = None
        # A crash prints where it happened, briefly.
        environment = dict(os.environ, SWIFT_BACKTRACE="enable=yes,interactive=no,color=no,threads=crashed,"
                                                        "registers=none,images=none,limit=12")
        self.process = subprocess.Popen(
            self.command, cwd=self.directory, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE, text=True, env=environment,
        )
        listening = threading.Event()
        process = self.process

        def read() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                self.lines.append(line.rstrip("\n"))
                found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
                if found and self.port is None:
                    self.port = int(found.group(1))
                    listening.set()
            listening.set()

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        if not listening.wait(timeout) or self.port is None:
            raise Failure(f"the server did not listen: {self.tail()}", code=2)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def responds(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(self.base + "/healthz", timeout=10) as response:
                return response.status == 200
        except OSError:
            return False

    def crash(self) -> str:
        """Why the server stopped answering: the runtime's message and the first frame in our sources."""
        if self.process is not None:
            try:
                self.process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            if self.reader is not None:
                self.reader.join(timeout=10)
        text = "\n".join(self.lines)
        message = re.search(r"(Swift runtime failure: [^*\n]*|Fatal error: [^\n]*)", text)
        frame = re.search(r" in \S+ at (?:\S*/)?(Sources/\S+)", text)
        parts = [message.group(1).strip() if message else f"exit {self.process.returncode if self.process else '?'}"]
        if frame:
            parts.append(f"at {frame.group(1)}")
        return " ".join(parts)

    def tail(self) -> str:
        return " | ".join(self.lines[-3:]) or "no output"

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def call(server: Server, method: str, path: str, body: dict | None = None) -> tuple[int, object]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {server.token}", "Content-Type": "application/json"}
    request = urllib.request.Request(server.base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw, status = error.read(), error.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def seed(server: Server) -> dict:
    """A few real resources for the cases to reach: sessions, runs (one ended)."""
    status, document = call(server, "GET", "/v1/status")
    if status != 200:
        raise Failure(f"GET /v1/status answered {status}")
    default = document["default_session"]
    status, created = call(server, "POST", "/v1/sessions", {"agent_id": "fuzz", "tags": ["fuzz"]})
    if status != 201:
        raise Failure(f"POST /v1/sessions answered {status}: {created}")
    runs = []
    for prompt in ("hello", "again"):
        status, submitted = call(server, "POST", f"/v1/sessions/{created['id']}/runs",
                                 {"messages": [{"role": "user", "content": prompt}]})
        if status != 202:
            raise Failure(f"POST /v1/sessions/{{id}}/runs answered {status}: {submitted}")
        runs.append(submitted["run_id"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        _, run = call(server, "GET", f"/v1/runs/{runs[0]}")
        if isinstance(run, dict) and "result" in run:
            break
        time.sleep(0.05)
    return {"sessions": [default, created["id"]], "runs": runs,
            "approvals": [[runs[0], "1"]]}


def stream_check(server: Server) -> None:
    """The stream, outside the fuzzing: a short read with a limit is frames of the log."""
    request = urllib.request.Request(server.base + "/v1/stream?after=0&limit=3",
                                     headers={"Authorization": f"Bearer {server.token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        if not response.headers.get("Content-Type", "").startswith("text/event-stream"):
            raise Failure(f"/v1/stream answered {response.headers.get('Content-Type')}")
        text = response.read().decode()
    ids = [int(line[4:]) for line in text.split("\n") if line.startswith("id: ")]
    if not text.startswith("retry: 2000\n\n") or ids != [1, 2, 3]:
        raise Failure(f"/v1/stream?limit=3 gave ids {ids}")


def schemathesis_version() -> tuple[int, ...]:
    try:
        import schemathesis
    except ImportError:
        print("api_fuzz: installing schemathesis", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "schemathesis"], check=True)
        import schemathesis
    return tuple(int(part) for part in re.findall(r"\d+", schemathesis.__version__)[:3])


def summarize(record: Path) -> dict[str, dict[int, int]]:
    """Calls by operation and status, from what the hooks recorded."""
    calls: dict[str, dict[int, int]] = {}
    if record.exists():
        for line in record.read_text(encoding="utf-8").splitlines():
            entry = json.loads(line)
            statuses = calls.setdefault(entry["operation"], {})
            statuses[entry["status"]] = statuses.get(entry["status"], 0) + 1
    return calls


def findings(report: str) -> list[str]:
    """The failures and errors a Schemathesis report's summary lists, with their counts."""
    found = []
    section = None
    for line in report.splitlines():
        stripped = line.strip()
        if stripped in ("Failures:", "Errors:"):
            section = stripped
        elif not stripped:
            section = None
        elif section:
            found.append(re.sub(r"^\W+\s*", "", stripped))
    return found


def reproduction(log: str, base: str) -> str:
    """The request Schemathesis last names in its report, without the base URL and token."""
    requests = re.findall(r"^\s*(curl -X .*)$", log, flags=re.MULTILINE)
    if not requests:
        return "no request named"
    text = re.sub(r" -H 'Authorization: [^']*'", "", requests[0].replace(base, ""))
    return text if len(text) <= 240 else text[:237] + "..."


def fuzz(server: Server, schema: Path, operation: str, known: dict, record: Path,
         arguments: argparse.Namespace, attempt: int) -> tuple[int, str]:
    """Schemathesis on one operation (by its operationId): its exit status and its report."""
    command = [
        sys.executable, "-m", "schemathesis.cli", "run", str(schema),
        "--url", server.base,
        "--header", f"Authorization: Bearer {server.token}",
        "--include-operation-id", operation,
        "--checks", "all",
        "--exclude-checks", ",".join(EXCLUDED_CHECKS),
        "--phases", "examples,coverage,fuzzing",
        "--max-examples", str(arguments.examples),
        "--workers", "1",
        "--request-timeout", "10",
        "--suppress-health-check", "all",
        "--no-color",
        "--output-sanitize", "false",
    ]
    if arguments.seed is not None:
        command += ["--seed", str(arguments.seed + attempt)]
    environment = dict(
        os.environ,
        SCHEMATHESIS_HOOKS="api_fuzz",
        PYTHONPATH=os.pathsep.join(filter(None, [str(Path(__file__).resolve().parent), os.environ.get("PYTHONPATH")])),
        ASM_FUZZ_ROLE="hooks",
        ASM_FUZZ_BASE=server.base,
        ASM_FUZZ_TOKEN=server.token,
        ASM_FUZZ_KNOWN=json.dumps(known),
        ASM_FUZZ_RECORD=str(record),
    )
    result = subprocess.run(command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=server.directory, timeout=arguments.timeout)
    return result.returncode, result.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--asm", required=True, help="the asm binary to serve")
    parser.add_argument("--examples", type=int, default=50, help="generated cases per operation (fuzzing phase)")
    parser.add_argument("--seed", type=int, default=None, help="Schemathesis's seed (random when not given)")
    parser.add_argument("--timeout", type=int, default=120, help="seconds one operation may take at most")
    parser.add_argument("--log", help="also keep Schemathesis's reports in this file")
    arguments = parser.parse_args()

    started = time.monotonic()
    version = schemathesis_version()
    if version < MINIMUM_SCHEMATHESIS:
        print(f"api_fuzz: schemathesis {'.'.join(map(str, version))} is older than 4.0", file=sys.stderr)
        return 2
    asm = str(Path(arguments.asm).resolve())
    with tempfile.TemporaryDirectory(prefix="asm-fuzz-") as folder:
        directory = Path(folder)
        server = Server(asm, directory)
        try:
            server.start()
            known = seed(server)
            status, document = call(server, "GET", "/v1/openapi.json")
            if status != 200 or not isinstance(document, dict):
                raise Failure(f"GET /v1/openapi.json answered {status}", code=2)
            schema = directory / "openapi.json"
            schema.write_text(json.dumps(document), encoding="utf-8")
            operations = {
                item[method]["operationId"]: (method, path) for path, item in document["paths"].items()
                if path not in EXCLUDED_PATHS for method in item if method in ("get", "post", "put", "patch", "delete")
            }
            stream_check(server)
            record = directory / "record.ndjson"
            problems: list[str] = []
            reports: list[str] = []
            for operation, (method, path) in operations.items():
                name = f"{method.upper()} {path}"
                for attempt in range(ATTEMPTS):
                    returncode, report = fuzz(server, schema, operation, known, record, arguments, attempt)
                    reports.append(f"===== {name} (attempt {attempt + 1}, exit {returncode})\n{report}")
                    alive = server.responds()
                    for finding in findings(report):
                        if alive or not finding.startswith(("Network Error", "Server Unavailable")):
                            problems.append(f"{name}: {finding}; e.g. {reproduction(report, server.base)}")
                    if alive:
                        if returncode not in (0, 1):
                            last = (report.strip().splitlines() or ["no output"])[-1]
                            problems.append(f"{name}: schemathesis exited {returncode}: {last}")
                        break
                    # A crash: name it and the request, then go on with a new server on the same log.
                    problems.append(f"{name}: the server died ({server.crash()}) after "
                                    f"{reproduction(report, server.base)}")
                    server.start()
                    fresh = seed(server)
                    known = {key: known[key] + fresh[key] for key in known}
            if arguments.log:
                Path(arguments.log).write_text("\n".join(reports), encoding="utf-8")
            calls = summarize(record)
            documented = {f"{method.upper()} {path}" for method, path in operations.values()}
            problems = list(dict.fromkeys(problems))
            count = {name: sum(statuses.values()) for name, statuses in calls.items()}
            elapsed = time.monotonic() - started
            print(f"api_fuzz: schemathesis {'.'.join(map(str, version))}: {len(operations)} operations, "
                  f"{sum(count.values())} cases ({sum(count.get(name, 0) for name in documented)} on documented "
                  f"operations, the rest other methods), {len(problems)} failures, {elapsed:.0f}s")
            for name in sorted(documented):
                statuses = ", ".join(f"{status}: {n}" for status, n in sorted(calls.get(name, {}).items()))
                print(f"  {name}: {count.get(name, 0)} cases ({statuses})")
            for name, reason in EXCLUDED_CHECKS.items():
                print(f"  not checked: {name} ({reason})")
            print(f"  not fuzzed: {', '.join(EXCLUDED_PATHS)} (endless; read once with limit=3)")
            for problem in problems:
                print(f"  FAILED {problem}")
            untried = sorted(name for name in documented if count.get(name, 0) == 0)
            if untried:
                problems.append(f"never called: {', '.join(untried)}")
            if problems:
                raise Failure(f"{len(problems)} failures; first: {problems[0]}")
        except Failure as failure:
            print(f"api_fuzz: FAILED: {failure}", file=sys.stderr)
            return failure.code
        finally:
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
