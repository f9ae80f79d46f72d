"""Streaming resampling and channel mixing."""

from __future__ import annotations

import numpy as np
import pytest

from audio_playground.audio import Resampler, mix_channels
from audio_playground.audio.resample import expected_frames
from audio_playground.errors import UsageError
from tests.core.media import tone


def test_identity_passes_blocks_through() -> None:
    r = Resampler(44100, 44100, 2)
    block = tone(2, 100, 44100)
    assert r.identity and r.process(block) is block and r.process(block, last=True) is block


@pytest.mark.parametrize(("rate_in", "rate_out"), [(44100, 48000), (48000, 44100), (16000, 8000)])
def test_streaming_matches_the_expected_length(rate_in: int, rate_out: int) -> None:
    audio = tone(2, rate_in, rate_in, freq=200.0)
    r = Resampler(rate_in, rate_out, 2)
    assert not r.identity
    pieces = [r.process(audio[:, i : i + 3001]) for i in range(0, audio.shape[1], 3001)]
    pieces.append(r.process(np.zeros((2, 0), np.float32), last=True))
    out = np.concatenate(pieces, axis=1)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    assert abs(out.shape[1] - expected_frames(rate_in, rate_in, rate_out)) <= 1
    ideal = tone(2, out.shape[1], rate_out, freq=200.0)
    middle = slice(out.shape[1] // 4, 3 * out.shape[1] // 4)
    assert np.max(np.abs(out[:, middle] - ideal[:, middle])) < 2e-3


def test_expected_frames_rounds_half_up() -> None:
    assert expected_frames(1000, 8000, 8000) == 1000
    assert expected_frames(3, 2, 1) == 2  # 1.5 -> 2
    assert expected_frames(44100, 44100, 48000) == 48000
    assert Resampler.expected_frames(1, 3, 2) == 1  # 0.67 -> 1


def test_bad_rates() -> None:
    with pytest.raises(UsageError, match="invalid sample rate 0"):
        Resampler(0, 44100, 1)
    with pytest.raises(UsageError, match="invalid sample rate -1"):
        Resampler(44100, -1, 1)


def test_mix_channels() -> None:
    stereo = np.array([[1.0, 0.5], [0.0, -0.5]], np.float32)
    assert mix_channels(stereo, 2) is stereo
    mono = mix_channels(stereo, 1)
    assert mono.dtype == np.float32 and np.array_equal(mono, [[0.5, 0.0]])
    up = mix_channels(mono, 3)
    assert up.shape == (3, 2) and np.array_equal(up[2], mono[0])
    with pytest.raises(UsageError, match="cannot mix 2 channels into 3"):
        mix_channels(stereo, 3)


def test_lenient_mixing_for_models() -> None:
    import numpy as np

    from audio_playground.audio.resample import mix_channels

    six = np.arange(12, dtype=np.float32).reshape(6, 2)
    assert mix_channels(six, 2, strict=False).tolist() == six[:2].tolist()
    three = mix_channels(six[:2], 3, strict=False)
    assert three.shape == (3, 2) and np.allclose(three[2], six[:2].mean(axis=0))
