"""PyAV encoders for AudioWriter: MP3, Opus, AAC and ALAC, streamed into the writer's temporary file.

A sink takes what soundfile would take (frames-first int16, int32 holding 24 bits << 8, or float32) so the
writer's clip, rescale and atomic-rename logic is the same for every format. Lossy codecs get float samples;
a rate the codec cannot encode (Opus at 44.1 kHz) is resampled here with soxr to the nearest rate it can.
M4A files get a movie timescale equal to the sample rate, so their edit list records the exact length and a
decode trims the encoder's priming and padding back to the samples written.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from audio_playground.audio.formats import FORMATS, FormatSpec
from audio_playground.errors import UsageError

if TYPE_CHECKING:
    import numpy as np


def encode_rate(spec: FormatSpec, sample_rate: int) -> int:
    """The rate `spec`'s encoder runs at for `sample_rate` input: the same when it can, else the nearest
    supported rate above it (or its highest)."""
    import av

    rates = av.codec.Codec(spec.codec or "", "w").audio_rates
    if not rates or sample_rate in rates:
        return sample_rate
    above = [r for r in rates if r > sample_rate]
    return min(above) if above else max(rates)


# A layout of each channel count that both AAC and ALAC encode (ALAC knows only these); channels keep
# their order.
_LAYOUTS = {1: "mono", 2: "stereo", 3: "3.0", 4: "4.0", 5: "5.0", 6: "5.1", 7: "6.1(back)", 8: "7.1(wide)"}


def _layout(channels: int) -> Any:
    import av

    return av.AudioLayout(_LAYOUTS[channels])


def _sample_format(spec: FormatSpec, bit_depth: str) -> str:
    import av

    names = [f.name for f in av.codec.Codec(spec.codec or "", "w").audio_formats or ()]
    if spec.lossy:
        return next(n for n in ("fltp", "flt") if n in names)
    return "s16p" if bit_depth == "16" else "s32p"


def check_encoder(output_format: str, sample_rate: int, channels: int, path: str | Path | None = None) -> None:
    """Refuse, before any work, a channel count `output_format`'s encoder cannot take."""
    import av

    spec = FORMATS[output_format]
    if spec.max_channels is not None and channels > spec.max_channels:
        raise UsageError(
            f"{output_format} holds at most {spec.max_channels} channels, not {channels}",
            path=path,
            hint="write wav or flac, or mix down with --channels",
        )
    ctx: Any = av.CodecContext.create(spec.codec or "", "w")
    ctx.sample_rate = encode_rate(spec, sample_rate)
    ctx.layout = _layout(channels)
    ctx.format = _sample_format(spec, "16")
    try:
        ctx.open()
    except av.error.FFmpegError as exc:  # pragma: no cover - every layout above opens with today's FFmpeg
        raise UsageError(
            f"the {output_format} encoder refuses {channels} channels at {sample_rate} Hz"
            f" ({getattr(exc, 'strerror', None) or exc})",
            path=path,
            hint="write wav or flac instead",
        ) from exc


