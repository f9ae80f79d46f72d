"""The plugin manager: the core's built-in plugins plus every entry point of group ``audio_playground``.

Entry points are loaded through stevedore, which reports each one that fails to import instead of stopping;
the failure is kept and shown by ``ap plugins list``. ``AUDIO_PLAYGROUND_LOAD_PLUGINS`` (comma-separated
entry-point names, empty for none) limits which third-party plugins load, for tests and debugging.
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
    "audio_playground.workflow.cli",
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
    from stevedore import ExtensionManager, NamedExtensionManager

    allowed = _allowed()
    failures: list[tuple[Any, BaseException]] = []

    def on_failure(_manager: Any, entry_point: Any, error: BaseException) -> None:
        failures.append((entry_point, error))

    if allowed is None:
        manager = ExtensionManager(
            namespace=ENTRY_POINT_GROUP, invoke_on_load=False, on_load_failure_callback=on_failure
        )
    else:
        manager = NamedExtensionManager(
            namespace=ENTRY_POINT_GROUP,
            names=sorted(allowed),
            invoke_on_load=False,
            on_load_failure_callback=on_failure,
        )
    # stevedore's cached entry points carry no distribution: look the names up in importlib.metadata.
    dists = _distributions()
    for ext in manager.extensions:
        dist, version = dists.get(ext.name, ("?", "?"))
        if pm.has_plugin(ext.name):
            continue
        pm.register_plugin(ext.plugin, ext.name, dist, version, builtin=False)
    for entry_point, error in failures:
        dist, version = dists.get(entry_point.name, ("?", "?"))
        pm.record_failure(entry_point.name, dist, version, error)


def _distributions() -> dict[str, tuple[str, str]]:
    from importlib.metadata import entry_points

    found: dict[str, tuple[str, str]] = {}
    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        if dist is not None:
            found.setdefault(entry_point.name, (dist.metadata["Name"], dist.version))
    return found


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
