"""The built-in `local` executor: items in this process, or in `-j N` worker processes that each load the model once.

One worker runs in the driver's process (today's behaviour: chunk progress, the model loaded once for the whole
batch). With N > 1 a process pool of N workers (spawned, so no thread state is forked) each builds one
SeparateWorker and keeps it; at most 2N items are in flight, so inputs stream from the driver. Workers keep the
driver's thread settings (OMP_NUM_THREADS, torch's default): a model's results on the CPU depend on its thread
count, and outputs must be byte-identical whichever executor ran them. A worker process that dies (SIGKILL,
out of memory) breaks the pool: a new pool takes over and the items that were in flight run again, once; a
second death fails them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from audio_playground.hookspecs import hookimpl
from audio_playground.specs import ExecutorSpec, WorkItem

if TYPE_CHECKING:
    from concurrent.futures import Future

    from audio_playground.executors.batch import BatchContext

NAME = "local"
ATTEMPTS = 2

_worker: Any = None


def _start(task: Any) -> None:  # pragma: no cover - runs in the worker processes
    """Pool initializer: build the worker once (the model loads at its first uncached item)."""
    global _worker
    _worker = task.worker()


def _run(item: WorkItem) -> dict[str, Any] | None:  # pragma: no cover - runs in the worker processes
    assert _worker is not None
    try:
        return _worker(item)
    except KeyboardInterrupt:  # Ctrl-C reaches the whole process group: the driver reports it, once
        return None


def run(ctx: BatchContext, items: Iterator[WorkItem]) -> Iterator[dict[str, Any]]:
    """ExecutorSpec.run of `local`."""
    workers = ctx.workers or 1
    if workers <= 1:
        ctx.hooks_in_worker = True
        worker = ctx.local_worker()
        for item in items:
            yield worker(item)
        return
    yield from _pooled(ctx, items, workers)


def _pooled(ctx: BatchContext, items: Iterator[WorkItem], workers: int) -> Iterator[dict[str, Any]]:
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
    from concurrent.futures.process import BrokenProcessPool

    def new_pool() -> ProcessPoolExecutor:
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start,
            initargs=(ctx.task,),
        )

    pool = new_pool()
    flying: dict[Future[Any], WorkItem] = {}
    attempts: dict[int, int] = {}
    retry: list[WorkItem] = []
    exhausted = False
    try:
        while True:
            while len(flying) < 2 * workers and (retry or not exhausted):
                if retry:
                    item = retry.pop()
                else:
                    item = next(items, None)
                    if item is None:
                        exhausted = True
                        break
                attempts[item.index] = attempts.get(item.index, 0) + 1
                flying[pool.submit(_run, item)] = item
            if not flying:
                return
            finished, _ = wait(flying, return_when=FIRST_COMPLETED)
            broken = False
            for future in finished:
                item = flying.pop(future)
                try:
                    record = future.result()
                except BrokenProcessPool:
                    broken = True
                    if attempts[item.index] < ATTEMPTS:
                        retry.append(item)
                    else:
                        yield _died(ctx, item)
                    continue
                attempts.pop(item.index, None)
                if record is not None:
                    yield record
            if broken:
                # every future of a broken pool fails: run the rest of those items on a fresh pool
                for future, item in list(flying.items()):
                    if future.done() and not future.cancelled() and future.exception() is None:
                        record = future.result()
                        if record is not None:
                            yield record
                    elif attempts[item.index] < ATTEMPTS:
                        retry.append(item)
                    else:
                        yield _died(ctx, item)
                flying.clear()
                pool.shutdown(wait=False, cancel_futures=True)
                pool = new_pool()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _died(ctx: BatchContext, item: WorkItem) -> dict[str, Any]:
    from audio_playground.executors.batch import failed_record

    return failed_record(
        ctx.task, item, f"{item.input}: the worker process died twice while separating it (killed, or out of memory)"
    )


@hookimpl
def ap_executors() -> list[ExecutorSpec]:
    return [
        ExecutorSpec(
            name=NAME,
            run=run,
            help="This machine: one input after another in this process, or -j N worker processes.",
            plugin="audio-playground",
        )
    ]
