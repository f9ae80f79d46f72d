"""Step bookkeeping shared by the CLI, the workflow runner and the Python API: observability hooks around a step."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")


class StepRun:
    """A running step: reports progress through the hooks and marks whether its result came from the cache."""

    def __init__(self, pm: Any, name: str) -> None:
        self.pm = pm
        self.name = name
        self.cached = False
        self.result: Any = None

    def progress(self, path: Any, done: float, total: float | None) -> None:
        self.pm.hook.ap_progress(step=self.name, path=path, done=done, total=total)

    def chunk(self, path: Any) -> Callable[[int, int | None, float], None]:
        """An engine on_chunk callback that reports through ap_chunk_done for `path`."""

        def on_chunk(index: int, total: int | None, seconds: float) -> None:
            self.pm.hook.ap_chunk_done(step=self.name, path=path, index=index, total=total, seconds=seconds)

        return on_chunk


@contextmanager
def step(pm: Any, name: str, inputs: dict[str, Any]) -> Generator[StepRun]:
    """Call ap_step_started, then ap_step_finished with the run's result, or ap_step_failed and re-raise."""
    pm.hook.ap_step_started(step=name, inputs=inputs)
    run = StepRun(pm, name)
    started = time.perf_counter()
    try:
        yield run
    except BaseException as exc:
        pm.hook.ap_step_failed(step=name, error=exc)
        raise
    pm.hook.ap_step_finished(step=name, result=run.result, seconds=time.perf_counter() - started, cached=run.cached)


def run_step(pm: Any, name: str, inputs: dict[str, Any], fn: Callable[[StepRun], T]) -> T:
    """Run `fn(step_run)` inside `step(...)` and record its return value as the step's result."""
    with step(pm, name, inputs) as run:
        run.result = fn(run)
    return run.result
