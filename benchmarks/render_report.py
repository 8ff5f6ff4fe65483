"""Open a report HTML page in headless Chromium and check that it renders cleanly.

Checks, on the page as a browser loads it:

1. no console error, uncaught exception or browser log error;
2. every ``<img>`` loaded and decoded (non-zero natural size);
3. no request left the file: a self-contained report fetches nothing, so any
   request other than the page itself and its ``data:`` images is reported.

Chromium is driven through the DevTools protocol over a pipe
(``--remote-debugging-pipe``), so only the standard library is needed. Exit
status: 0 when every check passes, 1 when one fails, 2 when the check could not
run (no Chromium, or it did not start).

    python benchmarks/render_report.py /tmp/report.html [--screenshot /tmp/report.png]
"""

from __future__ import annotations

import argparse
import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CANDIDATES = ("/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome",
              "google-chrome-stable", "chrome-headless-shell")
CANNOT_RUN = 2

# Runs in the page after its load event; returns plain data, so no handles need releasing.
INSPECT_PAGE = """JSON.stringify({
  images: Array.from(document.images).map(img => ({
    alt: img.alt, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight,
    source: img.currentSrc.slice(0, 40)})),
  scripts: document.scripts.length,
  title: document.title,
})"""


class CannotRun(Exception):
    """The check could not be carried out (as opposed to the page failing it)."""


def find_chromium(explicit: str | None) -> str:
    if explicit:
        if not (Path(explicit).is_file() and os.access(explicit, os.X_OK)):
            raise CannotRun(f"--chromium {explicit} is not an executable file")
        return explicit
    for candidate in CANDIDATES:
        found = candidate if os.access(candidate, os.X_OK) else shutil.which(candidate)
        if found:
            return found
    raise CannotRun("no Chromium found (looked for /usr/bin/chromium and chromium, "
                    "chromium-browser, google-chrome on PATH); install it (Debian: apt-get "
                    "install chromium) or pass --chromium PATH")


