"""A real headless Chromium (the system's, never a downloaded one) driven by Playwright, for the report page.

Without Playwright or /usr/bin/chromium these tests skip, except where AP_REQUIRE_BROWSER=1 (tox -e browser,
hence CI): there a missing browser fails them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import write_wav

CHROMIUM = Path(os.environ.get("AP_CHROMIUM", "/usr/bin/chromium"))
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
XSS = "<img src=x onerror=alert(1)>"
RATE = 22050
SECONDS = 6.0


def _need(reason: str) -> None:
    if os.environ.get("AP_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (AP_REQUIRE_BROWSER=1: .ci/run installs chromium, tox -e browser installs playwright)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _need("playwright is not installed")
    if not CHROMIUM.exists():
        _need(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield launched
        launched.close()


def _tone(freq: float, amp: float, seconds: float = SECONDS) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 0.5 * t)
    return np.stack([amp * envelope * np.sin(2 * np.pi * freq * t)] * 2).astype(np.float32)


@pytest.fixture(scope="session")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two tracks: four stems and a mixture; and a track whose names are HTML."""
    root = tmp_path_factory.mktemp("outputs")
    parts = {"bass": _tone(60, 0.4), "drums": _tone(3000, 0.2), "other": _tone(700, 0.2), "vocals": _tone(300, 0.3)}
    for stem, audio in parts.items():
        write_wav(root / "song" / f"{stem}.wav", audio, RATE)
    write_wav(root / "song" / "mixture.wav", sum(parts.values()) / 2, RATE)
    write_wav(root / XSS / f"{XSS}.wav", _tone(440, 0.3, 2.0), RATE)
    write_wav(root / XSS / "bass.wav", _tone(60, 0.3, 2.0), RATE)
    return root


@pytest.fixture(scope="session")
def report(outputs: Path) -> Path:
    from audio_playground.report import build_report

    return build_report(outputs).path


@dataclass
class Page:
    """An open report page and what it did: console errors, uncaught errors, dialogs, requests off the disk."""

    page: Any
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)

    def js(self, script: str, arg: Any = None) -> Any:
        return self.page.evaluate(script, arg)


def open_page(browser: Any, url: str) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1200, "height": 900})
    opened = Page(context.new_page())

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url.startswith(("file://", "data:", "blob:")):
            opened.files.append(url)
            request_route.continue_()
        else:  # anything off the disk is a network request: refuse it and remember it
            opened.blocked.append(url)
            request_route.abort()

    context.route("**/*", route)
    opened.page.on("console", lambda m: opened.errors.append(m.text) if m.type == "error" else None)
    opened.page.on("pageerror", lambda e: opened.errors.append(str(e)))

    def dialog(d: Any) -> None:
        opened.dialogs.append(d.message)
        d.dismiss()

    opened.page.on("dialog", dialog)
    opened.page.goto(url)
    opened.page.wait_for_function(
        "[...document.querySelectorAll('audio')].every(a => a.readyState >= 4 || a.error)", timeout=20000
    )
    yield opened
    context.close()


@pytest.fixture
def page(browser: Any, report: Path) -> Iterator[Page]:
    yield from open_page(browser, report.as_uri())
