"""Where the inputs of a batch run: the `ap_executors` machinery, the built-in `local` executor, the run manifest.

    from audio_playground.executors import SeparateTask, run_batch, work_items
    items, total = work_items(["library/"], recursive=True)
    summary = run_batch(SeparateTask("hpss", "/abs/stems", "{track}/{stem}-{suffix}.{ext}"), items, total=total)

Cheap to import: the batch driver and the executors load their modules when a batch runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from audio_playground.executors.manifest import MANIFEST_NAME, read_manifest

__all__ = [
    "MANIFEST_NAME",
    "BatchContext",
    "BatchSummary",
    "SeparateTask",
    "SeparateWorker",
    "read_manifest",
    "run_batch",
    "work_items",
]

if TYPE_CHECKING:
    from audio_playground.executors.batch import BatchContext, BatchSummary, run_batch
    from audio_playground.executors.inputs import work_items
    from audio_playground.executors.task import SeparateTask, SeparateWorker

_HOMES = {
    "BatchContext": "batch",
    "BatchSummary": "batch",
    "run_batch": "batch",
    "work_items": "inputs",
    "SeparateTask": "task",
    "SeparateWorker": "task",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        import importlib

        return getattr(importlib.import_module(f"audio_playground.executors.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'audio_playground.executors' has no attribute {name!r}")
