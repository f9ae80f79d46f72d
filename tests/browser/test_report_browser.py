"""The report page in a real headless Chromium: it loads clean, plays every stem in sync, solo/mute/seek/loop and
the keys work, names from disk stay text, and it makes no network request."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import XSS, Page, open_page

pytestmark = pytest.mark.slow

AUDIO = "document.querySelectorAll('#track-1 audio')"
TIMES = f"[...{AUDIO}].map(a => a.currentTime)"
MUTED = f"[...{AUDIO}].map(a => a.muted)"
PAUSED = f"[...{AUDIO}].map(a => a.paused)"
# Pause every element in one task, then read: a playing element reports its time in steps of its audio buffer
# (tens of ms apart between elements that play in step), a paused one exactly where it is.
STOP_AND_READ = f"(() => {{ const a = [...{AUDIO}]; a.forEach(x => x.pause()); return a.map(x => x.currentTime); }})()"


def stems_of_track0(page: Page) -> int:
    return page.js("document.querySelectorAll('#track-1 button.solo').length")


def test_the_page_loads_clean_with_no_network(page: Page) -> None:
    assert page.errors == [] and page.dialogs == [] and page.blocked == []
    audio = page.js(
        "[...document.querySelectorAll('audio')].map(a => ({state: a.readyState, error: a.error && a.error.code, "
        "duration: a.duration, src: a.currentSrc}))"
    )
    assert len(audio) == 5 + 2  # four stems and the mix; two stems in the other track
    assert all(a["state"] == 4 and a["error"] is None for a in audio), audio
    assert all(a["src"].startswith("file://") for a in audio)
    assert [round(a["duration"], 2) for a in audio[2:]] == [6.0] * 5
    images = page.js("[...document.querySelectorAll('img.spectrogram')].map(i => i.complete && i.naturalWidth)")
    assert len(images) == 7 and all(w == 480 for w in images)
    assert all(u.startswith(("file://", "data:")) for u in page.files)
    # every control has a name a screen reader reads
    unnamed = page.js(
        "[...document.querySelectorAll('button, input')].filter(e => !(e.getAttribute('aria-label') || "
        "(e.labels && e.labels.length) || e.textContent.trim())).length"
    )
    assert unnamed == 0


def test_play_keeps_every_stem_together(page: Page) -> None:
    page.page.locator("#track-1 h2").click()  # the track the keys act on
    page.page.keyboard.press("Space")  # a key press is a user gesture: playback may start
    page.page.wait_for_timeout(300)
    first = page.js(TIMES)
    page.page.wait_for_timeout(1500)
    second = page.js(TIMES)
    assert all(b - a > 1.0 for a, b in zip(first, second, strict=True)), (first, second)
    stopped = page.js(STOP_AND_READ)
    assert max(stopped) - min(stopped) < 0.05, stopped
    assert page.errors == []


def test_solo_mutes_the_others_and_mute_mutes_one(page: Page) -> None:
    buttons = page.page.get_by_role("button", name="Solo drums", exact=True)
    buttons.click()
    # stems in order bass, drums, other, vocals; the mix (last) stays silent while the stems play
    assert page.js(MUTED) == [True, False, True, True, True]
    assert buttons.get_attribute("aria-pressed") == "true"
    assert page.page.locator("#track-1 .state").nth(1).inner_text() == "soloed, audible"
    page.page.get_by_role("button", name="Solo vocals", exact=True).click()
    assert page.js(MUTED) == [True, False, True, False, True]
    buttons.click()
    page.page.get_by_role("button", name="Solo vocals", exact=True).click()
    assert page.js(MUTED) == [False, False, False, False, True]
    page.page.locator("#track-1").get_by_role("button", name="Mute bass", exact=True).click()
    assert page.js(MUTED) == [True, False, False, False, True]
    page.page.get_by_role("button", name="Listen to the original mix instead of the stems").click()
    assert page.js(MUTED) == [True, True, True, True, False]
    page.page.get_by_role("button", name="Listen to the stems instead of the original mix").click()
    assert page.js(MUTED) == [True, False, False, False, True]
    page.page.get_by_label("Volume of vocals").fill("0.25")
    assert page.js(f"[...{AUDIO}][3].volume") == 0.25


def test_seek_moves_every_stem(page: Page) -> None:
    page.page.get_by_label("Position of song in seconds").fill("3.5")
    assert page.js(TIMES) == [3.5] * 5
    # a click on a waveform seeks there
    canvas = page.page.locator("#track-1 canvas").nth(2)
    box = canvas.bounding_box()
    canvas.click(position={"x": box["width"] * 0.25, "y": box["height"] / 2})
    assert all(abs(t - 1.5) < 0.05 for t in page.js(TIMES))
    # and while playing, every stem goes on from there together
    page.page.get_by_role("button", name="Play song").click()
    page.page.wait_for_timeout(500)
    page.page.get_by_label("Position of song in seconds").fill("4")
    page.page.wait_for_timeout(700)
    stopped = page.js(STOP_AND_READ)
    assert all(4.2 < t < 5.5 for t in stopped) and max(stopped) - min(stopped) < 0.05, stopped


def test_keys_play_pause_solo_and_all(page: Page) -> None:
    keyboard = page.page.keyboard
    page.page.locator("#track-1 h2").click()
    keyboard.press("Space")
    page.page.wait_for_timeout(200)
    assert page.js(PAUSED) == [False] * 5
    assert page.page.locator("#track-1 button.play").inner_text() == "Pause"
    keyboard.press("Space")
    assert page.js(PAUSED) == [True] * 5
    keyboard.press("3")
    assert page.js(MUTED) == [True, True, False, True, True]
    keyboard.press("1")
    assert page.js(MUTED) == [False, True, True, True, True]
    keyboard.press("9")  # no ninth stem: nothing changes
    assert page.js(MUTED) == [False, True, True, True, True]
    keyboard.press("0")
    assert page.js(MUTED) == [False, False, False, False, True]
    # keys act on the track last used
    other = page.page.locator("#track-0")
    other.get_by_role("button", name="Solo bass", exact=True).click()
    keyboard.press("1")
    assert page.js("[...document.querySelectorAll('#track-0 audio')].map(a => a.muted)") == [False, True]
    assert page.js(MUTED) == [False, False, False, False, True]


def test_a_loop_region_repeats(page: Page) -> None:
    track = page.page.locator("#track-1")
    track.get_by_label("Loop", exact=True).check()
    track.get_by_label("from (s)").fill("1")
    track.get_by_label("to (s)").fill("1.6")
    track.get_by_label("to (s)").dispatch_event("change")
    assert page.js("document.querySelector('#track-1 .loop-region').hidden") is False
    page.page.get_by_role("button", name="Play song").click()
    page.page.wait_for_timeout(2000)  # past the region's end more than once
    stopped = page.js(STOP_AND_READ)
    assert all(0.95 < t < 1.75 for t in stopped), stopped


def test_names_from_disk_show_as_text(page: Page) -> None:
    assert page.dialogs == []
    assert page.js("document.querySelectorAll('img[src=\"x\"]').length") == 0
    heading = page.page.locator("#track-0 h2")
    assert heading.inner_text() == XSS
    assert page.page.locator("#track-0 h3").first.inner_text() == "1. " + XSS
    assert (
        page.js("document.title")
        == page.page.locator("h1").inner_text()
        == "Stem report: " + Path(page.page.url).parent.name
    )


def test_an_embedded_page_plays_from_itself(browser: Any, outputs: Path, tmp_path: Path) -> None:
    from audio_playground.report import build_report

    # a folder of its own, moved away from the audio: the page must need nothing but itself
    result = build_report(outputs / "song", output=tmp_path / "shared" / "song.html", embed=True)
    for opened in open_page(browser, result.path.as_uri()):
        sources = opened.js("[...document.querySelectorAll('audio')].map(a => [a.currentSrc, a.readyState])")
        assert all(src.startswith("blob:") and state == 4 for src, state in sources), sources
        assert opened.errors == [] and opened.blocked == []


@pytest.fixture
def artifacts(tmp_path: Path) -> Iterator[Path]:
    folder = Path(os.environ.get("AP_TEST_ARTIFACTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    yield folder


def test_a_screenshot_of_the_report(page: Page, artifacts: Path) -> None:
    page.page.get_by_role("button", name="Solo vocals", exact=True).click()
    page.page.get_by_label("Position of song in seconds").fill("2.2")
    shot = artifacts / "report.png"
    page.page.screenshot(path=str(shot), full_page=True)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000


def test_metrics_against_references_are_shown(browser: Any, tmp_path: Path) -> None:
    import numpy as np

    from audio_playground.report import build_report
    from tests.conftest import write_wav

    rng = np.random.default_rng(0)
    for stem in ("bass", "vocals"):
        truth = (0.1 * rng.standard_normal((2, 16000))).astype(np.float32)
        write_wav(tmp_path / "refs" / "t" / f"{stem}.wav", truth, 8000, subtype="FLOAT")
        write_wav(tmp_path / "est" / "t" / f"{stem}.wav", truth + 0.01 * truth[::-1], 8000, subtype="FLOAT")
    result = build_report(tmp_path / "est", references=tmp_path / "refs")
    for opened in open_page(browser, result.path.as_uri()):
        assert opened.errors == []
        rows = opened.js("[...document.querySelectorAll('#track-0 table.metrics tr')].map(r => r.innerText)")
        assert len(rows) == 3 and rows[1].startswith("bass")
        assert opened.js("document.getElementById('median').hidden") is False
        assert "Median over the tracks" in opened.page.locator("#median").inner_text()


def test_the_demo_separated_with_report_plays_in_sync(browser: Any, tmp_path: Path) -> None:
    """The issue's "done when": ap extract hpss demo.mp4 --output-dir stems --report, then play the page."""
    from audio_playground.cli import run

    assert run(["demo", str(tmp_path / "demo.mp4"), "--seconds", "6"]) == 0
    assert (
        run(["extract", "hpss", str(tmp_path / "demo.mp4"), "--output-dir", str(tmp_path / "stems"), "--report"]) == 0
    )
    for opened in open_page(browser, (tmp_path / "stems" / "report.html").as_uri()):
        assert opened.js("[...document.querySelectorAll('audio')].map(a => a.readyState)") == [4, 4, 4]  # + the mp4
        opened.page.keyboard.press("Space")
        opened.page.wait_for_timeout(1500)
        stems = opened.js(STOP_AND_READ.replace("#track-1", "#track-0"))[:2]
        assert stems[0] > 1.0 and abs(stems[0] - stems[1]) < 0.05, stems
        assert opened.errors == [] and opened.blocked == []
