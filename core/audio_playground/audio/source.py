"""The built-in source: probe and stream-decode any file libsndfile or PyAV (FFmpeg) reads.

libsndfile handles WAV/FLAC/OGG/AIFF (exact frame counts, sample-exact seeks, exact PCM decode); PyAV handles
the rest (mp3, m4a/aac/alac, opus, and the first audio stream of mp4/mkv/webm/mov video). Streams yield
float32 (channels, frames) blocks and never hold more than a block or two of the input in memory.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audio_playground.audio.resample import Resampler, expected_frames, mix_channels
from audio_playground.errors import DecodeError, InputError, UsageError
from audio_playground.specs import AudioInfo

if TYPE_CHECKING:
    import numpy as np

DECODE_HINT = (
    "not an audio or video file PyAV/libsndfile can read; check the file: it may be truncated (an unfinished "
    "download or copy), DRM-protected, or not audio at all"
)

# libsndfile containers we decode with soundfile; anything else (mp3 included) goes through PyAV.
SOUNDFILE_FORMATS = frozenset({"WAV", "WAVEX", "RF64", "W64", "FLAC", "OGG", "AIFF", "CAF", "AU"})
# Integer PCM subtypes: read as left-justified int32 and scaled by 2**-31, which is exact in float32.
PCM_SUBTYPES = frozenset({"PCM_16", "PCM_24", "PCM_32", "PCM_S8", "PCM_U8"})
LOSSLESS_SUBTYPES = PCM_SUBTYPES | {"FLOAT", "DOUBLE"}
# File signatures of those containers. Anything else skips libsndfile: its mp3 decoder (libmpg123) writes
# warnings to stderr, and PyAV reads mp3 better anyway.
SOUNDFILE_MAGIC = (b"RIFF", b"RIFX", b"RF64", b"BW64", b"riff", b"fLaC", b"OggS", b"FORM", b"caff", b".snd")

# Decode this much before a PyAV seek target so codecs with inter-frame state (mp3's bit reservoir,
# AAC's overlapped transform) are warm by the first kept sample.
AV_PREROLL_S = 0.2


def _check_path(path: str | Path) -> tuple[Path, bytes]:
    """The path, checked to be a readable, non-empty file, and its first four bytes."""
    p = Path(path)
    if not p.exists():
        raise InputError("no such file", path=p, hint="check the path")
    if p.is_dir():
        raise InputError("is a directory", path=p, hint="pass an audio or video file, not a directory")
    try:
        with open(p, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise InputError(
            f"cannot read ({exc.strerror or exc})", path=p, hint="check that it is a regular file you may read"
        ) from exc
    if not head:
        raise DecodeError("empty file (0 bytes)", path=p, hint=DECODE_HINT)
    return p, head


def _probe_soundfile(path: Path, head: bytes) -> AudioInfo | None:
    import soundfile as sf

    if head not in SOUNDFILE_MAGIC:
        return None
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError):
        return None
    if info.format not in SOUNDFILE_FORMATS or info.samplerate <= 0 or info.channels <= 0:
        return None
    subtype = info.subtype if info.subtype in LOSSLESS_SUBTYPES else None
    codec = "flac" if info.format == "FLAC" else info.subtype.lower()
    return AudioInfo(
        path=str(path),
        sample_rate=int(info.samplerate),
        channels=int(info.channels),
        frames=int(info.frames),
        duration=info.frames / info.samplerate,
        codec=codec,
        container=info.format.lower(),
        subtype=subtype,
    )


def _av_open(path: Path) -> Any:
    import av

    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise DecodeError(f"cannot open ({_cause(exc)})", path=path, hint=DECODE_HINT) from exc


def _cause(exc: BaseException) -> str:
    """A short cause from a PyAV or libsndfile error: its message without the file name."""
    text = getattr(exc, "error_string", None) or getattr(exc, "strerror", None) or str(exc)
    text = str(text).strip().removeprefix("Error : ").removeprefix("Error: ")
    return text.split(": '")[0].strip().rstrip(".") or type(exc).__name__


def _audio_stream(container: Any, path: Path) -> Any:
    streams = container.streams.audio
    if not streams:
        raise DecodeError("no audio stream in the file", path=path, hint=DECODE_HINT)
    return streams[0]


def _av_duration(container: Any, stream: Any) -> float:
    """Seconds the container says the stream lasts (an estimate for lossy codecs; 0.0 when unknown)."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    return (container.duration or 0) / 1_000_000


