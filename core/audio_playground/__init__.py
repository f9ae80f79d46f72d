"""audio-playground: a plugin framework and CLI for AI stem separation.

Programmatic use goes through the same hooks as the CLI::

    from audio_playground import get_plugin_manager, separate

    pm = get_plugin_manager()
    specs = [s for group in pm.hook.ap_separators() for s in group]
    result = separate("song.mp3", "out/", separator="hpss")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from audio_playground.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "batch", "evaluate", "get_plugin_manager", "hookimpl", "separate"]

if TYPE_CHECKING:
    from audio_playground.api import batch, evaluate, separate
    from audio_playground.plugins import get_plugin_manager


def __getattr__(name: str) -> Any:
    # Lazy: `import audio_playground` stays cheap for the CLI and for plugins.
    if name == "get_plugin_manager":
        from audio_playground.plugins import get_plugin_manager

        return get_plugin_manager
    if name == "separate":
        from audio_playground.api import batch, separate

        return separate
    if name == "batch":
        from audio_playground.api import batch

        return batch
    if name == "evaluate":
        from audio_playground.api import evaluate

        return evaluate
    raise AttributeError(f"module 'audio_playground' has no attribute {name!r}")
