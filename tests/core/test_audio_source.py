"""The built-in source: probing, exact PCM decode, windows, mixing, resampling, PyAV inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from audio_playground.audio import open_audio, probe
from audio_playground.audio.plugin import ap_sources, can_open
from audio_playground.audio.source import AVStream, SoundFileStream, resolve_window
from audio_playground.errors import UsageError
from audio_playground.specs import AudioStream
from tests.core.media import FULL_SCALE, pcm_ints, tone, write_av_s16, write_lossy, write_pcm


def read_all(stream: AudioStream) -> np.ndarray:
    blocks = list(stream)
    for block in blocks:
        assert block.dtype == np.float32 and block.ndim == 2 and block.flags.c_contiguous
    return np.concatenate(blocks, axis=1) if blocks else np.zeros((stream.channels, 0), np.float32)


@pytest.mark.parametrize("bits", [16, 24])
@pytest.mark.parametrize("suffix", ["wav", "flac"])
def test_pcm_decodes_exactly(tmp_path: Path, bits: int, suffix: str) -> None:
    ints = pcm_ints(2, 9000, bits, seed=bits)
    path = write_pcm(tmp_path / f"in.{suffix}", ints, 22050, bits)
    info = probe(path)
    assert (info.sample_rate, info.channels, info.frames, info.subtype) == (22050, 2, 9000, f"PCM_{bits}")
    assert info.lossless and info.container == suffix
    with open_audio(path, block_frames=1000) as stream:
        assert isinstance(stream, SoundFileStream) and isinstance(stream, AudioStream)
        assert stream.frames == 9000
        out = read_all(stream)
    assert np.array_equal(out.astype(np.float64) * FULL_SCALE[bits], ints)


def test_float_wav_keeps_values(tmp_path: Path) -> None:
    audio = np.array([[0.25, -1.5, 2.0, 1e-8]], dtype=np.float32)
    path = tmp_path / "f.wav"
    sf.write(str(path), audio.T, 8000, subtype="FLOAT")
    assert probe(path).subtype == "FLOAT"
    with open_audio(path) as stream:
        assert np.array_equal(read_all(stream), audio)


def test_window_is_sample_exact(tmp_path: Path) -> None:
    ints = pcm_ints(1, 8000, 16)
    path = write_pcm(tmp_path / "in.wav", ints, 8000, 16)
    with open_audio(path, start=0.25, end=0.5, block_frames=300) as stream:
        assert stream.frames == 2000
        out = read_all(stream)
    assert np.array_equal(out * 32768.0, ints[:, 2000:4000])
    # An end past the end of the file stops at the end.
    with open_audio(path, start=0.75, end=10.0) as stream:
        assert stream.frames == 2000
        assert read_all(stream).shape == (1, 2000)
    # Reading twice gives the same samples again.
    with open_audio(path, start=0.5) as stream:
        assert np.array_equal(read_all(stream), read_all(stream))


def test_channels_mix_down_and_up(tmp_path: Path) -> None:
    audio = tone(2, 4000, 8000)
    path = write_pcm(tmp_path / "s.wav", np.rint(audio * 32768).astype(np.int64), 8000, 16)
    with open_audio(path) as stream:
        stereo = read_all(stream)
    with open_audio(path, channels=1) as stream:
        assert stream.channels == 1
        mono = read_all(stream)
    assert np.allclose(mono[0], stereo.mean(axis=0), atol=1e-7)
    mono_path = write_pcm(tmp_path / "m.wav", np.rint(audio[:1] * 32768).astype(np.int64), 8000, 16)
    with open_audio(mono_path, channels=3) as stream:
        up = read_all(stream)
    assert up.shape == (3, 4000) and np.array_equal(up[0], up[2])
    four = write_pcm(tmp_path / "q.wav", pcm_ints(4, 100, 16), 8000, 16)
    with pytest.raises(UsageError, match="cannot mix 4 channels into 2"):
        open_audio(four, channels=2)


@pytest.mark.parametrize(("rate_in", "rate_out"), [(44100, 48000), (48000, 16000), (8000, 44100)])
def test_resampled_stream_has_the_exact_length(tmp_path: Path, rate_in: int, rate_out: int) -> None:
    frames = rate_in // 2 + 7
    audio = tone(2, frames, rate_in, freq=300.0)
    path = write_pcm(tmp_path / "in.wav", np.rint(audio * 32767).astype(np.int64), rate_in, 16)
    with open_audio(path, sample_rate=rate_out, block_frames=4096) as stream:
        expected = round(frames * rate_out / rate_in)
        assert stream.sample_rate == rate_out and stream.frames == expected
        out = read_all(stream)
    assert out.shape == (2, expected)
    # The tone survives: compare with the ideal sine at the new rate away from the edges.
    ideal = tone(2, expected, rate_out, freq=300.0)
    middle = slice(expected // 4, 3 * expected // 4)
    assert np.max(np.abs(out[:, middle] - ideal[:, middle])) < 2e-3


def test_resampled_tail_is_padded_to_the_exact_length(tmp_path: Path) -> None:
    # soxr yields 367 frames for 400 at 48 kHz -> 44.1 kHz; the stream promises round(400 * 44100 / 48000).
    path = write_pcm(tmp_path / "short.wav", pcm_ints(1, 400, 16), 48000, 16)
    with open_audio(path, sample_rate=44100) as stream:
        assert stream.frames == 368
        assert read_all(stream).shape == (1, 368)


def test_libsndfile_formats_outside_the_list_go_through_pyav(tmp_path: Path) -> None:
    audio = tone(1, 1000, 8000)
    path = tmp_path / "x.iff"
    sf.write(str(path), audio.T, 8000, format="SVX", subtype="PCM_16")
    info = probe(path)
    assert info.container == "iff" and info.subtype is None
    with open_audio(path) as stream:
        assert isinstance(stream, AVStream)
        assert np.max(np.abs(read_all(stream) - audio)) < 1e-4


def test_windowed_resampled_and_mixed(tmp_path: Path) -> None:
    path = write_pcm(tmp_path / "in.flac", pcm_ints(2, 48000, 24), 48000, 24)
    with open_audio(path, start=0.1, end=0.6, sample_rate=32000, channels=1) as stream:
        assert stream.frames == 16000
        assert read_all(stream).shape == (1, 16000)


def test_empty_wav_yields_nothing(tmp_path: Path) -> None:
    path = tmp_path / "empty.wav"
    sf.write(str(path), np.zeros((0, 2), np.int16), 8000, subtype="PCM_16")
    with open_audio(path) as stream:
        assert stream.frames == 0
        assert list(stream) == []


def test_mp3_decodes_and_windows_by_pts(tmp_path: Path) -> None:
    sr = 44100
    path = write_lossy(tmp_path / "a.mp3", tone(2, 3 * sr, sr), sr)
    info = probe(path)
    assert (info.sample_rate, info.channels, info.codec, info.container) == (sr, 2, "mp3", "mp3")
    assert info.subtype is None and not info.lossless
    assert abs(info.duration - 3.0) < 0.05
    with open_audio(path) as stream:
        assert isinstance(stream, AVStream) and stream.frames is None
        full = read_all(stream)
    assert abs(full.shape[1] - 3 * sr) < 1200
    with open_audio(path, start=1.0, end=2.0, block_frames=5000) as stream:
        part = read_all(stream)
    assert part.shape == (2, sr)
    assert np.max(np.abs(part - full[:, sr : 2 * sr])) < 1e-6
    with open_audio(path, start=2.5) as stream:
        tail = read_all(stream)
    assert np.max(np.abs(tail - full[:, round(2.5 * sr) :])) < 1e-6


def test_av_resample_and_mix(tmp_path: Path) -> None:
    path = write_lossy(tmp_path / "a.m4a", tone(2, 22050, 22050), 22050, codec="aac")
    with open_audio(path, sample_rate=16000, channels=1) as stream:
        out = read_all(stream)
    assert out.shape[0] == 1 and abs(out.shape[1] - 16000) < 1500


def test_av_integer_and_packed_formats(tmp_path: Path) -> None:
    # ALAC decodes to planar s16 (exact), FLAC-in-Matroska to packed s16.
    ints = pcm_ints(2, 8192, 16)
    audio = (ints / 32768.0).astype(np.float32)
    for codec, container, suffix in [("alac", None, "m4a"), ("flac", "matroska", "mkv")]:
        path = write_av_s16(tmp_path / f"x.{suffix}", ints, 8000, codec, container)
        with open_audio(path) as s:
            decoded = read_all(s)
        assert np.array_equal(decoded[:, :8192], audio), codec


def test_frame_to_float_formats() -> None:
    import av

    from audio_playground.audio.source import _frame_to_float

    ramp = np.array([[-1.0, -0.5, 0.0, 0.5]], dtype=np.float64)
    cases = {
        "dbl": ramp,
        "u8": (ramp * 128 + 128).astype(np.uint8),
        "s32p": (ramp * 2**31).astype(np.int32),
        "fltp": ramp.astype(np.float32),
    }
    for fmt, arr in cases.items():
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(arr), format=fmt, layout="mono")
        out = _frame_to_float(frame, 1)
        assert out.dtype == np.float32 and np.array_equal(out, ramp.astype(np.float32)), fmt


def test_video_with_audio_reads_the_first_audio_stream(tmp_path: Path) -> None:
    from audio_playground.audio.demo import make_demo

    path = make_demo(tmp_path / "demo.mp4", seconds=1.0, sample_rate=22050)
    info = probe(path)
    assert (info.sample_rate, info.channels, info.container) == (22050, 2, "mp4")
    with open_audio(path, start=0.5) as stream:
        out = read_all(stream)
    assert out.shape[0] == 2 and 10000 < out.shape[1] < 13000


def test_resolve_window_rules(tmp_path: Path) -> None:
    path = write_pcm(tmp_path / "in.wav", pcm_ints(1, 800, 16), 8000, 16)
    info = probe(path)
    assert resolve_window(None, None, info) == (0, None)
    assert resolve_window(0.01, 0.05, info) == (80, 400)
    assert resolve_window(0.05, 99.0, info) == (400, 800)
    assert resolve_window(0.05, 99.0, info, exact=False) == (400, 792000)
    for start, end, message in [
        (-1.0, None, "negative"),
        (None, -1.0, "negative"),
        (0.05, 0.05, "not after"),
        (0.1, None, "beyond the end"),
        (0.0, 0.00001, "holds no samples"),
    ]:
        with pytest.raises(UsageError, match=message) as err:
            resolve_window(start, end, info)
        assert str(path) in str(err.value)


def test_bad_stream_arguments(tmp_path: Path) -> None:
    path = write_pcm(tmp_path / "in.wav", pcm_ints(1, 800, 16), 8000, 16)
    with pytest.raises(UsageError, match="block_frames"):
        open_audio(path, block_frames=0)
    with pytest.raises(UsageError, match="sample rate"):
        open_audio(path, sample_rate=-5)
    with pytest.raises(UsageError, match="channel count"):
        open_audio(path, channels=0)
    stream = open_audio(path)
    stream.close()
    with pytest.raises(ValueError, match="closed"):
        list(stream)


def test_plugin_spec_and_lazy_package(tmp_path: Path) -> None:
    (spec,) = ap_sources()
    assert spec.name == "file"
    assert can_open("song.mp3") and can_open("file:///tmp/x.wav") and not can_open("https://example.com/a.mp3")
    path = write_pcm(tmp_path / "a b.wav", pcm_ints(1, 100, 16), 8000, 16)
    assert spec.probe(path.as_uri()).frames == 100
    stream = spec.open(str(path), start=0.0, channels=2)
    try:
        assert read_all(stream).shape == (2, 100)
    finally:
        stream.close()
    import audio_playground.audio as audio

    with pytest.raises(AttributeError):
        _ = audio.nothing_here
