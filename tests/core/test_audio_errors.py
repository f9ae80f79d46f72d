"""Bad inputs and targets: the typed error, a message naming the file, nothing left under the target name."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from audio_playground.audio import open_audio, probe
from audio_playground.audio.convert import convert_to_wav
from audio_playground.errors import APError, DecodeError, ExitStatus, InputError, OutputError, UsageError
from tests.core.media import pcm_ints, tone, write_lossy, write_pcm, write_video_only


def nothing_written(directory: Path) -> bool:
    return not directory.exists() or not any(directory.iterdir())


def _missing(d: Path) -> Path:
    return d / "missing.wav"


def _directory(d: Path) -> Path:
    (d / "folder.wav").mkdir()
    return d / "folder.wav"


def _zero_bytes(d: Path) -> Path:
    (d / "empty.wav").write_bytes(b"")
    return d / "empty.wav"


def _text_as_wav(d: Path) -> Path:
    (d / "notes.wav").write_text("these are not samples\n" * 20)
    return d / "notes.wav"


def _garbage_flac(d: Path) -> Path:
    (d / "noise.flac").write_bytes(np.random.default_rng(7).bytes(6000))
    return d / "noise.flac"


def _mp3_cut_in_its_header(d: Path) -> Path:
    whole = write_lossy(d / "whole.mp3", tone(2, 44100, 44100), 44100)
    cut = d / "cut.mp3"
    cut.write_bytes(whole.read_bytes()[:300])
    whole.unlink()
    return cut


def _riff_then_garbage(d: Path) -> Path:
    (d / "fake.wav").write_bytes(b"RIFF" + np.random.default_rng(3).bytes(3000))
    return d / "fake.wav"


def _m4a_with_a_damaged_first_packet(d: Path) -> Path:
    whole = write_lossy(d / "whole.m4a", tone(2, 44100, 44100), 44100, codec="aac")
    data = bytearray(whole.read_bytes())
    start = data.find(b"mdat") + 4  # PyAV writes the index (moov) last: the samples come first
    data[start : start + 3000] = np.random.default_rng(1).bytes(3000)
    damaged = d / "damaged.m4a"
    damaged.write_bytes(bytes(data))
    whole.unlink()
    return damaged


def _socket(d: Path) -> Path:
    import socket

    path = d / "sock.wav"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.close()
    return path


def _video_without_audio(d: Path) -> Path:
    return write_video_only(d / "silent.mp4")


def _flac_cut_in_half(d: Path) -> Path:
    whole = write_pcm(d / "whole.flac", pcm_ints(2, 100_000, 16), 8000, 16)
    cut = d / "half.flac"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    whole.unlink()
    return cut


CASES: dict[str, tuple[Callable[[Path], Path], type[APError], str]] = {
    "missing": (_missing, InputError, "no such file"),
    "directory": (_directory, InputError, "is a directory"),
    "zero bytes": (_zero_bytes, DecodeError, "empty file"),
    "text named .wav": (_text_as_wav, DecodeError, "cannot open"),
    "garbage named .flac": (_garbage_flac, DecodeError, "audio"),
    "mp3 cut in its header": (_mp3_cut_in_its_header, DecodeError, "cannot open"),
    "video without audio": (_video_without_audio, DecodeError, "no audio stream"),
    "RIFF header then garbage": (_riff_then_garbage, DecodeError, "cannot open"),
    "m4a with a damaged first packet": (_m4a_with_a_damaged_first_packet, DecodeError, "cannot decode audio"),
    "not a regular file": (_socket, InputError, "cannot read"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_input(tmp_path: Path, case: str) -> None:
    make, error, cause = CASES[case]
    inputs, out = tmp_path / "in", tmp_path / "out"
    inputs.mkdir()
    src = make(inputs)
    with pytest.raises(error, match=cause) as err:
        probe(src)
    assert str(src) in str(err.value)
    with pytest.raises(error) as err:
        convert_to_wav(src, out / "target.wav")
    message = str(err.value)
    assert str(src) in message and cause in message
    assert err.value.exit_code == (ExitStatus.USAGE if error is InputError else ExitStatus.FAILURE)
    if error is DecodeError:
        assert "PyAV/libsndfile" in message and "ffmpeg" not in message.lower()
    assert nothing_written(out)


def test_truncated_flac_fails_while_decoding(tmp_path: Path) -> None:
    src = _flac_cut_in_half(tmp_path)
    assert probe(src).frames == 100_000  # the header still promises the whole file
    out = tmp_path / "out"
    with pytest.raises(DecodeError, match="truncated") as err:
        convert_to_wav(src, out / "target.wav")
    assert str(src) in str(err.value)
    assert nothing_written(out)


def test_truncated_mp3_decodes_what_is_there(tmp_path: Path) -> None:
    whole = write_lossy(tmp_path / "whole.mp3", tone(2, 2 * 44100, 44100), 44100)
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[: len(data) // 2])
    result = convert_to_wav(cut, tmp_path / "out" / "cut.wav")
    assert 30000 < result.frames < 60000
    with open_audio(cut, start=0.25) as stream:
        assert sum(block.shape[1] for block in stream) == result.frames - round(0.25 * 44100)


def test_damage_inside_an_mp3_is_skipped(tmp_path: Path) -> None:
    whole = write_lossy(tmp_path / "whole.mp3", tone(2, 44100, 44100), 44100)
    data = bytearray(whole.read_bytes())
    data[700:2700] = np.random.default_rng(0).bytes(2000)
    damaged = tmp_path / "damaged.mp3"
    damaged.write_bytes(bytes(data))
    result = convert_to_wav(damaged, tmp_path / "out.wav")
    assert 20000 < result.frames < 44100


def test_start_past_the_real_end_of_a_truncated_mp3(tmp_path: Path) -> None:
    whole = write_lossy(tmp_path / "whole.mp3", tone(2, 2 * 44100, 44100), 44100)
    data = whole.read_bytes()
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(data[: len(data) // 2])
    # The header still promises 2 s; from 1.5 s on there is nothing to decode.
    with open_audio(cut, start=1.5) as stream:
        assert [block.shape[1] for block in stream] == []
    with pytest.raises(UsageError, match="beyond the end of the decoded audio") as err:
        convert_to_wav(cut, tmp_path / "out" / "late.wav", start_time=1.5)
    assert str(cut) in str(err.value)
    assert nothing_written(tmp_path / "out")


def test_file_truncated_after_opening(tmp_path: Path) -> None:
    src = write_pcm(tmp_path / "in.wav", pcm_ints(2, 100_000, 16), 8000, 16)
    with open_audio(src, block_frames=10_000) as stream:
        size = src.stat().st_size
        with open(src, "r+b") as fh:
            fh.truncate(size // 2)
        with pytest.raises(DecodeError, match=r"ends after \d+ of 100000 frames") as err:
            list(stream)
    assert str(src) in str(err.value)


def test_unwritable_target(tmp_path: Path) -> None:
    src = write_pcm(tmp_path / "ok.wav", pcm_ints(1, 800, 16), 8000, 16)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a directory")
    target = blocker / "sub" / "out.wav"
    with pytest.raises(OutputError) as err:
        convert_to_wav(src, target)
    assert str(target) in str(err.value) and "writable" in str(err.value)
    assert not target.exists() and blocker.read_text() == "a file, not a directory"


def test_target_is_a_directory(tmp_path: Path) -> None:
    src = write_pcm(tmp_path / "ok.wav", pcm_ints(1, 800, 16), 8000, 16)
    (tmp_path / "out.wav").mkdir()
    with pytest.raises(OutputError, match="is a directory"):
        convert_to_wav(src, tmp_path / "out.wav")
