"""The core's built-in commands, registered through the same hook as any plugin's (ap_register_commands)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from audio_playground.cli.app import CONTEXT_SETTINGS, get_app
from audio_playground.cli.eval import eval_cmd
from audio_playground.cli.extract import ExtractGroup
from audio_playground.cli.options import FORMAT_CHOICES, bitrate_option, no_cache_option, time_options
from audio_playground.hookspecs import hookimpl
from audio_playground.specs import ConvertResult, MergeResult, SegmentResult
from audio_playground.workflow.outputs import declare_outputs

FILE = click.Path(dir_okay=False, path_type=Path)
DIR = click.Path(file_okay=False, path_type=Path)


def _cached_step(
    name: str,
    inputs: dict[str, Any],
    path: Path,
    no_cache: bool,
    work: Callable[[Any, Callable[[float, float | None], None]], tuple[Any, bool]],
) -> Any:
    """Run one step through the cache (unless --no-cache) with progress for `path`; returns its result.

    `work(cache, on_progress)` returns (result, whether it came from the cache).
    """
    from audio_playground import caching
    from audio_playground.steps import step

    app = get_app()
    config = app.setup()
    cache = None if no_cache else caching.open_cache(app.pm, config, app.warn)
    reporter = app.progress()
    try:
        with step(app.pm, name, inputs) as run:
            run.result, run.cached = work(cache, lambda done, total: run.progress(path, done, total))
    finally:
        reporter.close()
    return run.result


@click.group(context_settings=CONTEXT_SETTINGS)
def convert() -> None:
    """Convert any audio or video input to WAV."""


@declare_outputs(ConvertResult)
@convert.command("to-wav")
@click.option("--src", required=True, type=FILE, help="Input file: any audio or video PyAV can read.")
@click.option(
    "--target",
    required=True,
    type=FILE,
    help="File to write (atomically); its suffix names the format: .wav .flac .mp3 .opus .ogg .m4a (AAC).",
)
@click.option(
    "--sample-rate",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Resample to N Hz (default: keep the input's rate).",
)
@click.option(
    "--channels",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Mix to N channels (default: keep the input's).",
)
@click.option(
    "--bit-depth",
    type=click.Choice(["16", "24", "32f"]),
    default=None,
    help="Sample format of wav, flac, alac (default: the input's PCM depth, else 16).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMAT_CHOICES),
    default=None,
    help="Format, when the suffix allows more than one (.m4a: aac or alac); default: the suffix's.",
)
@bitrate_option
@time_options
@no_cache_option
def to_wav(
    src: Path,
    target: Path,
    sample_rate: int | None,
    channels: int | None,
    bit_depth: str | None,
    output_format: str | None,
    bitrate: int | None,
    start_time: float | None,
    end_time: float | None,
    no_cache: bool,
) -> Any:
    """Decode SRC (audio or video, first audio stream) and write TARGET: WAV, or the format its suffix names.

    Lossless input kept at its own rate and depth converts sample-exactly to WAV, FLAC or ALAC. A suffix
    that no writer produces is refused before any work.
    """
    from audio_playground import caching

    result = _cached_step(
        "convert",
        {"src": src, "target": target},
        src,
        no_cache,
        lambda cache, progress: caching.convert(
            cache,
            src,
            target,
            sample_rate=sample_rate,
            channels=channels,
            bit_depth=bit_depth,
            start_time=start_time,
            end_time=end_time,
            on_progress=progress,
            output_format=output_format,
            bitrate=bitrate,
        ),
    )
    get_app().log.info("wrote", target=str(result.target), frames=result.frames)
    return result


@click.group(context_settings=CONTEXT_SETTINGS)
def segment() -> None:
    """Cut inputs into fixed-length, optionally overlapping segments."""


@declare_outputs(SegmentResult)
@segment.command("split")
@click.option("--src", required=True, type=FILE, help="Input file: any audio or video PyAV can read.")
@click.option("--output-dir", required=True, type=DIR, help="Folder for segment-NNN.wav and the metadata.")
@click.option(
    "--window-size",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="S",
    help="Segment length in seconds (default 10).",
)
@click.option(
    "--overlap",
    type=click.FloatRange(min=0),
    default=None,
    metavar="S",
    help="Seconds each segment shares with the next (default 0).",
)
@click.option(
    "--max-segments",
    type=click.IntRange(min=1),
    default=None,
    metavar="N",
    help="Write only the first N segments; the rest of the input is dropped (metadata says truncated).",
)
@no_cache_option
def split_cmd(
    src: Path,
    output_dir: Path,
    window_size: float | None,
    overlap: float | None,
    max_segments: int | None,
    no_cache: bool,
) -> Any:
    """Split SRC into OUTPUT_DIR/segment-000.wav, segment-001.wav, ... and segment_metadata.json.

    Segments are sample-exact; merge concat puts them back together.
    """
    from audio_playground import caching

    config = get_app().setup()
    result = _cached_step(
        "segment",
        {"src": src, "output_dir": output_dir},
        src,
        no_cache,
        lambda cache, progress: caching.split(
            cache,
            src,
            output_dir,
            window_size=config.window_size if window_size is None else window_size,
            overlap=config.overlap if overlap is None else overlap,
            max_segments=max_segments,
            on_progress=progress,
        ),
    )
    get_app().log.info("wrote", segments=len(result.segments), output_dir=str(output_dir))
    return result


@click.group(context_settings=CONTEXT_SETTINGS)
def merge() -> None:
    """Put segments back together."""


@declare_outputs(MergeResult)
@merge.command("concat")
@click.option("--input-dir", required=True, type=DIR, help="Folder of segments (and segment_metadata.json).")
@click.option("--target", required=True, type=FILE, help="File to write (atomically).")
@click.option(
    "--pattern",
    default=None,
    help="Glob of the files to merge, e.g. 'segment-*-vocals.wav' (default: the segment-NNN.wav files only).",
)
@click.option(
    "--crossfade-type",
    type=click.Choice(["cosine", "linear"]),
    default=None,
    help="Crossfade where segments overlap (default cosine: equal power).",
)
@no_cache_option
def concat_cmd(input_dir: Path, target: Path, pattern: str | None, crossfade_type: str | None, no_cache: bool) -> Any:
    """Place the segments of INPUT_DIR sample-exactly and crossfade their overlaps into TARGET."""
    from audio_playground import caching

    config = get_app().setup()
    result = _cached_step(
        "merge",
        {"input_dir": input_dir, "target": target},
        target,
        no_cache,
        lambda cache, progress: caching.concat(
            cache,
            input_dir,
            target,
            pattern=pattern,
            crossfade_type=crossfade_type or config.crossfade_type,
            on_progress=progress,
        ),
    )
    get_app().log.info("wrote", target=str(target))
    return result


@click.group("config", context_settings=CONTEXT_SETTINGS)
def config_group() -> None:
    """Inspect the settings in force."""


@config_group.command("show")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of TOML.")
def config_show(as_json: bool) -> None:
    """Print every setting with the value in force (command line > env > .env > --config > defaults)."""
    config = get_app().setup()
    values = config.model_dump(mode="json")
    if as_json:
        click.echo(json.dumps(values, indent=2))
        return
    for key, value in values.items():
        if value is None:
            click.echo(f"# {key} is unset")
        else:
            click.echo(f"{key} = {json.dumps(value)}")


@click.group("plugins", context_settings=CONTEXT_SETTINGS)
def plugins_group() -> None:
    """Inspect the discovered plugins."""


@plugins_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins_list(as_json: bool) -> None:
    """Every discovered plugin: distribution, version, the hooks it implements, and any load error."""
    app = get_app()
    records = [r for r in app.pm.records if r.name != "ap-progress"]
    if as_json:
        click.echo(json.dumps([r.__dict__ for r in records], indent=2))
        return
    for record in records:
        kind = "built-in" if record.builtin else "plugin"
        click.echo(f"{record.name}  ({record.distribution} {record.version}, {kind})")
        if record.error:
            click.echo(f"  load error: {record.error}")
        else:
            click.echo(f"  hooks: {', '.join(record.hooks) or 'none'}")


@click.group("models", context_settings=CONTEXT_SETTINGS)
def models_group() -> None:
    """Inspect separators and their models."""


@models_group.command("list")
@click.option("--repo", type=DIR, default=None, help="Also look for models in this local folder.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def models_list(repo: Path | None, as_json: bool) -> None:
    """Separators per backend, and whether each model is available on this machine."""
    from audio_playground.backends import all_backends, all_separators

    app = get_app()
    config = app.setup()
    backends = all_backends(app.pm)
    rows: list[dict[str, Any]] = []
    for name, specs in sorted(all_separators(app.pm).items()):
        for spec in specs:
            backend = backends.get(spec.backend)
            installed = backend.available() if backend else True
            folder = getattr(config, spec.models_dir, None) if spec.models_dir else None
            models = spec.models({"repo": repo, "models_dir": folder}) if spec.models else []
            for model in models:
                rows.append(
                    {
                        "separator": name,
                        "backend": spec.backend,
                        "backend_installed": installed,
                        "model": model.name,
                        "available": model.available and installed,
                        "location": model.location,
                        "note": model.note,
                        "stems": list(model.stems),
                    }
                )
            if not models:
                rows.append(
                    {
                        "separator": name,
                        "backend": spec.backend,
                        "backend_installed": installed,
                        "model": "",
                        "available": installed,
                        "location": "",
                        "note": "",
                        "stems": [],
                    }
                )
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for name in dict.fromkeys(row["separator"] for row in rows):
        click.echo(name)
        for row in (r for r in rows if r["separator"] == name):
            mark = "yes" if row["available"] else "no "
            where = f"  {row['location']}" if row["location"] else ""
            note = f"  ({row['note']})" if row["note"] else ""
            stems = f"  stems: {', '.join(row['stems'])}" if row["stems"] else ""
            backend = row["backend"] + ("" if row["backend_installed"] else " [not installed]")
            click.echo(f"  [{mark}] {backend:<10} {row['model']}{stems}{where}{note}")


@hookimpl
def ap_register_commands(cli: click.Group) -> None:
    for command in (convert, segment, merge, config_group, plugins_group, models_group, eval_cmd):
        cli.add_command(command)
    cli.add_command(ExtractGroup(name="extract", pm=getattr(cli, "pm", None), context_settings=CONTEXT_SETTINGS))
