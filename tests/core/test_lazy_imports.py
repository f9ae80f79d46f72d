"""Building the CLI with every plugin discovered imports no heavy library."""

from __future__ import annotations

import os
import subprocess
import sys

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
