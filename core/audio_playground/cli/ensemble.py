"""`ap extract ensemble`: several separators on each input, their shared stems combined."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from audio_playground.cli.options import add_global_options, no_cache_option, output_format_options, time_options
from audio_playground.errors import UsageError
from audio_playground.workflow.outputs import declare_outputs

NAME = "ensemble"


def _convert(spec: Any, raw: str, member: str) -> Any:
    if spec.is_flag:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    kind = click.Choice(list(spec.choices)) if spec.choices else click.types.convert_type(spec.type)
    try:
        return kind.convert(raw, None, None)
    except click.BadParameter as exc:
        raise UsageError(f"--member-option {member}.{spec.name}={raw!r}: {exc.message}") from exc


def member_options(app: Any, member: Any, label: str, settings: list[tuple[str, str, str]]) -> dict[str, Any]:
    """A member's separator options: each spec's default, its MODEL, then the --member-option values aimed at
    its separator, its SEPARATOR:MODEL or its numbered label (hpss#2)."""
    from audio_playground.backends import all_separators
    from audio_playground.cli.extract import merged_options, option_values

    specs = all_separators(app.pm).get(member.separator)
    if not specs:
        installed = ", ".join(sorted(all_separators(app.pm)))
        raise UsageError(f"unknown ensemble member '{member.separator}'", hint=f"installed separators: {installed}")
    options = {o.name: o for o in merged_options(specs)}
    given: dict[str, Any] = {}
    if member.model is not None:
        if "model" not in options:
            raise UsageError(f"--member {member.label}: {member.separator} takes no model", hint="drop the :MODEL")
        given["model"] = member.model
    for target, key, raw in settings:
        if target not in (member.separator, member.label, label):
            continue
        name = key.replace("-", "_")
        if name not in options:
            raise UsageError(
                f"--member-option {target}.{key}: {member.separator} has no option '{key}'",
                hint=f"its options: {', '.join(sorted(options)) or 'none'}",
            )
        value = _convert(options[name], raw, target)
        given[name] = (*given.get(name, ()), value) if options[name].multiple else value
    return option_values(tuple(options.values()), given)


def _parse_settings(raw: tuple[str, ...]) -> list[tuple[str, str, str]]:
    settings = []
    for item in raw:
        target, eq, value = item.partition("=")
        member, dot, key = target.rpartition(".")
        if not eq or not dot or not member or not key:
            raise UsageError(f"bad --member-option {item!r}", hint="use MEMBER.OPTION=VALUE, e.g. demucs.shifts=2")
        settings.append((member, key, value))
    return settings


_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}
_OPTIONS = [
    click.argument("inputs", nargs=-1, type=click.Path(path_type=Path)),
    click.option(
        "-o",
        "--output-dir",
        required=True,
        type=click.Path(file_okay=False, path_type=Path),
        help="Folder for the stems.",
    ),
    click.option(
        "--member",
        "members",
        multiple=True,
        required=True,
        metavar="SEPARATOR[:MODEL]",
        help="A separator to run, optionally with its model (repeat: two or more), e.g. demucs:htdemucs.",
    ),
    click.option(
        "--member-option",
        "settings",
        multiple=True,
        metavar="MEMBER.OPTION=VALUE",
        help="A separator option for the members of that separator, SEPARATOR:MODEL or numbered member "
        "(hpss#2 when a separator repeats), e.g. demucs.shifts=2.",
    ),
    click.option(
        "--algorithm",
        type=click.Choice(["avg_wave", "median_wave", "min_mag", "max_mag"]),
        default="avg_wave",
        show_default=True,
        help="avg_wave: weighted mean; median_wave: per-sample median; min_mag/max_mag: per STFT bin, the member "
        "with the smallest/largest magnitude.",
    ),
    click.option(
        "--weights", default=None, metavar="W1,W2,...", help="One weight per member, for avg_wave (default 1 each)."
    ),
    click.option(
        "--backend",
        default=None,
        metavar="NAME",
        help="Compute backend for every member (default auto: each member's best installed backend).",
    ),
    click.option("--suffix", default="ensemble", show_default=True, help="File-name suffix."),
    click.option(
        "--filename",
        default=None,
        metavar="TEMPLATE",
        help="Output name template: {track} {stem} {suffix} {ext} {model}.",
    ),
    click.option("--progress/--no-progress", default=None, help="Show progress bars on a terminal."),
    no_cache_option,
    time_options,
    output_format_options,
]


