"""ap-demucs against the demucs CLI: wall time on a 20 s clip with the full-size architecture, peak memory on long
inputs with a tiny model.

Run: python tests/benchmarks/bench_demucs.py speed [--repeat 3]
     python tests/benchmarks/bench_demucs.py memory [--minutes 20] [--tool ap|demucs|both]
Targets: `ap extract demucs` / `demucs` wall ratio <= 1.0 (same clip, same local full-size htdemucs architecture
with random weights, --shifts 0, runs alternating); peak RSS on a 20-minute input with a tiny model <= 600 MB, and
a 2-hour input within the same bound. Models come from `python -m ap_demucs.testing DIR [--full]` (random weights
cost the same compute as trained ones). Each tool runs in a fresh Python process that reports its own VmHWM.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inputs import DATA, looped_demo  # the sibling module: scripts run from this folder

# Runs a CLI entry point in this process and prints its wall time and peak RSS (VmHWM) as JSON at exit.
CHILD = """
import atexit, json, sys, time
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
started = time.perf_counter()
atexit.register(lambda: print(json.dumps({"wall": time.perf_counter() - started, "rss_mb": hwm()}),
                              file=sys.stderr))
tool, args = sys.argv[1], sys.argv[2:]
if tool == "ap":
    from audio_playground.cli import main
    main(args)
else:
    import runpy
    sys.argv = ["demucs", *args]
    runpy.run_module("demucs.separate", run_name="__main__")
"""


def run(tool: str, args: list[str]) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", CHILD, tool, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"{tool} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stderr.strip().splitlines()[-1])


def models(full: bool) -> Path:
    repo = DATA / ("demucs-full" if full else "demucs-tiny")
    if not repo.exists():
        subprocess.run(
            [sys.executable, "-m", "ap_demucs.testing", str(repo), *(["--full"] if full else [])], check=True
        )
    return repo


def tool_args(tool: str, model: str, repo: Path, src: Path, out: Path) -> list[str]:
    """The same separation asked of either tool: model from `repo`, CPU, no shifts (and no cache for ap)."""
    if tool == "ap":
        return [
            "-q",
            "--device",
            "cpu",
            "extract",
            "demucs",
            str(src),
            "-o",
            str(out),
            "--model",
            model,
            "--repo",
            str(repo),
            "--shifts",
            "0",
            "--no-cache",
        ]
    return ["-n", model, "--repo", str(repo), "--shifts", "0", "-d", "cpu", "-o", str(out), str(src)]


def speed(repeat: int) -> None:
    repo = models(full=True)
    src = looped_demo(DATA / "clip-20s.wav", 20.0)
    times: dict[str, list[float]] = {"ap": [], "demucs": []}
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(repeat):
            for tool in ("ap", "demucs") if i % 2 == 0 else ("demucs", "ap"):
                out = Path(tmp) / f"{tool}-{i}"
                args = tool_args(tool, "full4", repo, src, out)
                result = run(tool, args)
                times[tool].append(result["wall"])
                print(f"run {i} {tool:7s} {result['wall']:7.2f} s  peak {result['rss_mb']:7.0f} MB", flush=True)
    ap, demucs = statistics.median(times["ap"]), statistics.median(times["demucs"])
    print(f"median wall: ap {ap:.2f} s, demucs {demucs:.2f} s, ratio {ap / demucs:.3f} (target <= 1.0)")


def memory(minutes: float, tools: list[str]) -> None:
    repo = models(full=False)
    src = looped_demo(DATA / f"clip-{minutes:g}min.wav", minutes * 60)
    with tempfile.TemporaryDirectory() as tmp:
        for tool in tools:
            out = Path(tmp) / tool
            args = tool_args(tool, "tiny4", repo, src, out)
            started = time.perf_counter()
            result = run(tool, args)
            print(
                f"{tool:7s} {minutes:g} min input: wall {time.perf_counter() - started:7.1f} s, "
                f"peak RSS {result['rss_mb']:7.0f} MB (target <= 600 MB for ap)",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("speed")
    s.add_argument("--repeat", type=int, default=3)
    m = sub.add_parser("memory")
    m.add_argument("--minutes", type=float, default=20.0)
    m.add_argument("--tool", choices=["ap", "demucs", "both"], default="both")
    args = parser.parse_args()
    if args.mode == "speed":
        speed(args.repeat)
    else:
        memory(args.minutes, ["ap", "demucs"] if args.tool == "both" else [args.tool])


if __name__ == "__main__":
    main()
