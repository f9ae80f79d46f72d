"""The plugin manager: the core's built-in plugins plus every entry point of group ``audio_playground``.

Entry points are read and loaded through importlib.metadata, one at a time: one that fails to import is kept
as a failure and shown by ``ap plugins list`` instead of stopping the others. (stevedore did this before; it cost
a second scan of the installed distributions and its own import at every start, for no feature used here.)
``AUDIO_PLAYGROUND_LOAD_PLUGINS`` (comma-separated entry-point names, empty for none) limits which third-party
plugins load, for tests and debugging.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import pluggy

from audio_playground import hookspecs

ENTRY_POINT_GROUP = "audio_playground"
LOAD_PLUGINS_ENV = "AUDIO_PLAYGROUND_LOAD_PLUGINS"

BUILTIN_PLUGINS: tuple[str, ...] = (
    "audio_playground.audio.plugin",
    "audio_playground.segmenting",
    "audio_playground.hpss",
    "audio_playground.backends",
    "audio_playground.cli.commands",
    "audio_playground.cli.demo",
    "audio_playground.cli.report",
    "audio_playground.workflow.cli",
    "audio_playground.executors.local",
)


@dataclass
class PluginRecord:
    """One discovered plugin: where it came from and what it implements (or why it failed to load)."""

    name: str
    distribution: str
    version: str
    builtin: bool
    hooks: list[str] = field(default_factory=list)
    error: str | None = None


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus the records `ap plugins list` shows."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.add_hookspecs(hookspecs)
        self.records: list[PluginRecord] = []

    def register_plugin(self, plugin: Any, name: str, distribution: str, version: str, builtin: bool) -> None:
        """Register `plugin` and remember its record."""
        self.register(plugin, name=name)
        hooks = sorted(h.name for h in self.get_hookcallers(plugin) or ())
        self.records.append(PluginRecord(name, distribution, version, builtin, hooks))

    def record_failure(self, name: str, distribution: str, version: str, error: BaseException) -> None:
        self.records.append(PluginRecord(name, distribution, version, False, error=f"{type(error).__name__}: {error}"))


def _allowed() -> set[str] | None:
    value = os.environ.get(LOAD_PLUGINS_ENV)
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def _load_entry_points(pm: PluginManager) -> None:
    from importlib.metadata import entry_points

    allowed = _allowed()
    seen: set[str] = set()
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        name = entry_point.name
        if (allowed is not None and name not in allowed) or pm.has_plugin(name) or name in seen:
            continue
        seen.add(name)  # a second entry point of this name (another copy on sys.path) is skipped
        dist = entry_point.dist
        distribution, version = (dist.metadata["Name"], dist.version) if dist is not None else ("?", "?")
        try:
            plugin = entry_point.load()
        except Exception as error:  # a broken plugin is listed, never fatal
            pm.record_failure(name, distribution, version, error)
            continue
        pm.register_plugin(plugin, name, distribution, version, builtin=False)


def _register_builtins(pm: PluginManager) -> None:
    import importlib

    from audio_playground import __version__

    for module_name in BUILTIN_PLUGINS:
        module = importlib.import_module(module_name)
        pm.register_plugin(module, module_name, "audio-playground", __version__, builtin=True)


def build_plugin_manager(load_entry_points: bool = True) -> PluginManager:
    """A fresh manager with the built-in plugins and (unless told not to) the installed ones."""
    pm = PluginManager()
    _register_builtins(pm)
    if load_entry_points:
        _load_entry_points(pm)
    return pm


_default: PluginManager | None = None


def get_plugin_manager() -> PluginManager:
    """The process-wide plugin manager, built on first use. Scripts call its hooks directly."""
    global _default
    if _default is None:
        _default = build_plugin_manager()
    return _default


def reset_plugin_manager() -> None:
    """Forget the process-wide manager (tests; after installing a plugin at run time)."""
    global _default
    _default = None
