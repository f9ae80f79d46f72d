"""The synthetic demo song: a playable mp4 and its true stems."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from audio_playground.audio import open_audio, probe
from audio_playground.audio.demo import STEM_NAMES, make_demo, make_demo_mix, make_demo_stems


def test_stems_are_deterministic_and_sum_to_the_mix() -> None:
    stems = make_demo_stems(2.0, 8000)
    assert tuple(stems) == STEM_NAMES
    for stem in stems.values():
        assert stem.shape == (2, 16000) and stem.dtype == np.float32 and np.abs(stem).max() > 0.1
    mix = make_demo_mix(2.0, 8000)
    assert np.allclose(mix, sum(stems.values()), atol=1e-6) and np.abs(mix).max() < 1.0
    assert np.array_equal(make_demo_stems(2.0, 8000)["drums"], stems["drums"])
    assert not np.array_equal(make_demo_stems(2.0, 8000, seed=1)["drums"], stems["drums"])
    # Drums are percussive (energy comes in bursts), the harmony is steady.
    frames = stems["drums"][0].reshape(-1, 400)
    harmony = stems["harmony"][0].reshape(-1, 400)
    assert np.std(np.abs(frames).max(axis=1)) > np.std(np.abs(harmony).max(axis=1))


def test_demo_video_has_audio_and_video(tmp_path: Path) -> None:
    path = make_demo(tmp_path / "media" / "demo.mp4", seconds=1.5, sample_rate=22050)
    with av.open(str(path)) as container:
        kinds = sorted(s.type for s in container.streams)
    assert kinds == ["audio", "video"]
    info = probe(path)
    assert (info.sample_rate, info.channels, info.codec) == (22050, 2, "aac")
    with open_audio(path) as stream:
        decoded = np.concatenate(list(stream), axis=1)
    mix = make_demo_mix(1.5, 22050)
    n = mix.shape[1]
    assert n <= decoded.shape[1] < n + 1024
    # AAC is lossy but aligned: the decoded mix correlates with the true one.
    corr = np.corrcoef(decoded[0, 2048 : n - 2048], mix[0, 2048 : n - 2048])[0, 1]
    assert corr > 0.95
    assert not [p for p in path.parent.iterdir() if ".partial-" in p.name]


def test_demo_audio_only(tmp_path: Path) -> None:
    path = make_demo(tmp_path / "demo.m4a", seconds=0.5, sample_rate=16000)
    with av.open(str(path)) as container:
        assert [s.type for s in container.streams] == ["audio"]
    assert probe(path).container == "m4a"
