"""The ap-cache-fs plugin: a file-system store for step results, and the `ap cache` commands.

Discovery imports only this module and click; hashing, locking and TOML load when a command runs.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from audio_playground.hookspecs import hookimpl
from audio_playground.specs import CacheSpec

if TYPE_CHECKING:
    from ap_cache_fs.store import FsCache
    from audio_playground.config import AudioPlaygroundConfig

PRIORITY = 10


def open_store(config: AudioPlaygroundConfig, warn: Callable[[str], None]) -> FsCache | None:
    """CacheSpec.open: the store in config.cache_dir, or None (after a warning) when that is unusable."""
    from ap_cache_fs.store import FsCache

    return FsCache.open(Path(config.cache_dir), warn)


@hookimpl
def ap_caches() -> list[CacheSpec]:
    return [CacheSpec("fs", open_store, priority=PRIORITY)]


@hookimpl
def ap_register_commands(cli: click.Group) -> None:
    from ap_cache_fs.commands import cache_group

    cli.add_command(cache_group)
