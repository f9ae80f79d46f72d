"""The `ap` command line: a thin click app whose subcommands come from plugins (the core's included)."""

from __future__ import annotations

from typing import Any

from audio_playground.cli.app import build_cli, main, run

__all__ = ["build_cli", "main", "run"]


def __getattr__(name: str) -> Any:
    if name == "cli":  # built on demand: building discovers every plugin
        return build_cli()
    raise AttributeError(name)
