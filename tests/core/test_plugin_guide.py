"""The plugin guide (docs/plugins.md) followed literally: its files, installed, run as the guide shows.

Every code block with a `title="path"` is written to a folder, the example package is installed with pip
(offline: --no-deps --no-build-isolation --no-index, into a private --target folder), and then every `ap`
command of the guide's shell blocks runs for real, the guide's own tests run under pytest, its script runs,
and every `ap` command the guide mentions is checked against `--help` as tests/core/test_docs.py does.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.conftest import install_into
from tests.core.test_docs import ROOT, code_lines, commands_in

GUIDE = ROOT / "docs" / "plugins.md"
PACKAGE = "ap-bands"
FENCE = re.compile(r'^(\s*)(`{3,})\s*[\w+-]*\s+title="([^"]+)"')


def titled_blocks(markdown: str) -> dict[str, str]:
    """{title: content} of every fenced code block that carries a title="..." attribute."""
    blocks: dict[str, str] = {}
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        i += 1
        if not match:
            continue
        indent, fence, title = match.groups()
        body: list[str] = []
        while not lines[i].strip().startswith(fence):
            body.append(lines[i][len(indent) :])
            i += 1
        i += 1
        assert title not in blocks, f"two blocks are titled {title}"
        blocks[title] = "\n".join(body) + "\n"
    return blocks


def shell_commands(markdown: str) -> list[list[str]]:
    """The `ap` commands of the guide's fenced shell blocks (the ones a reader types), in order."""
    return [args for _, text in code_lines(markdown, inline=False) for args in commands_in(text)]


def song(path: Path, seconds: float = 2.0, rate: int = 44100) -> tuple[np.ndarray, np.ndarray]:
    """A stereo test song: a 50 Hz bass and a 3 kHz whistle; returns (bass, whistle)."""
    t = np.arange(int(seconds * rate)) / rate
    bass = 0.4 * np.sin(2 * np.pi * 50 * t)
    whistle = 0.2 * np.sin(2 * np.pi * 3000 * t)
    sf.write(path, np.stack([bass + whistle] * 2, axis=1), rate, subtype="FLOAT")
    return bass, whistle


@pytest.fixture(scope="module")
def guide(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The guide's files written out and its package installed: (work folder, --target site folder)."""
    work = tmp_path_factory.mktemp("guide")
    for title, content in titled_blocks(GUIDE.read_text(encoding="utf-8")).items():
        path = work / title
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    site = tmp_path_factory.mktemp("site")
    install_into(work / PACKAGE, site)
    return work, site


def _env(site: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "AUDIO_PLAYGROUND_LOAD_PLUGINS"}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(ROOT), env.get("PYTHONPATH", "")])
    return env


def test_the_guide_has_a_complete_package() -> None:
    markdown = GUIDE.read_text(encoding="utf-8")
    blocks = titled_blocks(markdown)
    assert {f"{PACKAGE}/pyproject.toml", f"{PACKAGE}/ap_bands/plugin.py", f"{PACKAGE}/ap_bands/separator.py"} <= set(
        blocks
    )
    assert 'bands = "ap_bands.plugin"' in blocks[f"{PACKAGE}/pyproject.toml"]
    assert f"pip install ./{PACKAGE}" in markdown  # what the test does with pip, offline
    assert shell_commands(markdown)[0] == ["plugins", "list"]


def test_ap_plugins_list_shows_the_guide_plugin(guide: tuple[Path, Path]) -> None:
    work, site = guide
    listing = subprocess.run(
        [sys.executable, "-m", "audio_playground", "plugins", "list"],
        cwd=work,
        env=_env(site),
        capture_output=True,
        text=True,
        check=False,
    )
    assert listing.returncode == 0, listing.stderr
    assert "bands  (ap-bands 0.1.0, plugin)\n  hooks: ap_register_commands, ap_separators" in listing.stdout


def test_the_guide_commands_run(guide: tuple[Path, Path]) -> None:
    work, site = guide
    bass, whistle = song(work / "song.wav")
    outputs = []
    for args in shell_commands(GUIDE.read_text(encoding="utf-8")):
        result = subprocess.run(
            [sys.executable, "-m", "audio_playground", *args],
            cwd=work,
            env=_env(site),
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, (args, result.stderr)
        outputs.append(result.stdout)
    low, rate = sf.read(work / "stems" / "low-bands.wav", dtype="float32")
    high, _ = sf.read(work / "stems" / "high-bands.wav", dtype="float32")
    assert rate == 44100
    assert low.shape == high.shape == (bass.size, 2)
    assert np.allclose(low + high, np.stack([bass + whistle] * 2, axis=1), atol=1e-4)
    assert np.abs(low[:, 0] - bass).max() < 0.01
    energy = re.fullmatch(r"low (\d+\.\d)%  high (\d+\.\d)%\n", outputs[-1])
    assert energy is not None, outputs[-1]
    assert float(energy.group(1)) == pytest.approx(80.0, abs=0.5)  # 0.4**2 / (0.4**2 + 0.2**2)


def test_the_guide_tests_pass(guide: tuple[Path, Path]) -> None:
    work, site = guide
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"{PACKAGE}/tests"],
        cwd=work,
        env=_env(site),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout


def test_the_guide_script_follows_a_run(guide: tuple[Path, Path]) -> None:
    work, site = guide
    song(work / "song.wav", seconds=9.0)
    result = subprocess.run(
        [sys.executable, "follow_run.py"],
        cwd=work,
        env=_env(site),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:3] == [line for line in lines if line.startswith("separate: chunk")]
    assert [line.split(" in ")[0] for line in lines[:3]] == [f"separate: chunk {i} of 3" for i in (1, 2, 3)]
    assert lines[3].startswith("separate finished in ")
    assert lines[-1] == "['high', 'low']"


CHECK = """
import json, sys
from pathlib import Path
from audio_playground.plugins import build_plugin_manager
from tests.core.test_docs import check_lines, documented_commands
pm = build_plugin_manager()
problems, missing = check_lines(documented_commands([Path(sys.argv[1])]), pm)
print(json.dumps({"problems": problems, "missing": missing, "plugins": [[r.name, r.distribution] for r in pm.records]}))
"""


def test_every_ap_command_the_guide_mentions_is_current(guide: tuple[Path, Path]) -> None:
    # In a fresh process: entry points are discovered once per process.
    work, site = guide
    result = subprocess.run(
        [sys.executable, "-c", CHECK, str(GUIDE)],
        cwd=work,
        env=_env(site),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert ["bands", PACKAGE] in report["plugins"]
    assert report["problems"] == []
    assert report["missing"] == []
