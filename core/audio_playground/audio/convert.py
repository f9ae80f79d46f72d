"""The convert step: any input to a WAV, FLAC, MP3, Opus, AAC or ALAC file, streamed, windowed, resampled,
written atomically."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import cast

from audio_playground.audio.formats import FORMATS, check_output, format_for_path
from audio_playground.audio.source import open_audio
from audio_playground.audio.writer import AudioWriter, BitDepth, OutputFormat, default_bit_depth
from audio_playground.errors import UsageError
from audio_playground.specs import ConvertResult

ProgressCallback = Callable[[float, float | None], None]


def _same_file(a: Path, b: Path) -> bool:
    try:
        return b.exists() and a.resolve() == b.resolve()
    except OSError:  # pragma: no cover - resolve() on a broken path
        return False


def convert_to_wav(
    src: str | Path,
    target: str | Path,
    *,
    sample_rate: int | None = None,
    channels: int | None = None,
    bit_depth: BitDepth | None = None,
    start_time: float | None = None,
    end_time: float | None = None,
    on_progress: ProgressCallback | None = None,
    output_format: str | None = None,
    bitrate: int | None = None,
) -> ConvertResult:
    """Convert `src` to `target` in the format its suffix names (or `output_format`; see audio/formats.py).

    A suffix no writer produces, or one that does not fit `output_format`, is refused before any decoding.

    Unset options keep the input's own rate, channels and bit depth (lossy input: 16-bit), so lossless
    input converts sample-exactly. on_progress(done_seconds, total_seconds) follows the written output;
    total is None when the input's length is unknown.
    """
    src_path, target_path = Path(src), Path(target)
    if _same_file(src_path, target_path):
        raise UsageError(
            "the target is the source file", path=target_path, hint="write the converted file to another path"
        )
    fmt = cast("OutputFormat", format_for_path(target_path, output_format))
    check_output(fmt, bitrate, target_path)
    with open_audio(src_path, start=start_time, end=end_time, sample_rate=sample_rate, channels=channels) as stream:
        info = stream.info
        depth: BitDepth = bit_depth or default_bit_depth(info)
        if bit_depth is None and FORMATS[fmt].integer_only and depth == "32f":
            depth = "24"  # FLAC and ALAC have no float samples: keep as much as they can hold
        rate = stream.sample_rate
        if stream.frames is not None:
            total: float | None = stream.frames / rate
        else:
            begin = start_time or 0.0
            stop = info.duration if end_time is None else min(end_time, info.duration or end_time)
            total = max(stop - begin, 0.0) or None
        # Float output keeps every value (an input's own overs included); integer output saturates.
        with AudioWriter(
            target_path,
            rate,
            stream.channels,
            format=fmt,
            bit_depth=depth,
            clip="none" if depth == "32f" else "clamp",
            bitrate=bitrate,
        ) as writer:
            for block in stream:
                writer.write(block)
                if on_progress is not None:
                    on_progress(writer.frames / rate, total)
            if writer.frames == 0 and start_time:
                # A lossy file's length is an estimate: the start passed the check but not the real end.
                raise UsageError(
                    f"start time {start_time:g} s is beyond the end of the decoded audio",
                    path=src_path,
                    hint="use a start time inside the input",
                )
            writer.commit()
            frames = writer.frames
    return ConvertResult(target=target_path, sample_rate=rate, channels=stream.channels, frames=frames)
