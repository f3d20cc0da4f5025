"""What the browser tests share: Debian's Chromium and the marks that skip without it, one
way to launch it, and the console noise that is not ours."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
MARKS = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(),
                       reason="Debian chromium not installed at /usr/bin/chromium "
                              "(run scripts/test-system-deps.sh as root)"),
]
LOAD_S = 120  # a kernel start + imports on a busy 2-core machine
# Console messages that are not errors of ours: a missing favicon on a dev server.
BENIGN = ("favicon.ico",)
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run",
        "--autoplay-policy=no-user-gesture-required"]  # the players play without a click


@contextmanager
def chromium(*extra: str) -> Iterator[object]:
    """A headless Debian Chromium driven by Playwright (``extra`` command-line switches
    added); closed on exit. Tests hold it for one module at most: Playwright's sync API
    keeps an event loop running while it is open."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                               args=[*ARGS, *extra])
        try:
            yield b
        finally:
            b.close()

