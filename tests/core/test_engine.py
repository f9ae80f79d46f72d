"""The streaming engine: identity and gain separators through every chunking, stats, exact lengths."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audio_playground.engine import (
    chunk_count,
    chunked_separate,
    crossfade_window,
    mix_channels,
    mono_stats,
    run_separation,
    separate_array,
    triangle_window,
)
from audio_playground.errors import ModelError
from audio_playground.specs import ChunkPlan
from tests.conftest import noise, write_wav


class Identity:
    """Returns the chunk (and twice the chunk), optionally recording the chunks it saw."""

    def __init__(
        self,
        frames: int,
        hop: int,
        window: np.ndarray,
        pad_short: bool = False,
        channels: int = 2,
        sample_rate: int = 44100,
    ) -> None:
        self.sample_rate = sample_rate
        self.channels = channels
        self.stems = ("same", "double")
        self.plan = ChunkPlan(frames, hop, window, pad_short)
        self.seen: list[int] = []

    def separate(self, chunk: np.ndarray) -> dict[str, np.ndarray]:
        self.seen.append(chunk.shape[1])
        return {"same": chunk.copy(), "double": 2 * chunk}


class Gain(Identity):
    def separate(self, chunk: np.ndarray) -> dict[str, np.ndarray]:
        return {"same": 0.5 * chunk, "double": -chunk}


@settings(max_examples=60, deadline=None)
@given(
    frames=st.integers(1, 3000),
    size=st.integers(2, 700),
    overlap_ratio=st.floats(0.0, 0.9),
    pad_short=st.booleans(),
    kind=st.sampled_from(["triangle", "cosine", "linear"]),
)
def test_identity_reproduces_input(frames: int, size: int, overlap_ratio: float, pad_short: bool, kind: str) -> None:
    hop = max(1, int(size * (1 - overlap_ratio)))
    window = triangle_window(size) if kind == "triangle" else crossfade_window(size, size - hop, kind)
    audio = noise(2, frames, seed=frames)
    out = separate_array(audio, Identity(size, hop, window, pad_short))
    assert out["same"].shape == audio.shape
    np.testing.assert_allclose(out["same"], audio, atol=1e-6)
    np.testing.assert_allclose(out["double"], 2 * audio, atol=2e-6)


def test_gain_chunked_equals_unchunked() -> None:
    audio = noise(2, 50_000, seed=1)
    chunked = separate_array(audio, Gain(4096, 3000, triangle_window(4096)))
    whole = separate_array(audio, Gain(60_000, 60_000, np.ones(60_000, np.float32)))
    for stem in ("same", "double"):
        np.testing.assert_allclose(chunked[stem], whole[stem], atol=1e-6)


def test_chunk_offsets_and_short_chunks_follow_demucs() -> None:
    # Offsets 0, hop, 2*hop ... for every start before the end: several last chunks may be short.
    sep = Identity(100, 75, triangle_window(100))
    separate_array(noise(2, 260), sep)
    assert sep.seen == [100, 100, 100, 35]
    padded = Identity(100, 75, triangle_window(100), pad_short=True)
    separate_array(noise(2, 260), padded)
    assert padded.seen == [100, 100, 100, 100]
    assert chunk_count(260, 75) == 4


def test_short_chunk_padding_takes_context_from_before() -> None:
    class Probe(Identity):
        def separate(self, chunk: np.ndarray) -> dict[str, np.ndarray]:
            self.chunks.append(chunk.copy())
            return super().separate(chunk)

    audio = np.arange(1, 261, dtype=np.float32)[None, :].repeat(2, axis=0)
    probe = Probe(100, 100, np.ones(100, np.float32), pad_short=True)
    probe.chunks = []
    out = separate_array(audio, probe)
    last = probe.chunks[-1][0]
    # 60 real frames (201..260), delta 40: 20 frames of context before, 20 zeros after the end.
    np.testing.assert_array_equal(last[:20], np.arange(181, 201))
    np.testing.assert_array_equal(last[20:80], np.arange(201, 261))
    np.testing.assert_array_equal(last[80:], np.zeros(20))
    np.testing.assert_allclose(out["same"], audio)


def test_channel_mapping_in_and_out() -> None:
    mono = noise(1, 1000)
    out = separate_array(np.repeat(mono, 2, axis=0), Identity(256, 200, triangle_window(256), channels=1))
    np.testing.assert_allclose(out["same"], mono, atol=1e-6)
    assert mix_channels(mono, 2).shape == (2, 1000)
    assert mix_channels(noise(4, 10), 2).shape == (2, 10)
    assert mix_channels(noise(2, 10), 3).shape == (3, 10)


def test_empty_stream_and_bad_plan() -> None:
    out = separate_array(np.zeros((2, 0), np.float32), Identity(10, 5, np.ones(10, np.float32)))
    assert out["same"].shape == (2, 0)
    with pytest.raises(ModelError, match="invalid chunk plan"):
        separate_array(noise(2, 10), Identity(10, 11, np.ones(10, np.float32)))


def test_missing_stem_is_a_model_error() -> None:
    class Broken(Identity):
        def separate(self, chunk: np.ndarray) -> dict[str, np.ndarray]:
            return {"same": chunk}

    with pytest.raises(ModelError, match="no double stem"):
        separate_array(noise(2, 100), Broken(10, 10, np.ones(10, np.float32)))


def test_progress_callback_counts_chunks() -> None:
    calls: list[tuple[int, int | None]] = []
    blocks = [noise(2, 100, seed=i) for i in range(5)]
    frames = chunked_separate(
        iter(blocks),
        Identity(128, 128, np.ones(128, np.float32)),
        lambda b: None,
        total_frames=500,
        on_chunk=lambda i, total, s: calls.append((i, total)),
    )
    assert frames == 500
    assert calls == [(0, 4), (1, 4), (2, 4), (3, 4)]


def test_mono_stats_match_numpy() -> None:
    audio = noise(2, 10_000, seed=3) + 0.25
    mean, std = mono_stats(audio[:, i : i + 999] for i in range(0, 10_000, 999))
    mono = audio.astype(np.float64).mean(axis=0)
    assert mean == pytest.approx(mono.mean(), abs=1e-9)
    assert std == pytest.approx(mono.std(ddof=1), rel=1e-9)
    assert mono_stats(iter([])) == (0.0, 0.0)


def test_windows_are_positive_and_crossfades_sum_to_one() -> None:
    assert (triangle_window(101) > 0).all()
    for kind in ("cosine", "linear"):
        w = crossfade_window(1000, 200, kind)
        assert (w > 0).all()
        np.testing.assert_allclose(w[800:] + w[:200], 1.0, atol=1e-6)


class _Sink:
    def __init__(self) -> None:
        self.blocks: list[np.ndarray] = []

    def write(self, block: np.ndarray) -> None:
        self.blocks.append(block)

    @property
    def audio(self) -> np.ndarray:
        return np.concatenate(self.blocks, axis=1)


def test_run_separation_resamples_and_keeps_exact_length(tmp_path: Path) -> None:
    from audio_playground.audio import open_audio

    sr = 48000
    t = np.arange(int(2.3 * sr)) / sr
    audio = np.stack([np.sin(2 * np.pi * 440 * t), 0.5 * np.sin(2 * np.pi * 660 * t)]).astype(np.float32) * 0.5
    path = write_wav(tmp_path / "in.wav", audio, sr, subtype="FLOAT")

    class Stats(Identity):
        needs_stats = True

        def set_stats(self, mean: float, std: float) -> None:
            self.stats = (mean, std)

    sep = Stats(44100, 33075, triangle_window(44100), pad_short=True, sample_rate=44100)
    sinks = {"same": _Sink(), "double": _Sink()}
    info = run_separation(lambda: open_audio(path), sep, sinks)
    assert info["frames"] == audio.shape[1]
    out = sinks["same"].audio
    assert out.shape == audio.shape
    # 48k -> 44.1k -> 48k through soxr: a band-limited tone survives within a small error away from the edges.
    assert np.abs(out[:, 2000:-2000] - audio[:, 2000:-2000]).max() < 2e-3
    assert sep.stats[1] == pytest.approx(audio.mean(axis=0).std(), rel=2e-2)
    chunks: list[int] = []
    mono = {"same": _Sink(), "double": _Sink()}
    run_separation(
        lambda: open_audio(path),
        Identity(22050, 22050, np.ones(22050, np.float32), sample_rate=sr),
        mono,
        output_rate=16000,
        output_channels=1,
        on_chunk=lambda i, n, s: chunks.append(i),
    )
    assert mono["same"].audio.shape == (1, round(audio.shape[1] * 16000 / sr))
    assert chunks == [0, 1, 2, 3, 4, 5]  # 110400 frames in chunks of 22050


def test_tail_chunk_inside_the_previous_one_is_skipped_when_allowed() -> None:
    window = crossfade_window(100, 40, "linear")
    every = Identity(100, 60, window)
    separate_array(noise(2, 150), every)
    assert every.seen == [100, 90, 30]
    lean = Identity(100, 60, window)
    lean.plan = ChunkPlan(100, 60, window, every_hop=False)
    audio = noise(2, 150)
    out = separate_array(audio, lean)
    assert lean.seen == [100, 90]
    assert chunk_count(150, 60, 100, every_hop=False) == 2
    for frames in (1, 99, 100, 101, 159, 160, 161, 1000):
        probe = Identity(100, 60, window)
        probe.plan = ChunkPlan(100, 60, window, every_hop=False)
        separate_array(noise(2, frames), probe)
        assert len(probe.seen) == chunk_count(frames, 60, 100, every_hop=False), frames
    np.testing.assert_allclose(out["same"], audio, atol=1e-6)


class Batched(Identity):
    """A position-dependent separator (each chunk scaled by its own content) that takes chunks in batches."""

    def __init__(self, *args: object, batch_size: int = 1, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # ty: ignore[invalid-argument-type]
        self.batch_size = batch_size
        self.calls: list[int] = []

    def separate(self, chunk: np.ndarray) -> dict[str, np.ndarray]:
        return self.separate_batch([chunk])[0]

    def separate_batch(self, chunks: list[np.ndarray]) -> list[dict[str, np.ndarray]]:
        self.calls.append(len(chunks))
        return [{"same": chunk * (1 + chunk.mean()), "double": chunk**2} for chunk in chunks]


@pytest.mark.parametrize(("every_hop", "pad_short"), [(True, True), (True, False), (False, False)])
@pytest.mark.parametrize("frames", [1, 250, 1000, 1234])
def test_batches_of_chunks_equal_one_chunk_at_a_time(frames: int, every_hop: bool, pad_short: bool) -> None:
    window = triangle_window(100)
    audio = noise(2, frames)
    one = Batched(100, 75, window, pad_short)
    one.plan = ChunkPlan(100, 75, window, pad_short, every_hop=every_hop)
    three = Batched(100, 75, window, pad_short, batch_size=3)
    three.plan = one.plan
    expected, got = separate_array(audio, one), separate_array(audio, three)
    assert set(one.calls) == {1} and sum(three.calls) == sum(one.calls) and max(three.calls) <= 3
    assert max(three.calls) == min(3, sum(one.calls))
    for stem in expected:
        np.testing.assert_allclose(got[stem], expected[stem], atol=1e-6)
