"""Stems back into videos: a stem, or a mix of stems, muxed with the input's video stream copied as it is.

`--video vocals` writes the vocals with the original picture; `--video no-vocals` every stem but the vocals
(a music video without its singer, an instrumental with its video); `--video drums+bass` those two summed.
The video packets are copied (never decoded or re-encoded); the audio is encoded with PyAV (AAC, Opus for
WebM, MP3 for AVI) and both are interleaved by time, so memory stays bounded by a block, whatever the
length. The output appears atomically under its final name like every written file.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audio_playground.audio.formats import FORMATS
from audio_playground.errors import InputError, OutputError, UsageError

if TYPE_CHECKING:
    import numpy as np

EXCLUDE_PREFIX = "no-"
"""`no-vocals`: every stem but vocals."""

# Video containers written, by suffix: (FFmpeg muxer, audio format in it).
CONTAINERS: dict[str, tuple[str, str]] = {
    ".mp4": ("mp4", "aac"),
    ".m4v": ("mp4", "aac"),
    ".mov": ("mov", "aac"),
    ".mkv": ("matroska", "aac"),
    ".webm": ("webm", "opus"),
    ".avi": ("avi", "mp3"),
}


@dataclass(frozen=True)
class VideoMix:
    """One --video request: its name (the {stem} of its file) and the stems summed into its audio."""

    name: str
    stems: tuple[str, ...]


def parse_video(spec: str) -> tuple[bool, tuple[str, ...]]:
    """Split a --video value into (exclude, stem names): "vocals", "drums+bass", "no-vocals", "no-drums+bass"."""
    text = spec.strip()
    exclude = text.startswith(EXCLUDE_PREFIX)
    if exclude:
        text = text[len(EXCLUDE_PREFIX) :]
    names = tuple(part.strip() for part in text.split("+"))
    if not names or any(not name for name in names):
        raise UsageError(
            f"--video {spec!r} names no stem",
            hint="give a stem (vocals), stems joined by + (drums+bass), or no-STEM for every stem but one",
        )
    return exclude, names


def resolve_mixes(specs: Sequence[str], stems: Sequence[str]) -> list[VideoMix]:
    """The mixes `specs` ask for, checked against the separator's `stems`."""
    mixes: list[VideoMix] = []
    for spec in specs:
        exclude, names = parse_video(spec)
        unknown = [n for n in names if n not in stems]
        if unknown:
            raise UsageError(
                f"--video {spec!r}: no stem named {', '.join(unknown)}",
                hint=f"the stems are {', '.join(stems)}",
            )
        chosen = tuple(s for s in stems if (s not in names) == exclude)
        if not chosen:
            raise UsageError(f"--video {spec!r} leaves no stem to play", hint="exclude fewer stems")
        name = (EXCLUDE_PREFIX if exclude else "") + "+".join(names)
        mixes.append(VideoMix(name, chosen))
    return mixes


def _video_stream(container: Any) -> Any | None:
    """The first real video stream (cover art in an mp3 or m4a is not a video)."""
    from av.stream import Disposition

    for stream in container.streams.video:
        if not stream.disposition & Disposition.attached_pic:
            return stream
    return None


def check_video_input(src: str | Path, start_time: float | None = None, end_time: float | None = None) -> str:
    """Refuse, before any work, an input --video cannot use; returns the suffix its videos are written with."""
    from audio_playground.audio.source import _av_open, _check_path

    path, head = _check_path(src)
    if start_time is not None or end_time is not None:
        raise UsageError(
            "--video copies the whole video stream and cannot be cut by --start-time/--end-time",
            path=path,
            hint="drop the time window, or cut the video first",
        )
    suffix = path.suffix.lower()
    if suffix not in CONTAINERS:
        raise UsageError(
            f"--video writes {', '.join(CONTAINERS)} videos, not {suffix or 'files without a suffix'}",
            path=path,
            hint="give a video file with one of those suffixes",
        )
    if head in (b"RIFF", b"fLaC"):
        raise InputError("is an audio file, not a video", path=path, hint="--video needs a video input")
    container = _av_open(path)
    try:
        if _video_stream(container) is None:
            raise InputError("has no video stream", path=path, hint="--video needs a video input")
    finally:
        container.close()
    return suffix


