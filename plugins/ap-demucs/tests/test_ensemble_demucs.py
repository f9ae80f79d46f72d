"""Ensembles with tiny Demucs members: every algorithm against numpy on the members' stems; HPSS shares no stem."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from audio_playground import ensemble
from audio_playground.cli import run
from audio_playground.plugins import reset_plugin_manager

SR = 44100
STEMS = ("drums", "bass", "other", "vocals")


@pytest.fixture(autouse=True)
def demucs_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("AUDIO_PLAYGROUND_LOAD_PLUGINS", "demucs")
    monkeypatch.setenv("AUDIO_PLAYGROUND_CACHE_DIR", str(tmp_path / "ap-cache"))
    monkeypatch.chdir(tmp_path)
    reset_plugin_manager()
    yield tmp_path
    reset_plugin_manager()


@pytest.fixture
def song(tmp_path: Path, mix: np.ndarray) -> Path:
    path = tmp_path / "in" / "song.wav"
    path.parent.mkdir()
    sf.write(path, mix[:, : 3 * SR].T, SR, subtype="PCM_16")
    return path


def _ap(*args: str | Path) -> int:
    return run(["-q", *map(str, args)])


def _reference(algorithm: str, members: list[np.ndarray]) -> np.ndarray:
    if algorithm == "avg_wave":
        return (2 * members[0] + members[1]) / 3
    if algorithm == "median_wave":
        return np.median(np.stack(members), axis=0)
    kwargs = {"nperseg": ensemble.N_FFT, "noverlap": ensemble.N_FFT - ensemble.HOP, "window": "hann"}
    spectra = np.stack([scipy.signal.stft(m, **kwargs)[2] for m in members])
    magnitude = np.abs(spectra)
    pick = magnitude.argmin(0) if algorithm == "min_mag" else magnitude.argmax(0)
    chosen = np.take_along_axis(spectra, pick[None], 0)[0]
    return scipy.signal.istft(chosen, **kwargs)[1][:, : members[0].shape[1]]


def test_two_tiny_demucs_models_every_algorithm(repo: Path, song: Path, tmp_path: Path) -> None:
    members = []
    for model in ("tiny4", "tiny4b"):
        out = tmp_path / model
        assert (
            _ap(
                "extract",
                "demucs",
                song,
                "--repo",
                repo,
                "--model",
                model,
                "-o",
                out,
                "--bit-depth",
                "32f",
                "--clip",
                "none",
            )
            == 0
        )
        members.append({s: sf.read(out / f"{s}-demucs.wav", always_2d=True)[0].T for s in STEMS})
    for algorithm in ensemble.ALGORITHMS:
        out = tmp_path / algorithm
        args = ["--member", "demucs:tiny4", "--member", "demucs:tiny4b", "--member-option", f"demucs.repo={repo}"]
        code = _ap(
            "extract",
            "ensemble",
            song,
            "-o",
            out,
            *args,
            "--algorithm",
            algorithm,
            "--weights",
            "2,1",
            "--bit-depth",
            "32f",
            "--clip",
            "none",
        )
        assert code == 0
        for stem in STEMS:
            got = sf.read(out / f"{stem}-ensemble.wav", always_2d=True)[0].T
            assert np.abs(got - _reference(algorithm, [m[stem] for m in members])).max() <= 1e-5, (algorithm, stem)


def test_hpss_and_demucs_share_no_stem(
    repo: Path, song: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--member", "hpss", "--member", "demucs:tiny4", "--member-option", f"demucs.repo={repo}"]
    assert _ap("extract", "ensemble", song, "-o", tmp_path / "out", *args) == 2
    err = capsys.readouterr().err
    assert "no stem in common (hpss: harmonic, percussive; demucs:tiny4: drums, bass, other, vocals)" in err
    assert not list((tmp_path / "out").glob("*.wav"))
