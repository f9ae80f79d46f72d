"""Options declared once and reused by every command that takes them."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

OVERRIDES_KEY = "ap.overrides"
CONFIG_FILE_KEY = "ap.config_file"


def _store(name: str) -> Callable[[click.Context, click.Parameter, Any], Any]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if value is None or (param.multiple and not value):
            return value
        root = ctx.find_root()
        if name == "config":
            root.meta[CONFIG_FILE_KEY] = value
        else:
            root.meta.setdefault(OVERRIDES_KEY, {})[name] = value
        return value

    return callback


GLOBAL_OPTIONS: tuple[click.Option, ...] = (
    click.Option(
        ["--log-level"],
        type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
        default=None,
        expose_value=False,
        is_eager=True,
        callback=_store("log_level"),
        help="Log threshold (default INFO); DEBUG also prints tracebacks.",
    ),
    click.Option(
        ["--log-format"],
        type=click.Choice(["console", "json"]),
        default=None,
        expose_value=False,
        is_eager=True,
        callback=_store("log_format"),
        help="console for people, json lines for batch runs.",
    ),
    click.Option(
        ["--device"],
        metavar="auto|cpu|cuda|cuda:N|mps",
        default=None,
        expose_value=False,
        callback=_store("device"),
        help="Compute device for models (default auto).",
    ),
    click.Option(
        ["--temp-dir"],
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        expose_value=False,
        callback=_store("temp_dir"),
        help="Directory for temporary files.",
    ),
    click.Option(
        ["--cache-dir"],
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        expose_value=False,
        callback=_store("cache_dir"),
        help="Directory of the step-result cache.",
    ),
    click.Option(
        ["--config"],
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        expose_value=False,
        is_eager=True,
        callback=_store("config"),
        help="TOML file of settings (below env and .env).",
    ),
    click.Option(
        ["-q", "--quiet"],
        is_flag=True,
        default=None,
        flag_value=True,
        expose_value=False,
        callback=_store("quiet"),
        help="No progress bars; warnings and errors only.",
    ),
)


def global_options(f: F) -> F:
    """Accept the global options on this command too (`ap convert to-wav --log-level DEBUG ...`)."""
    params = getattr(f, "__click_params__", [])
    params.extend(GLOBAL_OPTIONS)
    f.__click_params__ = params  # ty: ignore[missing-attribute]
    return f


def add_global_options(command: click.Command) -> click.Command:
    """Give an already-built command (a plugin's, say) the global options, once."""
    names = {p.name for p in command.params}
    command.params.extend(o for o in GLOBAL_OPTIONS if o.name not in names)
    return command


def time_options(f: F) -> F:
    """--start-time / --end-time: the window of the input to use."""
    f = click.option("--end-time", type=float, default=None, metavar="S", help="Stop at S seconds.")(f)
    return click.option("--start-time", type=float, default=None, metavar="S", help="Start at S seconds.")(f)


def no_cache_option(f: F) -> F:
    return click.option(
        "--no-cache",
        "no_cache",
        is_flag=True,
        default=False,
        help="Neither read nor write the step-result cache for this run.",
    )(f)


class Bitrate(click.ParamType):
    """Bits per second: 192000, 192k, 0.32M."""

    name = "bitrate"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        from audio_playground.audio.formats import parse_bitrate
        from audio_playground.errors import UsageError

        try:
            rate = parse_bitrate(value)
        except UsageError as exc:
            self.fail(exc.message, param, ctx)
        assert rate is not None
        return rate


FORMAT_CHOICES = ("wav", "flac", "mp3", "opus", "aac", "alac")
"""Output formats (audio/formats.py FORMAT_NAMES, repeated here so `ap --help` imports nothing more)."""

bitrate_option = click.option(
    "--bitrate",
    type=Bitrate(),
    default=None,
    metavar="RATE",
    help="Bits/s of lossy output, e.g. 128k (default: mp3 192k, aac 192k, opus 128k).",
)


def output_format_options(f: F) -> F:
    """--format / --bitrate / --bit-depth / --sample-rate / --clip for written audio."""
    f = click.option(
        "--clip",
        type=click.Choice(["rescale", "rescale-stem", "clamp", "none"]),
        default=None,
        help="Samples beyond full scale: rescale (default: one gain for all of a track's stems, so they still "
        "add up to the mix), rescale-stem (each stem by its own peak, as the demucs CLI), clamp them, or keep "
        "them (32f only).",
    )(f)
    f = click.option(
        "--sample-rate",
        type=click.IntRange(min=1),
        default=None,
        metavar="N",
        help="Output sample rate (default: the input's).",
    )(f)
    f = click.option(
        "--bit-depth",
        type=click.Choice(["16", "24", "32f"]),
        default=None,
        help="Output samples of wav, flac, alac (default: the input's PCM depth, else 16).",
    )(f)
    f = bitrate_option(f)
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(FORMAT_CHOICES),
        default=None,
        help="Output format: wav (default), flac, mp3, opus (.opus), aac (.m4a) or alac (.m4a).",
    )(f)