def _edited_frames(container: Any, stream: Any, sample_rate: int) -> int | None:
    """The exact length of an MP4/MOV/M4A audio track, from its edit list; None for other containers.

    FFmpeg skips an AAC track's priming samples on decode but not the encoder's padding at the end (up to
    one 1024-frame packet, 15.6 ms on the demo song); the track's edited duration says where the audio ends.
    MP3 (LAME header), Opus and ALAC files already decode to their exact length.
    """
    if "mov" not in container.format.name.split(",") or not stream.duration or stream.time_base is None:
        return None
    return round(float(stream.duration * stream.time_base) * sample_rate)


def _container_name(names: str, path: Path) -> str:
    """FFmpeg's demuxer name, narrowed to the file's suffix for multi-name demuxers ("mov,mp4,m4a,...")."""
    options = names.split(",")
    suffix = path.suffix.lower().lstrip(".")
    return suffix if suffix in options else options[0]


def _probe_av(path: Path) -> AudioInfo:
    import av

    container = _av_open(path)
    try:
        stream = _audio_stream(container, path)
        ctx = stream.codec_context
        first = None
        try:
            for frame in container.decode(stream):
                first = frame
                break
        except av.error.FFmpegError as exc:
            raise DecodeError(f"cannot decode audio ({_cause(exc)})", path=path, hint=DECODE_HINT) from exc
        if first is None:
            raise DecodeError("no decodable audio in the file", path=path, hint=DECODE_HINT)
        sample_rate = int(ctx.sample_rate or first.sample_rate)
        channels = int(ctx.channels or first.layout.nb_channels)
        duration = _av_duration(container, stream)
        return AudioInfo(
            path=str(path),
            sample_rate=sample_rate,
            channels=channels,
            frames=round(duration * sample_rate) if duration > 0 else None,
            duration=duration,
            codec=ctx.name.removesuffix("float"),
            container=_container_name(container.format.name, path),
            subtype=None,
        )
    finally:
        container.close()


def probe(path: str | Path) -> AudioInfo:
    """Learn an input's rate, channels, length and codec without decoding it (PyAV decodes one frame)."""
    p, head = _check_path(path)
    info = _probe_soundfile(p, head)
    if info is not None:
        return info
    return _probe_av(p)


def resolve_window(
    start: float | None,
    end: float | None,
    info: AudioInfo,
    path: str | Path | None = None,
    exact: bool = True,
) -> tuple[int, int | None]:
    """Validate a [start, end) time window and turn it into input frames; end is None for "to the end".

    With exact=False (PyAV inputs, whose frame count is an estimate) the end is not clipped to the estimate.
    """
    where = path if path is not None else info.path
    if start is not None and start < 0:
        raise UsageError(f"start time {start:g} s is negative", path=where, hint="use a time >= 0")
    if end is not None and end < 0:
        raise UsageError(f"end time {end:g} s is negative", path=where, hint="use a time > 0")
    begin = start or 0.0
    if end is not None and end <= begin:
        raise UsageError(
            f"end time {end:g} s is not after the start time {begin:g} s",
            path=where,
            hint="give an end time later than the start time",
        )
    sr = info.sample_rate
    start_frame = round(begin * sr)
    end_frame = None if end is None else round(end * sr)
    total = info.frames
    if total is not None and start_frame >= total and (start_frame > 0 or total > 0):
        raise UsageError(
            f"start time {begin:g} s is beyond the end of the input ({info.duration:.3f} s)",
            path=where,
            hint="use a start time inside the input",
        )
    if end_frame is not None and total is not None and exact:
        end_frame = min(end_frame, total)
    if end_frame is not None and end_frame <= start_frame:
        raise UsageError(
            f"the window {begin:g}-{end:g} s holds no samples at {sr} Hz",
            path=where,
            hint="widen the window",
        )
    return start_frame, end_frame


