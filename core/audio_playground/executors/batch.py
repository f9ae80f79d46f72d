"""The driver of a batch: items stream to an executor, records come back, the manifest and progress follow.

Whatever the executor, the driver alone writes `{output_dir}/run-manifest.jsonl` (a line per finished input,
flushed), counts done / cached / failed, and reports each finished item through the observability hooks when
the step ran in another process. A failed input never stops the others. Ctrl-C stops the batch with the
manifest true to what finished: records are written as they arrive, nothing is written for unfinished items.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from audio_playground.errors import APError, ExitStatus, UsageError
from audio_playground.executors.manifest import ManifestWriter, iter_records, now
from audio_playground.executors.task import SeparateTask, input_stat, json_safe
from audio_playground.specs import ExecutorSpec, SeparateResult, WorkItem

DEFAULT_EXECUTOR = "local"
KNOWN_EXECUTORS = {"ray": "ap-ray (pip install ap-ray)"}
SHOWN_FAILURES = 10


@dataclass
class BatchContext:
    """What an executor gets besides the items: the task, the worker count, where to connect, the driver's hooks."""

    task: Any
    """The task every item goes through: a SeparateTask, or a WorkflowTask (`ap run`); task.worker(...) runs it."""
    workers: int | None = None
    """-j N; None lets the executor choose (local: 1; ray: the cluster's CPUs, or GPUs for a GPU device)."""
    address: str | None = None
    pm: Any = None
    warn: Callable[[str], None] = field(default=lambda message: None)
    hooks_in_worker: bool = False
    """Set by an executor that runs items in the driver's process: the step hooks then fire as steps run."""

    def local_worker(self) -> Any:
        """A worker in the driver's process, reporting through the driver's plugin manager."""
        return self.task.worker(pm=self.pm, warn=self.warn)


@dataclass
class BatchSummary:
    """How a batch ended: counts, the first failures, and (for batches given as a list) the results."""

    total: int | None
    manifest: Path
    done: int = 0
    cached: int = 0
    failed: int = 0
    seconds: float = 0.0
    audio_seconds: float = 0.0
    failures: list[tuple[str, str]] = field(default_factory=list)
    """(input, error) of the first failures (at most SHOWN_FAILURES: a library's worth never sits in memory)."""
    results: list[SeparateResult] | None = None

    @property
    def finished(self) -> int:
        return self.done + self.cached + self.failed

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def add(self, record: Mapping[str, Any], keep: bool) -> None:
        status = record["status"]
        self.audio_seconds += float(record.get("audio_seconds") or 0.0)
        if status == "failed":
            self.failed += 1
            if len(self.failures) < SHOWN_FAILURES:
                self.failures.append((record["input"], str(record.get("error"))))
            return
        if status == "cached":
            self.cached += 1
        else:
            self.done += 1
        if keep and self.results is not None:
            self.results.append(result_of(record))


class BatchFailed(APError):
    """Some inputs of a batch failed (the others finished): exit 1."""

    exit_code = ExitStatus.FAILURE


def result_of(record: Mapping[str, Any]) -> SeparateResult:
    stems = {stem: Path(path) for stem, path in record["outputs"].items()}
    folder = Path(next(iter(stems.values()))).parent if stems else Path(record["input"]).parent
    return SeparateResult(
        source=Path(record["input"]), output_dir=folder, stems=stems, cached=record["status"] == "cached"
    )


def failed_record(task: Any, item: WorkItem, error: str, worker: str | None = None) -> dict[str, Any]:
    """The record of an item that failed outside a worker's step (a dead worker, a clashing track name)."""
    return {
        "input": item.input,
        "track": item.track,
        "status": "failed",
        "outputs": {},
        "seconds": 0.0,
        "audio_seconds": 0.0,
        "worker": worker or f"local:{os.getpid()}",
        "error": " ".join(error.split()),
        "step": task.step,
        "separator": task.separator,
        "model": task.model_name(),
        "backend": None,
        "options": json_safe(task.options),
        "output": json_safe(task.output_options()),
        "key": task.fingerprint(),
        "model_loaded": False,
        "finished_at": now(),
    }


def executors(pm: Any) -> dict[str, ExecutorSpec]:
    """Every installed executor by name (the core's `local` and the plugins')."""
    found: dict[str, ExecutorSpec] = {}
    for group in pm.hook.ap_executors():
        for spec in group or ():
            found.setdefault(spec.name, spec)
    return found


def get_executor(pm: Any, name: str) -> ExecutorSpec:
    """The executor `name`, or a usage error naming the plugin to install."""
    found = executors(pm)
    if name in found:
        return found[name]
    if name in KNOWN_EXECUTORS:
        raise UsageError(f"the '{name}' executor is not installed", hint=f"install {KNOWN_EXECUTORS[name]}")
    raise UsageError(f"unknown executor '{name}'", hint=f"installed: {', '.join(sorted(found))}")


