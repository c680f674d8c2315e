#!/usr/bin/env python3
"""Browser test of the web page `asm serve --http` serves, in a real (headless) Chromium.

    python3 Scripts/browser_test.py --asm PATH_TO_asm [--keep]

It starts `asm serve --http 127.0.0.1:0` on a fresh database with the scripted provider (a
script that streams text in steps and runs a tool a policy holds for approval), then drives
the page: the token form, a new session, a run submitted through the form whose text streams
in, its approval answered with the Approve button, its completion and cost; then a second run
with the page reloaded in the middle of it, after which every `data-seq` in the page must be
unique and the sequences shown must be exactly the session's events from `GET /v1/events`.

Needs Chromium and its driver (Debian: `apt-get install chromium chromium-driver`) and
Selenium (`pip install selenium`); the system chromedriver is used, nothing is downloaded.
Screenshots of each step go to `.build/browser-screenshots/` under the repository. Exit
status 0 when every check passes, 1 with a one-line reason otherwise.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHOTS = os.path.join(ROOT, ".build", "browser-screenshots")
WAIT = 60
TOKEN = "browser-test-token-7c1f"
CHROMEDRIVER = "/usr/bin/chromedriver"

# Text arrives in steps with pauses between them, then a tool the policy holds for a person.
SCRIPT = {
    "model": "scripted-1",
    "tools": ["Bash"],
    "steps": [
        {"text": "Reading the release notes. ", "chunks": 3},
        {"delay_ms": 700},
        {"text": "The changelog is complete. ", "chunks": 3},
        {"delay_ms": 700},
        {"text": "Deploying with make. ", "chunks": 2},
        {"tool": "Bash", "input": {"command": "make deploy"}, "output": "deployed to staging"},
        {"text": "Deployed; ", "chunks": 1},
        {"delay_ms": 500},
        {"text": "all checks passed.", "chunks": 2},
        {"usage": {"input": 1200, "output": 340, "cache_read": 2048}},
    ],
}
FIRST_TEXT = "Reading the release notes."
LAST_TEXT = "all checks passed."

POLICY = {
    "name": "release",
    "tool_rules": [{"deny": ["Bash(make deploy*)"]}],
    "on_violation": "request_approval",
    "approval_timeout_ms": 300000,
}


def pending_approval(state):
    """The run shows one approval, still pending, with its Approve button."""
    return len(state["approvals"]) == 1 and state["approvals"][0]["buttons"] == 1


class Failure(Exception):
    """A check that did not hold; its message is the one-line reason."""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--asm", required=True, help="the asm executable")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    arguments = parser.parse_args()
    asm = os.path.abspath(arguments.asm)
    started = time.monotonic()
    directory = tempfile.mkdtemp(prefix="asm-browser-")
    server = None
    driver = None
    step = "setup"
    try:
        if not os.access(asm, os.X_OK):
            raise Failure(f"{asm} is not an executable")
        os.makedirs(SHOTS, exist_ok=True)
        for name in os.listdir(SHOTS):
            if name.endswith(".png"):
                os.remove(os.path.join(SHOTS, name))
        step = "server"
        server, base = start_server(asm, directory)
        step = "browser"
        driver = start_browser()
        test = PageTest(driver, base, asm, os.path.join(directory, "log.sqlite"))
        step = "page"
        test.run()
        print(f"browser test passed in {time.monotonic() - started:.1f} s; screenshots in {SHOTS}")
        return 0
    except Exception as error:  # noqa: BLE001 - any failure becomes the one-line reason
        if driver is not None:
            try:
                driver.save_screenshot(os.path.join(SHOTS, "failure.png"))
            except Exception:  # noqa: BLE001
                pass
        text = str(error).strip()
        reason = text.splitlines()[0] if text else type(error).__name__
        if not isinstance(error, Failure):
            reason = f"{type(error).__name__} during {step}: {reason}"
        if arguments.keep:
            reason += f" (server log: {os.path.join(directory, 'server.log')})"
        print(f"browser test failed: {reason}", file=sys.stderr)
        return 1
    finally:
        if driver is not None:
            try:
                driver.quit()
            except Exception:  # noqa: BLE001
                pass
        if server is not None:
            stop_server(server)
        if not arguments.keep:
            shutil.rmtree(directory, ignore_errors=True)


# --- The server ---------------------------------------------------------------------------


def start_server(asm, directory):
    token = os.path.join(directory, "token")
    with open(token, "w") as file:
        file.write(TOKEN + "\n")
    os.chmod(token, 0o600)
    script = os.path.join(directory, "script.json")
    with open(script, "w") as file:
        json.dump(SCRIPT, file)
    policy = os.path.join(directory, "policy.json")
    with open(policy, "w") as file:
        json.dump(POLICY, file)
    log_path = os.path.join(directory, "server.log")
    log = open(log_path, "w")
    environment = dict(os.environ)
    environment.pop("ASM_DB", None)
    process = subprocess.Popen(
        [
            asm, "serve",
            "--http", "127.0.0.1:0",
            "--db", os.path.join(directory, "log.sqlite"),
            "--token-file", token,
            "--provider", "scripted",
            "--script", script,
            "--policy", policy,
            "--approvals", "wait",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=log,
        env=environment,
        cwd=directory,
    )
    log.close()
    deadline = time.monotonic() + WAIT
    pattern = re.compile(r"^(?:asm: )?listening on (http://127\.0\.0\.1:(\d+))", re.MULTILINE)
    while time.monotonic() < deadline:
        with open(log_path) as file:
            text = file.read()
        match = pattern.search(text)
        if match:
            return process, match.group(1)
        if process.poll() is not None:
            last = text.strip().splitlines()[-1] if text.strip() else "nothing on stderr"
            raise Failure(f"asm serve exited with {process.returncode} before listening: {last}")
        time.sleep(0.05)
    stop_server(process)
    raise Failure(f"asm serve printed no 'asm: listening on' line within {WAIT} s")


def stop_server(process):
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def get_json(base, path):
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)


def session_sequences(base, session):
    """The session's event sequences, every page of `GET /v1/events`."""
    sequences = []
    after = 0
    while True:
        page = get_json(base, f"/v1/events?session={session}&after={after}&limit=1000")
        if not page["events"]:
            return sequences
        sequences += [event["sequence"] for event in page["events"]]
        if page["next"] <= after:
            return sequences
        after = page["next"]


