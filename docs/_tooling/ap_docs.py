"""The `ap` command tree for the CLI reference: installed plugins plus this repository's plugins, from source.

The docs environment installs the core only (no torch, no mlx), yet the reference must show every command
the project's plugins add. Plugin modules import no heavy library at discovery (a project rule that
tests/core/test_lazy_imports.py enforces), so each plugin's entry-point module is imported straight from
``plugins/<dist>/`` and registered like an installed one. mkdocs-click reads ``ap_docs:cli`` (that tree,
with the global options shown once, on ``ap`` itself);
tests/core/test_docs.py builds the same tree to check every command the documentation shows.
"""

from __future__ import annotations

import importlib
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PLUGINS_DIR = REPO / "plugins"


@dataclass(frozen=True)
class RepoPlugin:
    """One entry point of a plugin distribution in this repository's plugins/ folder."""

    distribution: str
    version: str
    name: str
    """Entry-point name (what AUDIO_PLAYGROUND_LOAD_PLUGINS and `ap plugins list` call it)."""
    module: str
    root: Path
    """The folder that holds the plugin's package (put on sys.path to import it from source)."""


def repository_plugins(plugins_dir: Path | None = None) -> list[RepoPlugin]:
    """Every `audio_playground` entry point declared by plugins/*/pyproject.toml, sorted by distribution."""
    found: list[RepoPlugin] = []
    for pyproject in sorted((plugins_dir or PLUGINS_DIR).glob("*/pyproject.toml")):
        project = tomllib.loads(pyproject.read_text(encoding="utf-8")).get("project", {})
        entry_points = project.get("entry-points", {}).get("audio_playground", {})
        for name, target in sorted(entry_points.items()):
            found.append(
                RepoPlugin(
                    distribution=project.get("name", pyproject.parent.name),
                    version=str(project.get("version", "0")),
                    name=name,
                    module=target.split(":")[0],
                    root=pyproject.parent,
                )
            )
    return found


def add_repository_plugins(pm: Any, strict: bool = True) -> dict[str, str]:
    """Register each repository plugin not already loaded; returns {entry-point name: import error} for failures.

    With `strict`, a plugin that fails to import raises instead: the documentation must not silently lose
    a plugin's commands.
    """
    loaded = {record.name for record in pm.records if record.error is None}  # a failed entry point: try source
    failures: dict[str, str] = {}
    for plugin in repository_plugins():
        if plugin.name in loaded or pm.has_plugin(plugin.name):
            continue
        if str(plugin.root) not in sys.path:
            sys.path.append(str(plugin.root))
        try:
            module = importlib.import_module(plugin.module)
        except Exception as exc:
            if strict:
                raise RuntimeError(
                    f"{plugin.root}: cannot import {plugin.module} ({type(exc).__name__}: {exc}); plugin modules must "
                    "import without their heavy libraries so the CLI reference can document them"
                ) from exc
            failures[plugin.name] = f"{type(exc).__name__}: {exc}"
            continue
        pm.register_plugin(module, plugin.name, plugin.distribution, plugin.version, builtin=False)
    return failures


def build_plugin_manager(strict: bool = True) -> Any:
    """A plugin manager with the core, the installed plugins and every repository plugin."""
    from audio_playground.plugins import build_plugin_manager as core_manager

    pm = core_manager()
    add_repository_plugins(pm, strict=strict)
    return pm


def build_reference_cli(strict: bool = True) -> Any:
    """The root `ap` group as a user with every plugin of this repository installed sees it."""
    from audio_playground.cli import build_cli

    return build_cli(build_plugin_manager(strict=strict))


def without_global_options(command: Any) -> Any:
    """A view of `command` for the reference: the global options are dropped (the page lists them once, on `ap`).

    Groups are wrapped rather than copied, so subcommands that are generated on demand (`ap extract NAME`)
    are trimmed too; the real commands are left untouched.
    """
    import copy

    import click

    from audio_playground.cli.options import GLOBAL_OPTIONS

    global_names = {option.name for option in GLOBAL_OPTIONS}
    params = [p for p in command.params if p.name not in global_names]
    if not isinstance(command, click.Group):
        view = copy.copy(command)
        view.params = params
        return view

    class GroupView(click.Group):
        def list_commands(self, ctx: click.Context) -> list[str]:
            return command.list_commands(ctx)

        def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
            sub = command.get_command(ctx, cmd_name)
            return None if sub is None else without_global_options(sub)

    return GroupView(
        command.name,
        params=params,
        help=command.help,
        short_help=command.short_help,
        context_settings=command.context_settings,
    )


def reference_tree(strict: bool = True) -> Any:
    """The tree the CLI reference renders: `ap` with its global options, every subcommand without them."""
    import click

    root = build_reference_cli(strict=strict)

    class RootView(click.Group):
        def list_commands(self, ctx: click.Context) -> list[str]:
            return root.list_commands(ctx)

        def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
            sub = root.get_command(ctx, cmd_name)
            return None if sub is None else without_global_options(sub)

    return RootView(root.name, params=root.params, help=root.help, context_settings=root.context_settings)


def providers(pm: Any) -> list[tuple[str, str]]:
    """(command path, distribution) for every command a plugin adds, `extract` separators included."""
    import click

    from audio_playground.backends import all_separators
    from audio_playground.cli import build_cli

    rows: list[tuple[str, str]] = []
    for record in pm.records:
        if "ap_register_commands" not in record.hooks:
            continue
        group = click.Group("probe")
        pm.get_plugin(record.name).ap_register_commands(cli=group)
        rows += [(name, record.distribution) for name in sorted(group.commands) if name != "extract"]
    for name, specs in sorted(all_separators(pm).items()):
        dists = ", ".join(dict.fromkeys(f"{spec.plugin or '?'} ({spec.backend})" for spec in specs))
        rows.append((f"extract {name}, extract process-{name}", dists))
    build_cli(pm)  # the same registration the CLI does; fails loudly if a plugin's commands clash
    return rows


_cli: Any = None


def __getattr__(name: str) -> Any:
    # `cli` is built on first use: building it discovers and imports every plugin.
    global _cli
    if name == "cli":
        if _cli is None:
            _cli = reference_tree()
        return _cli
    raise AttributeError(f"module 'ap_docs' has no attribute {name!r}")
