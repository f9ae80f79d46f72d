"""The ap-ray plugin: registers the `ray` executor. Ray itself is imported only when a batch runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from audio_playground.hookspecs import hookimpl
from audio_playground.specs import ExecutorSpec

if TYPE_CHECKING:
    from audio_playground.executors.batch import BatchContext
    from audio_playground.specs import WorkItem


def run(ctx: BatchContext, items: Iterator[WorkItem]) -> Iterator[dict[str, Any]]:
    """ExecutorSpec.run: import Ray now, run the batch on it."""
    from ap_ray.executor import run as run_on_ray

    return run_on_ray(ctx, items)


@hookimpl
def ap_executors() -> list[ExecutorSpec]:
    return [
        ExecutorSpec(
            name="ray",
            run=run,
            help="A Ray instance started for the run (127.0.0.1 only), or a cluster with --address auto|HOST:PORT.",
            plugin="ap-ray",
            connects=True,
        )
    ]
