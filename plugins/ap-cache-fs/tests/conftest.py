"""Fixtures: an isolated environment per test with only this plugin loaded, a CLI runner, small audio files."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cachefs_helpers import noise, write_wav

from ap_cache_fs import hashing
from audio_playground.plugins import reset_plugin_manager

ENTRY_POINT = "cache-fs"


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test: its own working directory and cache dir, no stray settings, this plugin only, no digests."""
    for key in list(os.environ):
        if key.startswith("AUDIO_PLAYGROUND_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AUDIO_PLAYGROUND_LOAD_PLUGINS", ENTRY_POINT)
    monkeypatch.setenv("AUDIO_PLAYGROUND_CACHE_DIR", str(tmp_path / "cache"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    reset_plugin_manager()
    hashing.forget()
    yield work
    reset_plugin_manager()


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "cache"


@dataclass
class Result:
    code: int
    out: str
    err: str


@pytest.fixture
def ap(capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run `ap ARGS...` in-process (optionally with a plugin manager) and return exit code, stdout, stderr."""
    from audio_playground.cli import run

    def invoke(*args: str | Path, pm: Any = None) -> Result:
        capsys.readouterr()
        code = run([str(a) for a in args], pm=pm)
        captured = capsys.readouterr()
        return Result(int(code), captured.out, captured.err)

    return invoke


@pytest.fixture
def song(tmp_path: Path) -> Path:
    """2 s of 22.05 kHz stereo tone and noise, 16-bit."""
    sr = 22050
    t = np.arange(2 * sr) / sr
    tone = 0.3 * np.sin(2 * np.pi * 220 * t)
    return write_wav(tmp_path / "in" / "song.wav", (np.stack([tone, tone * 0.5]) + noise(2, t.size, scale=0.05)), sr)
