"""ap-roformer: wall time and peak memory of a full-size BS-RoFormer on a 20 s clip; flat memory on long inputs.

Run: python tests/benchmarks/bench_roformer.py speed [--repeat 1]
     python tests/benchmarks/bench_roformer.py memory [--minutes 2 20]
speed: the published BS-RoFormer vocals shape (viperx's model_bs_roformer_ep_317_sdr_12.9755.yaml: dim 512,
depth 12, 8 s chunks, num_overlap 2; random weights cost the same compute as trained ones), `ap extract roformer`
on the 20 s demo clip, CPU. memory: the same chunking (8 s chunks, num_overlap 2) on a network that costs next
to nothing (dim 8, depth 1, a 512-point STFT in two bands): a full-size chunk takes minutes on 2 shared cores, so
20 minutes of input with it is out of reach here; what could grow with the input is the engine's buffering, which
does not depend on the network's size. Target: the
20-minute input's peak RSS within 10 % of the 2-minute one's. Each run is a fresh Python process reporting its own
VmHWM and CPU time (all threads; less sensitive than wall time to the other jobs on a shared machine). Models
come from `ap_roformer.testing`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from inputs import DATA, looped_demo  # the sibling module: scripts run from this folder

CHILD = """
import atexit, json, sys, time
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
started = time.perf_counter()
atexit.register(lambda: print(json.dumps({"wall": time.perf_counter() - started, "cpu": time.process_time(),
                                           "rss_mb": hwm()}), file=sys.stderr))
from audio_playground.cli import main
main(sys.argv[1:])
"""


def run(args: list[str]) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"ap failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stderr.strip().splitlines()[-1])


def model(name: str) -> tuple[Path, Path]:
    """The benchmark's checkpoint and config (written once into _data/)."""
    from ap_roformer.testing import config_dict, full_bs_config, write_model

    folder = DATA / "roformer"
    checkpoint, config = folder / f"{name}.ckpt", folder / f"{name}.yaml"
    if not checkpoint.exists():
        if name == "full_bs":
            data = full_bs_config()
        else:  # the published chunking (8 s chunks, num_overlap 2) on a network that costs next to nothing
            data = config_dict(
                "bs_roformer",
                instruments=["vocals", "other"],
                target="vocals",
                chunk_size=352800,
                dim=8,
                freqs_per_bands=(128, 129),
                stft_n_fft=512,
                stft_win_length=512,
                stft_hop_length=256,
                dim_freqs_in=257,
            )
        write_model(folder, name, data)
    return checkpoint, config


def extract(src: Path, checkpoint: Path, config: Path) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as out:
        args = ["-q", "--device", "cpu", "extract", "roformer", str(src), "-o", out, "--no-cache"]
        return run([*args, "--model", str(checkpoint), "--config", str(config)])


def speed(repeat: int) -> None:
    import torch

    from ap_roformer.checkpoint import build_network
    from ap_roformer.configs import load_config

    checkpoint, config = model("full_bs")
    params = sum(p.numel() for p in build_network(load_config(config)).parameters())
    src = looped_demo(DATA / "demo-20s.wav", 20.0)
    print(f"full-size BS-RoFormer: {params:,} parameters, torch {torch.__version__}, {torch.get_num_threads()} threads")
    for _ in range(repeat):
        result = extract(src, checkpoint, config)
        print(f"20 s clip: wall {result['wall']:.1f} s, CPU {result['cpu']:.1f} s, peak RSS {result['rss_mb']:.0f} MB")


def memory(minutes: list[float]) -> None:
    checkpoint, config = model("cheap_bs")
    for length in minutes:
        src = looped_demo(DATA / f"demo-{length:g}min.flac", length * 60)
        result = extract(src, checkpoint, config)
        print(
            f"{length:g} min: wall {result['wall']:.1f} s, CPU {result['cpu']:.1f} s, "
            f"peak RSS {result['rss_mb']:.0f} MB"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    fast = sub.add_parser("speed")
    fast.add_argument("--repeat", type=int, default=1)
    long = sub.add_parser("memory")
    long.add_argument("--minutes", type=float, nargs="+", default=[2.0, 20.0])
    args = parser.parse_args()
    if args.what == "speed":
        speed(args.repeat)
    else:
        memory(args.minutes)


if __name__ == "__main__":
    main()
