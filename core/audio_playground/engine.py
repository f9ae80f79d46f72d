"""The streaming separation engine, model-agnostic: chunk -> separate -> weighted overlap-add -> stream out.

Memory is bounded by the chunk length (a buffer of about two chunks per stem), never by the input length.
Model-rate work happens in `chunked_separate`; `run_separation` wraps it with resampling and channel mapping
to and from the input, an optional statistics pass, and streaming writers.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from audio_playground.errors import ModelError

if TYPE_CHECKING:
    from audio_playground.specs import AudioStream, ChunkPlan, Separator

ChunkCallback = Callable[[int, int | None, float], None]
"""on_chunk(index, total or None, seconds of compute for that chunk)."""


class StemSink(Protocol):
    """Where finished stem audio goes (an AudioWriter, or a list in tests)."""

    def write(self, block: np.ndarray) -> None: ...


def triangle_window(frames: int, power: float = 1.0) -> np.ndarray:
    """Demucs's transition weights: a triangle peaking at the centre, never zero, raised to `power`."""
    half = frames // 2
    weight = np.concatenate([np.arange(1, half + 1), np.arange(frames - half, 0, -1)]).astype(np.float32)
    return (weight / weight.max()) ** power


def crossfade_window(frames: int, overlap: int, kind: str = "cosine") -> np.ndarray:
    """Ones with `overlap`-long fades at both ends; adjacent chunks' fades sum to one (values stay > 0)."""
    window = np.ones(frames, dtype=np.float32)
    overlap = min(overlap, frames // 2)
    if overlap > 0:
        t = (np.arange(overlap, dtype=np.float64) + 0.5) / overlap
        ramp = np.sin(0.5 * np.pi * t) ** 2 if kind == "cosine" else t
        window[:overlap] = ramp
        window[frames - overlap :] = ramp[::-1]
    return window


def mix_channels(block: np.ndarray, channels: int) -> np.ndarray:
    """Map (c, n) to (channels, n) for a model or an output: never refuses a channel count."""
    from audio_playground.audio.resample import mix_channels as mix

    return mix(block, channels, strict=False)


def chunk_count(frames: int, hop: int, size: int | None = None, every_hop: bool = True) -> int:
    """Chunks the engine runs over `frames`: one per hop start before the end, like demucs; without
    `every_hop`, none after the first chunk that reaches the end (`size` frames long)."""
    count = max(0, math.ceil(frames / hop))
    if every_hop or size is None or count == 0:
        return count
    return min(count, max(1, math.ceil(max(frames - size, 0) / hop) + 1))


class _InputBuffer:
    """Model-rate input kept from (next chunk start - half a chunk) on, for chunks and their context."""

    def __init__(self, channels: int) -> None:
        self.data = np.zeros((channels, 0), dtype=np.float32)
        self.start = 0  # absolute frame of data[:, 0]
        self.end = 0

    def extend(self, block: np.ndarray) -> None:
        self.data = np.concatenate([self.data, block.astype(np.float32, copy=False)], axis=1)
        self.end += block.shape[1]

    def take(self, begin: int, end: int, total: int | None) -> np.ndarray:
        """Frames [begin, end), zeros where outside the input (before 0 or after `total`)."""
        out = np.zeros((self.data.shape[0], end - begin), dtype=np.float32)
        lo = max(begin, self.start, 0)
        hi = min(end, self.end if total is None else min(self.end, total))
        if hi > lo:
            out[:, lo - begin : hi - begin] = self.data[:, lo - self.start : hi - self.start]
        return out

    def drop_before(self, frame: int) -> None:
        if frame > self.start:
            cut = min(frame - self.start, self.data.shape[1])
            self.data = self.data[:, cut:]
            self.start += cut


def chunked_separate(
    blocks: Iterable[np.ndarray],
    separator: Separator,
    emit: Callable[[dict[str, np.ndarray]], None],
    *,
    total_frames: int | None = None,
    on_chunk: ChunkCallback | None = None,
) -> int:
    """Separate a model-rate stream chunk by chunk; `emit` receives finished stem blocks in order.

    Returns the number of input frames. Chunk starts are 0, hop, 2*hop, ... for every start before the end.
    A separator with `batch_size` > 1 and `separate_batch(chunks) -> [stems]` gets that many chunks a call
    (a GPU's throughput); the buffers then hold `batch_size` hops more, still independent of the input length.
    """
    plan: ChunkPlan = separator.plan
    size, hop = plan.frames, plan.hop
    if size <= 0 or not 0 < hop <= size:
        raise ModelError(f"invalid chunk plan: {size} frames with a hop of {hop}", hint="check the chunk options")
    batch = max(1, int(getattr(separator, "batch_size", 1) or 1))
    separate_batch = getattr(separator, "separate_batch", None)
    if separate_batch is None:
        batch = 1
    window = np.asarray(plan.window, dtype=np.float32)
    channels = separator.channels
    stems = tuple(separator.stems)
    buffer = _InputBuffer(channels)
    span = size + (batch - 1) * hop  # the output a batch of chunks covers
    acc = {stem: np.zeros((channels, span), dtype=np.float32) for stem in stems}
    acc_start = 0  # absolute frame of acc[:, 0]
    wsum = np.zeros(span, dtype=np.float32)
    offset = 0
    index = 0
    total_chunks = None if total_frames is None else chunk_count(total_frames, hop, size, plan.every_hop)
    iterator: Iterator[np.ndarray] = iter(blocks)
    exhausted = False

    def flush(upto: int) -> None:
        nonlocal acc_start, wsum
        n = upto - acc_start
        if n <= 0:
            return
        weight = wsum[:n]
        emit({stem: acc[stem][:, :n] / weight for stem in stems})
        for stem in stems:
            acc[stem] = np.concatenate([acc[stem][:, n:], np.zeros((channels, n), dtype=np.float32)], axis=1)
        wsum = np.concatenate([wsum[n:], np.zeros(n, dtype=np.float32)])
        acc_start = upto

    stop = False
    while not stop:
        pending: list[tuple[int, int, int, np.ndarray]] = []  # (offset, frames, lead, chunk)
        while len(pending) < batch:
            while not exhausted and buffer.end < offset + size:
                try:
                    block = next(iterator)
                except StopIteration:
                    exhausted = True
                    total_frames = buffer.end
                    total_chunks = chunk_count(total_frames, hop, size, plan.every_hop)
                    break
                if block.shape[0] != channels:
                    block = mix_channels(block, channels)
                buffer.extend(block)
            if exhausted and offset >= buffer.end:
                stop = True
                break
            if exhausted and not plan.every_hop and offset > 0 and offset - hop + size >= buffer.end:
                stop = True  # the previous chunk already reached the end
                break
            n = min(size, buffer.end - offset)
            if n < size and plan.pad_short:
                delta = size - n
                begin = offset - delta // 2
                pending.append((offset, n, delta // 2, buffer.take(begin, begin + size, buffer.end)))
            else:
                pending.append((offset, n, 0, buffer.take(offset, offset + n, buffer.end)))
            offset += hop
        if not pending:
            break
        started = time.perf_counter()
        if batch > 1 and separate_batch is not None:
            results = list(separate_batch([chunk for *_, chunk in pending]))
        else:
            results = [separator.separate(chunk) for *_, chunk in pending]
        seconds = (time.perf_counter() - started) / len(pending)
        for (start, n, lead, _), result in zip(pending, results, strict=True):
            missing = [stem for stem in stems if stem not in result]
            if missing:
                raise ModelError(f"the separator returned no {', '.join(missing)} stem")
            w = window[:n]
            at = start - acc_start
            for stem in stems:
                out = np.asarray(result[stem], dtype=np.float32)
                if out.shape[0] != channels:
                    out = mix_channels(out, channels)
                acc[stem][:, at : at + n] += out[:, lead : lead + n] * w
            wsum[at : at + n] += w
            if on_chunk is not None:
                on_chunk(index, total_chunks, seconds)
            index += 1
        if offset < buffer.end or not exhausted:
            flush(offset)
        buffer.drop_before(offset - size // 2)
    flush(buffer.end)
    return buffer.end


def separate_array(audio: np.ndarray, separator: Separator) -> dict[str, np.ndarray]:
    """Separate an in-memory (channels, frames) array at the model rate: for tests and small scripts."""
    parts: dict[str, list[np.ndarray]] = {stem: [] for stem in separator.stems}

    def emit(blocks: dict[str, np.ndarray]) -> None:
        for stem, block in blocks.items():
            parts[stem].append(block)

    block = 1 << 16
    chunked_separate(
        (audio[:, i : i + block] for i in range(0, audio.shape[1], block)),
        separator,
        emit,
        total_frames=audio.shape[1],
    )
    return {
        stem: np.concatenate(p, axis=1) if p else np.zeros((separator.channels, 0), np.float32)
        for stem, p in parts.items()
    }


def mono_stats(blocks: Iterable[np.ndarray]) -> tuple[float, float]:
    """Mean and unbiased standard deviation of the mono mix of a stream, in one pass (float64 sums)."""
    count = 0
    total = 0.0
    squares = 0.0
    shift: float | None = None
    for block in blocks:
        mono = block.astype(np.float64).mean(axis=0)
        if mono.size == 0:
            continue
        if shift is None:
            shift = float(mono[0])
        centred = mono - shift
        count += mono.size
        total += float(centred.sum())
        squares += float((centred * centred).sum())
    if count == 0 or shift is None:
        return 0.0, 0.0
    mean = total / count
    var = (squares - count * mean * mean) / max(count - 1, 1)
    return mean + shift, math.sqrt(max(var, 0.0))


class _Resampled:
    """Resample and remap a stream of (c, n) blocks to a rate and channel count (identity when equal)."""

    def __init__(self, in_rate: int, out_rate: int, channels: int) -> None:
        from audio_playground.audio.resample import Resampler

        self.resampler = Resampler(in_rate, out_rate, channels) if in_rate != out_rate else None

    def __call__(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        if self.resampler is None:
            return block
        return self.resampler.process(block, last=last)


def _model_blocks(stream: Iterable[np.ndarray], in_rate: int, separator: Separator) -> Iterator[np.ndarray]:
    resample = _Resampled(in_rate, separator.sample_rate, separator.channels)
    for block in stream:
        out = resample(mix_channels(block, separator.channels))
        if out.shape[1]:
            yield out
    tail = resample(np.zeros((separator.channels, 0), np.float32), last=True)
    if tail.shape[1]:
        yield tail


class _StemOutput:
    """Model-rate stem blocks -> output rate and channels -> sink, cut or padded to an exact length."""

    def __init__(self, sink: StemSink, model_rate: int, out_rate: int, model_channels: int, out_channels: int):
        self.sink = sink
        self.out_channels = out_channels
        self.resample = _Resampled(model_rate, out_rate, model_channels)
        self.model_channels = model_channels
        self.written = 0
        self.limit: int | None = None

    def write(self, block: np.ndarray, last: bool = False) -> None:
        out = mix_channels(self.resample(block, last=last), self.out_channels)
        if self.limit is not None:
            out = out[:, : max(0, self.limit - self.written)]
        if out.shape[1]:
            self.sink.write(np.ascontiguousarray(out, dtype=np.float32))
            self.written += out.shape[1]

    def finish(self, frames: int) -> None:
        self.limit = frames
        self.write(np.zeros((self.model_channels, 0), np.float32), last=True)
        if self.written < frames:
            self.sink.write(np.zeros((self.out_channels, frames - self.written), np.float32))
            self.written = frames


def run_separation(
    open_stream: Callable[[], AudioStream],
    separator: Separator,
    sinks: Mapping[str, StemSink],
    *,
    output_rate: int | None = None,
    output_channels: int | None = None,
    on_chunk: ChunkCallback | None = None,
) -> dict[str, Any]:
    """Stream an input through `separator` into one sink per stem, at the input's length to the sample.

    `open_stream()` opens the input at its own rate and channels; it is called twice when the separator
    asks for whole-input statistics (`needs_stats`). Returns {"frames", "chunks", "seconds"}.
    """
    if getattr(separator, "needs_stats", False):
        with _closing(open_stream()) as stats_stream:
            mean, std = mono_stats(_model_blocks(stats_stream, stats_stream.sample_rate, separator))
        separator.set_stats(mean, std)  # ty: ignore[missing-attribute]
    with _closing(open_stream()) as stream:
        in_rate, in_channels = stream.sample_rate, stream.channels
        out_rate = output_rate or in_rate
        out_channels = output_channels or in_channels
        outputs = {
            stem: _StemOutput(sink, separator.sample_rate, out_rate, separator.channels, out_channels)
            for stem, sink in sinks.items()
        }
        counted = 0

        def counting() -> Iterator[np.ndarray]:
            nonlocal counted
            for block in stream:
                counted += block.shape[1]
                yield block

        def emit(blocks: dict[str, np.ndarray]) -> None:
            for stem, output in outputs.items():
                output.write(blocks[stem])

        # Exact for PCM/FLAC; for compressed inputs the container's estimate, used for progress totals only.
        known = stream.frames if stream.frames is not None else getattr(stream, "estimated_frames", None)
        model_frames = None if known is None else round(known * separator.sample_rate / in_rate)
        chunks = 0

        def chunk_done(index: int, total: int | None, seconds: float) -> None:
            nonlocal chunks
            chunks += 1
            if on_chunk is not None:
                on_chunk(index, total, seconds)

        started = time.perf_counter()
        chunked_separate(
            _model_blocks(counting(), in_rate, separator),
            separator,
            emit,
            total_frames=model_frames,
            on_chunk=chunk_done,
        )
        frames = round(counted * out_rate / in_rate)
        for output in outputs.values():
            output.finish(frames)
    return {"frames": frames, "chunks": chunks, "seconds": time.perf_counter() - started}


class _closing:
    """Close an AudioStream on exit (streams are not guaranteed to be context managers)."""

    def __init__(self, stream: AudioStream) -> None:
        self.stream = stream

    def __enter__(self) -> AudioStream:
        return self.stream

    def __exit__(self, *exc: object) -> None:
        self.stream.close()
