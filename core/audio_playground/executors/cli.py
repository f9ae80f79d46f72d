"""The batch options of `ap extract NAME` (and `ap run`): --executor, --address, -j, --recursive, --manifest,
--retry-failed; and the run of a multi-input extract through an executor, with one overall progress bar."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click


def executor_params(jobs: bool = True) -> list[click.Parameter]:
    """--executor / --address (/ -j): where a batch runs."""
    params: list[click.Parameter] = [
        click.Option(
            ["--executor"],
            default=None,
            metavar="NAME",
            help="Where the inputs run: local (default; this machine) or ray (ap-ray: a Ray instance or cluster).",
        ),
        click.Option(
            ["--address"],
            default=None,
            metavar="ADDR",
            help="Cluster to join (ray: auto, or HOST:PORT of `ray start --head`); default: a local instance.",
        ),
    ]
    if jobs:
        params.append(
            click.Option(
                ["-j", "--jobs", "jobs"],
                type=click.IntRange(min=1),
                default=None,
                metavar="N",
                help="Workers: local worker processes for a CPU separator, each loading the model once (default 1); "
                "ray workers (default: the cluster's CPUs, or GPUs on a GPU device).",
            )
        )
    return params


def batch_params(jobs: bool = True) -> list[click.Parameter]:
    """Every batch option of a composite extract command."""
    return [
        click.Option(
            ["--recursive", "-r"],
            is_flag=True,
            default=False,
            help="Take folders' subfolders too (outputs keep their layout: DIR/{sub}/{track}/...).",
        ),
        click.Option(
            ["--manifest", "input_manifest"],
            type=click.Path(dir_okay=False, path_type=Path),
            default=None,
            metavar="FILE",
            help="More inputs: one path a line, or CSV / JSONL with a 'path' column (streamed, for libraries).",
        ),
        click.Option(
            ["--retry-failed"],
            is_flag=True,
            default=False,
            help="Run only the inputs that failed in OUTPUT_DIR/run-manifest.jsonl (of FILE..., when given).",
        ),
        *executor_params(jobs),
    ]


def workers_wanted(jobs: int | None, config: Any) -> int | None:
    """-j, else the config's jobs when set anywhere, else None (the executor's own default)."""
    if jobs is not None:
        return jobs
    return config.jobs if "jobs" in config.model_fields_set else None


def run_extract_batch(
    app: Any,
    task: Any,
    items: Any,
    total: int,
    kwargs: Mapping[str, Any],
    *,
    skip_finished: bool,
    keep_results: bool,
    order: Mapping[str, int] | None = None,
) -> Any:
    """Run a multi-input extract through its executor: manifest, overall progress, one line per failure, exit 1."""
    from audio_playground.executors.batch import BatchFailed, failure_message, run_batch

    config = app.config
    executor = kwargs.get("executor") or config.executor
    workers = workers_wanted(kwargs.get("jobs"), config)
    if executor == "local" and workers and workers > 1 and task.uses_gpu:
        app.warn(f"-j {workers} is for separators on the CPU; {task.device} runs one worker")
        workers = 1
    reporter = app.progress(kwargs.get("progress"))
    reporter.files(total)
    log = app.log

    def on_record(record: Mapping[str, Any], summary: Any) -> None:
        if record["status"] == "failed":
            click.echo(f"error: {record['error']}", err=True)
        rate = summary.audio_seconds / summary.seconds if summary.seconds > 0 else 0.0
        left = max(0, total - summary.finished)
        eta = summary.seconds / summary.finished * left if summary.finished else None
        hours = summary.audio_seconds / 3600
        reporter.file_done(f"{summary.finished}/{total} files, {hours:.2f} h audio, {rate:.1f}x")
        fields = {
            "input": record["input"],
            "status": record["status"],
            "seconds": record.get("seconds"),
            "audio_seconds": record.get("audio_seconds"),
            "worker": record.get("worker"),
            "done": summary.finished,
            "of": total,
            "audio_hours": round(hours, 4),
            "realtime_x": round(rate, 2),
            "eta_s": None if eta is None else round(eta, 1),
        }
        (log.debug if reporter.bars else log.info)("input finished", **fields)

    try:
        summary = run_batch(
            task,
            items,
            total=total,
            executor=executor,
            workers=workers,
            address=kwargs.get("address"),
            pm=app.pm,
            warn=app.warn,
            on_record=on_record,
            skip_finished=skip_finished,
            keep_results=keep_results,
        )
    finally:
        reporter.close()
    log.info(
        "batch finished",
        done=summary.done,
        cached=summary.cached,
        failed=summary.failed,
        seconds=round(summary.seconds, 3),
        audio_seconds=round(summary.audio_seconds, 3),
        manifest=str(summary.manifest),
    )
    if not summary.ok:
        raise BatchFailed(failure_message(summary))
    results = summary.results
    if results is None:
        return summary
    if order:
        results.sort(key=lambda r: order.get(str(Path(r.source)), 0))
    return results[0] if len(results) == 1 else results