def _mixed_blocks(paths: Sequence[Path], channels: int, rate: int) -> Iterator[np.ndarray]:
    """The sum of the audio files `paths`, as (channels, frames) float32 blocks in lockstep."""
    import contextlib

    import numpy as np

    from audio_playground.audio.source import open_audio

    with contextlib.ExitStack() as stack:
        streams = [iter(stack.enter_context(open_audio(p, sample_rate=rate, channels=channels))) for p in paths]
        buffers: list[list[np.ndarray]] = [[] for _ in paths]
        have = [0] * len(paths)
        done = [False] * len(paths)
        while True:
            for i, stream in enumerate(streams):
                while not done[i] and have[i] == 0:
                    block = next(stream, None)
                    if block is None:
                        done[i] = True
                    else:
                        buffers[i].append(block)
                        have[i] += block.shape[1]
            live = [h for h in have if h > 0]
            if not live:
                return
            n = min(live)
            total = np.zeros((channels, n), dtype=np.float32)
            for i in range(len(paths)):
                if have[i] == 0:
                    continue  # a stem that ended early: silence
                joined = np.concatenate(buffers[i], axis=1) if len(buffers[i]) > 1 else buffers[i][0]
                total += joined[:, :n]
                rest = joined[:, n:]
                buffers[i] = [rest] if rest.shape[1] else []
                have[i] = rest.shape[1]
            yield total


def mux_video(
    src: str | Path,
    audio: Sequence[Path],
    target: str | Path,
    *,
    bitrate: int | None = None,
    clip: str = "clamp",
) -> Path:
    """Write `target`: `src`'s video stream copied, with the sum of the audio files `audio` as its sound."""
    import av
    import numpy as np

    from audio_playground.audio.encode import StreamEncoder
    from audio_playground.audio.source import probe
    from audio_playground.audio.tempfiles import create_temp, remove_stale

    src_path, target_path = Path(src), Path(target)
    muxer, audio_format = CONTAINERS[target_path.suffix.lower()]
    first = probe(audio[0])
    rate, channels = first.sample_rate, first.channels
    try:
        target_path.parent.mkdir(parents=True, exist_ok=True)
        remove_stale(target_path)
        tmp = create_temp(target_path)
    except OSError as exc:
        raise OutputError(
            f"cannot create a file beside the target ({exc.strerror or exc})",
            path=target_path,
            hint="check that the directory is writable and has free space",
        ) from exc
    options = {"movie_timescale": str(rate)} if muxer in ("mp4", "mov") else {}
    try:
        with (
            av.open(str(src_path), metadata_errors="ignore") as source,
            av.open(str(tmp), "w", format=muxer, options=options) as out,
        ):
            video_in = _video_stream(source)
            if video_in is None:  # pragma: no cover - checked by check_video_input before the work
                raise InputError("has no video stream", path=src_path, hint="--video needs a video input")
            video_out = out.add_stream_from_template(video_in)
            audio_in = source.streams.audio[0] if source.streams.audio else None
            start = 0.0
            if audio_in is not None and audio_in.start_time is not None and audio_in.time_base is not None:
                start = max(float(audio_in.start_time * audio_in.time_base), 0.0)
            encoder = StreamEncoder(out, FORMATS[audio_format], rate, channels, "16", bitrate, start_seconds=start)

            def audio_packets() -> Iterator[Any]:
                for block in _mixed_blocks(audio, channels, rate):
                    if clip != "none":
                        np.clip(block, -1.0, 1.0, out=block)
                    yield from encoder.encode(block.T)
                yield from encoder.flush()

            def video_packets() -> Iterator[Any]:
                for packet in source.demux(video_in):
                    if packet.dts is None:  # the demuxer's empty flush packet
                        continue
                    packet.stream = video_out
                    yield packet

            def when(packet: Any) -> float:
                stamp = packet.dts if packet.dts is not None else packet.pts
                return float(stamp * packet.time_base) if stamp is not None else 0.0

            for packet in heapq.merge(video_packets(), audio_packets(), key=when):
                out.mux(packet)
    except (av.error.FFmpegError, ValueError) as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(
            f"cannot copy the video of {src_path.name} into it ({getattr(exc, 'strerror', None) or exc})",
            path=target_path,
            hint="the video codec may not fit this container; convert the video first",
        ) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    import os

    os.replace(tmp, target_path)
    return target_path


def write_videos(
    src: str | Path,
    stems: Mapping[str, Path],
    specs: Sequence[str],
    path_for: Any,
    *,
    bitrate: int | None = None,
    clip: str = "clamp",
) -> dict[str, Path]:
    """Mux each --video mix of the written `stems` with `src`'s video; `path_for(name)` names each file."""
    videos: dict[str, Path] = {}
    for mix in resolve_mixes(specs, list(stems)):
        target = Path(path_for(mix.name))
        videos[mix.name] = mux_video(src, [stems[s] for s in mix.stems], target, bitrate=bitrate, clip=clip)
    return videos
