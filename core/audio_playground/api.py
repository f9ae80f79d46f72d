"""The Python API: the same separation the CLI runs, through the same hooks.

from audio_playground import separate
result = separate("song.mp4", "stems/", separator="hpss")
result.stems  # {"harmonic": Path("stems/harmonic-hpss.wav"), "percussive": ...}
"""

from __future__ import annotations

import string
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from audio_playground.errors import InputError, ModelError, PluginError, UsageError
from audio_playground.loaded import Loaded
from audio_playground.specs import SeparateResult

if TYPE_CHECKING:
    from audio_playground.audio.writer import BitDepth, ClipMode, OutputFormat
    from audio_playground.caching import CacheSession

MEDIA_SUFFIXES = frozenset(
    [
        ".wav",
        ".wave",
        ".flac",
        ".mp3",
        ".ogg",
        ".oga",
        ".opus",
        ".m4a",
        ".aac",
        ".alac",
        ".aif",
        ".aiff",
        ".wma",
        ".mp4",
        ".m4v",
        ".mkv",
        ".webm",
        ".mov",
        ".avi",
    ]
)
DEFAULT_FILENAME = "{stem}-{suffix}.{ext}"
MULTI_FILENAME = "{track}/{stem}-{suffix}.{ext}"
ATOMIC_FILENAME = "{track}-{stem}.{ext}"
PLACEHOLDERS = frozenset({"track", "stem", "suffix", "ext", "model"})


