"""Progress for a run, built on the observability hooks: rich bars on a terminal, log lines otherwise."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from audio_playground.hookspecs import hookimpl


class ProgressReporter:
    """A plugin object the CLI registers for the duration of a command."""

    def __init__(self, log: Any, bars: bool = True, stream: Any = None) -> None:
        self.log = log
        self.stream = stream or sys.stderr
        self.bars = bars and bool(getattr(self.stream, "isatty", lambda: False)())
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}
        self._overall: Any = None

    # -- rich
    def _bar(self) -> Any:
        if self._progress is None:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=False,
            )
            self._progress.start()
        return self._progress

    def files(self, total: int) -> None:
        """Announce `total` input files: an overall bar when there is more than one."""
        if self.bars and total > 1:
            self._overall = self._bar().add_task("all files", total=total)

    def file_done(self, description: str | None = None) -> None:
        """One input finished; `description` (files, hours of audio, throughput) relabels the overall bar."""
        if self._overall is not None:
            self._bar().advance(self._overall)
            if description is not None:
                self._bar().update(self._overall, description=description)

    def _task(self, key: str, label: str, total: float | None) -> Any:
        progress = self._bar()
        if key not in self._tasks:
            self._tasks[key] = progress.add_task(label, total=total)
        elif total is not None:
            progress.update(self._tasks[key], total=total)
        return self._tasks[key]

    def close(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None
        self._tasks.clear()
        self._overall = None

    # -- hooks
    @hookimpl
    def ap_step_started(self, step: str, inputs: dict[str, Any]) -> None:
        self.log.debug("step started", step=step, **{k: str(v) for k, v in inputs.items()})

    @hookimpl
    def ap_step_finished(self, step: str, result: Any, seconds: float, cached: bool) -> None:
        # With bars on screen a log line would tear them; the bars already show the step ending.
        log = self.log.debug if self._progress is not None else self.log.info
        log("step finished", step=step, seconds=round(seconds, 3), cached=cached)

    @hookimpl
    def ap_step_failed(self, step: str, error: BaseException) -> None:
        self.log.debug("step failed", step=step, error=str(error))

    @hookimpl
    def ap_progress(self, step: str, path: Path | None, done: float, total: float | None) -> None:
        if self.bars:
            key = f"{step}:{path}"
            label = f"{step} {Path(path).name if path else ''}".strip()
            task = self._task(key, label, total)
            self._bar().update(task, completed=done)

    @hookimpl
    def ap_chunk_done(self, step: str, path: Path | None, index: int, total: int | None, seconds: float) -> None:
        if self.bars:
            key = f"{step}:{path}"
            label = f"{step} {Path(path).name if path else ''}".strip()
            task = self._task(key, label, total)
            self._bar().update(task, completed=index + 1)
        else:
            self.log.info(
                "chunk done",
                step=step,
                file=str(path) if path else None,
                chunk=index + 1,
                of=total,
                seconds=round(seconds, 3),
            )
