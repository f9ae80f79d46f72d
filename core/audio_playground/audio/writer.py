"""Streaming audio writers whose files appear atomically, and groups of them that appear together.

WAV and FLAC go through soundfile; MP3, Opus, AAC/M4A and ALAC through PyAV (audio/encode.py), chosen by
the target's suffix or a format name (audio/formats.py).

A writer writes into `.<name>.partial-<host>-<pid>-<random>` beside the target and renames it with os.replace
on commit; leaving its context without a commit (an error, Ctrl-C) deletes the temporary file, and the temporary
files a killed process (SIGKILL) left of the same target are deleted when the next writer of it opens. PCM samples
are converted here (round(x * 2**(bits-1)), saturated) so that decoding and re-encoding 16/24-bit audio is
bit-exact.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast, get_args

from audio_playground.audio.formats import FORMATS as ALL_FORMATS
from audio_playground.audio.formats import OutputFormat, format_for_path
from audio_playground.audio.tempfiles import create_temp, remove_stale
from audio_playground.errors import OutputError, UsageError

if TYPE_CHECKING:
    import numpy as np

    from audio_playground.specs import AudioInfo

BitDepth = Literal["16", "24", "32f"]
ClipMode = Literal["rescale", "rescale-stem", "clamp", "none"]
"""Samples beyond full scale: "rescale" scales every stem of a track by one gain (so they still add up to the
mix), "rescale-stem" scales each file by its own peak (the demucs CLI's --clip-mode rescale), "clamp" saturates,
"none" keeps them (32f only)."""

SUBTYPES: dict[str, str] = {"16": "PCM_16", "24": "PCM_24", "32f": "FLOAT"}
FORMATS: dict[str, str] = {"wav": "WAV", "flac": "FLAC"}
"""The formats soundfile writes, by libsndfile name; every other format goes through PyAV."""
RESCALE_HEADROOM = 1.01
"""A rescale divides by RESCALE_HEADROOM * peak when the peak exceeds full scale (as demucs does)."""

_BLOCK = 65536


def default_bit_depth(info: AudioInfo) -> BitDepth:
    """The bit depth that keeps an input's precision: its own for PCM, 32f for float, 16 for lossy input."""
    subtype = info.subtype or ""
    if subtype == "PCM_24":
        return "24"
    if subtype in {"FLOAT", "DOUBLE", "PCM_32"}:
        return "32f"
    return "16"


def _create_temp(path: Path, suffix: str = "") -> Path:
    """Create an empty temporary file beside `path`, named after this process (see audio/tempfiles.py)."""
    return create_temp(path, suffix)


def to_pcm(block: np.ndarray, bit_depth: BitDepth) -> np.ndarray:
    """Float (frames, channels) -> the integers soundfile writes verbatim: int16, or int32 = 24 bits << 8."""
    import numpy as np

    x = np.nan_to_num(block, nan=0.0, posinf=1.0, neginf=-1.0)
    if bit_depth == "16":
        y = np.rint(x * np.float32(32768.0))
        np.clip(y, -32768, 32767, out=y)
        return y.astype(np.int16)
    y = np.rint(x * np.float32(8388608.0))
    np.clip(y, -8388608, 8388607, out=y)
    out = y.astype(np.int32)
    out <<= 8
    return out


class AudioWriter:
    """Write (channels, frames) float32 blocks to an audio file that appears only on commit().

    Lossy formats (mp3, opus, aac) encode float samples at `bitrate` bits/s (None: the format's default) and
    ignore `bit_depth`; ALAC, like FLAC, stores 16 or 24-bit integers.
    """

    def __init__(
        self,
        path: str | Path,
        sample_rate: int,
        channels: int,
        *,
        format: OutputFormat | None = None,
        bit_depth: BitDepth = "16",
        clip: ClipMode = "clamp",
        bitrate: int | None = None,
    ) -> None:
        self.path = Path(path)
        self.sample_rate = int(sample_rate)
        self.channels = int(channels)
        self.format: OutputFormat = format or self._format_from_suffix(self.path)
        self.bit_depth: BitDepth = bit_depth
        self.clip: ClipMode = clip
        self.bitrate = bitrate
        self._validate()
        self.frames = 0
        """Frames written so far."""
        self.peak = 0.0
        """Largest absolute sample written so far (before any rescale)."""
        self.shared_peak: float | None = None
        """clip="rescale": the peak of the writer's whole group, set by commit_all (None: its own peak)."""
        self._state = "open"
        self._sf: Any = None
        self._raw: Any = None
        self._raw_path: Path | None = None
        self._prepare_directory()
        remove_stale(self.path)
        try:
            self._tmp = _create_temp(self.path)
            if self.clip in ("rescale", "rescale-stem"):
                self._raw_path = _create_temp(self.path, ".f32")
                self._raw = open(self._raw_path, "wb")  # noqa: SIM115 - closed in finalize/abort
            else:
                self._sf = self._open_final()
        except OSError as exc:
            self.abort()
            raise OutputError(
                f"cannot create a file beside the target ({exc.strerror or exc})",
                path=self.path,
                hint="check that the directory is writable and has free space",
            ) from exc

    # ------------------------------------------------------------------ set-up

    @staticmethod
    def _format_from_suffix(path: Path) -> OutputFormat:
        return cast("OutputFormat", format_for_path(path))

    @property
    def lossy(self) -> bool:
        """True for mp3, opus and aac: float samples go to the encoder, bit_depth does not apply."""
        return ALL_FORMATS[self.format].lossy

    def _validate(self) -> None:
        from audio_playground.audio.formats import FORMAT_NAMES, check_output

        if self.format not in ALL_FORMATS:
            raise UsageError(
                f"unknown output format {self.format!r}", path=self.path, hint=f"use one of {', '.join(FORMAT_NAMES)}"
            )
        check_output(self.format, self.bitrate, self.path)
        if self.bit_depth not in SUBTYPES:
            raise UsageError(f"unknown bit depth {self.bit_depth!r}", path=self.path, hint="use one of 16, 24, 32f")
        if self.clip not in get_args(ClipMode):
            raise UsageError(
                f"unknown clip mode {self.clip!r}", path=self.path, hint="use one of rescale, rescale-stem, clamp, none"
            )
        if ALL_FORMATS[self.format].integer_only and self.bit_depth == "32f":
            name = self.format.upper()
            raise UsageError(
                f"{name} stores 16 or 24-bit integer samples, not 32-bit float",
                path=self.path,
                hint=f"use --bit-depth 16 or 24 with {name}, or write WAV for 32f",
            )
        if self.sample_rate <= 0 or self.channels <= 0:
            raise UsageError(
                f"invalid output shape: {self.sample_rate} Hz, {self.channels} channels",
                path=self.path,
                hint="use a positive sample rate and channel count",
            )
        if self.format not in FORMATS:
            from audio_playground.audio.encode import check_encoder

            check_encoder(self.format, self.sample_rate, self.channels, self.path)

    def _prepare_directory(self) -> None:
        if self.path.is_dir():
            raise OutputError("is a directory", path=self.path, hint="give a file name as the target")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"cannot create the directory {self.path.parent} ({exc.strerror or exc})",
                path=self.path,
                hint="choose a target in a writable directory",
            ) from exc

    def _open_final(self) -> Any:
        import soundfile as sf

        if self.format not in FORMATS:
            from audio_playground.audio.encode import AVSink

            return AVSink(self._tmp, self.format, self.sample_rate, self.channels, self.bit_depth, self.bitrate)
        try:
            return sf.SoundFile(
                str(self._tmp),
                "w",
                samplerate=self.sample_rate,
                channels=self.channels,
                subtype=SUBTYPES[self.bit_depth],
                format=FORMATS[self.format],
            )
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise OSError(str(exc)) from exc

    # ------------------------------------------------------------------ writing

    def write(self, block: np.ndarray) -> None:
        """Append a (channels, frames) block; values beyond [-1, 1] follow the clip mode."""
        import numpy as np

        if self._state != "open":
            raise ValueError(f"write to a writer that is {self._state}: {self.path}")
        arr = np.asarray(block, dtype=np.float32)
        if arr.ndim != 2 or arr.shape[0] != self.channels:
            raise ValueError(f"expected a ({self.channels}, frames) block for {self.path}, got {arr.shape}")
        if arr.shape[1] == 0:
            return
        frames_first = np.ascontiguousarray(arr.T)
        try:
            if self._raw is not None:
                peak = float(np.max(np.abs(np.nan_to_num(frames_first, nan=0.0, posinf=0.0, neginf=0.0))))
                self.peak = max(self.peak, peak)
                frames_first.tofile(self._raw)
            else:
                self.peak = max(self.peak, float(np.max(np.abs(frames_first))))
                self._write_final(frames_first, 1.0)
        except OSError as exc:
            raise OutputError(
                f"write failed ({exc.strerror or exc})", path=self.path, hint="check free space on the disk"
            ) from exc
        self.frames += arr.shape[1]

    def _write_final(self, frames_first: np.ndarray, scale: float) -> None:
        import numpy as np
        import soundfile as sf

        x = frames_first
        if scale != 1.0:
            x = x * np.float32(scale)
        if self.bit_depth == "32f" or self.lossy:
            if self.clip != "none":
                x = np.clip(x, -1.0, 1.0)
            data = x
        else:
            data = to_pcm(x, self.bit_depth)
        try:
            self._sf.write(data)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise OSError(str(exc)) from exc

    # ------------------------------------------------------------------ finishing

    @property
    def state(self) -> str:
        """open, finalized (complete under its temporary name), committed or aborted."""
        return self._state

    def finalize(self) -> None:
        """Complete the temporary file (for a rescale: the scaled second pass) without renaming it."""
        if self._state == "finalized":
            return
        if self._state != "open":
            raise ValueError(f"finalize a writer that is {self._state}: {self.path}")
        try:
            if self._raw is not None:
                self._rescale_pass()
            self._sf.close()
            self._sf = None
        except OSError as exc:
            self.abort()
            raise OutputError(
                f"write failed ({exc.strerror or exc})", path=self.path, hint="check free space on the disk"
            ) from exc
        except BaseException:
            self.abort()
            raise
        self._state = "finalized"

    def _rescale_pass(self) -> None:
        import numpy as np

        assert self._raw_path is not None
        self._raw.close()
        self._raw = None
        peak = self.shared_peak if self.clip == "rescale" and self.shared_peak is not None else self.peak
        scale = 1.0 / (RESCALE_HEADROOM * peak) if peak > 1.0 else 1.0
        self._sf = self._open_final()
        count = _BLOCK * self.channels
        with open(self._raw_path, "rb") as raw:
            while True:
                flat = np.fromfile(raw, dtype=np.float32, count=count)
                if flat.size == 0:
                    break
                self._write_final(flat.reshape(-1, self.channels), scale)
        self._raw_path.unlink()
        self._raw_path = None

    def publish(self) -> Path:
        """Rename the finalized temporary file to the target (atomic on one file system)."""
        if self._state != "finalized":
            raise ValueError(f"publish a writer that is {self._state}: {self.path}")
        try:
            os.replace(self._tmp, self.path)
        except OSError as exc:
            self.abort()
            raise OutputError(
                f"cannot move the finished file into place ({exc.strerror or exc})",
                path=self.path,
                hint="check that the target is not a directory and the directory is writable",
            ) from exc
        self._state = "committed"
        return self.path

    def commit(self) -> Path:
        """Finish the file and make it appear under its final name; returns that name."""
        self.finalize()
        return self.publish()

    def abort(self) -> None:
        """Drop everything written; the target is left as it was. Safe to call more than once."""
        if self._state == "committed":
            return
        for handle in (self._sf, self._raw):
            if handle is not None:
                with contextlib.suppress(Exception):
                    handle.close()
        self._sf = self._raw = None
        for temp in (getattr(self, "_tmp", None), self._raw_path):
            if temp is not None:
                with contextlib.suppress(OSError):
                    temp.unlink(missing_ok=True)
        self._state = "aborted"

    def __enter__(self) -> AudioWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._state != "committed":
            self.abort()


