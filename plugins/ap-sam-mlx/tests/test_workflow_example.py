"""docs/examples/sam-audio*.yaml end to end on MLX with the tiny model folder: `ap run` for real, and dry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_playground.cli import run

EXAMPLES = Path(__file__).resolve().parents[3] / "docs" / "examples"
RATE = 8000


@pytest.fixture
def song(tmp_path: Path) -> Path:
    """1.5 s of 8 kHz mono: a tone and seeded noise."""
    t = np.arange(int(1.5 * RATE)) / RATE
    audio = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * np.random.default_rng(0).standard_normal(t.size)
    path = tmp_path / "in" / "song.wav"
    path.parent.mkdir()
    sf.write(path, audio.astype(np.float32), RATE, subtype="PCM_16")
    return path


def test_standard_example_segments_separates_and_merges(
    tiny_model: Path, song: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--var", f"model={tiny_model}", "--var", "window=0.5", "--var", "prompt=drums", str(song)]
    code = run(["-q", "run", "--config", str(EXAMPLES / "sam-audio.yaml"), *args])
    assert code == 0, capsys.readouterr().err
    out = Path("out/song")
    pieces = sorted(p.name for p in (out / "separated").iterdir())
    # the segments are a batch of inputs: the run manifest records each one
    assert pieces == ["run-manifest.jsonl", "segment-000-drums.wav", "segment-001-drums.wav", "segment-002-drums.wav"]
    info = sf.info(out / "drums-sam.wav")
    assert (info.samplerate, info.channels, info.frames) == (RATE, 1, int(1.5 * RATE))
    merged, _ = sf.read(out / "drums-sam.wav", dtype="float32")
    first, _ = sf.read(out / "separated" / "segment-000-drums.wav", dtype="float32")
    assert np.allclose(merged[: first.size], first, atol=1e-4)


def test_chained_example_feeds_the_residual_to_hpss(
    tiny_model: Path, song: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--var", f"model={tiny_model}", "--var", "prompts=dog barking,siren", str(song)]
    code = run(["-q", "run", "--config", str(EXAMPLES / "sam-audio-chained.yaml"), *args])
    assert code == 0, capsys.readouterr().err
    out = Path("out/song")
    assert sorted(p.name for p in (out / "stems").iterdir()) == [
        "dog_barking-sam.wav",
        "other-sam.wav",
        "siren-sam.wav",
    ]
    other, _ = sf.read(out / "stems" / "other-sam.wav", dtype="float32")
    harmonic, _ = sf.read(out / "remainder" / "harmonic-hpss.wav", dtype="float32")
    percussive, _ = sf.read(out / "remainder" / "percussive-hpss.wav", dtype="float32")
    assert harmonic.shape == other.shape == (int(1.5 * RATE),)
    assert np.abs(harmonic + percussive - other).max() < 1e-3


@pytest.mark.parametrize("name", ["sam-audio.yaml", "sam-audio-chained.yaml"])
def test_examples_dry_run(name: str, song: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    code = run(["run", "--config", str(EXAMPLES / name), "--dry-run", str(song)])
    out = capsys.readouterr().out
    assert code == 0
    assert out.startswith(f"# input: {song}\n")
    assert "--model base" in out and "sam-audio" in out
    assert not Path("out").exists()
