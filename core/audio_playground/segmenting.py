"""The segment and merge steps: cut an input into fixed, overlapping windows and put segments back together.

`split` streams its input once into segment-000.wav, segment-001.wav, ... plus segment_metadata.json;
`concat` overlap-adds segments back, sample-exactly, crossfading where they overlap. Both stream: memory is
bounded by the block size, never by the input's length.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from audio_playground.errors import InputError, OutputError, UsageError
from audio_playground.hookspecs import hookimpl
from audio_playground.specs import MergeResult, Segment, SegmenterSpec, SegmentResult

if TYPE_CHECKING:
    import numpy as np

    from audio_playground.audio.source import AVStream, SoundFileStream
    from audio_playground.audio.writer import AudioWriter, BitDepth, OutputFormat

ProgressCallback = Callable[[float, float | None], None]

METADATA_NAME = "segment_metadata.json"
SEGMENT_TEMPLATE = "segment-{index:03d}.wav"
_SEGMENT_NAME = re.compile(r"segment-\d{3,}\.wav")
DEFAULT_PATTERN = "segment-*.wav"
"""What `merge concat` globs when given no --pattern, keeping only names of the form segment-NNN.wav."""
CROSSFADE_TYPES = ("cosine", "linear")
_BLOCK = 65536


# --------------------------------------------------------------------------- planning


def window_frames(sample_rate: int, window_s: float, overlap_s: float, max_segments: int | None) -> tuple[int, int]:
    """Validate segmenting options; return (window, overlap) in frames at `sample_rate`."""
    if not window_s > 0:
        raise UsageError(f"window size {window_s:g} s is not positive", hint="use --window-size above 0")
    if not overlap_s >= 0:
        raise UsageError(f"overlap {overlap_s:g} s is negative", hint="use --overlap 0 or more")
    window = round(window_s * sample_rate)
    overlap = round(overlap_s * sample_rate)
    if window < 1:
        raise UsageError(
            f"window size {window_s:g} s is shorter than one sample at {sample_rate} Hz",
            hint="use a longer --window-size",
        )
    if overlap >= window:
        raise UsageError(
            f"overlap {overlap_s:g} s is not shorter than the window {window_s:g} s",
            hint="use an --overlap smaller than --window-size",
        )
    if max_segments is not None and max_segments < 1:
        raise UsageError(f"max segments {max_segments} is below 1", hint="use --max-segments 1 or more, or omit it")
    return window, overlap


def plan_fixed(
    total_frames: int, sample_rate: int, window_s: float, overlap_s: float, max_segments: int | None = None
) -> list[Segment]:
    """Fixed windows of round(window_s * sr) frames, each starting window - overlap frames after the last.

    The last segment ends at the end of the input and may be shorter; no segment lies wholly inside the
    overlap of the one before. With max_segments=N only the first N segments are planned: the rest of the
    input is not covered (split notes this as "truncated": true in its metadata).
    """
    window, overlap = window_frames(sample_rate, window_s, overlap_s, max_segments)
    hop = window - overlap
    segments: list[Segment] = []
    start = 0
    while start < total_frames and (max_segments is None or len(segments) < max_segments):
        frames = min(window, total_frames - start)
        segments.append(Segment(len(segments), start, frames))
        if start + frames >= total_frames:
            break
        start += hop
    return segments


@hookimpl
def ap_segmenters() -> list[SegmenterSpec]:
    """The built-in fixed-window segmenter."""
    return [
        SegmenterSpec(
            "fixed",
            plan_fixed,
            "Fixed windows of --window-size seconds, overlapping by --overlap seconds; the last is shorter.",
        )
    ]


# --------------------------------------------------------------------------- split


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    from audio_playground.audio.writer import _create_temp

    try:
        tmp = _create_temp(path)
    except OSError as exc:
        raise OutputError(
            f"cannot write ({exc.strerror or exc})", path=path, hint="check that the directory is writable"
        ) from exc
    try:
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh, indent=2)
            fh.write("\n")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(
            f"cannot write ({exc.strerror or exc})", path=path, hint="check free space on the disk"
        ) from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _remove_stale_segments(out: Path, keep: set[str]) -> None:
    """Delete segment-NNN.wav files an earlier, longer split left in `out`: they would mix into a merge."""
    for path in out.iterdir():
        if _SEGMENT_NAME.fullmatch(path.name) and path.name not in keep:
            path.unlink(missing_ok=True)


def split(
    src: str | Path,
    output_dir: str | Path,
    *,
    window_size: float,
    overlap: float = 0.0,
    max_segments: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> SegmentResult:
    """Cut `src` into overlapping fixed windows (see plan_fixed), streaming it once.

    Segments keep the input's rate, channels and bit depth (lossy input: 16-bit). Each file appears
    atomically as it completes; segment_metadata.json is written last, so its presence means a finished
    split. With max_segments the input after the last segment is not written and "truncated" is true.
    segment-NNN.wav files of an earlier split into the same directory that this one did not rewrite are
    deleted before the metadata is written (other files there are left alone).
    on_progress(done_seconds, total_seconds) follows the input read.
    """
    from audio_playground.audio.source import open_audio
    from audio_playground.audio.writer import AudioWriter, default_bit_depth

    out = Path(output_dir)
    if out.exists() and not out.is_dir():
        raise OutputError("is not a directory", path=out, hint="give a directory for --output-dir")
    with open_audio(src) as stream:
        sr, channels = stream.sample_rate, stream.channels
        window, overlap_frames = window_frames(sr, window_size, overlap, max_segments)
        hop = window - overlap_frames
        depth: BitDepth = default_bit_depth(stream.info)
        clip = "none" if depth == "32f" else "clamp"
        total_s = stream.frames / sr if stream.frames is not None else (stream.info.duration or None)

        def new_writer(index: int) -> AudioWriter:
            name = out / SEGMENT_TEMPLATE.format(index=index)
            return AudioWriter(name, sr, channels, format="wav", bit_depth=depth, clip=clip)

        active: dict[int, AudioWriter] = {}
        written: list[tuple[Segment, Path]] = []
        next_index = 0
        pos = 0
        truncated = False
        finished = False  # all max_segments segments are complete
        try:
            for block in stream:
                n = block.shape[1]
                if finished:
                    truncated = True  # the input goes on past the last segment allowed
                    break
                end = pos + n
                while (max_segments is None or next_index < max_segments) and next_index * hop < end:
                    active[next_index] = new_writer(next_index)
                    next_index += 1
                for index, writer in list(active.items()):
                    seg_start = index * hop
                    seg_end = seg_start + window
                    writer.write(block[:, max(seg_start, pos) - pos : min(seg_end, end) - pos])
                    if seg_end <= end:
                        written.append((Segment(index, seg_start, window), writer.commit()))
                        del active[index]
                pos = end
                if on_progress is not None:
                    on_progress(pos / sr, total_s)
                if max_segments is not None and next_index >= max_segments and not active:
                    finished = True
                    if pos > (max_segments - 1) * hop + window:
                        truncated = True
                        break
            # The input ended: the open segments that plan_fixed keeps end here; the others are dropped.
            for index, writer in list(active.items()):
                seg_start = index * hop
                if index == 0 or (index - 1) * hop + window < pos:
                    written.append((Segment(index, seg_start, pos - seg_start), writer.commit()))
                else:
                    writer.abort()
                del active[index]
        finally:
            for writer in active.values():
                writer.abort()
        if not written:
            raise UsageError("the input holds no audio to split", path=src, hint="check the input file")
        covered = max(seg.start_frame + seg.frames for seg, _ in written)
        metadata = {
            "source": str(src),
            "sample_rate": sr,
            "channels": channels,
            "bit_depth": depth,
            "window": window_size,
            "overlap": overlap,
            "window_frames": window,
            "hop_frames": hop,
            "frames": covered,
            "source_frames": None if truncated else pos,
            "truncated": truncated,
            "segments": [
                {
                    "file": path.name,
                    "start_s": seg.start_s(sr),
                    "duration_s": seg.duration_s(sr),
                    "start_frame": seg.start_frame,
                    "frames": seg.frames,
                }
                for seg, path in written
            ],
        }
    _remove_stale_segments(out, {path.name for _, path in written})
    meta_path = out / METADATA_NAME
    _write_json_atomic(meta_path, metadata)
    return SegmentResult(output_dir=out, metadata=meta_path, segments=tuple(path for _, path in written))


# --------------------------------------------------------------------------- concat


@dataclass
class _Placed:
    path: Path
    start: int
    frames: int

    @property
    def end(self) -> int:
        return self.start + self.frames


def merge_files(directory: Path, pattern: str | None, target: Path) -> list[Path]:
    """The files `merge concat` merges, in natural name order: those `pattern` matches, else segment-NNN.wav.

    The default takes the split's own segments only, never stems separated from them lying beside them
    (segment-003-vocals.wav): those merge with an explicit pattern such as 'segment-*-vocals.wav'.
    """
    target_abs = target.resolve()
    found = directory.glob(DEFAULT_PATTERN if pattern is None else pattern)
    files = (p for p in found if p.is_file() and p.resolve() != target_abs and p.suffix != ".json")
    if pattern is None:
        files = (p for p in files if _SEGMENT_NAME.fullmatch(p.name))
    return sorted(files, key=_natural_key)


def _natural_key(path: Path) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def _load_metadata(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        segments = data["segments"]
        rate = int(data["sample_rate"])
        for entry in segments:
            if not isinstance(entry["file"], str) or int(entry["start_frame"]) < 0:
                raise ValueError("bad segment entry")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UsageError(
            f"not a valid segment metadata file ({type(exc).__name__}: {exc})",
            path=path,
            hint="fix it, or delete it to merge the segments back to back in name order",
        ) from exc
    return {"sample_rate": rate, "segments": segments}


def _metadata_starts(files: list[Path], meta: dict[str, Any], meta_path: Path) -> list[int | None] | None:
    """Each file's start frame at the metadata's rate, or None when no file is listed there.

    A file matches an entry by name, or when its name extends the entry's stem ("segment-003-vocals.wav"
    belongs to "segment-003.wav"), so separated segments merge at their segment's place.
    """
    entries = meta["segments"]
    by_name = {entry["file"]: entry for entry in entries}
    stems = sorted(((Path(e["file"]).stem, e) for e in entries), key=lambda item: -len(item[0]))
    starts: list[int | None] = []
    used: dict[str, Path] = {}
    for f in files:
        entry = by_name.get(f.name)
        if entry is None:
            entry = next(
                (e for stem, e in stems if any(f.stem.startswith(stem + sep) for sep in "-_.")),
                None,
            )
        if entry is None:
            starts.append(None)
            continue
        if entry["file"] in used:
            raise UsageError(
                f"{used[entry['file']].name} and {f.name} both belong to segment {entry['file']}",
                path=f,
                hint="narrow --pattern to one file per segment",
            )
        used[entry["file"]] = f
        starts.append(int(entry["start_frame"]))
    if all(s is None for s in starts):
        return None
    missing = [f for f, s in zip(files, starts, strict=True) if s is None]
    if missing:
        raise UsageError(
            f"not listed in {meta_path.name}",
            path=missing[0],
            hint="narrow --pattern to the listed segments, or delete the metadata to merge back to back",
        )
    return starts


def _plan_merge(input_dir: Path, files: list[Path]) -> tuple[list[_Placed], int, int, Any]:
    """Probe the segments, check they agree, and place them; returns (placed, rate, channels, first info)."""
    from audio_playground.audio.source import probe

    infos = [probe(f) for f in files]
    first = infos[0]
    for f, info in zip(files, infos, strict=True):
        if info.sample_rate != first.sample_rate or info.channels != first.channels:
            raise UsageError(
                f"has {info.sample_rate} Hz, {info.channels} channels; {files[0].name} has "
                f"{first.sample_rate} Hz, {first.channels} channels",
                path=f,
                hint="merge only segments of one rate and channel count (convert them first)",
            )
        if info.frames is None:  # pragma: no cover - only a container that reports no duration at all
            raise UsageError("length unknown", path=f, hint="convert the segment to WAV or FLAC before merging")
    rate = first.sample_rate
    frames = [int(info.frames or 0) for info in infos]
    meta_path = input_dir / METADATA_NAME
    starts: list[int | None] | None = None
    if meta_path.is_file():
        meta = _load_metadata(meta_path)
        starts = _metadata_starts(files, meta, meta_path)
        if starts is not None and meta["sample_rate"] != rate:
            starts = [round((s or 0) * rate / meta["sample_rate"]) for s in starts]
    if starts is None:
        placed, pos = [], 0
        for f, n in zip(files, frames, strict=True):
            placed.append(_Placed(f, pos, n))
            pos += n
    else:
        placed = sorted(
            (_Placed(f, int(s or 0), n) for f, s, n in zip(files, starts, frames, strict=True)),
            key=lambda p: (p.start, p.end),
        )
    for before, after in itertools.pairwise(placed):
        if after.start < before.end and after.end < before.end:
            raise UsageError(
                f"lies inside {before.path.name}",
                path=after.path,
                hint="merge segments that each reach past the one before",
            )
    return placed, rate, first.channels, first


class _SegmentReader:
    """Sequential reads of exactly n frames from a segment file (zeros past its end)."""

    def __init__(self, placed: _Placed, channels: int) -> None:
        from audio_playground.audio.source import open_audio

        self.placed = placed
        self.channels = channels
        self._stream: SoundFileStream | AVStream = open_audio(placed.path, block_frames=_BLOCK)
        self._blocks: Iterator[np.ndarray] = iter(self._stream)
        self._buffer: np.ndarray | None = None

    def read(self, n: int) -> np.ndarray:
        import numpy as np

        parts: list[np.ndarray] = []
        need = n
        while need > 0:
            if self._buffer is None or self._buffer.shape[1] == 0:
                self._buffer = next(self._blocks, None)
                if self._buffer is None:
                    parts.append(np.zeros((self.channels, need), dtype=np.float32))
                    break
            take = self._buffer[:, :need]
            self._buffer = self._buffer[:, need:]
            parts.append(take)
            need -= take.shape[1]
        return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=1)

    def skip(self, n: int) -> None:
        """Read and drop `n` frames."""
        while n > 0:
            step = min(n, _BLOCK)
            self.read(step)
            n -= step

    def close(self) -> None:
        self._stream.close()


def crossfade_span(prev_start: int, prev_end: int, start: int, pos: int) -> tuple[int, int]:
    """Where the crossfade from the previous segment into one starting at `start` goes: (begin, length).

    It is as long as the overlap, but no longer than the distance between the two starts, so that at most
    two segments ever blend (overlaps above half a window stack three deep otherwise); a shorter crossfade
    sits in the middle of the overlap, away from both segments' edges. `pos` is where the output is: a
    crossfade never starts before it.
    """
    overlap = prev_end - start
    length = min(overlap, start - prev_start)
    begin = start + (overlap - length) // 2
    if begin < pos:
        begin = pos
        length = min(length, prev_end - pos)
    return begin, length


def crossfade_weights(kind: str, length: int, offset: int, count: int) -> np.ndarray:
    """Fade-in weights w[t] for t in [offset, offset + count) of a `length`-frame overlap (float64).

    The fading-out side gets 1 - w, so the two always sum to 1. cosine: sin^2 (equal power for uncorrelated
    audio); linear: a straight ramp. Both are sampled at frame centres, symmetric and never exactly 0 or 1.
    """
    import numpy as np

    t = (np.arange(offset, offset + count, dtype=np.float64) + 0.5) / length
    if kind == "linear":
        return t
    return np.sin(t * (math.pi / 2)) ** 2


def concat(
    input_dir: str | Path,
    target: str | Path,
    *,
    pattern: str | None = None,
    crossfade_type: str = "cosine",
    on_progress: ProgressCallback | None = None,
) -> MergeResult:
    """Merge the segments in `input_dir` into `target`, crossfading where they overlap.

    With segment_metadata.json each segment goes back to its start frame; without it, segments follow each
    other in natural name order. Where segments do not overlap the output is a bit-exact copy; each overlap
    is crossfaded (see crossfade_span for overlaps longer than half a window), so at most two segments are
    open at a time. on_progress(done_seconds, total_seconds) follows the output written.
    """
    from audio_playground.audio.formats import FORMATS, format_for_path
    from audio_playground.audio.writer import AudioWriter, default_bit_depth

    # wav, flac, mp3, opus, aac (.m4a): refused before any work if none fits
    fmt = cast("OutputFormat", format_for_path(target))
    directory = Path(input_dir)
    if not directory.exists():
        raise InputError("no such directory", path=directory, hint="check --input-dir")
    if not directory.is_dir():
        raise InputError("is not a directory", path=directory, hint="give the directory holding the segments")
    if crossfade_type not in CROSSFADE_TYPES:
        raise UsageError(f"unknown crossfade type {crossfade_type!r}", hint="use cosine or linear")
    target_path = Path(target)
    files = merge_files(directory, pattern, target_path)
    if not files:
        what = "no segment-NNN files (segment-000.wav, ...)" if pattern is None else f"no files match {pattern!r}"
        raise InputError(what, path=directory, hint="check --input-dir and --pattern")
    placed, rate, channels, first = _plan_merge(directory, files)
    depth: BitDepth = default_bit_depth(first)
    if FORMATS[fmt].integer_only and depth == "32f":
        depth = "24"
    total = max(p.end for p in placed)
    total_s = total / rate

    with AudioWriter(
        target_path, rate, channels, format=fmt, bit_depth=depth, clip="none" if depth == "32f" else "clamp"
    ) as writer:

        def emit(block: np.ndarray) -> None:
            writer.write(block)
            if on_progress is not None:
                on_progress(writer.frames / rate, total_s)

        def copy(reader: _SegmentReader, count: int) -> None:
            while count > 0:
                n = min(count, _BLOCK)
                emit(reader.read(n))
                count -= n

        def silence(count: int) -> None:
            import numpy as np

            while count > 0:
                n = min(count, _BLOCK)
                emit(np.zeros((channels, n), dtype=np.float32))
                count -= n

        def crossfade(out_reader: _SegmentReader, in_reader: _SegmentReader, length: int) -> None:
            import numpy as np

            done = 0
            while done < length:
                n = min(length - done, _BLOCK)
                w = crossfade_weights(crossfade_type, length, done, n)
                a = out_reader.read(n).astype(np.float64)
                b = in_reader.read(n).astype(np.float64)
                # float64 blend: identical inputs come back exactly once rounded to float32.
                emit((a * (1.0 - w) + b * w).astype(np.float32))
                done += n

        pos = 0
        current: _SegmentReader | None = None
        try:
            for seg in placed:
                if current is not None and seg.start >= current.placed.end:
                    copy(current, current.placed.end - pos)
                    pos = current.placed.end
                    current.close()
                    current = None
                if current is None:
                    silence(seg.start - pos)
                    pos = seg.start
                    current = _SegmentReader(seg, channels)
                    continue
                begin, length = crossfade_span(current.placed.start, current.placed.end, seg.start, pos)
                copy(current, begin - pos)
                outgoing, current = current, _SegmentReader(seg, channels)
                try:
                    current.skip(begin - seg.start)
                    crossfade(outgoing, current, length)
                finally:
                    outgoing.close()
                pos = begin + length
            assert current is not None
            copy(current, current.placed.end - pos)
        finally:
            if current is not None:
                current.close()
        writer.commit()
        frames = writer.frames
    return MergeResult(target=target_path, frames=frames)
