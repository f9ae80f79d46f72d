"""`ap run` on an executor: one work item per INPUT, the whole workflow for it on a worker.

A WorkflowTask is plain data (the workflow file, its --var values, the driver's global options and folder); its
worker builds a root `ap` context once with those settings and runs `WorkflowRunner.run_input` per item, so the
steps are the same commands the command line runs, and their caches are shared.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audio_playground.executors.task import GPU_PREFIXES, input_stat, json_safe
from audio_playground.specs import WorkItem


@dataclass(frozen=True)
class WorkflowTask:
    """Run the workflow at `workflow` for each item (its ${input})."""

    workflow: str
    output_dir: str
    """Where run-manifest.jsonl goes."""
    cwd: str
    """The driver's working folder: relative paths in the workflow mean the same on every worker."""
    variables: Mapping[str, str] = field(default_factory=dict)
    overrides: Mapping[str, Any] = field(default_factory=dict)
    """The driver's global options (--device, --cache-dir, ...), as the root context keeps them."""
    config_file: str | None = None
    device: str = "auto"
    step: str = "run"
    separator: str | None = None
    filename: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    start_time: float | None = None
    end_time: float | None = None

    @property
    def uses_gpu(self) -> bool:
        return self.device.startswith(GPU_PREFIXES)

    def output_options(self) -> dict[str, Any]:
        return {"workflow": self.workflow, "vars": dict(self.variables)}

    def fingerprint(self) -> str:
        try:
            text = Path(self.workflow).read_bytes()
        except OSError:
            text = b""
        material = json.dumps({"vars": dict(self.variables)}, sort_keys=True).encode() + text
        return hashlib.sha256(material).hexdigest()[:16]

    def model_name(self) -> str | None:
        return None

    def worker(self, *, label: str | None = None, pm: Any = None, warn: Any = None) -> WorkflowWorker:
        return WorkflowWorker(self, label=label, pm=pm)


class WorkflowWorker:
    """Holds a checked WorkflowRunner for the whole batch; each call runs every step for one input."""

    def __init__(self, task: WorkflowTask, *, label: str | None = None, pm: Any = None) -> None:
        from audio_playground.cli.options import CONFIG_FILE_KEY, OVERRIDES_KEY
        from audio_playground.executors.task import local_label
        from audio_playground.workflow.runner import WorkflowRunner, root_context
        from audio_playground.workflow.schema import load_workflow

        self.task = task
        self.label = label or local_label()
        if pm is None and Path.cwd() != Path(task.cwd):
            os.chdir(task.cwd)  # a worker process of its own: the workflow's relative paths as on the driver
        self._stack = ExitStack()
        ctx = self._stack.enter_context(root_context(pm))
        ctx.meta[OVERRIDES_KEY] = dict(task.overrides)
        if task.config_file is not None:
            ctx.meta[CONFIG_FILE_KEY] = task.config_file
        ctx.obj.setup()
        self.runner = WorkflowRunner(load_workflow(task.workflow), ctx, task.variables)

    def __call__(self, item: WorkItem) -> dict[str, Any]:
        from audio_playground.executors.manifest import now

        started = time.perf_counter()
        run = self.runner.run_input(Path(item.input))
        outputs: dict[str, str] = {}
        for step, named in run.outputs.items():
            for key, value in named.items():
                if isinstance(value, Mapping):  # a separation's stems: sep.stems.vocals
                    outputs.update({f"{step}.{key}.{k}": str(v) for k, v in value.items() if isinstance(v, str | Path)})
                elif isinstance(value, str | Path):
                    outputs[f"{step}.{key}"] = str(value)
        return {
            "input": item.input,
            "track": item.track,
            "status": "done" if run.error is None else "failed",
            "outputs": outputs,
            "seconds": round(time.perf_counter() - started, 4),
            "audio_seconds": _duration(item.input) if run.error is None else 0.0,
            "worker": self.label,
            "error": None if run.error is None else " ".join(str(run.error).split()),
            "step": self.task.step,
            "separator": None,
            "model": None,
            "backend": None,
            "options": json_safe(self.task.output_options()),
            "output": json_safe(self.task.output_options()),
            "key": self.task.fingerprint(),
            "model_loaded": False,
            "input_stat": input_stat(item.input),
            "finished_at": now(),
        }


def _duration(path: str) -> float:
    from audio_playground.executors.task import _audio_seconds

    return _audio_seconds(Path(path), None, None)


def run_workflow_batch(
    app: Any,
    ctx: Any,
    config: Path,
    variables: Mapping[str, str],
    sources: list[Path | None],
    executor: str,
    address: str | None,
    workers: int | None,
    manifest_dir: Path | None,
) -> Any:
    """`ap run` through an executor: a record per input in the manifest, exit 1 when any input failed."""
    import click

    from audio_playground.cli.options import CONFIG_FILE_KEY, OVERRIDES_KEY
    from audio_playground.errors import UsageError
    from audio_playground.executors.batch import BatchFailed, failure_message, run_batch

    if sources == [None]:
        raise UsageError("a workflow without ${input} runs once, here", hint="drop --executor, --address and -j")
    root = ctx.find_root()
    config_file = root.meta.get(CONFIG_FILE_KEY)
    task = WorkflowTask(
        workflow=str(Path(config).absolute()),
        output_dir=str((manifest_dir or Path.cwd()).absolute()),
        cwd=str(Path.cwd()),
        variables=dict(variables),
        overrides=json_safe(dict(root.meta.get(OVERRIDES_KEY, {}))),
        config_file=None if config_file is None else str(Path(config_file).absolute()),
        device=app.config.device,
    )
    items = (WorkItem(i, str(Path(s).absolute()), Path(s).stem) for i, s in enumerate(sources) if s is not None)

    def on_record(record: Mapping[str, Any], summary: Any) -> None:
        if record["status"] == "failed":
            click.echo(f"error: {record['error']}", err=True)
        app.log.info(
            "input finished",
            input=record["input"],
            status=record["status"],
            seconds=record.get("seconds"),
            worker=record.get("worker"),
            done=summary.finished,
            of=len(sources),
        )

    summary = run_batch(
        task,
        items,
        total=len(sources),
        executor=executor,
        workers=workers,
        address=address,
        pm=app.pm,
        warn=app.warn,
        on_record=on_record,
        keep_results=False,
    )
    if not summary.ok:
        raise BatchFailed(failure_message(summary), path=config)
    return summary
