"""Shared fixtures: an isolated environment per test, a CLI runner, small audio files."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from audio_playground.plugins import reset_plugin_manager


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test: its own working directory, cache dir, no stray AUDIO_PLAYGROUND_* settings, core plugins only."""
    for key in list(os.environ):
        if key.startswith("AUDIO_PLAYGROUND_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AUDIO_PLAYGROUND_LOAD_PLUGINS", "")
    monkeypatch.setenv("AUDIO_PLAYGROUND_CACHE_DIR", str(tmp_path / "cache"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    reset_plugin_manager()
    yield work
    reset_plugin_manager()


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def ap(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run `ap ARGS...` in-process and return its exit code, stdout and stderr."""
    from audio_playground.cli import run

    def invoke(*args: str | Path) -> Result:
        capsys.readouterr()
        code = run([str(a) for a in args])
        captured = capsys.readouterr()
        return Result(int(code), captured.out, captured.err)

    return invoke


def write_wav(path: Path, audio: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """Write (channels, frames) float audio to `path`."""
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio.T, sample_rate, subtype=subtype)
    return path


def noise(channels: int, frames: int, seed: int = 0, scale: float = 0.3) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((channels, frames)) * scale).astype(np.float32)


@pytest.fixture
def stereo_wav(tmp_path: Path) -> Path:
    """3 s of 44.1 kHz stereo noise-and-tone at 16 bit."""
    sr = 44100
    t = np.arange(3 * sr) / sr
    tone = 0.3 * np.sin(2 * np.pi * 220 * t)
    audio = np.stack([tone, tone * 0.5]) + noise(2, t.size, scale=0.05)
    return write_wav(tmp_path / "in" / "song.wav", audio.astype(np.float32), sr)


def install_into(project: Path, target: Path) -> None:
    """pip-install a local plugin project into a private --target folder, offline (hatchling must be installed)."""
    import subprocess
    import sys

    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(project),
        ],
        check=True,
    )