def expand_inputs(paths: Iterable[str | Path]) -> list[Path]:
    """Files as given, and the audio/video files inside given folders (sorted); a missing path is an error."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in MEDIA_SUFFIXES)
            if not inside:
                raise InputError(
                    "folder has no audio or video files",
                    path=path,
                    hint=f"put files with one of {', '.join(sorted(MEDIA_SUFFIXES))} in it",
                )
            found.extend(inside)
        elif path.exists():
            found.append(path)
        else:
            raise InputError("no such file or folder", path=path, hint="check the path")
    if not found:
        raise UsageError("no input given", hint="pass one or more files or folders")
    return found


def check_template(template: str) -> None:
    """Reject a --filename template with unknown placeholders, before any work."""
    try:
        names = {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise UsageError(f"bad --filename template {template!r}: {exc}") from exc
    unknown = names - PLACEHOLDERS
    if unknown:
        raise UsageError(
            f"unknown placeholder {{{sorted(unknown)[0]}}} in --filename {template!r}",
            hint=f"use {', '.join('{' + p + '}' for p in sorted(PLACEHOLDERS))}",
        )
    if "stem" not in names:
        raise UsageError(f"--filename {template!r} has no {{stem}}", hint="every stem needs its own file name")


def load(
    name: str,
    *,
    backend: str = "auto",
    options: Mapping[str, Any] | None = None,
    device: str = "auto",
    pm: Any = None,
    warn: Callable[[str], None] | None = None,
    lazy: bool = False,
) -> Loaded:
    """Choose a backend for separator `name` and load it (falling back, with a warning, when one fails).

    With lazy=True the model loads on first use instead (`Loaded.separator`), so that inputs the cache
    serves never load it.
    """
    from audio_playground.backends import choose
    from audio_playground.plugins import get_plugin_manager

    pm = pm or get_plugin_manager()
    warn = warn or (lambda message: None)
    choice = choose(pm, name, backend)
    for message in choice.warnings:
        warn(message)
    loaded = Loaded(choice.candidates[0], options=options, choice=choice, device=device, warn=warn)
    if not lazy:
        _ = loaded.separator
    return loaded


def separate_file(
    loaded: Loaded,
    src: str | Path,
    output_dir: str | Path,
    *,
    filename: str = DEFAULT_FILENAME,
    track: str | None = None,
    suffix: str | None = None,
    output_format: str = "wav",
    bit_depth: str | None = None,
    sample_rate: int | None = None,
    clip: str = "rescale",
    start_time: float | None = None,
    end_time: float | None = None,
    on_chunk: Callable[[int, int | None, float], None] | None = None,
    cache: CacheSession | None = None,
    bitrate: int | None = None,
    video: Sequence[str] = (),
) -> SeparateResult:
    """Separate one input into stem files under `output_dir`; all stems appear together, atomically.

    `output_format` is wav, flac, mp3, opus, aac or alac ({ext}: its suffix, m4a for aac and alac); `bitrate`
    (bits/s) applies to the lossy ones. `video` names stems or mixes of stems ("vocals", "drums+bass",
    "no-vocals") to mux with a video input's picture, copied (result.videos; see audio/video.py).

    With a cache, a stored result is copied to the stem files without loading the model (cached=True in the
    result); otherwise each chunk is read from or stored in the cache, so an interrupted run resumes.
    """

    from audio_playground import caching
    from audio_playground.audio import AtomicGroup, open_audio, probe
    from audio_playground.audio.formats import FORMATS, check_output, format_for_path
    from audio_playground.engine import run_separation

    src = Path(src)
    out_dir = Path(output_dir)
    video_ext = None
    if video:
        from audio_playground.audio.video import check_video_input

        video_ext = check_video_input(src, start_time, end_time).lstrip(".")
    check_output(output_format, None if video else bitrate)  # a video's sound is lossy whatever the stems
    # With lossless stems, --bitrate shapes only the --video sound.
    bitrate_for_stems = bitrate if FORMATS[output_format].lossy else None
    output = {
        "bitrate": bitrate_for_stems,
        "output_format": output_format,
        "bit_depth": bit_depth,
        "sample_rate": sample_rate,
        "clip": clip,
        "start_time": start_time,
        "end_time": end_time,
    }
    names = {
        "track": track or src.stem,
        "suffix": suffix if suffix is not None else loaded.spec.file_suffix,
        "ext": FORMATS[output_format].ext,
        "model": loaded.model_name,
    }

    def stem_paths(stems: Iterable[str]) -> dict[str, Path]:
        paths = {stem: out_dir / filename.format(stem=stem, **names) for stem in stems}
        if len(set(paths.values())) != len(paths):
            raise _same_name(filename)
        for path in paths.values():
            format_for_path(path, output_format)  # a --filename suffix that does not fit the format
        return paths

    def video_path(name: str) -> Path:
        return out_dir / filename.format(stem=name, **{**names, "ext": video_ext})

    entry = caching.separation(cache, loaded, src, output)
    if entry is not None:
        placed: set[Path] = set()

        def place(stem: str) -> Path:
            path = stem_paths([stem])[stem]
            if path in placed:
                raise _same_name(filename)
            placed.add(path)
            return path

        hit = entry.entry.fetch(place)
        if hit is not None:
            result = SeparateResult(source=src, output_dir=out_dir, stems=dict(hit.outputs), cached=True)
            return _with_videos(result, video, video_path, bitrate, clip)
    info = probe(src)
    spec_before = loaded.spec
    try:
        separator = loaded.for_rate(info.sample_rate)
    except (ModelError, PluginError) as exc:  # the model, not the input, but the user runs it on this input
        exc.on_input(src)
        raise
    if entry is not None and loaded.spec is not spec_before:  # fell back to another backend: another model
        entry = caching.separation(cache, loaded, src, output)
    rate = sample_rate or info.sample_rate
    paths = stem_paths(separator.stems)
    if video:
        from audio_playground.audio.video import resolve_mixes

        resolve_mixes(video, list(separator.stems))  # a stem the model does not write: refused before the work

    def open_stream() -> Any:
        return open_audio(src, start=start_time, end=end_time)

    with AtomicGroup() as group:
        writers = stem_writers(group, paths, info, output_format, bit_depth, sample_rate, clip, bitrate_for_stems)
        try:
            run_separation(
                open_stream,
                separator if entry is None else entry.chunks(separator),
                writers,
                output_rate=rate,
                output_channels=info.channels,
                on_chunk=on_chunk,
            )
        except (ModelError, PluginError) as exc:  # a model that rejects this input
            exc.on_input(src)
            raise
        group.commit()
    if entry is not None:
        entry.store(paths)
    return _with_videos(SeparateResult(source=src, output_dir=out_dir, stems=paths), video, video_path, bitrate, clip)


def stem_writers(
    group: Any,
    paths: Mapping[str, Path],
    info: Any,
    output_format: str,
    bit_depth: str | None,
    sample_rate: int | None,
    clip: str,
    bitrate: int | None,
) -> dict[str, Any]:
    """One AudioWriter per stem in `group` (an AtomicGroup), at the input's channels and (unless told) rate and
    PCM depth; float input to an integer-only format takes its deepest depth, an explicit 32f is refused."""
    from audio_playground.audio import AudioWriter, default_bit_depth
    from audio_playground.audio.formats import FORMATS

    depth = bit_depth or default_bit_depth(info)
    if FORMATS[output_format].integer_only and depth == "32f":
        if bit_depth is not None:
            raise UsageError(
                f"{output_format.upper()} holds 16 or 24-bit samples, not 32f",
                hint="use --bit-depth 16|24 or --format wav",
            )
        depth = "24"  # float input: the format's deepest
    return {
        stem: group.add(
            AudioWriter(
                path,
                sample_rate or info.sample_rate,
                info.channels,
                format=cast("OutputFormat", output_format),
                bit_depth=cast("BitDepth", depth),
                clip=cast("ClipMode", clip),
                bitrate=bitrate,
            )
        )
        for stem, path in paths.items()
    }


def _with_videos(
    result: SeparateResult, video: Sequence[str], path_for: Callable[[str], Path], bitrate: int | None, clip: str
) -> SeparateResult:
    """`result` with its --video files written (stems muxed with the input's copied video stream)."""
    if not video:
        return result
    from dataclasses import replace

    from audio_playground.audio.video import write_videos

    videos = write_videos(
        result.source, result.stems, video, path_for, bitrate=bitrate, clip="none" if clip == "none" else "clamp"
    )
    return replace(result, videos=videos)


def _same_name(filename: str) -> UsageError:
    return UsageError(
        f"--filename {filename!r} gives several stems the same file name", hint="include {stem} in the file name"
    )


def _warn(message: str) -> None:
    import warnings

    warnings.warn(message, RuntimeWarning, stacklevel=3)


def separate(
    src: str | Path,
    output_dir: str | Path,
    separator: str = "hpss",
    *,
    backend: str = "auto",
    device: str = "auto",
    options: Mapping[str, Any] | None = None,
    pm: Any = None,
    cache: bool = True,
    warn: Callable[[str], None] | None = None,
    **output: Any,
) -> SeparateResult:
    """Separate one file with separator `name`: the written stem paths come back in the result.

    `output` takes separate_file's keywords: filename, suffix, output_format, bit_depth, bitrate, sample_rate,
    clip, start_time, end_time, video. With cache=True the installed cache plugin (if any, and unless the config says
    cache = false) serves and keeps results; warnings go to `warn` (default: Python warnings).
    """
    from audio_playground.plugins import get_plugin_manager
    from audio_playground.steps import step

    pm = pm or get_plugin_manager()
    warn = warn or _warn
    session = None
    if cache:
        from audio_playground.caching import open_cache
        from audio_playground.config import load_config

        session = open_cache(pm, load_config(), warn)
    loaded = load(separator, backend=backend, options=options, device=device, pm=pm, warn=warn, lazy=True)
    with step(pm, "separate", {"src": src, "separator": separator}) as run:
        run.result = separate_file(loaded, src, output_dir, on_chunk=run.chunk(Path(src)), cache=session, **output)
        run.cached = run.result.cached
    return run.result


def batch(
    inputs: Iterable[str | Path] = (),
    output_dir: str | Path = ".",
    separator: str = "hpss",
    *,
    recursive: bool = False,
    manifest: str | Path | None = None,
    retry_failed: bool = False,
    executor: str = "local",
    workers: int | None = None,
    address: str | None = None,
    backend: str = "auto",
    device: str = "auto",
    options: Mapping[str, Any] | None = None,
    cache: bool = True,
    filename: str = MULTI_FILENAME,
    pm: Any = None,
    warn: Callable[[str], None] | None = None,
    on_record: Callable[..., None] | None = None,
    **output: Any,
) -> Any:
    """Separate many inputs on an executor, as `ap extract NAME FILE... --executor ...` does; never raises per input.

    Returns an `audio_playground.executors.BatchSummary` (done / cached / failed counts, the first failures,
    the results unless the inputs came from a manifest); `{output_dir}/run-manifest.jsonl` records every input.
    `output` takes suffix, output_format, bit_depth, sample_rate, clip, start_time, end_time.
    """
    from audio_playground.caching import open_cache
    from audio_playground.config import load_config
    from audio_playground.executors.batch import run_batch
    from audio_playground.executors.inputs import failed_items, work_items
    from audio_playground.executors.task import SeparateTask, check_inside
    from audio_playground.plugins import get_plugin_manager

    pm = pm or get_plugin_manager()
    warn = warn or _warn
    config = load_config()
    check_template(filename)
    check_inside(filename)
    given = list(inputs)
    chosen: dict[str, Any] = {}
    choice_specs = [s for group in pm.hook.ap_separators() for s in group or () if s.name == separator]
    for spec in choice_specs:
        for option in spec.options:
            chosen.setdefault(option.name, option)
    given_options = dict(options or {})
    values = {
        name: spec.default if given_options.get(name) is None else given_options[name] for name, spec in chosen.items()
    }
    values.update({k: v for k, v in given_options.items() if k not in values})
    use_cache = cache and config.cache
    task = SeparateTask(
        separator=separator,
        output_dir=str(Path(output_dir).absolute()),
        filename=filename,
        options=values,
        ignored=tuple(name for name, spec in chosen.items() if not spec.cache_key),
        backend=backend,
        device=device,
        cache=use_cache,
        config=config.model_dump(mode="json"),
        **output,
    )
    if retry_failed:
        items, total = failed_items(task.output_dir, given)
    else:
        items, total = work_items(given, recursive=recursive, manifest=manifest)
    return run_batch(
        task,
        items,
        total=total,
        executor=executor,
        workers=workers,
        address=address,
        pm=pm,
        warn=warn,
        on_record=on_record,
        skip_finished=use_cache and open_cache(pm, config, warn) is None,
        keep_results=manifest is None,
    )


def evaluate(
    estimates: str | Path | Sequence[Any],
    references: str | Path | Sequence[Any] | None = None,
    *,
    mix: str | Path | None = None,
    resample: bool = False,
    window: float = 1.0,
    hop: float = 1.0,
    checks: bool = True,
) -> Any:
    """Score a folder of stems against references, as `ap eval` does; returns an EvalReport.

    BSSEval v4 SDR/SIR/ISR/SAR (museval's numbers, median over 1 s windows), the MDX global SDR and SI-SDR per
    track and stem, their medians over tracks, and the reference-free checks (`references=None`: checks only).
    `report.to_dict()` is JSON-safe (undefined metrics are None).
    """
    from audio_playground.evaluation.report import evaluate as run

    return run(estimates, references, mix=mix, resample=resample, window=window, hop=hop, checks=checks)
