"""--clip rescale: one gain for all of a track's stems (they still add up to the mix, as the sum check shows);
--clip rescale-stem: each stem by its own peak, as the demucs CLI does (and the sum check catches it)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import soundfile as sf

from audio_playground.audio.writer import RESCALE_HEADROOM, AudioWriter, commit_all
from audio_playground.evaluation import check_track, discover
from tests.conftest import write_wav

if TYPE_CHECKING:
    from audio_playground.audio.writer import ClipMode


def _write(tmp_path: Path, clip: str) -> dict[str, np.ndarray]:
    loud = np.array([[0.5, 4.0, -1.0]], dtype=np.float32)
    quiet = np.array([[0.5, -2.0, 0.25]], dtype=np.float32)
    soft = np.array([[0.5, 0.1, 0.25]], dtype=np.float32)
    writers = {
        name: AudioWriter(tmp_path / clip / f"{name}.wav", 8000, 1, bit_depth="32f", clip=cast("ClipMode", clip))
        for name in ("loud", "quiet", "soft")
    }
    for name, block in zip(writers, (loud, quiet, soft), strict=True):
        writers[name].write(block)
    commit_all(writers.values())
    return {name: sf.read(str(tmp_path / clip / f"{name}.wav"), dtype="float32")[0] for name in writers}


def test_rescale_uses_one_gain_and_rescale_stem_one_per_file(tmp_path: Path) -> None:
    shared = _write(tmp_path, "rescale")
    gain = np.float32(1.0 / (RESCALE_HEADROOM * 4.0))
    assert np.allclose(shared["loud"], np.array([0.5, 4.0, -1.0]) * gain)
    assert np.allclose(shared["quiet"], np.array([0.5, -2.0, 0.25]) * gain)
    assert np.allclose(shared["soft"], np.array([0.5, 0.1, 0.25]) * gain)
    each = _write(tmp_path, "rescale-stem")
    assert np.allclose(each["loud"], np.array([0.5, 4.0, -1.0]) / (RESCALE_HEADROOM * 4.0))
    assert np.allclose(each["quiet"], np.array([0.5, -2.0, 0.25]) / (RESCALE_HEADROOM * 2.0))
    assert np.allclose(each["soft"], [0.5, 0.1, 0.25])  # below full scale: left alone


def test_loud_track_stems_still_sum_to_the_mix(ap, tmp_path: Path) -> None:
    rate = 16000
    rng = np.random.default_rng(0)
    t = np.arange(2 * rate) / rate
    tone = 1.2 * np.sin(2 * np.pi * 220 * t)
    drums = 2.5 * rng.standard_normal(t.size) * np.exp(-np.mod(t, 0.25) * 30.0)  # loud noise bursts
    audio = np.stack([tone + drums, 0.8 * tone + drums])
    song = write_wav(tmp_path / "loud.wav", audio.astype(np.float32), rate, subtype="FLOAT")
    errors = {}
    for clip in ("rescale", "rescale-stem"):
        result = ap("extract", "hpss", song, "--output-dir", tmp_path / clip, "--clip", clip, "--no-cache")
        assert result.code == 0, result.err
        [track] = discover(tmp_path / clip, mix=song)
        [total] = [c for c in check_track(track) if c.name == "sum_error_db"]
        errors[clip] = total
    assert errors["rescale"].ok and errors["rescale"].value is not None and errors["rescale"].value < -60
    assert " x 0." in errors["rescale"].message  # the one gain, named
    assert not errors["rescale-stem"].ok and "do not add up" in errors["rescale-stem"].message
    default = ap("extract", "hpss", song, "--output-dir", tmp_path / "default", "--no-cache")
    assert default.code == 0
    [track] = discover(tmp_path / "default", mix=song)
    assert all(c.ok for c in check_track(track) if c.name == "sum_error_db")
