"""`ap run`: run a YAML workflow once per input, or print its plan (--dry-run). Heavy imports wait for a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from audio_playground.cli.app import CONTEXT_SETTINGS, get_app
from audio_playground.errors import UsageError
from audio_playground.hookspecs import hookimpl


def _parse_vars(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", ctx=ctx, param=param)
        parsed[key.strip()] = value
    return parsed


@click.command("run", context_settings=CONTEXT_SETTINGS)
@click.option(
    "--config",
    "config",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="FILE",
    help="The workflow file (YAML: version, vars, steps). Settings TOML goes before the command: ap --config.",
)
@click.option(
    "--var",
    "variables",
    multiple=True,
    metavar="KEY=VALUE",
    callback=_parse_vars,
    help="Override one of the workflow's vars (repeatable), e.g. --var model=/models/sam.",
)
@click.option("--dry-run", is_flag=True, help="Print the command line of every step per input; run and write nothing.")
@click.option(
    "--report",
    "report",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[FILE.html]",
    help="After the run, write the stem review page of every separation step: --report alone writes "
    "report.html in the folder that holds their outputs, --report FILE.html writes FILE.html.",
)
@click.option(
    "--output-dir",
    "manifest_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="With --executor, --address or -j N: the folder of run-manifest.jsonl (default: the working folder).",
)
@click.argument("inputs", nargs=-1, type=click.Path(path_type=Path))
def run_command(
    config: Path,
    variables: dict[str, str],
    dry_run: bool,
    report: str | None,
    inputs: tuple[Path, ...],
    **batch: Any,
) -> Any:
    """Run the workflow in FILE once per INPUT (files, or folders of audio and video files).

    Steps run in order, in this process, through the same commands as the command line; each input goes
    through every step, and a failing step stops only that input. Everything in FILE is checked first.
    With --executor ray, --address or -j N the inputs run on that executor's workers (each runs every step
    for its input) and OUTPUT_DIR/run-manifest.jsonl records each input.
    """
    from audio_playground.cli.report import check_report_value, workflow_page
    from audio_playground.workflow.runner import StepEvent, WorkflowFailed, WorkflowRunner
    from audio_playground.workflow.schema import load_workflow

    check_report_value(report, json_report=False)
    ctx = click.get_current_context()
    app = get_app(ctx)
    app.setup()
    runner = WorkflowRunner(load_workflow(config), ctx.find_root(), variables)
    sources = runner.inputs(inputs)
    if dry_run:
        plans = []
        for source in sources:
            plan = runner.plan(source)
            click.echo(f"# input: {source if source is not None else '(none)'}")
            for step in plan:
                click.echo(f"{step.name}: {step.command_line()}")
            plans.append(plan)
        return plans

    from audio_playground.executors.cli import workers_wanted

    workers = workers_wanted(batch.get("jobs"), app.config)
    executor = batch.get("executor") or app.config.executor
    if executor != "local" or batch.get("address") is not None or (workers or 1) > 1:
        from audio_playground.executors.workflow import run_workflow_batch

        if report is not None:
            raise UsageError("--report needs the steps' results in this process", hint="drop --executor/-j")
        return run_workflow_batch(
            app, ctx, config, variables, sources, executor, batch.get("address"), workers, batch.get("manifest_dir")
        )

    def on_event(event: StepEvent) -> None:
        fields = {"step": event.step, "command": event.command, "of": f"{event.index + 1}/{event.total}"}
        if event.source is not None:
            fields["input"] = str(event.source)
        if event.kind == "started":
            app.log.info("workflow step started", **fields)
        elif event.kind == "finished":
            app.log.info("workflow step finished", seconds=round(event.seconds, 3), **fields)

    runs = []
    for source in sources:
        run = runner.run_input(source, on_event)
        runs.append(run)
        if run.error is not None and len(sources) > 1:
            click.echo(f"error: {run.error}", err=True)
    if report is not None:
        workflow_page(runs, report)
    errors = [run.error for run in runs if run.error is not None]
    if errors and len(sources) == 1:
        raise errors[0]
    if errors:
        names = ", ".join(str(run.source) for run in runs if run.error is not None)
        raise WorkflowFailed(f"{len(errors)} of {len(sources)} inputs failed: {names}", path=config)
    return runs


def _add_executor_options(command: click.Command) -> None:
    from audio_playground.executors.cli import executor_params

    command.params.extend(executor_params())


_add_executor_options(run_command)


@hookimpl
def ap_register_commands(cli: click.Group) -> None:
    cli.add_command(run_command)
