"""Stems back into videos: --video muxes a stem or a mix of stems with the input's video stream, copied."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from audio_playground.audio import video
from audio_playground.audio.demo import make_demo
from audio_playground.audio.source import open_audio
from audio_playground.errors import ExitStatus, InputError, OutputError, UsageError
from tests.conftest import write_wav
from tests.core.media import tone, write_video_only

SECONDS = 2.0


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo(tmp_path_factory.mktemp("demo") / "demo.mp4", seconds=SECONDS)


def _read(path: Path) -> np.ndarray:
    with open_audio(path) as stream:
        return np.concatenate(list(stream), axis=1)


def _video_packets(path: Path) -> list[tuple[int | None, bytes]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(p.pts, bytes(p)) for p in container.demux(stream) if p.size]


def test_parse_and_resolve() -> None:
    stems = ["drums", "bass", "other", "vocals"]
    assert video.parse_video("no-vocals") == (True, ("vocals",))
    assert video.parse_video(" drums + bass ") == (False, ("drums", "bass"))
    mixes = video.resolve_mixes(["vocals", "no-vocals", "drums+bass", "no-drums+vocals"], stems)
    assert [(m.name, m.stems) for m in mixes] == [
        ("vocals", ("vocals",)),
        ("no-vocals", ("drums", "bass", "other")),
        ("drums+bass", ("drums", "bass")),
        ("no-drums+vocals", ("bass", "other")),
    ]
    with pytest.raises(UsageError, match="names no stem"):
        video.parse_video("drums+")
    with pytest.raises(UsageError, match=r"no stem named piano\. the stems are drums, bass"):
        video.resolve_mixes(["piano"], stems)
    with pytest.raises(UsageError, match="leaves no stem"):
        video.resolve_mixes(["no-drums+bass+other+vocals"], stems)


def test_check_video_input(tmp_path: Path, demo: Path) -> None:
    assert video.check_video_input(demo) == ".mp4"
    wav = write_wav(tmp_path / "a.wav", tone(1, 100, 8000), 8000)
    with pytest.raises(UsageError, match=r"not \.wav"):
        video.check_video_input(wav)
    disguised = tmp_path / "a.mp4"
    disguised.write_bytes(wav.read_bytes())
    with pytest.raises(InputError, match="is an audio file, not a video"):
        video.check_video_input(disguised)
    audio_only = make_demo(tmp_path / "b.mp4", seconds=0.5, video=False)
    with pytest.raises(InputError, match="has no video stream"):
        video.check_video_input(audio_only)
    with pytest.raises(UsageError, match="cannot be cut by --start-time"):
        video.check_video_input(demo, start_time=1.0)


def test_mux_copies_the_video_and_mixes_the_stems(tmp_path: Path, demo: Path) -> None:
    mix = _read(demo)
    low = write_wav(tmp_path / "low.wav", mix * 0.25, 44100, "FLOAT")
    high = write_wav(tmp_path / "high.wav", mix * 0.75, 44100, "FLOAT")
    out = video.mux_video(demo, [low, high], tmp_path / "out" / "both.mp4", bitrate=256000)
    assert _video_packets(out) == _video_packets(demo)  # copied packet for packet, never re-encoded
    with av.open(str(out)) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
        assert container.streams.audio[0].codec_context.name == "aac"
    decoded = _read(out)
    assert decoded.shape == mix.shape  # the exact length, as every decoded M4A/MP4 now
    assert np.sqrt(np.mean((decoded - mix) ** 2)) < 0.02
    assert sorted(p.name for p in out.parent.iterdir()) == ["both.mp4"]


def test_mux_into_webm_uses_opus(tmp_path: Path) -> None:
    src = tmp_path / "clip.webm"
    with av.open(str(src), "w", format="webm") as out:
        stream = out.add_stream("libvpx", rate=5)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for i in range(5):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), 50 * i, np.uint8), format="rgb24")
            frame = frame.reformat(format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    stem = write_wav(tmp_path / "s.wav", tone(1, 44100, 44100), 44100)
    out_path = video.mux_video(src, [stem], tmp_path / "s.webm", clip="none")
    with av.open(str(out_path)) as container:
        assert container.streams.audio[0].codec_context.name == "opus"
    assert _video_packets(out_path) == _video_packets(src)


def test_stems_of_different_lengths_mix_with_silence(tmp_path: Path) -> None:
    src = write_video_only(tmp_path / "v.mp4")
    a = write_wav(tmp_path / "a.wav", np.full((1, 3000), 0.25, np.float32), 8000)
    b = write_wav(tmp_path / "b.wav", np.full((1, 5000), 0.25, np.float32), 8000)
    blocks = list(video._mixed_blocks([a, b], 1, 8000))
    joined = np.concatenate(blocks, axis=1)
    assert joined.shape == (1, 5000)
    assert np.allclose(joined[0, :3000], 0.5, atol=1e-4) and np.allclose(joined[0, 3000:], 0.25, atol=1e-4)
    out = video.mux_video(src, [a, b], tmp_path / "out.mp4")
    assert _read(out).shape == (1, 5000)


def test_a_failing_mux_leaves_nothing(tmp_path: Path) -> None:
    src = write_video_only(tmp_path / "v.mp4")  # mpeg4 video
    stem = write_wav(tmp_path / "a.wav", tone(1, 800, 8000), 8000)
    with pytest.raises(OutputError, match=r"x\.webm: cannot copy the video of v\.mp4 into it \(.*mpeg4"):
        video.mux_video(src, [stem], tmp_path / "x.webm")  # WebM takes VP8/VP9/AV1 video only
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".x.webm")]


def test_extract_video(ap, tmp_path: Path, demo: Path) -> None:
    out = tmp_path / "stems"
    result = ap("extract", "hpss", demo, "-o", out, "--video", "percussive", "--video", "no-percussive",
                "--bitrate", "128k", "--no-progress")  # fmt: skip
    assert result.code == 0, result.err
    assert sorted(p.name for p in out.iterdir()) == [
        "harmonic-hpss.wav",
        "no-percussive-hpss.mp4",
        "percussive-hpss.mp4",
        "percussive-hpss.wav",
    ]
    assert _video_packets(out / "percussive-hpss.mp4") == _video_packets(demo)
    harmonic = _read(out / "harmonic-hpss.wav")
    instrumental = _read(out / "no-percussive-hpss.mp4")
    assert instrumental.shape == harmonic.shape
    assert np.sqrt(np.mean((instrumental - harmonic) ** 2)) < 0.02


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--video", "vocals"], "no stem named vocals"),
        (["--video", "harmonic", "--end-time", "1"], "cannot be cut by --start-time/--end-time"),
    ],
)
def test_extract_video_refusals(ap, tmp_path: Path, demo: Path, extra: list[str], message: str) -> None:
    out = tmp_path / "stems"
    result = ap("extract", "hpss", demo, "-o", out, *extra)
    assert result.code == ExitStatus.USAGE
    assert message in result.err
    assert not out.exists() or not list(out.iterdir())


def test_extract_video_needs_a_video(ap, tmp_path: Path) -> None:
    src = write_wav(tmp_path / "a.wav", tone(1, 800, 8000), 8000)
    result = ap("extract", "hpss", src, "-o", tmp_path / "o", "--video", "harmonic")
    assert result.code == ExitStatus.USAGE
    assert "--video writes .mp4" in result.err


def test_extract_video_on_every_input_of_a_batch(ap, tmp_path: Path, demo: Path) -> None:
    folder = tmp_path / "videos"
    folder.mkdir()
    for name in ("one.mp4", "two.mp4"):
        (folder / name).write_bytes(demo.read_bytes())
    out = tmp_path / "stems"
    result = ap("extract", "hpss", folder, "-o", out, "--video", "no-harmonic", "--no-progress")
    assert result.code == 0, result.err
    for track in ("one", "two"):
        assert _video_packets(out / track / "no-harmonic-hpss.mp4") == _video_packets(demo)


def test_mux_errors_leave_nothing(tmp_path: Path) -> None:
    src = write_video_only(tmp_path / "v.mp4")
    stem = write_wav(tmp_path / "a.wav", tone(1, 800, 8000), 8000)
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(OutputError, match="cannot create a file beside the target"):
        video.mux_video(src, [stem], tmp_path / "file" / "out.mp4")  # its folder is a file
    with pytest.raises(InputError, match="no such file"):
        video.mux_video(src, [stem, tmp_path / "missing.wav"], tmp_path / "out.mp4")
    assert not [p for p in tmp_path.iterdir() if "out.mp4" in p.name]


def test_cached_stems_still_get_their_videos_and_bitrate_keys_only_lossy_stems(tmp_path: Path, demo: Path) -> None:
    from audio_playground.cli import run
    from tests.core.test_caching import DirCache, Plugin, manager

    plugin = Plugin(DirCache(tmp_path / "cache"))
    pm = manager(plugin)

    def extract(out: str, *extra: str) -> None:
        args = ["extract", "halves", str(demo), "-o", str(tmp_path / out), "--no-progress", *extra]
        assert int(run(args, pm=pm)) == 0

    extract("a", "--video", "quarter", "--bitrate", "64k")
    extract("b", "--video", "quarter", "--bitrate", "128k")  # WAV stems: the bitrate shapes only the video
    assert plugin.loads == 1
    assert _video_packets(tmp_path / "b" / "quarter-halves.mp4") == _video_packets(demo)
    assert (tmp_path / "b" / "rest-halves.wav").exists()
    extract("c", "--format", "mp3", "--bitrate", "64k")
    extract("d", "--format", "mp3", "--bitrate", "256k")  # MP3 stems: another bitrate, other files
    extract("e", "--format", "mp3", "--bitrate", "64k")
    assert plugin.loads == 3
    sizes = {out: (tmp_path / out / "rest-halves.mp3").stat().st_size for out in "cde"}
    assert sizes["d"] > 2 * sizes["c"] and sizes["e"] == sizes["c"]