def commit_all(writers: Iterable[AudioWriter]) -> list[Path]:
    """Commit several writers all-or-nothing as far as a file system allows.

    Every temporary file is completed before any is renamed; if one fails to complete, all are dropped.
    Writers with clip="rescale" are scaled by one gain, from the loudest of them, so the stems of a track
    keep adding up to the mix.
    """
    writers = list(writers)
    group_peak = max((w.peak for w in writers if w.clip == "rescale"), default=0.0)
    for writer in writers:
        if writer.clip == "rescale":
            writer.shared_peak = group_peak
    try:
        for writer in writers:
            writer.finalize()
    except BaseException:
        for writer in writers:
            writer.abort()
        raise
    paths: list[Path] = []
    try:
        for writer in writers:
            paths.append(writer.publish())
    except BaseException:
        for writer in writers:
            writer.abort()
        raise
    return paths


class AtomicGroup:
    """Writers that appear together: add() them, write, commit(); leaving without a commit drops them all."""

    def __init__(self) -> None:
        self.writers: list[AudioWriter] = []

    def add(self, writer: AudioWriter) -> AudioWriter:
        """Track `writer` as a member of the group and return it."""
        self.writers.append(writer)
        return writer

    def commit(self) -> list[Path]:
        """Commit every member (see commit_all)."""
        return commit_all(self.writers)

    def abort(self) -> None:
        """Drop every member that is not committed yet."""
        for writer in self.writers:
            writer.abort()

    def __enter__(self) -> AtomicGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()
