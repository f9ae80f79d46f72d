"""convert_to_wav: sample-exact for lossless input, windows, resampling, mixing, progress, validation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_playground.audio.convert import convert_to_wav
from audio_playground.errors import UsageError
from audio_playground.specs import ConvertResult
from tests.core.media import pcm_ints, read_pcm, tone, write_lossy, write_pcm


@pytest.mark.parametrize("bits", [16, 24])
@pytest.mark.parametrize("suffix", ["wav", "flac"])
def test_lossless_input_converts_sample_exactly(tmp_path: Path, bits: int, suffix: str) -> None:
    ints = pcm_ints(2, 70_001, bits, seed=11)
    src = write_pcm(tmp_path / f"in.{suffix}", ints, 44100, bits)
    target = tmp_path / "out" / "audio.wav"
    result = convert_to_wav(src, target)
    assert result == ConvertResult(target=target, sample_rate=44100, channels=2, frames=70_001)
    info = sf.info(str(target))
    assert (info.format, info.subtype) == ("WAV", f"PCM_{bits}")
    assert np.array_equal(read_pcm(target, bits), ints)


def test_window_progress_and_bit_depth(tmp_path: Path) -> None:
    ints = pcm_ints(1, 200_000, 16)
    src = write_pcm(tmp_path / "in.wav", ints, 40_000, 16)
    seen: list[tuple[float, float | None]] = []
    result = convert_to_wav(
        src,
        tmp_path / "w.wav",
        start_time=1.0,
        end_time=4.5,
        bit_depth="24",
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert result.frames == 140_000
    assert np.array_equal(read_pcm(tmp_path / "w.wav", 24) >> 8, ints[:, 40_000:180_000])
    assert seen[-1] == (3.5, 3.5) and all(total == 3.5 for _, total in seen)
    assert [done for done, _ in seen] == sorted(done for done, _ in seen)


def test_resample_and_mix(tmp_path: Path) -> None:
    src = write_pcm(tmp_path / "in.flac", pcm_ints(2, 44_100, 24), 44_100, 24)
    result = convert_to_wav(src, tmp_path / "r.wav", sample_rate=16_000, channels=1, bit_depth="32f")
    assert (result.sample_rate, result.channels, result.frames) == (16_000, 1, 16_000)
    info = sf.info(str(tmp_path / "r.wav"))
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (16_000, 1, 16_000, "FLOAT")


def test_flac_target_and_float_input(tmp_path: Path) -> None:
    audio = tone(2, 5000, 8000)
    src = tmp_path / "f.wav"
    sf.write(str(src), audio.T, 8000, subtype="FLOAT")
    same = convert_to_wav(src, tmp_path / "same.wav")
    assert sf.info(str(same.target)).subtype == "FLOAT"
    assert np.array_equal(sf.read(str(same.target), dtype="float32")[0].T, audio)
    flac = convert_to_wav(src, tmp_path / "out.flac")
    assert sf.info(str(flac.target)).subtype == "PCM_24"  # FLAC has no float: 24-bit
    with pytest.raises(UsageError, match="FLAC"):
        convert_to_wav(src, tmp_path / "bad.flac", bit_depth="32f")


def test_mp3_input_with_window(tmp_path: Path) -> None:
    src = write_lossy(tmp_path / "in.mp3", tone(2, 3 * 44100, 44100), 44100)
    seen: list[tuple[float, float | None]] = []
    result = convert_to_wav(
        src,
        tmp_path / "m.wav",
        start_time=0.5,
        end_time=2.0,
        on_progress=lambda done, total: seen.append((done, total)),
    )
    assert result.frames == round(1.5 * 44100)
    assert sf.info(str(result.target)).subtype == "PCM_16"
    assert seen[-1][0] == pytest.approx(1.5) and seen[-1][1] == pytest.approx(1.5)
    whole = convert_to_wav(src, tmp_path / "whole.wav", start_time=1.0)
    assert whole.frames == pytest.approx(2 * 44100, abs=1200)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        (-1.0, None, "negative"),
        (None, -2.0, "negative"),
        (2.0, 1.0, "not after"),
        (1.0, 1.0, "not after"),
        (9.0, None, "beyond the end"),
    ],
)
def test_bad_windows(tmp_path: Path, start: float | None, end: float | None, message: str) -> None:
    src = write_pcm(tmp_path / "in.wav", pcm_ints(1, 8000, 16), 8000, 16)
    with pytest.raises(UsageError, match=message):
        convert_to_wav(src, tmp_path / "out" / "x.wav", start_time=start, end_time=end)
    assert not (tmp_path / "out").exists()


def test_target_may_not_be_the_source(tmp_path: Path) -> None:
    src = write_pcm(tmp_path / "in.wav", pcm_ints(1, 800, 16), 8000, 16)
    with pytest.raises(UsageError, match="the target is the source"):
        convert_to_wav(src, tmp_path / "." / "in.wav")