class _Stream:
    """Shared pipeline of the file streams: native blocks -> channel mixing -> resampling -> exact length."""

    def __init__(
        self,
        info: AudioInfo,
        start_frame: int,
        end_frame: int | None,
        sample_rate: int | None,
        channels: int | None,
        block_frames: int,
    ) -> None:
        if block_frames <= 0:
            raise UsageError(f"block_frames must be positive, got {block_frames}")
        if sample_rate is not None and sample_rate <= 0:
            raise UsageError(f"invalid sample rate {sample_rate}", hint="use a positive rate in Hz")
        if channels is not None and channels <= 0:
            raise UsageError(f"invalid channel count {channels}", hint="use 1 or more channels")
        self.info = info
        self.sample_rate = sample_rate or info.sample_rate
        self.channels = channels or info.channels
        if self.channels != info.channels and self.channels != 1 and info.channels != 1:
            raise UsageError(
                f"cannot mix {info.channels} channels into {self.channels}",
                path=info.path,
                hint="ask for 1 channel (a mono downmix) or for the input's own channel count",
            )
        self.block_frames = block_frames
        self._start_frame = start_frame
        self._end_frame = end_frame
        self.frames: int | None = None
        if end_frame is not None and self._exact_length():
            self.frames = expected_frames(end_frame - start_frame, info.sample_rate, self.sample_rate)
        self._closed = False

    @property
    def estimated_frames(self) -> int | None:
        """Frames the stream will yield: exact when known, else estimated from the container's duration."""
        if self.frames is not None:
            return self.frames
        end = self._end_frame if self._end_frame is not None else self.info.frames
        if end is None:
            return None
        return expected_frames(max(0, end - self._start_frame), self.info.sample_rate, self.sample_rate)

    def _exact_length(self) -> bool:
        return False

    def _raw_blocks(self) -> Iterator[np.ndarray]:  # pragma: no cover - overridden
        raise NotImplementedError

    def __iter__(self) -> Iterator[np.ndarray]:
        import numpy as np

        if self._closed:
            raise ValueError("I/O operation on a closed audio stream")
        info = self.info
        mix_first = self.channels < info.channels
        resampler = Resampler(info.sample_rate, self.sample_rate, self.channels if mix_first else info.channels)
        remaining = self.frames
        pending: np.ndarray | None = None

        def finish(block: np.ndarray) -> np.ndarray:
            return block if mix_first else mix_channels(block, self.channels)

        for raw in self._raw_blocks():
            block = mix_channels(raw, self.channels) if mix_first else raw
            # Hold one block back so the last one reaches soxr with last=True (no separate flush call).
            if pending is not None:
                out = finish(resampler.process(pending))
                if remaining is not None:
                    out = out[:, :remaining]
                    remaining -= out.shape[1]
                if out.shape[1]:
                    yield out
            pending = block
        if pending is None:
            pending = np.zeros((resampler.channels, 0), dtype=np.float32)
        out = finish(resampler.process(pending, last=True))
        if remaining is not None:
            out = out[:, :remaining]
            remaining -= out.shape[1]
            if remaining > 0:
                # soxr may deliver a frame fewer than the exact count: pad the tail with silence.
                pad = np.zeros((self.channels, remaining), dtype=np.float32)
                out = np.concatenate([out, pad], axis=1)
        if out.shape[1]:
            yield out

    def close(self) -> None:
        """Release the file."""
        self._closed = True

    def __enter__(self) -> _Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SoundFileStream(_Stream):
    """A libsndfile input: sample-exact windows via seek, exact PCM decode, exact `frames`."""

    def __init__(self, info: AudioInfo, *, start_frame: int, end_frame: int | None, **kwargs: Any) -> None:
        import soundfile as sf

        end = info.frames if end_frame is None else end_frame
        super().__init__(info, start_frame, end, **kwargs)
        try:
            self._file = sf.SoundFile(info.path)
        except (sf.LibsndfileError, RuntimeError) as exc:  # pragma: no cover - replaced since the probe
            raise DecodeError(f"cannot open ({_cause(exc)})", path=info.path, hint=DECODE_HINT) from exc

    def _exact_length(self) -> bool:
        return True

    def _raw_blocks(self) -> Iterator[np.ndarray]:
        import numpy as np
        import soundfile as sf

        f = self._file
        pcm = self.info.subtype in PCM_SUBTYPES
        scale = np.float32(2.0**-31)
        end = self._end_frame if self._end_frame is not None else self.info.frames
        assert end is not None
        remaining = end - self._start_frame
        try:
            f.seek(self._start_frame)
            while remaining > 0:
                n = min(self.block_frames, remaining)
                data = f.read(n, dtype="int32" if pcm else "float32", always_2d=True)
                if len(data) == 0:
                    done = end - self._start_frame - remaining
                    raise DecodeError(
                        f"the audio ends after {self._start_frame + done} of {end} frames",
                        path=self.info.path,
                        hint="the file looks truncated; re-create or re-download it",
                    )
                remaining -= len(data)
                block = np.ascontiguousarray(data.T, dtype=np.float32)
                if pcm:
                    block *= scale
                yield block
        except (sf.LibsndfileError, RuntimeError) as exc:
            done = end - self._start_frame - remaining
            raise DecodeError(
                f"cannot decode audio after frame {self._start_frame + done} ({_cause(exc)})",
                path=self.info.path,
                hint="the file looks truncated or damaged; re-create or re-download it",
            ) from exc

    def close(self) -> None:
        super().close()
        self._file.close()