# --- The browser ---------------------------------------------------------------------------


def start_browser():
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise Failure("Selenium is not installed (pip install selenium)") from None
    if not os.path.exists(CHROMEDRIVER):
        raise Failure(f"{CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    for path in ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"):
        if os.path.exists(path):
            options.binary_location = path
            break
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1440,960",
                     "--disable-gpu", "--force-color-profile=srgb", "--hide-scrollbars"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)


class PageTest:
    def __init__(self, driver, base, asm=None, database=None):
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        self.driver = driver
        self.base = base
        self.asm = asm
        self.database = database
        self.By = By
        self.ActionChains = ActionChains
        self.WebDriverWait = WebDriverWait
        self.shot_number = 0

    # Helpers

    def shot(self, name):
        self.shot_number += 1
        self.driver.save_screenshot(os.path.join(SHOTS, f"{self.shot_number:02d}-{name}.png"))

    def wait(self, what, condition, timeout=WAIT):
        from selenium.common.exceptions import (
            NoSuchElementException,
            StaleElementReferenceException,
            TimeoutException,
        )

        # A condition that meets a page still being built (no such run yet) is retried, not failed.
        ignored = (NoSuchElementException, StaleElementReferenceException, TypeError, KeyError, IndexError)
        try:
            return self.WebDriverWait(self.driver, timeout, poll_frequency=0.1, ignored_exceptions=ignored).until(
                lambda _: condition()
            )
        except TimeoutException:
            self.shot("timeout")
            errors = self.console_errors()
            detail = f" (console: {errors[0]})" if errors else ""
            raise Failure(f"timed out after {timeout} s waiting for {what}{detail}") from None

    def js(self, script, *arguments):
        return self.driver.execute_script(script, *arguments)

    def find(self, testid):
        return self.driver.find_element(self.By.CSS_SELECTOR, f'[data-testid="{testid}"]')

    def console_errors(self):
        try:
            return [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]
        except Exception:  # noqa: BLE001
            return []

    def connection(self):
        return self.js('return document.querySelector(\'[data-testid="connection"]\').dataset.state')

    def run_state(self, run_id):
        """The run's status, cost and text as the page shows them."""
        return self.js(
            """
            const run = document.querySelector(`[data-testid="run"][data-run-id="${arguments[0]}"]`);
            if (!run) return null;
            return {
              status: run.querySelector('[data-testid="run-status"]').textContent,
              cost: run.querySelector('[data-testid="run-cost"]').textContent,
              text: [...run.querySelectorAll('[data-testid="run-text"]')].map((n) => n.textContent).join(''),
              approvals: [...run.querySelectorAll('[data-testid="approval"]')].map((n) => ({
                id: n.dataset.approvalId,
                status: n.querySelector('[data-testid="approval-status"]').textContent,
                buttons: n.querySelectorAll('[data-testid="approve"]').length,
              })),
            };
            """,
            run_id,
        )

    def until_run(self, what, run_id, predicate):
        """Waits until the run as the page shows it meets `predicate`; answers that state."""

        def met():
            state = self.run_state(run_id)
            return state if state and predicate(state) else None

        return self.wait(what, met)

    def listed_sessions(self):
        return self.js(
            'return [...document.querySelectorAll(\'[data-testid="session-row"]\')].map((n) => n.dataset.sessionId)'
        )

    def runs_in_page(self):
        return self.js('return [...document.querySelectorAll(\'[data-testid="run"]\')].map((n) => n.dataset.runId)')

    def shown_sequences(self):
        return self.js(
            'return [...document.querySelectorAll("#timeline [data-seq]")].map((n) => Number(n.dataset.seq))'
        )

    def check_sequences(self, session, when):
        """Every data-seq unique, and the set exactly the session's events (no gap, no duplicate)."""
        expected = session_sequences(self.base, session)
        if not expected:
            raise Failure(f"{when}: GET /v1/events has no events for session {session}")

        def caught_up():
            return sorted(self.shown_sequences()) == expected or None

        try:
            self.wait(f"the page to show the session's {len(expected)} events ({when})", caught_up, timeout=WAIT)
        except Failure:
            shown = self.shown_sequences()
            duplicates = sorted({s for s in shown if shown.count(s) > 1})
            missing = sorted(set(expected) - set(shown))
            extra = sorted(set(shown) - set(expected))
            raise Failure(
                f"{when}: the page shows {len(shown)} sequences for {len(expected)} events; "
                f"duplicates {duplicates[:10]}, missing {missing[:10]}, not the session's {extra[:10]}"
            ) from None
        shown = self.shown_sequences()
        if len(shown) != len(set(shown)):
            raise Failure(f"{when}: a data-seq appears twice in the page")
        return expected

    def search(self, session):
        """The search box: refused while the log's index is off, then hits that open their session."""
        from selenium.webdriver.common.keys import Keys

        box = self.find("search-input")
        box.send_keys("staging", Keys.ENTER)
        refusal = self.wait(
            "the search to say the index is off",
            lambda: self.js(
                'const n = document.querySelector(\'[data-testid="search-error"]\'); return n && n.textContent'
            ),
        )
        if "search index is off" not in refusal:
            raise Failure(f"a search with the index off says {refusal!r}")
        self.console_errors()  # the refused request (409) is logged; start the console afresh
        subprocess.run(
            [self.asm, "search", "--index", "on", "--db", self.database],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=WAIT,
        )
        other = next((listed for listed in self.listed_sessions() if listed != session), None)
        if other:
            self.js(
                'document.querySelector(`[data-testid="session-row"][data-session-id="${arguments[0]}"]`).click()', other
            )
            self.wait("another session to open", lambda: other in self.js("return location.hash"))
        box.send_keys(Keys.ENTER)
        hits = self.wait(
            "search hits",
            lambda: self.js(
                "return Array.from(document.querySelectorAll('[data-testid=\"search-hit\"]'))"
                ".map((n) => [n.dataset.sessionId, n.textContent])"
            ),
        )
        if not any(hit[0] == session and "[staging]" in hit[1] for hit in hits):
            raise Failure(f"no hit in {session} marks [staging]: {hits!r}")
        self.shot("search")
        self.js(
            'document.querySelector(`[data-testid="search-hit"][data-session-id="${arguments[0]}"]`).click()', session
        )
        self.wait("the hit's session to open", lambda: session in self.js("return location.hash"))
        box.clear()
        box.send_keys(" ", Keys.BACKSPACE)
        self.wait("the hits to go", lambda: self.js("return document.getElementById('search-results').hidden"))

    def wait_for_listed_cost(self, session, when):
        """The sessions list shows the session's cost as `GET /v1/cost` has it."""
        costs = get_json(self.base, "/v1/cost")["by_session"]
        nano = next((u.get("cost_nano_usd", 0) for u in costs if u.get("session_id") == session), 0)
        if nano <= 0:
            raise Failure(f"{when}: GET /v1/cost has no cost for session {session}")
        dollars = nano / 1e9

        def listed():
            text = self.js(
                """const row = document.querySelector(`[data-testid="session-row"][data-session-id="${arguments[0]}"]`);
                   return row ? row.querySelector('[data-testid="session-row-cost"]').textContent : null;""",
                session,
            )
            match = re.fullmatch(r"\$(\d+\.\d+)", text or "")
            return match and abs(float(match.group(1)) - dollars) <= max(0.0006, dollars * 0.01)

        self.wait(f"the sessions list to show the session's cost ${dollars:.4f} ({when})", listed)

    # The scenario

    def run(self):
        driver = self.driver
        driver.get(self.base + "/")
        self.wait("the token form", lambda: self.find("token-input").is_displayed())
        self.shot("token-form")

        # A wrong token is refused and the form stays.
        self.find("token-input").send_keys("not-the-token")
        self.find("token-submit").click()
        self.wait("the refusal of a wrong token", lambda: self.find("token-error").is_displayed())
        self.console_errors()  # the refused request is logged; start the console afresh

        self.find("token-input").send_keys(TOKEN)
        self.find("token-submit").click()
        self.wait("the page to connect (indicator live)", lambda: self.connection() == "live")
        self.shot("connected")

        # A new session, through the form.
        agent = self.find("new-session-agent")
        agent.clear()
        agent.send_keys("browser-test")
        before = set(self.listed_sessions())
        self.find("new-session").click()

        def new_session():
            hash_id = self.js("return (location.hash.match(/session=([0-9a-f-]{36})/) || [])[1] || null")
            return hash_id if hash_id and hash_id not in before else None

        session = self.wait("the new session to be selected", new_session)
        self.wait(
            "the new session in the list",
            lambda: self.js(
                'return !!document.querySelector(`[data-testid="session-row"][data-session-id="${arguments[0]}"]`)',
                session,
            ),
        )
        self.wait("the prompt to be enabled", lambda: self.find("prompt").is_enabled())
        self.shot("new-session")

        # First run: text streams in, the held tool is approved, the run completes with a cost.
        self.find("prompt").send_keys("Deploy the release to staging.")
        # A double click must not make a second run.
        self.ActionChains(self.driver).double_click(self.find("submit-run")).perform()
        first = self.wait("the first run to appear", lambda: (self.runs_in_page() or [None])[0])
        partial = self.until_run(
            "the first text to stream in", first, lambda s: FIRST_TEXT in s["text"] and LAST_TEXT not in s["text"]
        )
        self.shot("streaming")
        self.until_run("more text to stream in", first, lambda s: len(s["text"]) > len(partial["text"]))
        self.until_run("the pending approval with its buttons", first, pending_approval)
        self.shot("approval-pending")
        runs = self.runs_in_page()
        recorded = get_json(self.base, f"/v1/sessions/{session}")["runs"]
        if len(runs) != 1 or len(recorded) != 1:
            raise Failure(f"a double click on Run made {len(recorded)} runs ({len(runs)} in the page)")
        self.find("approve").click()
        self.until_run("the approval to show approved", first, lambda s: s["approvals"][0]["status"] == "approved")
        self.until_run("the first run to complete", first, lambda s: s["status"] == "completed")
        state = self.until_run("the first run's cost", first, lambda s: re.fullmatch(r"\$\d+\.\d+", s["cost"]))
        if LAST_TEXT not in state["text"]:
            raise Failure(f"the first run's text is {state['text']!r}, without {LAST_TEXT!r}")
        api_run = get_json(self.base, f"/v1/runs/{first}")
        if api_run["run"]["status"] != "completed":
            raise Failure(f"GET /v1/runs/{first} says {api_run['run']['status']}")
        usage = (api_run.get("result") or {}).get("usage") or {}
        if "cost_nano_usd" in usage:
            expected_cost = usage["cost_nano_usd"] / 1e9
            if abs(float(state["cost"][1:]) - expected_cost) > max(0.0006, expected_cost * 0.01):
                raise Failure(f"the page shows {state['cost']} for the run; the API says ${expected_cost:.6f}")
        self.wait_for_listed_cost(session, "after the first run")
        self.check_sequences(session, "after the first run")
        self.shot("first-run-complete")
        self.search(session)

        # Second run, with the page reloaded in the middle of it.
        self.find("prompt").send_keys("Deploy it again, please.")
        self.find("submit-run").click()
        second = self.wait("the second run to appear", lambda: len(self.runs_in_page()) == 2 and self.runs_in_page()[1])
        self.until_run("the second run's text to start", second, lambda s: FIRST_TEXT in s["text"])
        self.shot("second-run-before-reload")
        driver.refresh()
        self.wait("the page to reconnect after the reload", lambda: self.connection() == "live")
        if self.js('return !document.querySelector(\'[data-testid="token-input"]\').offsetParent') is not True:
            raise Failure("the token form came back after a reload (the token should stay in sessionStorage)")
        self.until_run("the second run to come back after the reload, waiting for approval", second, pending_approval)
        # The run waits for its approval: the log is still, the page must show all of it.
        self.check_sequences(session, "after the reload, mid-run")
        self.shot("after-reload-mid-run")
        self.find("approve").click()
        self.until_run("the second run to complete", second, lambda s: s["status"] == "completed")
        state = self.until_run("the second run's cost", second, lambda s: re.fullmatch(r"\$\d+\.\d+", s["cost"]))
        if LAST_TEXT not in state["text"]:
            raise Failure(f"the second run's text is {state['text']!r}, without {LAST_TEXT!r}")
        if state["text"].count(FIRST_TEXT) != 1:
            raise Failure(f"the second run's text shows {FIRST_TEXT!r} {state['text'].count(FIRST_TEXT)} times")
        self.wait_for_listed_cost(session, "after the second run")
        expected = self.check_sequences(session, "after the second run")
        self.shot("second-run-complete")
        errors = self.console_errors()
        if errors:
            raise Failure(f"the browser console has errors: {errors[0]}")
        print(f"  session {session}: {len(expected)} events shown once each; runs {first}, {second}")


if __name__ == "__main__":
    sys.exit(main())