class StreamEncoder:
    """An audio stream added to an open PyAV output container: encode() returns its packets to mux.

    `start_seconds` places the first sample (a video's audio may start after its picture).
    """

    def __init__(
        self,
        container: Any,
        spec: FormatSpec,
        sample_rate: int,
        channels: int,
        bit_depth: str,
        bitrate: int | None,
        *,
        start_seconds: float = 0.0,
    ) -> None:
        from audio_playground.audio.resample import Resampler

        self.spec = spec
        self.channels = channels
        self.rate = encode_rate(spec, sample_rate)
        self._sample_rate = sample_rate
        self._resampler = Resampler(sample_rate, self.rate, channels) if self.rate != sample_rate else None
        self._origin = round(start_seconds * self.rate)
        self._pts = 0
        self._in_frames = 0
        stream = container.add_stream(spec.codec or "", rate=self.rate, layout=_layout(channels))
        self._format = _sample_format(spec, bit_depth)
        stream.format = self._format
        if spec.lossy:
            stream.bit_rate = bitrate or spec.default_bitrate
        stream.codec_context.open()
        self._stream = stream

    def encode(self, data: np.ndarray) -> list[Any]:
        """Encode (frames, channels) samples: int16, int32 (24 bits << 8) or float32, as soundfile takes them."""
        import numpy as np

        if self._resampler is not None:
            self._in_frames += data.shape[0]
            data = self._resampler.process(np.ascontiguousarray(data.T, dtype=np.float32)).T
        return self._encode(data)

    def _encode(self, data: np.ndarray) -> list[Any]:
        import av
        import numpy as np

        n = data.shape[0]
        if n == 0:
            return []
        if self._format.endswith("p"):
            planes = np.ascontiguousarray(data.T)
        else:
            planes = np.ascontiguousarray(data).reshape(1, -1)
        if self._format.startswith("flt"):
            planes = planes.astype(np.float32, copy=False)
        frame = av.AudioFrame.from_ndarray(planes, format=self._format, layout=self._stream.layout)
        frame.sample_rate = self.rate
        frame.pts = self._origin + self._pts
        self._pts += n
        return self._packets(frame)

    def _packets(self, frame: Any) -> list[Any]:
        import av

        try:
            return list(self._stream.encode(frame))
        except av.error.FFmpegError as exc:  # pragma: no cover - an encoder that fails mid-stream
            raise OSError(f"{self.spec.name} encoding failed ({exc})") from exc

    def flush(self) -> list[Any]:
        """The last packets: what the resampler and the encoder hold back."""
        import numpy as np

        packets: list[Any] = []
        if self._resampler is not None:
            # The resampled length is exact (as the source's is): cut or pad soxr's flush to it.
            from audio_playground.audio.resample import expected_frames

            empty = np.zeros((self.channels, 0), dtype=np.float32)
            tail = self._resampler.process(empty, last=True).T
            want = expected_frames(self._in_frames, self._sample_rate, self.rate) - self._pts
            if tail.shape[0] < want:  # pragma: no cover - soxr's flush a frame short of the exact count
                tail = np.concatenate([tail, np.zeros((want - tail.shape[0], self.channels), np.float32)])
            packets += self._encode(tail[: max(want, 0)])
        return packets + self._packets(None)


class AVSink:
    """An audio file written by PyAV, taking what soundfile takes; close() flushes and writes the trailer."""

    def __init__(
        self, path: Path, output_format: str, sample_rate: int, channels: int, bit_depth: str, bitrate: int | None
    ) -> None:
        import av

        spec = FORMATS[output_format]
        options = {"movie_timescale": str(encode_rate(spec, sample_rate))} if spec.muxer == "ipod" else {}
        try:
            self._container: Any = av.open(str(path), "w", format=spec.muxer, options=options)
            try:
                self._encoder = StreamEncoder(self._container, spec, sample_rate, channels, bit_depth, bitrate)
            except BaseException:  # pragma: no cover - check_encoder opened the same encoder before
                self._container.close()
                raise
        except av.error.FFmpegError as exc:  # pragma: no cover - checked by check_encoder before
            raise OSError(f"cannot start the {output_format} encoder ({exc})") from exc

    def write(self, data: np.ndarray) -> None:
        """Encode and mux (frames, channels) samples."""
        self._mux(self._encoder.encode(data))

    def _mux(self, packets: list[Any]) -> None:
        import av

        try:
            for packet in packets:
                self._container.mux(packet)
        except av.error.FFmpegError as exc:  # pragma: no cover - a full disk while muxing
            raise OSError(f"writing failed ({exc})") from exc

    def close(self) -> None:
        """Flush the encoder, then write the container's trailer."""
        if self._container is None:
            return
        try:
            self._mux(self._encoder.flush())
        finally:
            container, self._container = self._container, None
            container.close()