def ensemble_command(inputs: tuple[Path, ...], **kwargs: Any) -> Any:
    """Run every --member on each FILE (through the cache) and combine the stems they share.

    Writes OUTPUT_DIR/{stem}-ensemble.wav (with several inputs OUTPUT_DIR/{track}/...). A member that ran
    before on the same input with the same options is served by the cache and loads no model; the weights
    apply to avg_wave.
    """
    from audio_playground import api, caching, ensemble
    from audio_playground.cli.app import get_app
    from audio_playground.cli.extract import batch_output, output_values, plan_inputs, run_task_batch
    from audio_playground.steps import step

    app = get_app()
    config = app.setup()
    members = [ensemble.parse_member(m) for m in kwargs["members"]]
    if len(members) < 2:
        raise UsageError("an ensemble needs two or more --member", hint="e.g. --member hpss --member demucs")
    weights = ensemble.parse_weights(kwargs["weights"], len(members))
    settings = _parse_settings(kwargs["settings"])
    options = [
        member_options(app, m, label, settings)
        for m, label in zip(members, ensemble.member_labels(members), strict=True)
    ]
    backend = kwargs["backend"] or config.backend
    files, template, batch = plan_inputs(list(inputs), kwargs, config)
    if batch:
        task = ensemble.EnsembleTask(
            separator=NAME,
            options={
                "members": [
                    {"separator": m.separator, "model": m.model, "options": o}
                    for m, o in zip(members, options, strict=True)
                ],
                "algorithm": kwargs["algorithm"],
                "weights": list(weights),
            },
            backend=backend,
            **batch_output(template, kwargs),
        )
        return run_task_batch(task, list(inputs), files, kwargs)
    loaded = [
        (
            member,
            api.load(
                member.separator, backend=backend, options=o, device=config.device, pm=app.pm, warn=app.warn, lazy=True
            ),
        )
        for member, o in zip(members, options, strict=True)
    ]
    cache = None if kwargs["no_cache"] else caching.open_cache(app.pm, config, app.warn)
    reporter = app.progress(kwargs["progress"])
    path = files[0]
    try:
        with step(app.pm, "separate", {"src": path, "separator": NAME}) as run:
            run.result = ensemble.ensemble_file(
                loaded,
                path,
                kwargs["output_dir"],
                algorithm=kwargs["algorithm"],
                weights=weights,
                filename=template,
                **output_values(kwargs, config),
                cache=cache,
                on_chunk=run.chunk(path),
            )
            run.cached = run.result.cached
    finally:
        reporter.close()
    served = ", ".join(f"{m} (cached)" if hit else m for m, hit in run.result.members.items())
    app.log.info("ensembled", source=str(path), stems=len(run.result.stems), members=served)
    return run.result


def build_ensemble_command() -> click.Command:
    """The `extract ensemble` command, with the global options and its declared outputs."""
    from audio_playground.cli.report import report_option
    from audio_playground.executors.cli import batch_params
    from audio_playground.specs import SeparateResult

    def callback(inputs: tuple[Path, ...], **kwargs: Any) -> Any:
        from audio_playground.cli.report import run_with_page, take_page

        page = take_page(kwargs, False)  # --report [FILE.html]: the review page after the run
        settings = {
            "separator": NAME,
            "options": {"members": list(kwargs["members"]), "algorithm": kwargs["algorithm"]},
        }
        return run_with_page(lambda: ensemble_command(inputs, **kwargs), page, kwargs["output_dir"], settings)

    callback.__doc__ = ensemble_command.__doc__
    for decorate in reversed(_OPTIONS):
        callback = decorate(callback)
    command = click.command(NAME, context_settings=_CONTEXT, short_help="Combine the stems of several separators")(
        callback
    )
    command.params.extend([report_option(), *batch_params()])
    return add_global_options(declare_outputs(SeparateResult)(command))
