"""The plugin contract: every hook a plugin may implement. This module is public API.

A plugin is a module (or object) with functions decorated by ``audio_playground.hookimpl`` and named like
the specs below, registered through an entry point of group ``audio_playground``::

    [project.entry-points.audio_playground]
    my_plugin = "my_package.plugin"

Discovery hooks return descriptions (specs), never loaded models, so listing what is installed costs
nothing. Observability hooks are called by the core as work happens; their return values are ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pathlib import Path

    import click

    from audio_playground.specs import (
        BackendSpec,
        CacheSpec,
        ExecutorSpec,
        SegmenterSpec,
        SeparatorSpec,
        SourceSpec,
    )

PROJECT = "audio_playground"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


# --------------------------------------------------------------------------- discovery


@hookspec
def ap_sources() -> list[SourceSpec]:  # ty: ignore[invalid-implicit-return-in-function-with-stub-body]
    """Return the input sources this plugin can open (files now; URLs are a natural extension)."""


@hookspec
def ap_segmenters() -> list[SegmenterSpec]:  # ty: ignore[invalid-implicit-return-in-function-with-stub-body]
    """Return segment planners (the core ships "fixed": fixed windows with overlap)."""


@hookspec
def ap_separators() -> list[SeparatorSpec]:  # ty: ignore[invalid-implicit-return-in-function-with-stub-body]
    """Return separators: a model family by name and backend, its stems or prompts, options and loader.

    Every distinct name becomes ``ap extract NAME`` (and ``ap extract process-NAME``). Specs sharing a name
    on different backends are chosen between by ``--backend``.
    """


@hookspec
def ap_backends() -> list[BackendSpec]:  # ty: ignore[invalid-implicit-return-in-function-with-stub-body]
    """Return compute runtimes (pytorch, mlx, ...); availability is detected without importing them."""


@hookspec
def ap_caches() -> list[CacheSpec]:  # ty: ignore[invalid-implicit-return-in-function-with-stub-body]
    """Return step-result stores. The core runs uncached when no plugin returns one."""


@hookspec
def ap_executors() -> list[ExecutorSpec]:  # ty: ignore[invalid-implicit-return-in-function-with-stub-body]
    """Return executors: where the inputs of a batch run (the core ships "local"; ap-ray adds "ray").

    ``--executor NAME`` on every command that takes several inputs picks one. Import the runtime (Ray, ...)
    inside ``ExecutorSpec.run``, never at module level.
    """


@hookspec
def ap_register_commands(cli: click.Group) -> None:
    """Add click commands or groups to the root ``ap`` group.

    Import heavy libraries inside the command functions, never at module level: ``ap --help`` loads every
    plugin to list its commands.
    """


# --------------------------------------------------------------------------- observability


@hookspec
def ap_step_started(step: str, inputs: dict[str, Any]) -> None:
    """A step (convert, segment, separate, merge, ...) begins. `inputs` names its files and options."""


@hookspec
def ap_step_finished(step: str, result: Any, seconds: float, cached: bool) -> None:
    """A step ended well; `result` is its result dataclass; `cached` when it came from the cache."""


@hookspec
def ap_step_failed(step: str, error: BaseException) -> None:
    """A step raised; the error propagates after this hook."""


@hookspec
def ap_progress(step: str, path: Path | None, done: float, total: float | None) -> None:
    """Work inside a step advanced: `done` of `total` units (seconds of audio for separation and conversion)."""


@hookspec
def ap_chunk_done(step: str, path: Path | None, index: int, total: int | None, seconds: float) -> None:
    """The engine finished chunk `index` of `total` of `path`, after `seconds` of compute."""
