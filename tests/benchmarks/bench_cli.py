"""Start-up: wall time of `ap --help`, of every `ap COMMAND --help`, and of a cached `ap segment split`.

Run: python tests/benchmarks/bench_cli.py [--repeat 5]           every help; target: each under 0.5 s wall
     python tests/benchmarks/bench_cli.py --startup [--before DIR] [--repeat 9]
        `ap --help` (target <= 0.15 s) and the second, cached `ap segment split` of a 10-minute WAV into the
        folder the first run wrote (target <= 0.25 s), whole processes, medians. --before DIR names a checkout
        of an older commit (git archive COMMIT | tar -x -C DIR): its sources go first on PYTHONPATH and its runs
        alternate with this tree's, so both are measured under the same load. Bytecode is written and used
        as in an installed copy (PYTHONDONTWRITEBYTECODE is cleared). `python -X importtime` shows the imports.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


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


def startup(repeat: int, before: Path | None) -> None:
    """Median wall of `ap --help` and of a cached split, this tree's (and an older checkout's) alternating."""
    from inputs import DATA, looped_demo

    ap = shutil.which("ap") or sys.exit("ap is not on PATH: install the project first")
    song = looped_demo(DATA / "demo-600s.wav", 600.0)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIO_PLAYGROUND_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    trees: dict[str, dict[str, str]] = {"now": env}
    if before is not None:
        roots = [before / "core", *sorted(p for p in (before / "plugins").iterdir() if p.is_dir())]
        trees["before"] = {**env, "PYTHONPATH": os.pathsep.join(str(p) for p in roots)}
    times: dict[tuple[str, str], list[float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = {}
        for tree, tree_env in trees.items():
            out, cache = Path(tmp) / tree / "segments", Path(tmp) / tree / "cache"
            split = [ap, "--cache-dir", str(cache), "segment", "split", "--src", str(song), "--output-dir", str(out)]
            subprocess.run(split, check=True, capture_output=True, env=tree_env)  # fills the cache (and bytecode)
            runs[tree] = {"ap --help": [ap, "--help"], "cached segment split (10 min)": split}
        cpu: dict[tuple[str, str], list[float]] = {}
        for _ in range(repeat):
            for tree, tree_env in trees.items():
                for label, command in runs[tree].items():
                    before_cpu = _children_cpu()
                    started = time.perf_counter()
                    subprocess.run(command, check=True, capture_output=True, env=tree_env)
                    times.setdefault((label, tree), []).append(time.perf_counter() - started)
                    cpu.setdefault((label, tree), []).append(_children_cpu() - before_cpu)
    # On a loaded machine wall time waits for a core; the process's own CPU time (user + sys) does not.
    for (label, tree), values in sorted(times.items()):
        spent = statistics.median(cpu[label, tree])
        print(
            f"{statistics.median(values):6.3f} s wall (min {min(values):.3f}), {spent:6.3f} s cpu  {label} [{tree}]"
            f" ({len(values)} runs)"
        )


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=None)
    parser.add_argument("--startup", action="store_true", help="--help and a cached split, against --before")
    parser.add_argument("--before", type=Path, default=None, help="a checkout of an older commit to compare")
    args = parser.parse_args()
    if args.startup:
        startup(args.repeat or 9, args.before)
        return
    repeat = args.repeat or 5
    ap = shutil.which("ap") or sys.exit("ap is not on PATH: install the project first")
    worst = 0.0
    for path in commands():
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            subprocess.run([ap, *path, "--help"], check=True, capture_output=True)
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        worst = max(worst, median)
        print(f"{median:6.3f} s  ap {' '.join(path)} --help")
    print(f"worst median: {worst:.3f} s (target < 0.5 s)")


if __name__ == "__main__":
    main()
