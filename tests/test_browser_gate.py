"""The browser tests skip without Chromium, but fail under CI=true (tests._browser.browser_gate)."""
from __future__ import annotations

import sys

import pytest

import tests._browser as tb


@pytest.mark.parametrize("value, ci", [("true", True), ("TRUE", True), ("1", True), ("yes", True),
                                       ("false", False), ("0", False), ("", False)])
def test_ci_variable(value, ci):
    assert tb.ci_requires_browser({"CI": value}) is ci
    assert tb.ci_requires_browser({}) is False


def test_missing_chromium_is_a_skip_locally_and_a_failure_on_ci(monkeypatch, tmp_path):
    monkeypatch.setattr(tb, "CHROMIUM", str(tmp_path / "no-chromium"))
    reason, must_run = tb.browser_gate({})
    assert reason is not None and "no-chromium" in reason and must_run is False  # skipped
    monkeypatch.setenv("CI", "true")
    reason, must_run = tb.browser_gate()
    assert reason is not None and must_run is True  # fails


def test_missing_playwright_is_reported(monkeypatch):
    monkeypatch.setattr(tb, "CHROMIUM", sys.executable)  # any existing file stands in for the browser
    monkeypatch.setitem(sys.modules, "playwright", None)  # import fails
    monkeypatch.setitem(sys.modules, "playwright.sync_api", None)
    reason, must_run = tb.browser_gate({"CI": "true"})
    assert "playwright" in reason and must_run is True


def test_with_the_browser_nothing_blocks(monkeypatch):
    pytest.importorskip("playwright.sync_api")
    monkeypatch.setattr(tb, "CHROMIUM", sys.executable)
    assert tb.browser_gate({"CI": "true"}) == (None, True)


def test_browser_suite_fails_on_ci_without_chromium(tmp_path):
    """The real suite, run with CI=true and the browser path pointing nowhere: failures, not skips."""
    import os
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    code = ("import sys, pytest, tests._browser as tb; tb.CHROMIUM = sys.argv[1]; "
            "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '-x', 'tests/test_browser.py']))")
    env = {**os.environ, "CI": "true"}
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "no-chromium")], cwd=root, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout[-2000:]
    assert "CI is set, so the browser tests must run" in run.stdout
    summary = run.stdout.strip().splitlines()[-1]
    assert "error" in summary and "skipped" not in summary, summary
