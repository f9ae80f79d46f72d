"""Wall time of `ap --help` and of every `ap COMMAND --help`, with whatever plugins are installed.

Run: python tests/benchmarks/bench_cli.py [--repeat 5]. Target: every help under 0.5 s wall.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time


def commands() -> list[list[str]]:
    """Every command path the installed CLI offers (groups expanded one level, as users type them)."""
    import click

    from audio_playground.cli import build_cli

    cli = build_cli()
    ctx = click.Context(cli)
    paths: list[list[str]] = [[]]
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        paths.append([name])
        if isinstance(command, click.Group):
            sub = click.Context(command, parent=ctx)
            paths.extend([name, inner] for inner in command.list_commands(sub))
    return paths


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    ap = shutil.which("ap") or sys.exit("ap is not on PATH: install the project first")
    worst = 0.0
    for path in commands():
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            subprocess.run([ap, *path, "--help"], check=True, capture_output=True)
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        worst = max(worst, median)
        print(f"{median:6.3f} s  ap {' '.join(path)} --help")
    print(f"worst median: {worst:.3f} s (target < 0.5 s)")


if __name__ == "__main__":
    main()
