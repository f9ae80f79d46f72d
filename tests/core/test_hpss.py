"""The built-in HPSS separator: stems sum to the mix, percussion is found, options are checked."""

from __future__ import annotations

import numpy as np
import pytest

from audio_playground.audio.demo import make_demo_stems
from audio_playground.engine import separate_array
from audio_playground.errors import UsageError
from audio_playground.hpss import HpssSeparator, ap_separators


def sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10((reference**2).sum() / ((reference - estimate) ** 2).sum()))


def test_percussive_stem_is_much_closer_to_the_drums_than_the_mix() -> None:
    stems = make_demo_stems(seconds=8.0, sample_rate=22050)
    mix = stems["drums"] + stems["bass"] + stems["harmony"]
    out = separate_array(mix, HpssSeparator().for_rate(22050))
    np.testing.assert_allclose(out["harmonic"] + out["percussive"], mix, atol=1e-5)
    gain = sdr(stems["drums"], out["percussive"]) - sdr(stems["drums"], mix)
    assert gain >= 6.0


def test_short_and_silent_input() -> None:
    sep = HpssSeparator().for_rate(8000)
    out = separate_array(np.zeros((2, 100), np.float32), sep)
    assert out["harmonic"].shape == (2, 100)
    assert not np.isnan(out["percussive"]).any()


def test_margin_keeps_only_clear_energy() -> None:
    stems = make_demo_stems(seconds=3.0, sample_rate=16000)
    mix = stems["drums"] + stems["harmony"]
    plain = separate_array(mix, HpssSeparator(16000))
    strict = separate_array(mix, HpssSeparator(16000, margin=3.0))
    assert np.abs(strict["percussive"]).sum() < np.abs(plain["percussive"]).sum()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"kernel_size": 0}, "kernel-size"), ({"margin": 0.5}, "margin"), ({"n_fft": 1000}, "n-fft")],
)
def test_bad_options(kwargs: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        HpssSeparator(**kwargs)


def test_spec_loads_with_defaults_and_given_options() -> None:
    (spec,) = ap_separators()
    assert spec.load({}, "cpu").kernel_size == 31
    assert spec.load({"kernel_size": 7, "margin": 2.0, "n_fft": 512}, "cpu").n_fft == 512
    assert spec.models is not None and spec.models({})[0].available
    assert spec.cache_identity is not None and spec.cache_identity({}) == "hpss:builtin"
