"""`ap extract NAME` and `ap extract process-NAME`, generated for every separator the plugins provide."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click

from audio_playground.cli.options import (
    add_global_options,
    no_cache_option,
    output_format_options,
    time_options,
)
from audio_playground.errors import PluginError
from audio_playground.errors import UsageError as APUsageError
from audio_playground.executors.inputs import expand
from audio_playground.specs import OptionSpec, SeparateResult, SeparatorSpec
from audio_playground.workflow.outputs import declare_outputs, mark_unavailable

PROCESS_PREFIX = "process-"
ENSEMBLE = "ensemble"  # `extract ensemble` combines separators (cli/ensemble.py)


def option_to_click(spec: OptionSpec) -> click.Option:
    """Render a separator's OptionSpec as a click option (unset stays None: the spec's default applies)."""
    default_text = "" if spec.default in (None, (), False) else f" [default: {spec.default}]"
    if spec.is_flag:
        decls = [f"{spec.flag}/{spec.secondary}" if spec.secondary else spec.flag, *spec.flags, spec.name]
        return click.Option(decls, is_flag=True, default=None, help=spec.help, hidden=spec.hidden)
    kind: Any = click.Choice(list(spec.choices)) if spec.choices else spec.type
    return click.Option(
        [spec.flag, *spec.flags, spec.name],
        type=kind,
        default=None,
        multiple=spec.multiple,
        help=spec.help + default_text,
        hidden=spec.hidden,
        metavar=None if spec.choices else ("S" if spec.type is float else "N" if spec.type is int else None),
    )


def option_values(specs: tuple[OptionSpec, ...], given: dict[str, Any]) -> dict[str, Any]:
    """The separator options in force: given values, else each spec's default (0 and "" are real values)."""
    values: dict[str, Any] = {}
    for spec in specs:
        value = given.get(spec.name)
        if value is None or (spec.multiple and not value):
            value = spec.default
        values[spec.name] = value
    return values


def merged_options(specs: list[SeparatorSpec]) -> tuple[OptionSpec, ...]:
    """The options of a separator across its backends, each name once."""
    seen: dict[str, OptionSpec] = {}
    for spec in specs:
        for option in spec.options:
            seen.setdefault(option.name, option)
    return tuple(seen.values())


class ExtractGroup(click.Group):
    """Lists one command per separator name (and its atomic process- twin) without loading any model."""

    def __init__(self, *args: Any, pm: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, help="Separate inputs into stems with the installed separators.", **kwargs)
        self.pm = pm

    def _separators(self) -> dict[str, list[SeparatorSpec]]:
        from audio_playground.backends import all_separators
        from audio_playground.plugins import get_plugin_manager

        return all_separators(self.pm or get_plugin_manager())

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = sorted(self._separators())
        return sorted({*names, ENSEMBLE}) + [PROCESS_PREFIX + n for n in names]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        separators = self._separators()
        if cmd_name == ENSEMBLE and ENSEMBLE not in separators:
            from audio_playground.cli.ensemble import build_ensemble_command

            return build_ensemble_command()
        atomic = cmd_name.startswith(PROCESS_PREFIX) and cmd_name[len(PROCESS_PREFIX) :] in separators
        name = cmd_name[len(PROCESS_PREFIX) :] if atomic else cmd_name
        if name in separators:
            from audio_playground.backends import all_backends
            from audio_playground.plugins import get_plugin_manager

            backends = all_backends(self.pm or get_plugin_manager())
            return add_global_options(build_command(name, separators[name], atomic=atomic, backend_names=backends))
        from audio_playground.backends import KNOWN_PLUGINS

        bare = name.removeprefix(PROCESS_PREFIX)
        if bare in KNOWN_PLUGINS:
            return _missing_plugin_command(cmd_name, bare)
        return None

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and self.get_command(ctx, name) is None and not name.startswith("-"):
            known = ", ".join(self.list_commands(ctx))
            raise click.UsageError(f"unknown separator '{name}'; installed: {known}", ctx)
        return super().resolve_command(ctx, args)