class DevTools:
    """A DevTools protocol connection over Chromium's pipe: JSON messages ending in NUL."""

    def __init__(self, write_fd: int, read_fd: int):
        self.write_fd, self.read_fd = write_fd, read_fd
        self.buffer = b""
        self.events: list[dict] = []
        self.next_id = 0

    def _send(self, message: dict) -> None:
        data = json.dumps(message).encode() + b"\0"
        while data:
            data = data[os.write(self.write_fd, data):]

    def _receive(self, deadline: float) -> dict:
        while b"\0" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise CannotRun("Chromium did not answer in time")
            ready, _, _ = select.select([self.read_fd], [], [], remaining)
            if ready:
                chunk = os.read(self.read_fd, 1 << 20)
                if not chunk:
                    raise CannotRun("Chromium closed the DevTools pipe (did it crash?)")
                self.buffer += chunk
        message, _, self.buffer = self.buffer.partition(b"\0")
        return json.loads(message)

    def call(self, method: str, params: dict | None = None, session: str | None = None,
             timeout: float = 30.0) -> dict:
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        self._send(message)
        deadline = time.monotonic() + timeout
        while True:
            reply = self._receive(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise CannotRun(f"{method} failed: {reply['error'].get('message')}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, session: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for event in self.events[seen:]:
                if event.get("method") == method and event.get("sessionId") == session:
                    return event
            seen = len(self.events)
            self.events.append(self._receive(deadline))


def _high_fd(fd: int) -> int:
    """A copy of ``fd`` numbered 10 or above, so moving it to 3 or 4 cannot clobber the other."""
    copy = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return copy


def launch(chromium: str, profile: str,
           resolver_rules: str = "MAP * ~NOTFOUND") -> tuple[subprocess.Popen, DevTools]:
    commands_read, commands_write = map(_high_fd, os.pipe())
    replies_read, replies_write = map(_high_fd, os.pipe())

    def give_pipe_to_child():
        # Chromium reads commands from fd 3 and writes replies to fd 4.
        os.dup2(commands_read, 3)
        os.dup2(replies_write, 4)

    args = [chromium, "--headless", "--remote-debugging-pipe", "--disable-gpu",
            "--no-first-run", "--no-default-browser-check", "--disable-extensions",
            "--hide-scrollbars", f"--user-data-dir={profile}",
            # Nothing may be fetched from the network; a lookup that fails shows up as an error.
            f"--host-resolver-rules={resolver_rules}", "about:blank"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        args.insert(1, "--no-sandbox")  # Chromium refuses to run as root with its sandbox.
    # A file, not a pipe: unread, Chromium's chatty log could fill a pipe and stall it.
    with open(Path(profile) / "stderr.log", "wb") as log:
        try:
            process = subprocess.Popen(args, preexec_fn=give_pipe_to_child, close_fds=False,
                                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                       stderr=log)
        except OSError as exc:
            raise CannotRun(f"cannot start {chromium}: {exc}") from None
        finally:
            os.close(commands_read)
            os.close(replies_write)
    return process, DevTools(commands_write, replies_read)


def inspect(report: Path, chromium: str, timeout: float,
            screenshot: Path | None) -> tuple[list[str], list[str]]:
    """Load ``report``; return (problems found, notes about what was checked)."""
    profile = tempfile.mkdtemp(prefix="render-report-")
    process, devtools = launch(chromium, profile)
    try:
        return _inspect(devtools, report, timeout, screenshot)
    except CannotRun as exc:
        log = (Path(profile) / "stderr.log").read_text(errors="replace").strip().splitlines()
        raise CannotRun(f"{exc}; Chromium's last words: {' | '.join(log[-3:]) or 'none'}") \
            from None
    finally:
        if process.poll() is None:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(profile, ignore_errors=True)


def open_page(devtools: DevTools, url: str, timeout: float,
              screenshot: Path | None) -> tuple[str, str, dict | None]:
    """Open ``url`` in a new 1200 x 900 tab with the Page, Runtime, Log and Network
    events on, wait for it to load and inspect it (``INSPECT_PAGE``); save a full-page
    PNG to ``screenshot`` if given. Returns (target id, session id, the page's facts),
    the facts None with the error text in their place when navigation failed."""
    target = devtools.call("Target.createTarget", {"url": "about:blank"},
                           timeout=timeout)["targetId"]
    session = devtools.call("Target.attachToTarget",
                            {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Page", "Runtime", "Log", "Network"):
        devtools.call(f"{domain}.enable", session=session)
    devtools.call("Emulation.setDeviceMetricsOverride", {
        "width": 1200, "height": 900, "deviceScaleFactor": 1, "mobile": False},
        session=session)
    navigation = devtools.call("Page.navigate", {"url": url}, session=session)
    if navigation.get("errorText"):
        return target, session, None
    devtools.wait_for("Page.loadEventFired", session, timeout)
    page = json.loads(devtools.call("Runtime.evaluate", {
        "expression": INSPECT_PAGE, "returnByValue": True}, session=session)
        ["result"]["value"])
    if screenshot is not None:
        size = devtools.call("Page.getLayoutMetrics", session=session)["cssContentSize"]
        shot = devtools.call("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                     "scale": 1}}, session=session, timeout=timeout)
        screenshot.write_bytes(base64.b64decode(shot["data"]))
    return target, session, page


def _inspect(devtools: DevTools, report: Path, timeout: float,
             screenshot: Path | None) -> tuple[list[str], list[str]]:
    version = devtools.call("Browser.getVersion", timeout=timeout)["product"]
    url = report.resolve().as_uri()
    _, session, page = open_page(devtools, url, timeout, screenshot)
    if page is None:
        return [f"navigation to {url} failed"], []
    # Late console messages still arrive before this answer, so they are in the events.
    devtools.call("Runtime.evaluate", {"expression": "1"}, session=session)
    try:
        devtools.call("Browser.close", timeout=5)
    except CannotRun:
        pass  # Chromium may close the pipe before it answers.
    return _problems(devtools.events, page, url), [
        f"{version}: {len(page['images'])} images, {page['scripts']} scripts, "
        f"title {page['title']!r}"]


def browser_problems(events: list[dict], allowed, outside: str) -> list[str]:
    """What went wrong in the browser's DevTools ``events``: console errors, uncaught
    exceptions, error log entries, and requests for URLs that ``allowed(url)`` refuses
    (reported as "request <outside>: URL")."""
    problems = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(a.get("value", a.get("description", "")))
                            for a in params.get("args", []))
            problems.append(f"console {params['type']}: {text}")
        elif method == "Runtime.exceptionThrown":
            details = params.get("exceptionDetails", {})
            problems.append("uncaught exception: " + details.get("exception", {}).get(
                "description", details.get("text", "")))
        elif method == "Log.entryAdded" and params["entry"].get("level") == "error":
            problems.append(f"browser log error: {params['entry'].get('text')} "
                            f"({params['entry'].get('url', '')})")
        elif method == "Network.requestWillBeSent":
            requested = params["request"]["url"]
            if not (allowed(requested) or requested.startswith("data:")):
                problems.append(f"request {outside}: {requested}")
    return problems


def _problems(events: list[dict], page: dict, url: str) -> list[str]:
    problems = browser_problems(events, lambda requested: requested == url, "outside the file")
    for number, image in enumerate(page["images"], start=1):
        if not (image["complete"] and image["width"] > 0 and image["height"] > 0):
            problems.append(f"image {number} ({image['alt']!r}, {image['source']}...) did not "
                            "load")
    if not page["images"]:
        problems.append("the page has no images")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path, help="HTML file written by zeroad report")
    parser.add_argument("--chromium", help="browser executable (default: /usr/bin/chromium, "
                                           "then chromium or google-chrome on PATH)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per step")
    parser.add_argument("--screenshot", type=Path, help="write a full-page PNG here")
    args = parser.parse_args()
    if not args.report.is_file():
        print(f"render_report: {args.report} is not a file", file=sys.stderr)
        return CANNOT_RUN
    try:
        chromium = find_chromium(args.chromium)
        problems, notes = inspect(args.report, chromium, args.timeout, args.screenshot)
    except CannotRun as exc:
        print(f"render_report: cannot check {args.report}: {exc}", file=sys.stderr)
        return CANNOT_RUN
    for note in notes:
        print(f"render_report: {note}")
    if problems:
        for problem in problems:
            print(f"render_report: FAIL {problem}", file=sys.stderr)
        return 1
    print(f"render_report: OK {args.report}: no console errors, every image loaded, "
          "nothing fetched outside the file"
          + (f"; screenshot in {args.screenshot}" if args.screenshot else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
