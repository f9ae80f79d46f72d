"""An ensemble rerun is served by the cache: every member a hit, no model loaded, the same bytes."""

from __future__ import annotations

from pathlib import Path

from audio_playground import api, ensemble
from audio_playground.caching import open_cache
from audio_playground.config import load_config
from audio_playground.plugins import get_plugin_manager


def test_an_ensemble_rerun_is_served_by_the_cache(ap, song: Path, tmp_path: Path) -> None:
    args = ("--member", "hpss", "--member", "hpss", "--member-option", "hpss#2.margin=2", "--algorithm", "max_mag")
    for out in ("a", "b"):
        assert ap("extract", "ensemble", song, "-o", tmp_path / out, *args).code == 0
    for stem in ("harmonic", "percussive"):
        name = f"{stem}-ensemble.wav"
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()

    pm = get_plugin_manager()
    session = open_cache(pm, load_config(), print)
    defaults = {"kernel_size": 31, "margin": 1.0, "n_fft": 2048}  # the options the CLI puts in force
    members = [
        (ensemble.Member("hpss"), api.load("hpss", options=defaults, pm=pm, lazy=True)),
        (ensemble.Member("hpss"), api.load("hpss", options={**defaults, "margin": 2.0}, pm=pm, lazy=True)),
    ]
    result = ensemble.ensemble_file(members, song, tmp_path / "c", algorithm="max_mag", cache=session)
    assert result.cached and result.members == {"hpss#1": True, "hpss#2": True}
    assert not any(loaded.loaded for _, loaded in members)
    assert (tmp_path / "c" / "harmonic-ensemble.wav").read_bytes() == (
        tmp_path / "a" / "harmonic-ensemble.wav"
    ).read_bytes()
