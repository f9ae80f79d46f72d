"""Write docs/images/report.png: `ap report` on the demo song's HPSS stems, in the system Chromium.

Run: python docs/_tooling/report_screenshot.py (needs playwright and /usr/bin/chromium, like tox -e browser).
"""

from __future__ import annotations

import io
import subprocess
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import sync_playwright

TARGET = Path(__file__).resolve().parents[1] / "images" / "report.png"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
FLAGS += ["--disable-component-update", "--disable-sync", "--no-first-run"]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ap = [sys.executable, "-m", "audio_playground", "-q"]
        subprocess.run([*ap, "demo", str(work / "demo.mp4")], check=True)
        stems = work / "stems"
        subprocess.run(
            [*ap, "extract", "hpss", str(work / "demo.mp4"), "-o", str(stems), "--no-cache", "--report"], check=True
        )
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            page = browser.new_page(viewport={"width": 1100, "height": 700})
            page.goto((stems / "report.html").as_uri())
            page.wait_for_function("[...document.querySelectorAll('audio')].every(a => a.readyState >= 4)")
            page.get_by_role("button", name="Solo percussive", exact=True).click()
            page.get_by_label("Position of demo in seconds").fill("7.5")
            page.locator("#track-0 .checks summary").click()
            TARGET.parent.mkdir(parents=True, exist_ok=True)
            shot = page.locator("#track-0").screenshot()
            browser.close()
    from PIL import Image  # a 256-colour PNG: a third of the size, no visible change

    Image.open(io.BytesIO(shot)).quantize(256).save(TARGET, optimize=True)
    print(TARGET, TARGET.stat().st_size)


if __name__ == "__main__":
    main()
