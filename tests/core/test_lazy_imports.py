"""Building the CLI with every plugin discovered imports no heavy library."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HEAVY = ("torch", "demucs", "mlx", "mlx_audio", "librosa", "transformers", "scipy", "soundfile", "av", "numpy")

SCRIPT = """
import sys
from audio_playground.cli import build_cli
from audio_playground.plugins import get_plugin_manager
cli = build_cli()
import click
ctx = click.Context(cli)
for name in cli.list_commands(ctx):
    command = cli.get_command(ctx, name)
    if isinstance(command, click.Group):
        sub = click.Context(command, parent=ctx)
        for inner in command.list_commands(sub):
            command.get_command(sub, inner).get_help(click.Context(command.get_command(sub, inner), parent=sub))
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print(",".join(heavy))
"""


def test_help_of_every_command_imports_nothing_heavy() -> None:
    env = {k: v for k, v in os.environ.items() if k != "AUDIO_PLAYGROUND_LOAD_PLUGINS"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(heavy=HEAVY)],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    assert result.stdout.strip() == ""


STARTUP = ("structlog", "rich", "pydantic", "pydantic_settings", "stevedore", "numpy")
RUN = """
import sys
from audio_playground.cli import run
code = run({args!r})
print(code, ",".join(sorted(m for m in {names!r} if m in sys.modules)))
"""


def _imports(args: list[str], cwd: Path, **env: str) -> tuple[str, list[str]]:
    """(exit code, which of STARTUP got imported) of one CLI run in a fresh process with every plugin."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AUDIO_PLAYGROUND_")}
    environ.update(env)
    result = subprocess.run(
        [sys.executable, "-c", RUN.format(args=args, names=STARTUP)],
        capture_output=True,
        text=True,
        env=environ,
        cwd=cwd,
        check=True,
    )
    code, _, names = result.stdout.strip().splitlines()[-1].partition(" ")
    return code, [n for n in names.split(",") if n]


def test_help_imports_no_logging_config_or_numpy(tmp_path: Path) -> None:
    assert _imports(["--help"], tmp_path) == ("0", [])
