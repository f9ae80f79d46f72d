"""The output formats a writer can produce, and how a file name chooses one (no heavy imports here).

WAV and FLAC are written by soundfile; MP3, Opus, AAC (in .m4a) and ALAC (in .m4a) by PyAV's bundled FFmpeg
encoders (audio/encode.py). A target's suffix chooses its format; a suffix no writer can produce is refused
before any work, with the list of suffixes that can.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from audio_playground.errors import UsageError

OutputFormat = Literal["wav", "flac", "mp3", "opus", "aac", "alac"]
FORMAT_NAMES: tuple[str, ...] = get_args(OutputFormat)


@dataclass(frozen=True)
class FormatSpec:
    """What one output format is: its file suffixes (the first is its {ext}), lossy or not, its encoder."""

    name: str
    suffixes: tuple[str, ...]
    lossy: bool = False
    codec: str | None = None
    """FFmpeg encoder for PyAV formats; None for the soundfile formats (wav, flac)."""
    muxer: str | None = None
    default_bitrate: int | None = None
    max_channels: int | None = None
    integer_only: bool = False
    """True for lossless integer codecs (FLAC, ALAC): 16 or 24-bit, never 32f."""

    @property
    def ext(self) -> str:
        """The suffix, without its dot, that names a file of this format ({ext} of --filename)."""
        return self.suffixes[0].lstrip(".")


FORMATS: dict[str, FormatSpec] = {
    "wav": FormatSpec("wav", (".wav", ".wave")),
    "flac": FormatSpec("flac", (".flac",), integer_only=True),
    "mp3": FormatSpec("mp3", (".mp3",), lossy=True, codec="libmp3lame", muxer="mp3", default_bitrate=192_000,
                      max_channels=2),
    "opus": FormatSpec("opus", (".opus", ".ogg"), lossy=True, codec="libopus", muxer="ogg", default_bitrate=128_000,
                       max_channels=2),
    "aac": FormatSpec("aac", (".m4a",), lossy=True, codec="aac", muxer="ipod", default_bitrate=192_000,
                      max_channels=8),
    "alac": FormatSpec("alac", (".m4a",), codec="alac", muxer="ipod", integer_only=True, max_channels=8),
}  # fmt: skip
"""Every writable format. .m4a means AAC unless ALAC is asked for (--format alac)."""

SUFFIX_FORMATS: dict[str, str] = {}
for _spec in FORMATS.values():
    for _suffix in _spec.suffixes:
        SUFFIX_FORMATS.setdefault(_suffix, _spec.name)


def known_suffixes() -> str:
    """The writable suffixes, for messages: ".wav, .wave, .flac, ..."."""
    return ", ".join(SUFFIX_FORMATS)


def format_for_path(path: str | Path, output_format: str | None = None) -> str:
    """The format a file at `path` is written in: `output_format` when given (the suffix must fit it), else
    the one its suffix names. A suffix no writer produces is a UsageError, raised before any work."""
    p = Path(path)
    suffix = p.suffix.lower()
    if output_format is not None:
        spec = FORMATS.get(output_format)
        if spec is None:
            raise UsageError(
                f"unknown output format {output_format!r}", path=p, hint=f"use one of {', '.join(FORMAT_NAMES)}"
            )
        if suffix not in spec.suffixes:
            raise UsageError(
                f"the suffix {p.suffix or '(none)'!r} does not fit the format {output_format}",
                path=p,
                hint=f"name the file {' or '.join(spec.suffixes)}, or leave the format to the suffix",
            )
        return output_format
    name = SUFFIX_FORMATS.get(suffix)
    if name is None:
        raise UsageError(
            f"cannot write audio files named {p.suffix or '(no suffix)'!r}",
            path=p,
            hint=f"name the target with one of {known_suffixes()}",
        )
    return name


def parse_bitrate(value: str | int | None) -> int | None:
    """A bitrate in bits/s from 192000, "192000", "192k" or "0.32M"; None stays None (the format's default)."""
    if value is None or isinstance(value, int):
        if isinstance(value, int) and value <= 0:
            raise UsageError(f"invalid bitrate {value}", hint="give a positive bitrate such as 192k")
        return value
    text = str(value).strip().lower().removesuffix("bps").removesuffix("b")
    scale = 1
    if text.endswith("k"):
        scale, text = 1000, text[:-1]
    elif text.endswith("m"):
        scale, text = 1_000_000, text[:-1]
    try:
        rate = round(float(text) * scale)
    except ValueError:
        rate = 0
    if rate <= 0:
        raise UsageError(f"invalid bitrate {value!r}", hint="give bits per second such as 192k, 320k or 96000")
    return rate


def check_output(output_format: str, bitrate: int | None, path: str | Path | None = None) -> None:
    """Refuse a bitrate for a lossless format (it has none to set)."""
    spec = FORMATS.get(output_format)
    if spec is None:
        raise UsageError(
            f"unknown output format {output_format!r}", path=path, hint=f"use one of {', '.join(FORMAT_NAMES)}"
        )
    if bitrate is not None and not spec.lossy:
        raise UsageError(
            f"--bitrate applies to lossy formats, not {output_format}",
            path=path,
            hint="drop --bitrate, or write mp3, opus or aac",
        )
