"""ap-demucs against the demucs CLI: wall time on a 20 s clip with the full-size architecture, peak memory on long
inputs with a tiny model, and the model's compute alone on PyTorch, ONNX Runtime (and OpenVINO when installed).

Run: python tests/benchmarks/bench_demucs.py speed [--repeat 3] [--tools ap,ap-onnx,demucs]
     python tests/benchmarks/bench_demucs.py memory [--minutes 20] [--tool ap|ap-onnx|demucs|both]
     python tests/benchmarks/bench_demucs.py compute [--repeat 3] [--threads 2]
Tools: `ap` is `ap extract demucs --backend pytorch`, `ap-onnx` is `--backend onnx`, `demucs` the demucs CLI.
Targets: `ap extract demucs` / `demucs` wall ratio <= 1.0 and `ap-onnx` / `demucs` <= 0.75 (same clip, same local
full-size htdemucs architecture with random weights, --shifts 0, runs alternating; the onnx export is made once
before the timed runs, as a user's first run makes it); peak RSS of ap-onnx no more than ap's; one segment's
compute on ONNX Runtime <= 0.8 of PyTorch eager's, reported as FLOP/s against the ~1.6e11 fp32 peak of 2 Zen 3
cores (one 7.8 s segment of htdemucs is 3.35e11 FLOPs); peak RSS on a 20-minute input with a tiny model <= 600 MB,
and a 2-hour input within the same bound. Models come from `python -m ap_demucs.testing DIR [--full]` (random
weights cost the same compute as trained ones). Each tool runs in a fresh Python process that reports its own VmHWM.
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

# Runs a CLI entry point in this process and prints its wall time, CPU time (all its threads) and peak RSS (VmHWM)
# as JSON at exit. On a shared, loaded machine the CPU time is the steadier measure of the work done.
CHILD = """
import atexit, json, sys, time
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
started = time.perf_counter()
atexit.register(lambda: print(json.dumps({"wall": time.perf_counter() - started, "cpu": time.process_time(),
                                          "rss_mb": hwm()}), file=sys.stderr))
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


SEGMENT_FLOPS = 3.35e11
"""One 7.8 s segment of full-size htdemucs (FlopCounterMode, with the attention products counted)."""
PEAK_FLOPS = 1.6e11
"""fp32 peak of this machine's 2 Zen 3 cores (AVX2 + FMA)."""


def tool_args(tool: str, model: str, repo: Path, src: Path, out: Path) -> list[str]:
    """The same separation asked of each tool: model from `repo`, CPU, no shifts (and no cache for ap)."""
    if tool.startswith("ap"):
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
            "--backend",
            "onnx" if tool == "ap-onnx" else "pytorch",
        ]
    return ["-n", model, "--repo", str(repo), "--shifts", "0", "-d", "cpu", "-o", str(out), str(src)]


def speed(repeat: int, tools: list[str]) -> None:
    repo = models(full=True)
    src = looped_demo(DATA / "clip-20s.wav", 20.0)
    times: dict[str, list[float]] = {tool: [] for tool in tools}
    cpus: dict[str, list[float]] = {tool: [] for tool in tools}
    peaks: dict[str, list[float]] = {tool: [] for tool in tools}
    with tempfile.TemporaryDirectory() as tmp:
        if "ap-onnx" in tools:  # the one-time export (a user's first run), outside the timed runs
            result = run("ap", tool_args("ap-onnx", "full4", repo, src, Path(tmp) / "export"))
            print(f"export run: {result['wall']:.1f} s (once per set of weights)", flush=True)
        for i in range(repeat):
            order = tools[i % len(tools) :] + tools[: i % len(tools)]  # rotate who goes first
            for tool in order:
                out = Path(tmp) / f"{tool}-{i}"
                result = run("ap" if tool.startswith("ap") else tool, tool_args(tool, "full4", repo, src, out))
                times[tool].append(result["wall"])
                cpus[tool].append(result["cpu"])
                peaks[tool].append(result["rss_mb"])
                print(
                    f"run {i} {tool:7s} wall {result['wall']:7.2f} s  cpu {result['cpu']:7.2f} s  "
                    f"peak {result['rss_mb']:7.0f} MB",
                    flush=True,
                )
    for label, table in (("wall", times), ("cpu", cpus)):
        median = {tool: statistics.median(values) for tool, values in table.items()}
        print(f"median {label}: " + ", ".join(f"{tool} {value:.2f} s" for tool, value in median.items()))
        if "demucs" in median:
            for tool, target in (("ap", 1.0), ("ap-onnx", 0.75)):
                if tool in median:
                    print(f"  {label} {tool} / demucs: {median[tool] / median['demucs']:.3f} (target <= {target})")
        if "ap" in median and "ap-onnx" in median:
            print(f"  {label} ap-onnx / ap (pytorch): {median['ap-onnx'] / median['ap']:.3f}")
        print(f"peak RSS: ap-onnx {max(peaks['ap-onnx']):.0f} MB, ap {max(peaks['ap']):.0f} MB (target: onnx <= ap)")


