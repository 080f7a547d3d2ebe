"""Headless Chromium for the browser tests and the map benchmark.

Uses Debian's ``/usr/bin/chromium`` through Playwright (Playwright never
downloads a browser here), a fresh user-data folder per session, and every
http(s) request aborted, so a page is checked exactly as it behaves offline.

Without the browser the browser tests are skipped, except on CI (``CI=true``),
where coverage must not vanish silently: there they fail (:func:`browser_gate`).
"""
from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
NETWORK = re.compile(r"^(https?|wss?)://", re.I)


def chromium_missing_reason() -> str | None:
    """Why the browser checks cannot run here, or None when they can."""
    if not Path(CHROMIUM).exists():
        return f"{CHROMIUM} not found (install Debian's chromium: apt-get install -y chromium, or 'make browser')"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is not installed (pip install playwright)"
    return None


def ci_requires_browser(env: Mapping[str, str] | None = None) -> bool:
    """True on CI: the ``CI`` variable is set to true, 1 or yes (GitHub Actions, GitLab and others set it)."""
    value = (os.environ if env is None else env).get("CI", "")
    return value.strip().lower() in ("true", "1", "yes")


def browser_gate(env: Mapping[str, str] | None = None) -> tuple[str | None, bool]:
    """``(reason, must_run)``: why the browser tests cannot run (None: they can), and whether they must run anyway.

    With a reason and ``must_run`` (on CI) the tests fail; with a reason alone they are skipped.
    """
    return chromium_missing_reason(), ci_requires_browser(env)


@dataclass
class PageLog:
    page_errors: list[str] = field(default_factory=list)      # uncaught JS exceptions
    console_errors: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)          # http(s) requests the page tried
    failed: list[str] = field(default_factory=list)           # requests that failed (any scheme)
    dialogs: list[str] = field(default_factory=list)          # alert/confirm/prompt: never expected

    def non_tile_requests(self, tile_templates) -> list[str]:
        """Blocked http(s) requests that are not basemap tiles."""
        pats = [tile_regex(t) for t in tile_templates]
        return [u for u in self.blocked if not any(p.match(u) for p in pats)]


def tile_regex(template: str) -> re.Pattern:
    """A Leaflet tile URL template ({s}, {z}, {x}, {y}, {r}) as a regular expression."""
    holes = {"{s}": "[a-z0-9]+", "{z}": r"\d+", "{x}": r"\d+", "{y}": r"\d+", "{r}": "(@2x)?"}
    parts = re.split(r"(\{[a-z]\})", template)
    return re.compile("^" + "".join(holes.get(p, re.escape(p)) for p in parts) + "$")


@contextlib.contextmanager
def browser_page(*, viewport=(1280, 860)) -> Iterator[tuple[object, PageLog]]:
    """A Playwright page in headless Chromium with the network cut off."""
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="rollout-chromium-")
    log = PageLog()
    try:
        with sync_playwright() as pw:
            ctx = pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                viewport={"width": viewport[0], "height": viewport[1]}, service_workers="block")
            try:
                def block(route):
                    log.blocked.append(route.request.url)
                    route.abort()

                ctx.route(NETWORK, block)
                page = ctx.pages[0] if ctx.pages else ctx.new_page()
                page.on("pageerror", lambda exc: log.page_errors.append(str(exc)))
                page.on("console", lambda msg: log.console_errors.append(msg.text) if msg.type == "error" else None)
                page.on("requestfailed", lambda req: log.failed.append(req.url))

                def on_dialog(dialog):
                    log.dialogs.append(dialog.message)
                    dialog.dismiss()

                page.on("dialog", on_dialog)
                yield page, log
            finally:
                ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def wait_until(frame, fn: str, *, timeout_s: float = 60.0, poll_s: float = 0.02) -> None:
    """Poll the JS function ``fn`` with evaluate until it returns true.

    (Playwright's wait_for_function evaluates a string inside the page, which the
    pages' Content-Security-Policy rightly forbids.)
    """
    end = time.monotonic() + timeout_s
    while not frame.evaluate(fn):
        if time.monotonic() > end:
            raise TimeoutError(f"not true after {timeout_s:.0f} s: {fn}")
        time.sleep(poll_s)


def open_map(page, html: Path, *, timeout_s: float = 60.0) -> dict:
    """Load a map page and wait until every layer is built; return window.rolloutMap's figures."""
    page.goto(Path(html).resolve().as_uri(), wait_until="load", timeout=timeout_s * 1000)
    wait_until(page, "() => !!(window.rolloutMap && window.rolloutMap.ready && window.rolloutMap.allBuilt)",
               timeout_s=timeout_s)
    return page.evaluate("""() => ({readyMs: window.rolloutMap.readyMs, gcj: window.rolloutMap.gcj,
                                   counts: window.rolloutMap.counts, tileErrors: window.rolloutMap.tileErrors})""")
