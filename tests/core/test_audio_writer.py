"""Atomic, bit-exact WAV/FLAC writers and groups of them."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_playground.audio import AtomicGroup, AudioWriter, commit_all, default_bit_depth
from audio_playground.audio.writer import to_pcm
from audio_playground.errors import OutputError, UsageError
from audio_playground.specs import AudioInfo
from tests.core.media import FULL_SCALE, pcm_ints, read_pcm


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".partial-" in p.name)


@pytest.mark.parametrize("bits", [16, 24])
@pytest.mark.parametrize("fmt", ["wav", "flac"])
def test_pcm_round_trip_is_bit_exact(tmp_path: Path, bits: int, fmt: str) -> None:
    ints = pcm_ints(3, 7000, bits, seed=3)
    audio = (ints / FULL_SCALE[bits]).astype(np.float32)
    target = tmp_path / "sub" / "dir" / f"out.{fmt}"
    with AudioWriter(target, 16000, 3, bit_depth=str(bits)) as writer:  # ty: ignore[invalid-argument-type]
        for start in range(0, 7000, 999):
            writer.write(audio[:, start : start + 999])
        assert not target.exists() and len(leftovers(target.parent)) == 1
        assert writer.commit() == target
    assert writer.state == "committed" and writer.frames == 7000
    assert leftovers(target.parent) == []
    info = sf.info(str(target))
    assert (info.format, info.subtype, info.samplerate, info.channels) == (fmt.upper(), f"PCM_{bits}", 16000, 3)
    assert np.array_equal(read_pcm(target, bits), ints)


def test_pcm_conversion_rounds_and_saturates() -> None:
    x = np.array([[1.0, -1.0, 1.5, -2.0, 0.5 / 32768, np.nan, np.inf, -np.inf]], dtype=np.float32).T
    assert to_pcm(x, "16")[:, 0].tolist() == [32767, -32768, 32767, -32768, 0, 0, 32767, -32768]
    assert (to_pcm(x, "24")[:, 0] >> 8).tolist() == [8388607, -8388608, 8388607, -8388608, 128, 0, 8388607, -8388608]


def test_clip_modes_for_float_output(tmp_path: Path) -> None:
    block = np.array([[0.5, 2.0, -1.0], [0.1, -4.0, 0.0]], dtype=np.float32)
    results = {}
    for clip in ("none", "clamp", "rescale"):
        target = tmp_path / f"{clip}.wav"
        with AudioWriter(target, 8000, 2, bit_depth="32f", clip=clip) as writer:
            writer.write(block[:, :2])
            writer.write(block[:, 2:])
            writer.commit()
        assert writer.peak == 4.0
        results[clip] = sf.read(str(target), dtype="float32")[0].T
    assert np.array_equal(results["none"], block)
    assert np.array_equal(results["clamp"], np.clip(block, -1, 1))
    assert np.allclose(results["rescale"], block / (1.01 * 4.0))
    assert leftovers(tmp_path) == []


def test_rescale_leaves_quiet_audio_alone(tmp_path: Path) -> None:
    ints = pcm_ints(2, 3000, 16)
    audio = (ints / 32768).astype(np.float32)
    with AudioWriter(tmp_path / "q.flac", 8000, 2, clip="rescale") as writer:
        writer.write(audio)
        assert len(leftovers(tmp_path)) == 2  # the float32 spool and the final temp
        writer.commit()
    assert np.array_equal(read_pcm(tmp_path / "q.flac", 16), ints)


def test_leaving_without_commit_removes_the_temp(tmp_path: Path) -> None:
    target = tmp_path / "x.wav"
    target.write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt), AudioWriter(target, 8000, 1, clip="rescale") as writer:
        writer.write(np.zeros((1, 100), np.float32))
        raise KeyboardInterrupt
    assert target.read_bytes() == b"old"
    assert leftovers(tmp_path) == [] and writer.state == "aborted"
    with AudioWriter(tmp_path / "y.wav", 8000, 1) as writer:
        writer.write(np.zeros((1, 10), np.float32))
    assert not (tmp_path / "y.wav").exists() and leftovers(tmp_path) == []
    writer.abort()  # twice is fine


def test_committed_file_has_normal_permissions(tmp_path: Path) -> None:
    with AudioWriter(tmp_path / "p.wav", 8000, 1) as writer:
        writer.write(np.zeros((1, 10), np.float32))
        writer.commit()
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / "p.wav").stat().st_mode & 0o777 == 0o666 & ~umask


def test_invalid_arguments(tmp_path: Path) -> None:
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    with pytest.raises(UsageError, match="FLAC stores 16 or 24-bit"):
        AudioWriter(tmp_path / "a.flac", 8000, 1, bit_depth="32f")
    with pytest.raises(UsageError, match=r"files named '\.xyz'"):
        AudioWriter(tmp_path / "a.xyz", 8000, 1)
    with pytest.raises(UsageError, match="unknown bit depth"):
        AudioWriter(tmp_path / "a.wav", 8000, 1, bit_depth="8")  # ty: ignore[invalid-argument-type]
    with pytest.raises(UsageError, match="unknown clip mode"):
        AudioWriter(tmp_path / "a.wav", 8000, 1, clip="fold")  # ty: ignore[invalid-argument-type]
    with pytest.raises(UsageError, match="unknown output format"):
        AudioWriter(tmp_path / "a.wav", 8000, 1, format="vorbis")  # ty: ignore[invalid-argument-type]
    with pytest.raises(UsageError, match="invalid output shape"):
        AudioWriter(tmp_path / "a.wav", 0, 1)
    assert list(tmp_path.iterdir()) == []
    # An explicit format wins over the suffix.
    with AudioWriter(tmp_path / "a.bin", 8000, 1, format="flac") as writer:
        writer.write(np.zeros((1, 10), np.float32))
        writer.commit()
    assert sf.info(str(tmp_path / "a.bin")).format == "FLAC"


def test_write_checks_shape_and_state(tmp_path: Path) -> None:
    with AudioWriter(tmp_path / "a.wav", 8000, 2) as writer:
        with pytest.raises(ValueError, match=r"expected a \(2, frames\) block"):
            writer.write(np.zeros((1, 10), np.float32))
        writer.write(np.zeros((2, 0), np.float32))
        writer.commit()
        with pytest.raises(ValueError, match="committed"):
            writer.write(np.zeros((2, 1), np.float32))
        with pytest.raises(ValueError, match="committed"):
            writer.finalize()
        with pytest.raises(ValueError, match="committed"):
            writer.publish()
    assert sf.info(str(tmp_path / "a.wav")).frames == 0


def test_unwritable_targets(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputError, match="cannot create the directory") as err:
        AudioWriter(blocker / "out.wav", 8000, 1)
    assert str(blocker / "out.wav") in str(err.value)
    (tmp_path / "dir.wav").mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        AudioWriter(tmp_path / "dir.wav", 8000, 1)


def test_publish_failure_is_an_output_error(tmp_path: Path) -> None:
    target = tmp_path / "t.wav"
    writer = AudioWriter(target, 8000, 1)
    writer.write(np.zeros((1, 5), np.float32))
    writer.finalize()
    writer.finalize()  # idempotent
    target.mkdir()  # the target became a directory meanwhile
    (target / "keep").write_text("x")
    with pytest.raises(OutputError, match="cannot move the finished file"):
        writer.publish()
    assert leftovers(tmp_path) == [] and writer.state == "aborted"


def test_commit_all_and_group(tmp_path: Path) -> None:
    block = np.full((2, 50), 0.25, np.float32)
    with AtomicGroup() as group:
        for name in ("a", "b", "c"):
            group.add(AudioWriter(tmp_path / f"{name}.wav", 8000, 2)).write(block)
        assert group.commit() == [tmp_path / f"{n}.wav" for n in "abc"]
    assert all((tmp_path / f"{n}.wav").is_file() for n in "abc")

    # One member failing to finish drops every member: none appears.
    class Boom(AudioWriter):
        def finalize(self) -> None:
            raise OutputError("disk full", path=self.path)

    writers = [AudioWriter(tmp_path / "d.wav", 8000, 2), Boom(tmp_path / "e.wav", 8000, 2)]
    for w in writers:
        w.write(block)
    with pytest.raises(OutputError, match="disk full"):
        commit_all(writers)
    assert not (tmp_path / "d.wav").exists() and not (tmp_path / "e.wav").exists()
    assert leftovers(tmp_path) == []

    # A group left without commit (an error) drops its members.
    with pytest.raises(RuntimeError), AtomicGroup() as group:
        group.add(AudioWriter(tmp_path / "f.wav", 8000, 2)).write(block)
        raise RuntimeError("stop")
    assert not (tmp_path / "f.wav").exists() and leftovers(tmp_path) == []


def test_publish_failure_in_a_group(tmp_path: Path) -> None:
    block = np.zeros((1, 5), np.float32)
    writers = [AudioWriter(tmp_path / "g.wav", 8000, 1), AudioWriter(tmp_path / "h.wav", 8000, 1)]
    for w in writers:
        w.write(block)
    (tmp_path / "h.wav").mkdir()
    (tmp_path / "h.wav" / "keep").write_text("x")
    with pytest.raises(OutputError):
        commit_all(writers)
    assert leftovers(tmp_path) == []


@pytest.mark.parametrize(
    ("subtype", "expected"),
    [
        ("PCM_16", "16"),
        ("PCM_24", "24"),
        ("FLOAT", "32f"),
        ("DOUBLE", "32f"),
        ("PCM_32", "32f"),
        ("PCM_U8", "16"),
        (None, "16"),
    ],
)
def test_default_bit_depth(subtype: str | None, expected: str) -> None:
    info = AudioInfo("x", 44100, 2, 10, 0.1, "c", "wav", subtype)
    assert default_bit_depth(info) == expected


def test_temp_name_too_long_is_an_output_error(tmp_path: Path) -> None:
    target = tmp_path / ("x" * 245 + ".wav")  # a valid name, but its temporary sibling is too long
    with pytest.raises(OutputError, match="cannot create a file beside the target"):
        AudioWriter(target, 8000, 1)
    assert leftovers(tmp_path) == []