def compute(repeat: int, threads: int) -> None:
    """One segment through the network alone: PyTorch eager, ONNX Runtime (and OpenVINO), alternating."""
    import os
    from importlib.util import find_spec

    import numpy as np
    import torch

    from ap_demucs import spectral
    from ap_demucs.models import locate
    from ap_demucs.onnx_runtime import Exports, session_options
    from ap_demucs.separator import load_weights

    torch.set_num_threads(threads)
    weights = locate("full4", models(full=True))
    assert weights is not None
    model = load_weights(weights).eval()
    exports = Exports(weights)
    entry = exports.manifest["networks"][0]
    meta, path = entry["meta"], exports.graph(0, int(entry["default"]))
    frames = int(entry["default"])
    mix = np.random.default_rng(0).standard_normal((1, 2, frames)).astype(np.float32)
    z = spectral.spec(mix, meta)
    feeds = {"mix": mix, "mag": spectral.magnitude(z, meta)}

    import onnxruntime as ort

    session = ort.InferenceSession(str(path), session_options(threads), providers=["CPUExecutionProvider"])
    runners = {"pytorch": lambda: model(torch.from_numpy(mix)), "onnxruntime": lambda: session.run(None, feeds)}
    if find_spec("openvino") is not None:
        import openvino

        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
        compiled = openvino.Core().compile_model(str(path), "CPU", {"INFERENCE_NUM_THREADS": threads})
        runners["openvino"] = lambda: compiled(feeds)
    times: dict[str, list[float]] = {name: [] for name in runners}
    with torch.inference_mode():
        for call in runners.values():
            call()  # warm-up: first-call allocations and kernel choices
        for i in range(repeat):
            names = list(runners)
            for name in names[i % len(names) :] + names[: i % len(names)]:
                started = time.perf_counter()
                runners[name]()
                times[name].append(time.perf_counter() - started)
                print(f"run {i} {name:12s} {times[name][-1]:6.2f} s", flush=True)
    eager = statistics.median(times["pytorch"])
    for name, values in times.items():
        t = statistics.median(values)
        flops = SEGMENT_FLOPS / t
        print(
            f"{name:12s} median {t:6.2f} s/segment, {t / eager:.3f} of eager, {flops:.3g} FLOP/s "
            f"({flops / PEAK_FLOPS:.0%} of the fp32 peak)"
        )


def memory(minutes: float, tools: list[str]) -> None:
    repo = models(full=False)
    src = looped_demo(DATA / f"clip-{minutes:g}min.wav", minutes * 60)
    with tempfile.TemporaryDirectory() as tmp:
        if "ap-onnx" in tools:  # export once (torch) on a short clip: the measured run is a run from the export
            short = looped_demo(DATA / "clip-20s.wav", 20.0)
            run("ap", tool_args("ap-onnx", "tiny4", repo, short, Path(tmp) / "export"))
        for tool in tools:
            out = Path(tmp) / tool
            args = tool_args(tool, "tiny4", repo, src, out)
            started = time.perf_counter()
            result = run("ap" if tool.startswith("ap") else tool, args)
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
    s.add_argument("--tools", default="ap,ap-onnx,demucs", help="comma-separated: ap, ap-onnx, demucs")
    m = sub.add_parser("memory")
    m.add_argument("--minutes", type=float, default=20.0)
    m.add_argument("--tool", choices=["ap", "ap-onnx", "demucs", "both"], default="both")
    c = sub.add_parser("compute")
    c.add_argument("--repeat", type=int, default=3)
    c.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    if args.mode == "speed":
        speed(args.repeat, [t.strip() for t in args.tools.split(",") if t.strip()])
    elif args.mode == "compute":
        compute(args.repeat, args.threads)
    else:
        memory(args.minutes, ["ap", "demucs"] if args.tool == "both" else [args.tool])


if __name__ == "__main__":
    main()
