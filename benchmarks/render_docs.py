"""Build the documentation site and check in headless Chromium that every page renders.

The site is built with ``mkdocs build --strict`` into a temporary folder (or
``--site`` names a built one), served on 127.0.0.1, and each page is opened in
Chromium (driven as in ``render_report.py``). Checks, per page:

1. no console error, uncaught exception or browser log error;
2. every ``<img>`` loaded and decoded (non-zero natural size);
3. nothing fetched from another origin (the site works offline).

``--screenshots DIR`` writes a full-page PNG of each page. Exit status: 0 when
every page passes, 1 when one fails, 2 when the check could not run.

    python benchmarks/render_docs.py --screenshots /tmp/docs_shots
"""

from __future__ import annotations

import argparse
import functools
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from render_report import (
    CANNOT_RUN,
    CannotRun,
    DevTools,
    browser_problems,
    find_chromium,
    launch,
    open_page,
)

ROOT = Path(__file__).resolve().parents[1]


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format, *args) -> None:  # noqa: A002 (the base class's name)
        pass


def build_site(target: Path) -> None:
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(target)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise CannotRun(f"mkdocs build failed: {done.stderr.strip().splitlines()[-1:]}")


def page_problems(devtools: DevTools, url: str, origin: str, timeout: float,
                  screenshot: Path | None) -> tuple[list[str], dict]:
    first_event = len(devtools.events)
    target, session, page = open_page(devtools, url, timeout, screenshot)
    if page is None:
        return [f"navigation to {url} failed"], {}
    # Late console messages still arrive before this answer, so they are in the events.
    devtools.call("Runtime.evaluate", {"expression": "1"}, session=session)
    devtools.call("Target.closeTarget", {"targetId": target})
    events = [e for e in devtools.events[first_event:]
              if e.get("sessionId") in (None, session)]
    problems = browser_problems(events, lambda requested: requested.startswith(origin),
                                "to another origin")
    for number, image in enumerate(page["images"], start=1):
        if not (image["complete"] and image["width"] > 0 and image["height"] > 0):
            problems.append(f"image {number} ({image['alt']!r}) did not load")
    return problems, page


def check_site(site: Path, chromium: str, timeout: float,
               screenshots: Path | None) -> dict[str, list[str]]:
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("index.html"))
    handler = functools.partial(QuietHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    origin = f"http://127.0.0.1:{server.server_address[1]}/"
    profile = tempfile.mkdtemp(prefix="render-docs-")
    # Only the local server resolves: a fetch from elsewhere fails and is reported.
    process, devtools = launch(chromium, profile, "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
    results = {}
    try:
        for name in pages:
            shot = None
            if screenshots is not None:
                shot = screenshots / (name.replace("/index.html", "").replace("/", "_")
                                      .replace("index.html", "home") + ".png")
            problems, page = page_problems(devtools, origin + name, origin, timeout, shot)
            results[name] = problems
            print(f"render_docs: {name}: title {page.get('title')!r}, "
                  f"{len(page.get('images', []))} images, {len(problems)} problems")
    finally:
        try:
            devtools.call("Browser.close", timeout=5)
        except CannotRun:
            pass  # Chromium may close the pipe before it answers.
        if process.poll() is None:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        server.shutdown()
        shutil.rmtree(profile, ignore_errors=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--site", type=Path, help="a built site (default: build one now)")
    parser.add_argument("--screenshots", type=Path, help="write a full-page PNG per page here")
    parser.add_argument("--chromium", help="browser executable (as for render_report.py)")
    parser.add_argument("--timeout", type=float, default=60.0, help="seconds per step")
    args = parser.parse_args()
    built = None
    try:
        chromium = find_chromium(args.chromium)
        site = args.site
        if site is None:
            built = Path(tempfile.mkdtemp(prefix="zeroad-site-"))
            build_site(built)
            site = built
        if args.screenshots is not None:
            args.screenshots.mkdir(parents=True, exist_ok=True)
        results = check_site(site, chromium, args.timeout, args.screenshots)
    except CannotRun as exc:
        print(f"render_docs: cannot check the site: {exc}", file=sys.stderr)
        return CANNOT_RUN
    finally:
        if built is not None:
            shutil.rmtree(built, ignore_errors=True)
    failed = {name: problems for name, problems in results.items() if problems}
    for name, problems in failed.items():
        for problem in problems:
            print(f"render_docs: FAIL {name}: {problem}", file=sys.stderr)
    if failed:
        return 1
    print(f"render_docs: OK {len(results)} pages: no console errors, every image loaded, "
          "nothing fetched from another origin"
          + (f"; screenshots in {args.screenshots}" if args.screenshots else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