def _missing_plugin_command(cmd_name: str, name: str) -> click.Command:
    from audio_playground.backends import KNOWN_PLUGINS

    def callback(**_: Any) -> None:
        raise PluginError(f"the '{name}' separator is not installed", hint=f"install {KNOWN_PLUGINS[name]}")

    command = click.Command(
        cmd_name,
        callback=callback,
        help=f"Not installed: needs {KNOWN_PLUGINS[name]}.",
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        params=[click.Argument(["args"], nargs=-1, type=click.UNPROCESSED)],
    )
    return mark_unavailable(command, f"install {KNOWN_PLUGINS[name]}")


def shared_help(specs: list[SeparatorSpec]) -> str:
    """The help text of a separator across its backends: what their helps share, cut at a clause boundary."""
    helps = [s.help for s in specs if s.help]
    if len(set(helps)) <= 1:
        return helps[0] if helps else ""
    length = next((i for i, chars in enumerate(zip(*helps, strict=False)) if len(set(chars)) > 1), min(map(len, helps)))
    common = helps[0][:length]
    cut = max(common.rfind(", "), common.rfind(". "))
    return (common[:cut] if cut > 0 else common.rstrip()).rstrip(" ,.;:") + "."


def build_command(
    name: str, specs: list[SeparatorSpec], atomic: bool = False, backend_names: Iterable[str] = ()
) -> click.Command:
    """The click command for separator `name` (composite: FILE...; atomic: --src/--segment, one step)."""
    first = specs[0]
    options = merged_options(specs)
    backends = ", ".join(s.backend for s in specs)
    stems = ", ".join(first.stems) if first.stems else "one per --prompts" if first.prompted else "named by the model"
    summary = shared_help(specs)
    choices = ["auto", *sorted(set(backend_names) | {s.backend for s in specs})]
    # The atomic form takes segment files by --segment, unless the separator has an option of that name
    # (demucs: --segment seconds); then --src is the way in.
    segment_inputs = atomic and all(o.name != "segment" for o in options)

    json_report = any(o.name == "report" for o in options)  # SAM-Audio's --report FILE.json

    def callback(**kwargs: Any) -> Any:
        if atomic:
            return _run_extract(name, specs, options, atomic, kwargs)
        from audio_playground.cli.report import run_with_page, take_page

        page = take_page(kwargs, json_report)  # --report [FILE.html]: the review page after the run
        settings = {"separator": name, "backend": kwargs.get("backend"), "options": option_values(options, kwargs)}
        return run_with_page(
            lambda: _run_extract(name, specs, options, atomic, kwargs), page, kwargs["output_dir"], settings
        )

    # The shared option decorators are declared once; apply them to a holder to collect their params.
    def holder() -> None: ...

    for deco in (no_cache_option, time_options, output_format_options):
        deco(holder)
    shared: list[click.Parameter] = holder.__click_params__[::-1]  # ty: ignore[missing-attribute]
    params: list[click.Parameter] = []
    if atomic:
        params.append(
            click.Option(
                ["--src", "src"],
                type=click.Path(path_type=Path),
                multiple=True,
                help="Input file (repeatable).",
            )
        )
        if segment_inputs:
            params.append(
                click.Option(
                    ["--segment", "segment"],
                    multiple=True,
                    metavar="PATH_OR_GLOB",
                    help="Segment file or glob, e.g. 'segs/segment-*.wav' (repeatable).",
                )
            )
    else:
        params.append(click.Argument(["inputs"], nargs=-1, type=click.Path(path_type=Path)))
        params.append(
            click.Option(
                ["--src", "src"],
                type=click.Path(path_type=Path),
                multiple=True,
                help="Input file (compat; same as a positional FILE).",
            )
        )
        params.append(
            click.Option(
                ["--video", "video"],
                multiple=True,
                metavar="STEMS",
                help="For a video input, also write STEMS with its video stream copied: a stem (vocals), a mix "
                "(drums+bass) or every stem but some (no-vocals); repeatable. -> OUTPUT_DIR/{STEMS}-{suffix}.mp4",
            )
        )
    params += [
        click.Option(
            ["-o", "--output-dir"],
            required=True,
            type=click.Path(file_okay=False, path_type=Path),
            help="Folder for the stems.",
        ),
        click.Option(
            ["--backend"],
            type=click.Choice(choices),
            default=None,
            help=f"Compute backend (default auto; {name} runs on: {backends}).",
        ),
        click.Option(["--suffix"], default=None, help=f"File-name suffix (default {first.file_suffix})."),
        click.Option(
            ["--filename"],
            default=None,
            metavar="TEMPLATE",
            help="Output name template: {track} {stem} {suffix} {ext} {model}.",
        ),
        click.Option(["--progress/--no-progress"], default=None, help="Show progress bars on a terminal."),
    ]
    params += [option_to_click(o) for o in options if atomic or o.name != "report"]
    if not atomic:
        from audio_playground.cli.report import report_option

        params.append(report_option(json_report))
    params += shared
    from audio_playground.executors.cli import batch_params

    # A separator with a "jobs" option of its own keeps it; -j is otherwise the batch's worker count.
    params += batch_params(jobs=all(o.name != "jobs" for o in options))
    if atomic:
        inputs = "--src/--segment" if segment_inputs else "--src"
        doc = (
            f"Separate each {inputs} file with {name} into OUTPUT_DIR/{{track}}-{{stem}}.wav "
            f"(one step, no merge). Stems: {stems}."
        )
    else:
        doc = (
            f"{summary}\n\nSeparate FILE... (files or folders) into OUTPUT_DIR/{{stem}}-"
            f"{first.file_suffix}.wav; with several inputs, OUTPUT_DIR/{{track}}/... Stems: {stems}. "
            f"Backends: {backends}."
        )
    command = click.Command(
        (PROCESS_PREFIX if atomic else "") + name,
        callback=callback,
        params=params,
        help=doc,
        short_help=("Atomic: " if atomic else "") + (summary.split(". ")[0].rstrip(".") if summary else name),
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110},
    )
    return declare_outputs(SeparateResult)(command)


