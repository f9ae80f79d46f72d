"""The README's offline smoke test, as a user types it; and a missing model fails before mlx is imported."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ap_sam_mlx import testing
from audio_playground.cli import run

README = Path(__file__).parents[1] / "README.md"


def readme_smoke_test() -> list[list[str]]:
    """The README's smoke-test commands, each as its arguments (line continuations joined)."""
    text = README.read_text(encoding="utf-8")
    block = text.split("A quick offline smoke test", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    lines = block.replace("\\\n", " ").splitlines()
    return [shlex.split(line, comments=True) for line in lines if line.strip() and not line.startswith("#")]


def test_the_readme_smoke_test_runs_offline(tmp_path: Path) -> None:
    write, extract = readme_smoke_test()
    assert write[:3] == ["python", "-m", "ap_sam_mlx.testing"] and extract[:2] == ["ap", "extract"]
    assert extract[extract.index("--end-time") + 1] == "2" and "--solver-steps" in extract
    model = tmp_path / Path(write[3]).name
    assert testing.main([str(model)]) == 0
    song = tmp_path / "song.wav"
    sf.write(song, np.random.default_rng(0).uniform(-0.3, 0.3, (4 * 22050, 2)).astype(np.float32), 22050)
    out = tmp_path / "smoke"
    places = {"song.mp3": str(song), write[3]: str(model), "/tmp/sam-smoke-mlx": str(out)}
    assert run([places.get(a, a) for a in extract[1:]]) == 0
    written, rate = sf.read(out / "bass-sam.wav")
    assert rate == 22050 and written.shape == (2 * 22050, 2) and np.isfinite(written).all()


PROBE = """
import sys
from ap_sam_mlx.model import load_separator
from audio_playground.errors import ModelError
try:
    load_separator({"model": "base", "prompts": ["bass"]}, "auto")
except ModelError as exc:
    print(str(exc))
print("mlx" in sys.modules, "mlx_audio" in sys.modules, "transformers" in sys.modules)
"""


def test_a_model_that_is_not_here_fails_before_mlx_is_imported(tmp_path: Path, offline: Path) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(offline)}
    result = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, check=True)
    message, imported = result.stdout.strip().splitlines()
    assert message.startswith("not on this machine: mlx-community/sam-audio-base (the model) and t5-base")
    assert imported == "False False False"


def test_offline_the_cli_says_it_once_naming_the_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    song = tmp_path / "song.wav"
    sf.write(song, np.zeros((8000, 1), np.float32), 8000)
    capsys.readouterr()
    assert run(["extract", "sam-audio", str(song), "-o", str(tmp_path / "out"), "--prompts", "bass"]) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: {song}: not on this machine: mlx-community/sam-audio-base")
    assert "t5-base (its text encoder)" in lines[0] and "hf download" in lines[0]
