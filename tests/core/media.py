"""Small test media made on the fly: exact PCM files, lossy files and video files via PyAV."""

from __future__ import annotations

from pathlib import Path

import numpy as np

FULL_SCALE = {16: 2**15, 24: 2**23}


def pcm_ints(channels: int, frames: int, bits: int, seed: int = 0) -> np.ndarray:
    """Random full-range integer samples, (channels, frames)."""
    top = FULL_SCALE[bits]
    return np.random.default_rng(seed).integers(-top, top, size=(channels, frames), dtype=np.int64)


def write_pcm(path: Path, ints: np.ndarray, sample_rate: int, bits: int) -> Path:
    """Write integer samples (channels, frames) exactly as PCM_16/PCM_24 WAV or FLAC (by suffix)."""
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    data = (ints.T << (32 - bits)).astype(np.int32)
    sf.write(str(path), data, sample_rate, subtype=f"PCM_{bits}")
    return path


def read_pcm(path: Path, bits: int) -> np.ndarray:
    """Integer samples (channels, frames) of a PCM file."""
    import soundfile as sf

    data, _ = sf.read(str(path), dtype="int32", always_2d=True)
    return data.T.astype(np.int64) >> (32 - bits)


def tone(channels: int, frames: int, sample_rate: int, freq: float = 440.0, amp: float = 0.5) -> np.ndarray:
    """A sine, a little different on each channel, float32 (channels, frames)."""
    t = np.arange(frames) / sample_rate
    rows = [amp * np.sin(2 * np.pi * freq * (1 + 0.1 * c) * t) for c in range(channels)]
    return np.asarray(rows, dtype=np.float32)


def write_lossy(
    path: Path, audio: np.ndarray, sample_rate: int, codec: str = "libmp3lame", container: str | None = None
) -> Path:
    """Encode float32 (channels, frames) audio with PyAV (mp3 by default)."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    layout = "mono" if audio.shape[0] == 1 else "stereo"
    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=sample_rate, layout=layout)
        assert isinstance(stream, av.audio.stream.AudioStream)
        for start in range(0, audio.shape[1], 4096):
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(audio[:, start : start + 4096]), format="fltp", layout=layout
            )
            frame.sample_rate = sample_rate
            frame.pts = start
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def write_av_s16(path: Path, ints: np.ndarray, sample_rate: int, codec: str, container: str | None) -> Path:
    """Encode 16-bit integer stereo samples (channels, frames) losslessly (alac, flac) with PyAV."""
    import av

    with av.open(str(path), "w", format=container) as out:
        stream = out.add_stream(codec, rate=sample_rate, layout="stereo")
        assert isinstance(stream, av.audio.stream.AudioStream)
        packed = np.ascontiguousarray(ints.T.reshape(1, -1).astype(np.int16))
        frame = av.AudioFrame.from_ndarray(packed, format="s16", layout="stereo")
        frame.sample_rate = sample_rate
        frame.pts = 0
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return path


def write_video_only(path: Path, frames: int = 5) -> Path:
    """A tiny mp4 with one 32x32 mpeg4 video stream and no audio."""
    import av

    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=5)
        stream.width = stream.height = 32
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            rgb = np.full((32, 32, 3), 40 * i, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path