def _expand_globs(patterns: tuple[str, ...]) -> list[Path]:
    import glob

    from audio_playground.errors import InputError

    found: list[Path] = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise InputError("no file matches this pattern", path=pattern, hint="check the glob")
        found.extend(Path(m) for m in matches)
    return found


def _run_extract(
    name: str,
    specs: list[SeparatorSpec],
    options: tuple[OptionSpec, ...],
    atomic: bool,
    kwargs: dict[str, Any],
) -> Any:
    from audio_playground import api, caching
    from audio_playground.cli.app import get_app
    from audio_playground.steps import step

    app = get_app()
    config = app.setup()
    raw_inputs = [*kwargs.get("inputs", ()), *kwargs.get("src", ())]
    if atomic and all(o.name != "segment" for o in options):
        raw_inputs += _expand_globs(kwargs.get("segment", ()))
    files, template, batch = plan_inputs(raw_inputs, kwargs, config, atomic=atomic)
    if batch:
        return _run_batch(name, options, template, raw_inputs, files, kwargs)
    values = option_values(options, kwargs)
    # Lazy: the model loads only when the cache does not serve the input.
    loaded = api.load(
        name,
        backend=kwargs["backend"] or config.backend,
        options=values,
        device=config.device,
        pm=app.pm,
        warn=app.warn,
        lazy=True,
    )
    cache = None if kwargs["no_cache"] else caching.open_cache(app.pm, config, app.warn)
    reporter = app.progress(kwargs["progress"])
    path = files[0]
    try:
        with step(app.pm, "separate", {"src": path, "separator": name}) as run:
            run.result = api.separate_file(
                loaded,
                path,
                kwargs["output_dir"],
                filename=template,
                video=kwargs.get("video", ()),
                **output_values(kwargs, config),
                on_chunk=run.chunk(path),
                cache=cache,
            )
            run.cached = run.result.cached
    finally:
        reporter.close()
    app.log.info("separated", source=str(run.result.source), stems=len(run.result.stems))
    for mix, video_path in run.result.videos.items():
        app.log.info("wrote video", mix=mix, target=str(video_path))
    return run.result


