"""Output formats through PyAV (MP3, Opus, AAC/M4A, ALAC), --format and --bitrate, and exact decoded lengths."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from audio_playground.audio import formats
from audio_playground.audio.encode import check_encoder, encode_rate
from audio_playground.audio.source import open_audio, probe
from audio_playground.audio.writer import AudioWriter
from audio_playground.errors import ExitStatus, UsageError
from tests.conftest import write_wav
from tests.core.media import pcm_ints, tone, write_lossy, write_pcm

SR = 44100
N = SR + 1234  # not a multiple of any codec's frame size


def _read(path: Path) -> np.ndarray:
    with open_audio(path) as stream:
        return np.concatenate(list(stream), axis=1)


def _write(path: Path, audio: np.ndarray, sample_rate: int = SR, **kwargs) -> Path:
    with AudioWriter(path, sample_rate, audio.shape[0], **kwargs) as writer:
        for start in range(0, audio.shape[1], 10000):
            writer.write(audio[:, start : start + 10000])
        writer.commit()
    return path


def _codec(path: Path) -> str:
    with av.open(str(path)) as container:
        return container.streams.audio[0].codec_context.name.removesuffix("float")


@pytest.mark.parametrize(
    ("name", "kwargs", "codec"),
    [
        ("a.mp3", {}, "mp3"),
        ("a.m4a", {}, "aac"),
        ("a.opus", {}, "opus"),
        ("a.ogg", {"bitrate": 64000}, "opus"),
        ("b.m4a", {"format": "alac"}, "alac"),
    ],
)
def test_each_format_writes_a_real_file_of_the_exact_length(
    tmp_path: Path, name: str, kwargs: dict, codec: str
) -> None:
    audio = tone(2, N, SR, amp=0.4)
    path = _write(tmp_path / name, audio, clip="rescale", **kwargs)
    assert _codec(path) == codec
    decoded = _read(path)
    if codec == "opus":  # Opus runs at 48 kHz: the writer resamples, the length follows
        assert decoded.shape == (2, round(N * 48000 / SR))
        return
    assert decoded.shape == (2, N)
    if codec == "alac":
        assert np.abs(decoded - audio).max() < 1e-4
    else:  # lossy: close, sample-aligned (no delay left)
        assert np.sqrt(np.mean((decoded - audio) ** 2)) < 0.02
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "work"])  # no temporary files left


def test_alac_is_lossless_at_16_and_24_bits(tmp_path: Path) -> None:
    for bits in (16, 24):
        ints = pcm_ints(2, 5000, bits, seed=bits)
        src = write_pcm(tmp_path / f"in{bits}.wav", ints, SR, bits)
        path = _write(tmp_path / f"out{bits}.m4a", _read(src), format="alac", bit_depth=str(bits))
        with av.open(str(path)) as container:
            frames = [f.to_ndarray() for f in container.decode(audio=0)]
        got = np.concatenate(frames, axis=1).astype(np.int64)
        got = got >> 8 if bits == 24 else got  # s32p holds 24 bits in its top bytes
        assert np.array_equal(got, ints)


def test_bitrate_changes_the_size(tmp_path: Path) -> None:
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, (2, SR * 2)).astype(np.float32)
    low = _write(tmp_path / "low.mp3", audio, bitrate=64000)
    high = _write(tmp_path / "high.mp3", audio, bitrate=256000)
    assert high.stat().st_size > 3 * low.stat().st_size


def test_float_overs_follow_the_clip_mode(tmp_path: Path) -> None:
    audio = tone(1, N, SR, amp=1.5)
    clamped = _read(_write(tmp_path / "c.m4a", audio, clip="clamp"))
    rescaled = _read(_write(tmp_path / "r.m4a", audio, clip="rescale"))
    assert np.abs(clamped).max() > 0.98
    assert abs(np.abs(rescaled).max() - 1 / 1.01) < 0.03  # the peak scaled to 1/1.01 (AAC rings a little)
    assert np.abs(rescaled[:, 2048:] - audio[:, 2048:] / (1.01 * 1.5)).mean() < 0.05


def test_rates_a_codec_cannot_take_are_resampled(tmp_path: Path) -> None:
    spec = formats.FORMATS["opus"]
    assert encode_rate(spec, 48000) == 48000
    assert encode_rate(spec, 44100) == 48000
    assert encode_rate(formats.FORMATS["mp3"], 96000) == 48000
    assert encode_rate(formats.FORMATS["alac"], 12345) == 12345
    path = _write(tmp_path / "x.opus", tone(1, 22050, 22050), sample_rate=22050)
    assert probe(path).sample_rate == 24000  # the nearest rate above that Opus encodes
    assert _read(path).shape == (1, 24000)


def test_refusals_before_any_work(tmp_path: Path) -> None:
    tmp_path = tmp_path / "out"
    tmp_path.mkdir()
    with pytest.raises(UsageError, match="mp3 holds at most 2 channels"):
        AudioWriter(tmp_path / "a.mp3", SR, 3)
    with pytest.raises(UsageError, match="ALAC stores 16 or 24-bit"):
        AudioWriter(tmp_path / "a.m4a", SR, 1, format="alac", bit_depth="32f")
    with pytest.raises(UsageError, match="--bitrate applies to lossy formats, not flac"):
        AudioWriter(tmp_path / "a.flac", SR, 1, bitrate=128000)
    for channels in range(1, 9):
        check_encoder("aac", SR, channels)
        check_encoder("alac", SR, channels)
    assert list(tmp_path.iterdir()) == []


def test_format_for_path() -> None:
    assert formats.format_for_path("x.MP3") == "mp3"
    assert formats.format_for_path("x.m4a") == "aac"
    assert formats.format_for_path("x.m4a", "alac") == "alac"
    assert formats.format_for_path("x.wave") == "wav"
    with pytest.raises(UsageError, match=r"cannot write audio files named '\.aac'"):
        formats.format_for_path("x.aac")
    with pytest.raises(UsageError, match=r"\(no suffix\)"):
        formats.format_for_path("x")
    with pytest.raises(UsageError, match="does not fit the format mp3"):
        formats.format_for_path("x.wav", "mp3")
    with pytest.raises(UsageError, match="unknown output format"):
        formats.format_for_path("x.wav", "wma")
    with pytest.raises(UsageError, match="unknown output format"):
        formats.check_output("wma", None)
    assert formats.FORMATS["aac"].ext == "m4a"


@pytest.mark.parametrize(
    ("text", "value"), [("192k", 192000), ("96000", 96000), ("0.32M", 320000), ("128kbps", 128000), (None, None)]
)
def test_parse_bitrate(text: str | None, value: int | None) -> None:
    assert formats.parse_bitrate(text) == value


@pytest.mark.parametrize("text", ["fast", "-5k", "0", -1])
def test_bad_bitrates(text: str | int) -> None:
    with pytest.raises(UsageError, match="invalid bitrate"):
        formats.parse_bitrate(text)


# ---------------------------------------------------------------------------------------------- exact lengths


def test_demo_video_decodes_to_its_exact_length(tmp_path: Path) -> None:
    from audio_playground.audio.demo import make_demo

    path = make_demo(tmp_path / "demo.mp4", seconds=2.0)
    assert _read(path).shape == (2, 2 * 44100)  # was 688 frames (15.6 ms) long: the AAC encoder's padding
    with open_audio(path, start=1.5) as stream:
        assert sum(b.shape[1] for b in stream) == 22050


def test_lossy_inputs_decode_to_the_original_length(tmp_path: Path) -> None:
    audio = tone(2, N, SR)
    assert _read(write_lossy(tmp_path / "a.mp3", audio, SR)).shape[1] == N  # the LAME header, read by FFmpeg
    # An M4A whose edit list is in milliseconds (FFmpeg's default movie timescale) ends within half of one.
    m4a = write_lossy(tmp_path / "a.m4a", audio, SR, codec="aac", container="ipod")
    assert abs(_read(m4a).shape[1] - N) <= SR // 2000


# ---------------------------------------------------------------------------------------------- CLI


def test_convert_target_suffix_chooses_the_format(ap, tmp_path: Path) -> None:
    src = write_wav(tmp_path / "in.wav", tone(2, N, SR), SR)
    for name, codec in (("o.mp3", "mp3"), ("o.m4a", "aac"), ("o.opus", "opus"), ("o.flac", "flac")):
        result = ap("convert", "to-wav", "--src", src, "--target", tmp_path / name, "--no-cache")
        assert result.code == 0, result.err
        assert _codec(tmp_path / name) == codec
    result = ap("convert", "to-wav", "--src", src, "--target", tmp_path / "l.m4a", "--format", "alac")
    assert result.code == 0, result.err
    assert _codec(tmp_path / "l.m4a") == "alac"
    assert _read(tmp_path / "l.m4a").shape == (2, N)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "x.xyz"], "cannot write audio files named '.xyz'"),
        (["--target", "x.wav", "--format", "mp3"], "does not fit the format mp3"),
        (["--target", "x.wav", "--bitrate", "128k"], "--bitrate applies to lossy formats"),
        (["--target", "x.mp3", "--bitrate", "lots"], "invalid bitrate 'lots'"),
    ],
)
def test_convert_refuses_before_any_work(ap, tmp_path: Path, args: list[str], message: str) -> None:
    src = write_wav(tmp_path / "in.wav", tone(1, 100, SR), SR)
    result = ap("convert", "to-wav", "--src", src, *args)
    assert result.code == ExitStatus.USAGE
    assert message in result.err
    assert sorted(p.name for p in Path.cwd().iterdir()) == []


def test_convert_bitrate_keys_the_cache(ap, tmp_path: Path) -> None:
    src = write_wav(tmp_path / "in.wav", np.random.default_rng(1).uniform(-0.5, 0.5, (2, SR)).astype(np.float32), SR)
    sizes = []
    for rate in ("64k", "256k"):
        target = tmp_path / f"{rate}.mp3"
        assert ap("convert", "to-wav", "--src", src, "--target", target, "--bitrate", rate).code == 0
        sizes.append(target.stat().st_size)
    assert sizes[1] > 2 * sizes[0]


def test_extract_writes_each_format(ap, tmp_path: Path) -> None:
    src = write_wav(tmp_path / "in.wav", tone(2, SR, SR), SR)
    for fmt, ext in (("mp3", "mp3"), ("aac", "m4a"), ("alac", "m4a"), ("opus", "opus")):
        out = tmp_path / fmt
        result = ap("extract", "hpss", src, "-o", out, "--format", fmt, "--bitrate" if fmt != "alac" else "--clip",
                    "96k" if fmt != "alac" else "clamp", "--no-progress")  # fmt: skip
        assert result.code == 0, result.err
        assert sorted(p.name for p in out.iterdir()) == [f"harmonic-hpss.{ext}", f"percussive-hpss.{ext}"]
        assert _codec(out / f"harmonic-hpss.{ext}") == fmt
    result = ap("extract", "hpss", src, "-o", tmp_path / "bad", "--format", "flac", "--bitrate", "96k")
    assert result.code == ExitStatus.USAGE
    assert "--bitrate applies to lossy formats, not flac" in result.err
    result = ap("extract", "hpss", src, "-o", tmp_path / "bad", "--format", "mp3", "--filename", "{stem}.wav")
    assert result.code == ExitStatus.USAGE
    assert "does not fit the format mp3" in result.err
    assert not (tmp_path / "bad").exists()


def test_ensemble_writes_lossy_formats(ap, tmp_path: Path) -> None:
    src = write_wav(tmp_path / "in.wav", tone(2, SR, SR), SR)
    members = ["--member", "hpss", "--member", "hpss", "--member-option", "hpss#2.margin=3"]
    out = tmp_path / "ens"
    result = ap("extract", "ensemble", src, "-o", out, *members, "--format", "aac", "--bitrate", "96k")
    assert result.code == 0, result.err
    assert sorted(p.name for p in out.iterdir()) == ["harmonic-ensemble.m4a", "percussive-ensemble.m4a"]
    assert _codec(out / "harmonic-ensemble.m4a") == "aac"
    assert _read(out / "harmonic-ensemble.m4a").shape == (2, SR)


def test_merge_concat_target_suffix_chooses_the_format(ap, tmp_path: Path) -> None:
    src = write_wav(tmp_path / "in.wav", tone(2, SR * 2, SR), SR)
    segments = tmp_path / "segs"
    assert ap("segment", "split", "--src", src, "--output-dir", segments, "--window-size", "1").code == 0
    result = ap("merge", "concat", "--input-dir", segments, "--target", tmp_path / "merged.mp3")
    assert result.code == 0, result.err
    assert _codec(tmp_path / "merged.mp3") == "mp3"
    assert _read(tmp_path / "merged.mp3").shape == (2, SR * 2)
    result = ap("merge", "concat", "--input-dir", segments, "--target", tmp_path / "merged.xyz")
    assert result.code == ExitStatus.USAGE
    assert "cannot write audio files named '.xyz'" in result.err


def test_sink_edges(tmp_path: Path) -> None:
    from audio_playground.audio.encode import AVSink

    sink = AVSink(tmp_path / "e.mp3", "mp3", SR, 1, "16", None)
    sink.write(np.zeros((0, 1), np.float32))  # nothing to encode
    sink.write(np.zeros((2000, 1), np.float32))
    sink.close()
    sink.close()  # twice is fine
    assert _read(tmp_path / "e.mp3").shape == (1, 2000)


def test_format_lists_agree() -> None:
    from typing import get_args

    from audio_playground.cli.options import FORMAT_CHOICES
    from audio_playground.config import OutputFormat

    assert FORMAT_CHOICES == formats.FORMAT_NAMES == get_args(OutputFormat) == tuple(formats.FORMATS)