_AV_SCALES = {"s16": 2.0**-15, "s32": 2.0**-31, "s64": 2.0**-63}


def _frame_to_float(frame: Any, channels: int) -> np.ndarray:
    """An AVAudioFrame as float32 (channels, frames); integer PCM scaled exactly (int / 2**(bits-1))."""
    import numpy as np

    arr = frame.to_ndarray()
    fmt = frame.format
    if not fmt.is_planar:
        arr = arr.reshape(-1, channels).T
    name = fmt.name.rstrip("p")
    if name == "flt":
        return np.ascontiguousarray(arr, dtype=np.float32)
    if name == "dbl":
        return np.ascontiguousarray(arr, dtype=np.float32)
    if name == "u8":
        return ((arr.astype(np.float32) - np.float32(128)) * np.float32(2.0**-7)).astype(np.float32)
    out = np.ascontiguousarray(arr, dtype=np.float32)
    out *= np.float32(_AV_SCALES[name])
    return out


class AVStream(_Stream):
    """A PyAV (FFmpeg) input: first audio stream; windows by seeking before the start and trimming by pts."""

    def __init__(self, info: AudioInfo, *, start_frame: int, end_frame: int | None, **kwargs: Any) -> None:
        super().__init__(info, start_frame, end_frame, **kwargs)
        self._containers: list[Any] = []

    def _open(self) -> tuple[Any, Any]:
        container = _av_open(Path(self.info.path))
        self._containers.append(container)
        return container, _audio_stream(container, Path(self.info.path))

    def _raw_blocks(self) -> Iterator[np.ndarray]:
        import numpy as np

        pieces: list[np.ndarray] = []
        buffered = 0
        for piece in self._decode_window():
            pieces.append(piece)
            buffered += piece.shape[1]
            if buffered >= self.block_frames:
                yield np.concatenate(pieces, axis=1) if len(pieces) > 1 else pieces[0]
                pieces, buffered = [], 0
        if pieces:
            yield np.concatenate(pieces, axis=1)

    def _decode_window(self) -> Iterator[np.ndarray]:
        """Decoded pieces inside [start_frame, end_frame), positioned by pts after a seek."""
        start, end = self._start_frame, self._end_frame
        if start > 0:
            seeked = self._decode(seek=True)
            try:
                first = next(seeked, None)
                if first is not None and first[0] <= start:
                    yield from self._trim(first, seeked, start, end)
                    return
            finally:
                seeked.close()
            # The seek landed after the target (or gave no timestamps): decode from the beginning instead.
        plain = self._decode(seek=False)
        try:
            yield from self._trim(None, plain, start, end)
        finally:
            plain.close()

    @staticmethod
    def _trim(
        first: tuple[int, np.ndarray] | None,
        pieces: Iterator[tuple[int, np.ndarray]],
        start: int,
        end: int | None,
    ) -> Iterator[np.ndarray]:
        def chain() -> Iterator[tuple[int, np.ndarray]]:
            if first is not None:
                yield first
            yield from pieces

        for pos, arr in chain():
            n = arr.shape[1]
            if pos + n <= start:
                continue
            if end is not None and pos >= end:
                break
            lo = max(start - pos, 0)
            hi = n if end is None else min(n, end - pos)
            yield arr[:, lo:hi]

    def _decode(self, seek: bool) -> Generator[tuple[int, np.ndarray]]:
        """(position in frames, float32 block) for each decoded frame; errors after the first are skipped."""
        container, stream = self._open()
        try:
            yield from self._decode_container(container, stream, seek)
        finally:
            container.close()
            if container in self._containers:
                self._containers.remove(container)

    def _decode_container(self, container: Any, stream: Any, seek: bool) -> Iterator[tuple[int, np.ndarray]]:
        import av

        path = self.info.path
        sr = self.info.sample_rate
        origin = stream.start_time or 0
        tb = stream.time_base
        limit = _edited_frames(container, stream, sr)
        pos: int | None = 0
        if seek:
            pos = None
            target = max(self._start_frame / sr - AV_PREROLL_S, 0.0)
            try:
                container.seek(int(target / tb) + origin, stream=stream, backward=True)
            except av.error.FFmpegError:  # pragma: no cover - unseekable input: decode from the start
                return
        # The probe decoded the first packet, so errors here are damage further in: skip a damaged packet
        # (as FFmpeg does) and stop at a damaged or truncated container, keeping what decoded.
        decoded_any = False
        packets = container.demux(stream)
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.error.FFmpegError:  # pragma: no cover - container damage the demuxer cannot skip
                break
            try:
                frames = packet.decode()
            except av.error.FFmpegError:
                continue
            for frame in frames:
                if pos is None:
                    if frame.pts is None:  # pragma: no cover - demuxers without timestamps
                        return
                    pos = round(float((frame.pts - origin) * tb) * sr)
                arr = _frame_to_float(frame, self.info.channels)
                if arr.shape[0] != self.info.channels:  # pragma: no cover - streams that change layout
                    raise DecodeError(
                        f"the channel count changes mid-stream ({self.info.channels} -> {arr.shape[0]})",
                        path=path,
                        hint="save the file again with one channel layout throughout (any audio editor does)",
                    )
                if limit is not None and pos + arr.shape[1] > limit:
                    if pos >= limit:
                        return
                    arr = arr[:, : limit - pos]  # the encoder's padding after the last real sample
                decoded_any = True
                yield pos, arr
                pos += arr.shape[1]
        if not decoded_any and not seek:  # pragma: no cover - the probe decoded a frame of this file
            raise DecodeError("no decodable audio in the file", path=path, hint=DECODE_HINT)

    def close(self) -> None:
        super().close()
        for container in self._containers:
            container.close()
        self._containers.clear()


def open_audio(
    path: str | Path,
    *,
    start: float | None = None,
    end: float | None = None,
    sample_rate: int | None = None,
    channels: int | None = None,
    block_frames: int = 65536,
) -> SoundFileStream | AVStream:
    """Open an input as a stream of float32 (channels, frames) blocks, windowed, mixed and resampled.

    `frames` of the stream is exact for libsndfile inputs (the window's frames, resampled and rounded) and
    None for PyAV inputs, whose length is known only once decoded.
    """
    p, head = _check_path(path)
    info = _probe_soundfile(p, head)
    exact = info is not None
    if info is None:
        info = _probe_av(p)
    start_frame, end_frame = resolve_window(start, end, info, path, exact=exact)
    kwargs: dict[str, Any] = {
        "start_frame": start_frame,
        "end_frame": end_frame,
        "sample_rate": sample_rate,
        "channels": channels,
        "block_frames": block_frames,
    }
    if exact:
        return SoundFileStream(info, **kwargs)
    return AVStream(info, **kwargs)
