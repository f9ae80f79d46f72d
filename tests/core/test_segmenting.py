"""Fixed-window planning, split and concat: sample-exact placement, crossfades, round trips."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audio_playground.errors import InputError, OutputError, UsageError
from audio_playground.segmenting import (
    ap_segmenters,
    concat,
    crossfade_span,
    crossfade_weights,
    plan_fixed,
    split,
)
from audio_playground.specs import Segment
from tests.core.media import pcm_ints, read_pcm, tone, write_lossy, write_pcm


def starts_and_lengths(segments: list[Segment]) -> list[tuple[int, int]]:
    return [(s.start_frame, s.frames) for s in segments]


def test_plan_fixed() -> None:
    assert starts_and_lengths(plan_fixed(100, 10, 4.0, 1.0)) == [(0, 40), (30, 40), (60, 40)]
    assert starts_and_lengths(plan_fixed(101, 10, 4.0, 1.0)) == [(0, 40), (30, 40), (60, 40), (90, 11)]
    assert starts_and_lengths(plan_fixed(95, 10, 4.0, 0.0)) == [(0, 40), (40, 40), (80, 15)]
    assert starts_and_lengths(plan_fixed(30, 10, 4.0, 1.0)) == [(0, 30)]
    assert starts_and_lengths(plan_fixed(101, 10, 4.0, 1.0, 2)) == [(0, 40), (30, 40)]
    assert plan_fixed(0, 10, 4.0, 1.0) == []
    assert [s.index for s in plan_fixed(1000, 10, 1.0, 0.5)] == list(range(len(plan_fixed(1000, 10, 1.0, 0.5))))
    seg = plan_fixed(100, 10, 4.0, 1.0)[1]
    assert seg.start_s(10) == 3.0 and seg.duration_s(10) == 4.0


@pytest.mark.parametrize(
    ("window", "overlap", "max_segments", "message"),
    [
        (0.0, 0.0, None, "not positive"),
        (1.0, -0.5, None, "negative"),
        (1.0, 1.0, None, "not shorter"),
        (0.01, 0.0, None, "shorter than one sample"),
        (1.0, 0.0, 0, "below 1"),
    ],
)
def test_plan_fixed_rejects(window: float, overlap: float, max_segments: int | None, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        plan_fixed(100, 10, window, overlap, max_segments)


def test_segmenter_hook() -> None:
    (spec,) = ap_segmenters()
    assert spec.name == "fixed" and spec.plan is plan_fixed and spec.help


def test_crossfade_span() -> None:
    # Overlap up to half a window: the whole overlap.
    assert crossfade_span(0, 40, 30, 0) == (30, 10)
    # Overlap 30 of 40 (hop 10): 10 frames in the middle of the overlap.
    assert crossfade_span(0, 40, 10, 0) == (20, 10)
    # Irregular placement: never before the output position, never past the previous segment.
    assert crossfade_span(0, 40, 10, 25) == (25, 10)
    assert crossfade_span(0, 40, 10, 35) == (35, 5)
    assert crossfade_span(0, 40, 0, 0) == (20, 0)  # same start: a cut in the middle


def test_heavily_overlapping_segments_blend_two_at_a_time(tmp_path: Path) -> None:
    d = tmp_path / "segs"
    d.mkdir()
    values = [0.1, 0.2, 0.3, 0.4]
    meta = {"sample_rate": 100, "segments": []}
    for i, value in enumerate(values):
        name = f"segment-00{i}.wav"
        sf.write(str(d / name), np.full((40, 1), value, np.float32), 100, subtype="FLOAT")
        meta["segments"].append({"file": name, "start_frame": 10 * i, "frames": 40})
    (d / "segment_metadata.json").write_text(json.dumps(meta))
    out = sf.read(str(concat(d, tmp_path / "m.wav", crossfade_type="linear").target), dtype="float64")[0]
    assert out.shape == (70,)
    w = crossfade_weights("linear", 10, 0, 10)
    assert np.allclose(out[:20], 0.1) and np.allclose(out[50:], 0.4)
    for k in range(3):  # segment k hands over to k + 1 over [20 + 10k, 30 + 10k)
        span = out[20 + 10 * k : 30 + 10 * k]
        assert np.allclose(span, values[k] * (1 - w) + values[k + 1] * w)


def test_crossfade_weights_sum_to_one() -> None:
    for kind in ("cosine", "linear"):
        w = crossfade_weights(kind, 10, 0, 10)
        assert np.all((w > 0) & (w < 1)) and np.all(np.diff(w) > 0)
        assert np.allclose(w + w[::-1], 1.0)  # symmetric
        assert np.array_equal(crossfade_weights(kind, 10, 3, 4), w[3:7])
    assert np.allclose(crossfade_weights("linear", 4, 0, 4), [0.125, 0.375, 0.625, 0.875])


def test_split_writes_segments_and_metadata(tmp_path: Path) -> None:
    ints = pcm_ints(2, 10_050, 24)
    src = write_pcm(tmp_path / "in.flac", ints, 1000, 24)
    out = tmp_path / "segs"
    seen: list[tuple[float, float | None]] = []
    result = split(src, out, window_size=4.0, overlap=1.0, on_progress=lambda d, t: seen.append((d, t)))
    names = [p.name for p in result.segments]
    assert names == [f"segment-00{i}.wav" for i in range(4)]
    assert result.output_dir == out and result.metadata == out / "segment_metadata.json"
    meta = json.loads(result.metadata.read_text())
    assert {k: meta[k] for k in ("source", "sample_rate", "channels", "bit_depth", "window", "overlap")} == {
        "source": str(src),
        "sample_rate": 1000,
        "channels": 2,
        "bit_depth": "24",
        "window": 4.0,
        "overlap": 1.0,
    }
    assert (meta["frames"], meta["source_frames"], meta["truncated"]) == (10_050, 10_050, False)
    assert [(s["start_frame"], s["frames"]) for s in meta["segments"]] == starts_and_lengths(
        plan_fixed(10_050, 1000, 4.0, 1.0)
    )
    assert meta["segments"][3] == {
        "file": "segment-003.wav",
        "start_s": 9.0,
        "duration_s": 1.05,
        "start_frame": 9000,
        "frames": 1050,
    }
    for entry in meta["segments"]:
        got = read_pcm(out / entry["file"], 24)
        start = entry["start_frame"]
        assert np.array_equal(got, ints[:, start : start + entry["frames"]])
    assert seen[-1] == (10.05, 10.05)
    assert not [p for p in out.iterdir() if ".partial-" in p.name]


def test_max_segments_truncates(tmp_path: Path) -> None:
    src = write_pcm(tmp_path / "in.wav", pcm_ints(1, 10_000, 16), 1000, 16)
    result = split(src, tmp_path / "a", window_size=2.0, overlap=0.5, max_segments=3)
    meta = json.loads(result.metadata.read_text())
    assert len(result.segments) == 3 and meta["truncated"] is True and meta["source_frames"] is None
    assert meta["frames"] == 5000
    merged = concat(tmp_path / "a", tmp_path / "a.wav")
    assert merged.frames == 5000
    # A limit the input does not reach truncates nothing.
    meta = json.loads(split(src, tmp_path / "b", window_size=2.0, max_segments=5).metadata.read_text())
    assert meta["truncated"] is False and len(meta["segments"]) == 5
    # The limit reached exactly at a block boundary: the next block shows the input goes on.
    result = split(src, tmp_path / "c", window_size=2.0, max_segments=1)
    assert json.loads(result.metadata.read_text())["truncated"] is True


def test_split_lossy_input_and_float_input(tmp_path: Path) -> None:
    src = write_lossy(tmp_path / "in.mp3", tone(2, 44100, 44100), 44100)
    result = split(src, tmp_path / "m", window_size=0.3)
    meta = json.loads(result.metadata.read_text())
    assert meta["bit_depth"] == "16" and meta["sample_rate"] == 44100
    assert sum(s["frames"] for s in meta["segments"]) == meta["frames"]
    float_src = tmp_path / "f.wav"
    sf.write(str(float_src), tone(1, 3000, 1000).T * 3, 1000, subtype="FLOAT")
    result = split(float_src, tmp_path / "f", window_size=1.0)
    assert sf.info(str(result.segments[0])).subtype == "FLOAT"
    merged = concat(tmp_path / "f", tmp_path / "f.wav")
    assert np.array_equal(sf.read(str(merged.target), dtype="float32")[0], sf.read(str(float_src), dtype="float32")[0])


def test_split_errors(tmp_path: Path) -> None:
    src = write_pcm(tmp_path / "in.wav", pcm_ints(1, 1000, 16), 1000, 16)
    with pytest.raises(UsageError, match="not shorter"):
        split(src, tmp_path / "x", window_size=1.0, overlap=1.0)
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="is not a directory"):
        split(src, tmp_path / "file", window_size=1.0)
    empty = tmp_path / "empty.wav"
    sf.write(str(empty), np.zeros((0, 1), np.int16), 1000, subtype="PCM_16")
    with pytest.raises(UsageError, match="no audio to split"):
        split(empty, tmp_path / "e", window_size=1.0)
    assert not (tmp_path / "e" / "segment_metadata.json").exists()
    with pytest.raises(InputError):
        split(tmp_path / "nope.wav", tmp_path / "n", window_size=1.0)


@pytest.mark.parametrize("crossfade", ["cosine", "linear"])
def test_concat_crossfades_different_signals(tmp_path: Path, crossfade: str) -> None:
    d = tmp_path / "segs"
    a = np.full((1, 10), 0.5, np.float32)
    b = np.full((1, 10), -0.25, np.float32)
    for name, audio in (("segment-000.wav", a), ("segment-001.wav", b)):
        sf.write(str(d / name) if d.exists() else str(d.mkdir() or d / name), audio.T, 100, subtype="FLOAT")
    meta = {
        "sample_rate": 100,
        "segments": [
            {"file": "segment-000.wav", "start_frame": 0, "frames": 10},
            {"file": "segment-001.wav", "start_frame": 6, "frames": 10},
        ],
    }
    (d / "segment_metadata.json").write_text(json.dumps(meta))
    result = concat(d, tmp_path / "m.wav", crossfade_type=crossfade)
    out = sf.read(str(result.target), dtype="float64")[0]
    assert result.frames == 16 and out.shape == (16,)
    assert np.array_equal(out[:6], [0.5] * 6) and np.array_equal(out[10:], [-0.25] * 6)
    w = crossfade_weights(crossfade, 4, 0, 4)
    assert np.allclose(out[6:10], 0.5 * (1 - w) - 0.25 * w, atol=1e-7)


def test_concat_without_metadata_places_back_to_back_in_natural_order(tmp_path: Path) -> None:
    d = tmp_path / "parts"
    parts = {f"part-{i}.wav": pcm_ints(2, 100 + i, 16, seed=i) for i in (1, 2, 10)}
    for name, ints in parts.items():
        write_pcm(d / name, ints, 8000, 16)
    (d / "notes.txt").write_text("ignored")
    result = concat(d, d / "part-all.wav", pattern="part-*.wav")
    expected = np.concatenate([parts["part-1.wav"], parts["part-2.wav"], parts["part-10.wav"]], axis=1)
    assert result.frames == 313 and np.array_equal(read_pcm(result.target, 16), expected)
    # The target itself matches the pattern now; a second run must not read it back in.
    again = concat(d, d / "part-all.wav", pattern="part-*.wav")
    assert again.frames == 313


def test_concat_places_separated_segments_by_metadata(tmp_path: Path) -> None:
    ints = pcm_ints(1, 5000, 16)
    src = write_pcm(tmp_path / "in.wav", ints, 1000, 16)
    segs = tmp_path / "segs"
    split(src, segs, window_size=1.0, overlap=0.25)  # starts 0, 750, 1500, ..., 4500
    # A separator wrote one file per segment and prompt next to the metadata: segment-000-bass.wav ...
    for seg in sorted(segs.glob("segment-*.wav")):
        shutil.copy(seg, segs / f"{seg.stem}-bass.wav")
    result = concat(segs, tmp_path / "bass.wav", pattern="segment-*-bass.wav")
    assert np.array_equal(read_pcm(result.target, 16), ints)
    # A gap (a missing segment) becomes silence, everything else stays in place.
    (segs / "segment-002-bass.wav").unlink()
    (segs / "segment-003-bass.wav").unlink()
    gap = concat(segs, tmp_path / "gap.wav", pattern="segment-*-bass.wav")
    got = read_pcm(gap.target, 16)
    assert got.shape == (1, 5000)
    assert np.array_equal(got[:, :1750], ints[:, :1750]) and np.array_equal(got[:, 3000:], ints[:, 3000:])
    assert not got[:, 1750:3000].any()
    with pytest.raises(UsageError, match="both belong to segment"):
        concat(segs, tmp_path / "x.wav", pattern="segment-000*.wav")
    (segs / "other-bass.wav").write_bytes((segs / "segment-000.wav").read_bytes())
    with pytest.raises(UsageError, match=r"not listed in segment_metadata\.json") as err:
        concat(segs, tmp_path / "x.wav", pattern="*-bass.wav")
    assert "other-bass.wav" in str(err.value)


def test_concat_rescales_metadata_to_the_segments_rate(tmp_path: Path) -> None:
    d = tmp_path / "segs"
    d.mkdir()
    for i in range(2):
        sf.write(str(d / f"segment-00{i}-x.wav"), np.full((4, 1), 0.5, np.float32), 2000, subtype="FLOAT")
    meta = {
        "sample_rate": 1000,
        "segments": [
            {"file": "segment-000.wav", "start_frame": 0, "frames": 2},
            {"file": "segment-001.wav", "start_frame": 3, "frames": 2},
        ],
    }
    (d / "segment_metadata.json").write_text(json.dumps(meta))
    result = concat(d, tmp_path / "m.wav", pattern="segment-*-x.wav")
    assert result.frames == 10
    out = sf.read(str(result.target), dtype="float32")[0]
    assert np.array_equal(out, [0.5] * 4 + [0.0] * 2 + [0.5] * 4)


def test_concat_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such directory"):
        concat(tmp_path / "nope", tmp_path / "m.wav")
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="is not a directory"):
        concat(tmp_path / "file", tmp_path / "m.wav")
    d = tmp_path / "d"
    d.mkdir()
    with pytest.raises(InputError, match="no segment-NNN files") as err:
        concat(d, tmp_path / "m.wav")
    assert str(d) in str(err.value)
    with pytest.raises(InputError, match="no files match"):
        concat(d, tmp_path / "m.wav", pattern="*.flac")
    write_pcm(d / "segment-000.wav", pcm_ints(2, 100, 16), 8000, 16)
    with pytest.raises(UsageError, match="unknown crossfade type"):
        concat(d, tmp_path / "m.wav", crossfade_type="square")
    write_pcm(d / "segment-001.wav", pcm_ints(2, 100, 16), 16000, 16)
    with pytest.raises(UsageError, match="16000 Hz") as err:
        concat(d, tmp_path / "m.wav")
    assert "segment-001.wav" in str(err.value)
    write_pcm(d / "segment-001.wav", pcm_ints(1, 100, 16), 8000, 16)
    with pytest.raises(UsageError, match="1 channels"):
        concat(d, tmp_path / "m.wav")
    write_pcm(d / "segment-001.wav", pcm_ints(2, 10, 16), 8000, 16)
    (d / "segment_metadata.json").write_text("{not json")
    with pytest.raises(UsageError, match="not a valid segment metadata file"):
        concat(d, tmp_path / "m.wav")
    meta = {
        "sample_rate": 8000,
        "segments": [
            {"file": "segment-000.wav", "start_frame": 0, "frames": 100},
            {"file": "segment-001.wav", "start_frame": 50, "frames": 10},
        ],
    }
    (d / "segment_metadata.json").write_text(json.dumps(meta))
    with pytest.raises(UsageError, match=r"lies inside segment-000\.wav"):
        concat(d, tmp_path / "m.wav")
    assert not (tmp_path / "m.wav").exists()
    assert not [p for p in tmp_path.iterdir() if ".partial-" in p.name]


def test_concat_progress_and_flac_target(tmp_path: Path) -> None:
    ints = pcm_ints(2, 3000, 24)
    src = write_pcm(tmp_path / "in.wav", ints, 1000, 24)
    split(src, tmp_path / "s", window_size=1.0, overlap=0.25)
    seen: list[tuple[float, float | None]] = []
    result = concat(tmp_path / "s", tmp_path / "m.flac", on_progress=lambda d, t: seen.append((d, t)))
    assert sf.info(str(result.target)).format == "FLAC"
    assert np.array_equal(read_pcm(result.target, 24), ints)
    assert seen[-1] == (3.0, 3.0)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    bits=st.sampled_from([16, 24]),
    channels=st.integers(1, 4),
    rate=st.integers(8000, 48000),
    frames=st.integers(1, 3000),
    window=st.integers(1, 1200),
    overlap_fraction=st.floats(0.0, 0.95),
    crossfade=st.sampled_from(["cosine", "linear"]),
    seed=st.integers(0, 2**16),
)
def test_split_then_concat_is_bit_exact(
    tmp_path_factory: pytest.TempPathFactory,
    bits: int,
    channels: int,
    rate: int,
    frames: int,
    window: int,
    overlap_fraction: float,
    crossfade: str,
    seed: int,
) -> None:
    hop_min = frames // 40 + 1  # at most ~40 segments per example keeps the test fast
    window = max(window, hop_min)
    overlap = max(0, min(int(window * overlap_fraction), window - hop_min))
    work = tmp_path_factory.mktemp("rt")
    ints = pcm_ints(channels, frames, bits, seed=seed)
    src = write_pcm(work / "in.wav", ints, rate, bits)
    result = split(src, work / "segs", window_size=window / rate, overlap=overlap / rate)
    meta = json.loads(result.metadata.read_text())
    assert [(s["start_frame"], s["frames"]) for s in meta["segments"]] == starts_and_lengths(
        plan_fixed(frames, rate, window / rate, overlap / rate)
    )
    merged = concat(work / "segs", work / "merged.wav", crossfade_type=crossfade)
    assert merged.frames == frames
    assert sf.info(str(merged.target)).subtype == f"PCM_{bits}"
    assert np.array_equal(read_pcm(merged.target, bits), ints)
    shutil.rmtree(work)


def test_truncation_seen_in_the_next_block(tmp_path: Path) -> None:
    # One segment of exactly one 65536-frame read block: only the next block shows that the input goes on.
    src = write_pcm(tmp_path / "in.wav", pcm_ints(1, 2 * 65536, 16), 65536, 16)
    result = split(src, tmp_path / "s", window_size=1.0, max_segments=1)
    meta = json.loads(result.metadata.read_text())
    assert meta["truncated"] is True and meta["frames"] == 65536


def test_split_failing_midway_leaves_no_partial_files(tmp_path: Path) -> None:
    from audio_playground.errors import DecodeError

    whole = write_pcm(tmp_path / "whole.flac", pcm_ints(1, 400_000, 16), 8000, 16)
    cut = tmp_path / "cut.flac"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 3 // 4])
    out = tmp_path / "segs"
    with pytest.raises(DecodeError):
        split(cut, out, window_size=7.0)
    names = sorted(p.name for p in out.iterdir())
    assert names and all(n.startswith("segment-") and n.endswith(".wav") for n in names)  # complete ones only
    assert "segment_metadata.json" not in names
    for name in names:
        assert sf.info(str(out / name)).frames == 56_000


def test_metadata_that_cannot_be_written(tmp_path: Path) -> None:
    src = write_pcm(tmp_path / "in.wav", pcm_ints(1, 1000, 16), 1000, 16)
    (tmp_path / "s" / "segment_metadata.json").mkdir(parents=True)
    (tmp_path / "s" / "segment_metadata.json" / "x").write_text("keep")
    with pytest.raises(OutputError, match="cannot write"):
        split(src, tmp_path / "s", window_size=0.5)
    assert not [p for p in (tmp_path / "s").iterdir() if ".partial-" in p.name]


def test_metadata_entries_are_checked(tmp_path: Path) -> None:
    d = tmp_path / "d"
    write_pcm(d / "segment-000.wav", pcm_ints(1, 10, 16), 8000, 16)
    bad = {"sample_rate": 8000, "segments": [{"file": "segment-000.wav", "start_frame": -5}]}
    (d / "segment_metadata.json").write_text(json.dumps(bad))
    with pytest.raises(UsageError, match="bad segment entry"):
        concat(d, tmp_path / "m.wav")


def test_metadata_naming_other_files_is_ignored(tmp_path: Path) -> None:
    d = tmp_path / "d"
    a, b = pcm_ints(1, 30, 16, seed=1), pcm_ints(1, 20, 16, seed=2)
    write_pcm(d / "take-1.wav", a, 8000, 16)
    write_pcm(d / "take-2.wav", b, 8000, 16)
    meta = {"sample_rate": 8000, "segments": [{"file": "segment-000.wav", "start_frame": 100, "frames": 5}]}
    (d / "segment_metadata.json").write_text(json.dumps(meta))
    result = concat(d, tmp_path / "m.wav", pattern="take-*.wav")
    assert np.array_equal(read_pcm(result.target, 16), np.concatenate([a, b], axis=1))


def test_concat_lossy_segments_uses_their_probed_lengths(tmp_path: Path) -> None:
    d = tmp_path / "d"
    for i in range(2):
        write_lossy(d / f"part-{i}.mp3", tone(2, 22050, 44100), 44100)
    from audio_playground.audio import probe

    expected = sum(probe(p).frames or 0 for p in sorted(d.glob("*.mp3")))
    result = concat(d, tmp_path / "m.wav", pattern="*.mp3")
    assert result.frames == expected
    assert sf.info(str(result.target)).subtype == "PCM_16"


def test_float_segments_into_flac_become_24_bit(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    sf.write(str(d / "segment-000.wav"), np.full((10, 1), 0.5, np.float32), 8000, subtype="FLOAT")
    result = concat(d, tmp_path / "m.flac")
    assert sf.info(str(result.target)).subtype == "PCM_24"


def test_a_shorter_split_removes_stale_segments(tmp_path: Path) -> None:
    out = tmp_path / "s"
    long_src = write_pcm(tmp_path / "long.wav", pcm_ints(1, 5000, 16), 1000, 16)
    short_ints = pcm_ints(1, 2500, 16, seed=9)
    short_src = write_pcm(tmp_path / "short.wav", short_ints, 1000, 16)
    split(long_src, out, window_size=1.0)
    (out / "segment-000-bass.wav").write_bytes((out / "segment-000.wav").read_bytes())
    (out / "notes.txt").write_text("mine")
    result = split(short_src, out, window_size=1.0)
    assert sorted(p.name for p in out.glob("segment-???.wav")) == [p.name for p in result.segments]
    assert (out / "segment-000-bass.wav").exists() and (out / "notes.txt").exists()
    merged = concat(out, tmp_path / "m.wav", pattern="segment-???.wav")
    assert np.array_equal(read_pcm(merged.target, 16), short_ints)


def test_concat_by_default_merges_the_segments_not_the_stems_beside_them(tmp_path: Path, ap: Any) -> None:
    ints = pcm_ints(2, 3000, 16)
    src = write_pcm(tmp_path / "in.wav", ints, 1000, 16)
    segs = tmp_path / "segs"
    split(src, segs, window_size=1.0, overlap=0.25)
    for seg in sorted(segs.glob("segment-*.wav")):
        write_pcm(segs / f"{seg.stem}-vocals.wav", pcm_ints(2, 1000, 16, seed=7), 1000, 16)
    (segs / "segment-notes.wav").write_bytes(b"not a segment")  # matches the old default glob, not NNN
    assert np.array_equal(read_pcm(concat(segs, tmp_path / "a.wav").target, 16), ints)
    assert ap("merge", "concat", "--input-dir", segs, "--target", tmp_path / "b.wav").code == 0
    assert np.array_equal(read_pcm(tmp_path / "b.wav", 16), ints)
    # An explicit pattern still picks the stems.
    vocals = concat(segs, tmp_path / "v.wav", pattern="segment-*-vocals.wav")
    assert vocals.frames >= 3000 and not np.array_equal(read_pcm(vocals.target, 16)[:, :3000], ints)
    for seg in segs.glob("segment-[0-9][0-9][0-9].wav"):
        seg.unlink()
    with pytest.raises(InputError, match="no segment-NNN files"):
        concat(segs, tmp_path / "c.wav")
