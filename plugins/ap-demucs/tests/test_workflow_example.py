"""docs/examples/demucs.yaml end to end with a tiny random-weight model: `ap run` for real, and its dry run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_playground.cli import run
from audio_playground.plugins import reset_plugin_manager

EXAMPLE = Path(__file__).resolve().parents[3] / "docs" / "examples" / "demucs.yaml"
SR = 44100


@pytest.fixture(autouse=True)
def demucs_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Only this plugin loads; a working folder and a step cache of this test's own."""
    monkeypatch.setenv("AUDIO_PLAYGROUND_LOAD_PLUGINS", "demucs")
    monkeypatch.setenv("AUDIO_PLAYGROUND_CACHE_DIR", str(tmp_path / "ap-cache"))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    reset_plugin_manager()
    yield work
    reset_plugin_manager()


@pytest.fixture
def song(tmp_path: Path, mix: np.ndarray) -> Path:
    path = tmp_path / "in" / "song.wav"
    path.parent.mkdir()
    sf.write(path, mix[:, : 2 * SR].T, SR, subtype="PCM_16")
    return path


def test_demucs_example_runs_with_a_tiny_model(repo: Path, song: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["-q", "run", "--config", str(EXAMPLE), "--var", "model=tiny4", "--var", f"repo={repo}", str(song)])
    assert code == 0, capsys.readouterr().err
    out = Path("out/song")
    stems = sorted(p.name for p in (out / "stems").iterdir())
    assert stems == ["bass-demucs.wav", "drums-demucs.wav", "other-demucs.wav", "vocals-demucs.wav"]
    assert sf.info(out / "stems" / "vocals-demucs.wav").frames == 2 * SR
    info = sf.info(out / "vocals-16k-mono.wav")
    assert (info.samplerate, info.channels, info.frames) == (16000, 1, 2 * 16000)
    vocals, _ = sf.read(out / "stems" / "vocals-demucs.wav", dtype="float32")
    small, _ = sf.read(out / "vocals-16k-mono.wav", dtype="float32")
    # the second step took the first step's vocals: same loudness, resampled and mixed to mono
    assert abs(np.sqrt(np.mean(small**2)) - np.sqrt(np.mean(vocals.mean(axis=1) ** 2))) < 0.01


def test_demucs_example_dry_run(repo: Path, song: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code = run(["run", "--config", str(EXAMPLE), "--dry-run", "--var", f"repo={repo}", str(song)])
    lines = capsys.readouterr().out.splitlines()
    assert code == 0
    assert lines == [
        f"# input: {song}",
        f"demucs: ap extract demucs --output-dir out/song/stems --model htdemucs --repo {repo} {song}",
        "vocals-16k: ap convert to-wav --src '<demucs.stems.vocals>' --target out/song/vocals-16k-mono.wav "
        "--sample-rate 16000 --channels 1",
    ]
    assert not Path("out").exists()