def plan_inputs(
    raw_inputs: list[Any], kwargs: dict[str, Any], config: Any, *, atomic: bool = False
) -> tuple[list[Path], str, bool]:
    """(files given, the --filename template in force, whether the run goes through an executor as a batch).

    One file on the local executor runs right here, without a run manifest; several files, a --manifest,
    --retry-failed, another executor or an --address make a batch.
    """
    from audio_playground import api

    manifest_file = kwargs.get("input_manifest")
    retry = bool(kwargs.get("retry_failed"))
    executor = kwargs.get("executor") or config.executor
    if not raw_inputs and manifest_file is None and not retry:
        raise APUsageError("no input given", hint="pass one or more files or folders")
    files = [path for path, _ in expand(raw_inputs, recursive=bool(kwargs.get("recursive")))]
    single = len(files) == 1 and manifest_file is None and not retry
    default_template = api.ATOMIC_FILENAME if atomic else (api.DEFAULT_FILENAME if single else api.MULTI_FILENAME)
    template = kwargs["filename"] or default_template
    api.check_template(template)
    if not single and "{track}" not in template:
        raise click.UsageError(f"--filename {template!r} needs {{track}} with several inputs")
    return files, template, kwargs.get("address") is not None or executor != "local" or not single


def _run_batch(
    name: str,
    options: tuple[OptionSpec, ...],
    template: str,
    raw_inputs: list[Any],
    files: list[Path],
    kwargs: dict[str, Any],
) -> Any:
    """Several inputs (or a manifest, or --retry-failed, or another executor): through the executor, with a manifest."""
    from audio_playground.cli.app import get_app
    from audio_playground.executors.task import SeparateTask

    config = get_app().config
    task = SeparateTask(
        separator=name,
        options=option_values(options, kwargs),
        ignored=tuple(o.name for o in options if not o.cache_key),
        backend=kwargs["backend"] or config.backend,
        video=tuple(kwargs.get("video", ())),
        **batch_output(template, kwargs),
    )
    return run_task_batch(task, raw_inputs, files, kwargs)


def batch_output(template: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The SeparateTask fields every composite extract command fills the same way (outputs, device, cache)."""
    from audio_playground.cli.app import get_app
    from audio_playground.executors.task import check_inside

    config = get_app().config
    check_inside(template)
    return {
        "output_dir": str(Path(kwargs["output_dir"]).absolute()),
        "filename": template,
        "device": config.device,
        **output_values(kwargs, config),
        "cache": not kwargs["no_cache"] and config.cache,
        "config": config.model_dump(mode="json"),
    }


def output_values(kwargs: dict[str, Any], config: Any) -> dict[str, Any]:
    """The written audio's options in force: the command line's, else the config's (0 and "" are real values)."""
    return {
        "suffix": kwargs["suffix"],
        "output_format": kwargs["output_format"] or config.output_format,
        "bit_depth": kwargs["bit_depth"] or config.bit_depth,
        "bitrate": kwargs["bitrate"] if kwargs["bitrate"] is not None else config.bitrate,
        "sample_rate": kwargs["sample_rate"],
        "clip": kwargs["clip"] or config.clip,
        "start_time": kwargs["start_time"],
        "end_time": kwargs["end_time"],
    }


def run_task_batch(task: Any, raw_inputs: list[Any], files: list[Path], kwargs: dict[str, Any]) -> Any:
    """Run `task` over the inputs (or a manifest, or the failed inputs) on the executor, with a run manifest."""
    from audio_playground import caching
    from audio_playground.cli.app import get_app
    from audio_playground.executors.cli import run_extract_batch
    from audio_playground.executors.inputs import failed_items, work_items

    app = get_app()
    output_dir = Path(task.output_dir)
    # Without a cache plugin, a rerun skips the inputs the manifest says finished.
    has_cache = task.cache and caching.open_cache(app.pm, app.config, app.warn) is not None
    if kwargs.get("retry_failed"):
        items, total = failed_items(output_dir, files)
    else:
        items, total = work_items(
            raw_inputs, recursive=bool(kwargs.get("recursive")), manifest=kwargs.get("input_manifest")
        )
    manifest_given = kwargs.get("input_manifest") is not None
    return run_extract_batch(
        app,
        task,
        items,
        total,
        kwargs,
        skip_finished=task.cache and not has_cache,
        keep_results=not manifest_given,
        order={str(p.absolute()): i for i, p in enumerate(files)},
    )
