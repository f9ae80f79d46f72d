"""Shared fixtures: tiny random-weight RoFormer checkpoints with their configs, a test mix, an `ap` runner."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from ap_roformer.testing import write_test_models

SR = 44100


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """tiny_bs (vocals + other) and tiny_mel (bass, drums, other, vocals), written by ap_roformer.testing."""
    return write_test_models(tmp_path_factory.mktemp("roformer-models"))


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test: its own working folder and cache, no stray settings, only this plugin loaded."""
    from audio_playground.plugins import reset_plugin_manager

    for key in list(os.environ):
        if key.startswith("AUDIO_PLAYGROUND_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AUDIO_PLAYGROUND_LOAD_PLUGINS", "roformer")
    monkeypatch.setenv("AUDIO_PLAYGROUND_CACHE_DIR", str(tmp_path / "cache"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    reset_plugin_manager()
    yield work
    reset_plugin_manager()


@pytest.fixture(scope="session")
def mix() -> np.ndarray:
    """About 1.3 s of 44.1 kHz stereo: tones plus seeded noise, float32 (2, frames)."""
    rng = np.random.default_rng(0)
    frames = int(1.3 * SR)
    t = np.arange(frames) / SR
    tones = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.2 * np.sin(2 * np.pi * 57 * t) ** 3
    return (tones[None] + 0.1 * rng.standard_normal((2, frames))).astype(np.float32)


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