def check_executor(spec: ExecutorSpec, address: str | None) -> None:
    if address is not None and not spec.connects:
        raise UsageError(
            f"the '{spec.name}' executor connects nowhere: --address {address!r} needs an executor that joins a "
            "cluster",
            hint="add --executor ray, or drop --address",
        )


def _finished_index(task: SeparateTask) -> dict[str, dict[str, Any]]:
    """Inputs a previous run of the same task finished, whose outputs are all still there and newer than the input."""
    index: dict[str, dict[str, Any]] = {}
    key = task.fingerprint()
    for record in iter_records(task.output_dir):
        if record["status"] == "failed" or record.get("key") != key:
            index.pop(record["input"], None)
            continue
        index[record["input"]] = {"outputs": record.get("outputs") or {}, "input_stat": record.get("input_stat")}
    return index


def _still_valid(src: str, entry: Mapping[str, Any]) -> bool:
    outputs = entry["outputs"]
    if not outputs or not all(Path(p).is_file() for p in outputs.values()):
        return False
    stat = input_stat(src)
    return stat is not None and entry["input_stat"] == stat


def run_batch(
    task: Any,
    items: Iterable[WorkItem],
    *,
    total: int | None = None,
    executor: str = DEFAULT_EXECUTOR,
    workers: int | None = None,
    address: str | None = None,
    pm: Any = None,
    warn: Callable[[str], None] | None = None,
    on_record: Callable[[Mapping[str, Any], BatchSummary], None] | None = None,
    skip_finished: bool = False,
    keep_results: bool = True,
) -> BatchSummary:
    """Run every item through `task` on `executor`; write the manifest; return the summary (raises nothing per item).

    With `skip_finished` (no cache plugin serves reruns), inputs a previous run of the same task finished are
    recorded as cached without running again. `on_record(record, summary)` follows each finished item.
    """
    from audio_playground.plugins import get_plugin_manager

    pm = pm or get_plugin_manager()
    spec = get_executor(pm, executor)
    check_executor(spec, address)
    ctx = BatchContext(task=task, workers=workers, address=address, pm=pm, warn=warn or (lambda message: None))
    summary = BatchSummary(total=total, manifest=Path(task.output_dir) / "run-manifest.jsonl")
    summary.results = [] if keep_results else None
    finished = _finished_index(task) if skip_finished else {}
    tracks: dict[str, str] = {}
    started = time.perf_counter()

    with ManifestWriter(task.output_dir) as manifest:

        def record(entry: Mapping[str, Any]) -> None:
            manifest.write(entry)
            summary.add(entry, keep_results)
            summary.seconds = time.perf_counter() - started
            if on_record is not None:
                on_record(entry, summary)

        def to_run() -> Iterator[WorkItem]:
            """The items that need a worker; the others are recorded here, in the driver."""
            for item in items:
                first = tracks.setdefault(item.track, item.input) if "{track}" in task.filename else item.input
                if first != item.input:
                    record(
                        failed_record(
                            task,
                            item,
                            f"{item.input}: another input of this batch has the track name {item.track!r} "
                            f"({first}). Rename one, or use --recursive on their common folder",
                        )
                    )
                    continue
                entry = finished.pop(item.input, None)
                if entry is not None and _still_valid(item.input, entry):
                    reused = failed_record(task, item, "", worker="manifest")
                    reused.update(status="cached", outputs=entry["outputs"], error=None, input_stat=entry["input_stat"])
                    reused["audio_seconds"] = _audio_seconds(item, task)
                    record(reused)
                    continue
                if not ctx.hooks_in_worker:
                    pm.hook.ap_step_started(
                        step=task.step, inputs={"src": Path(item.input), "separator": task.separator}
                    )
                yield item

        for entry in spec.run(ctx, to_run()):
            entry = dict(entry)
            if not ctx.hooks_in_worker:
                _report(pm, task, entry)
            record(entry)
    summary.seconds = time.perf_counter() - started
    return summary


def _audio_seconds(item: WorkItem, task: Any) -> float:
    from audio_playground.executors.task import _audio_seconds as seconds

    return seconds(Path(item.input), task.start_time, task.end_time)


def _report(pm: Any, task: Any, entry: Mapping[str, Any]) -> None:
    """The step hooks of an item that ran in another process, called in the driver as its record arrives."""
    if entry["status"] == "failed":
        pm.hook.ap_step_failed(step=task.step, error=BatchFailed(str(entry.get("error"))))
    else:
        pm.hook.ap_step_finished(
            step=task.step,
            result=result_of(entry),
            seconds=float(entry.get("seconds") or 0.0),
            cached=entry["status"] == "cached",
        )


def failure_message(summary: BatchSummary) -> str:
    """The one line a batch with failures ends on."""
    names = ", ".join(path for path, _ in summary.failures)
    more = summary.failed - len(summary.failures)
    tail = f" and {more} more" if more > 0 else ""
    of = summary.total if summary.total is not None else summary.finished
    return f"{summary.failed} of {of} inputs failed: {names}{tail} (see {summary.manifest})"
