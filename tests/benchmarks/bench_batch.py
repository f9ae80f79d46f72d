"""Batch throughput per executor, Ray's overhead per item, and the driver's peak RSS on a 10,000-item manifest.

Run: python tests/benchmarks/bench_batch.py throughput [--files 20] [--seconds 30] [--separators hpss,demucs]
     python tests/benchmarks/bench_batch.py rss [--items 10000]
throughput: 20 files of 30 s (the looped demo song, 44.1 kHz stereo), separated with HPSS and with the tiny
Demucs model (`ap_demucs.testing`'s tiny4) by: local sequential, local -j 2, ray with 2 workers on a head started
here (`ray start --head --block` on 127.0.0.1; its start-up is reported apart). Throughput is audio minutes per wall
minute of the whole batch (worker start-up included); overhead per item is (wall x workers - the items' own
seconds) / items, so it counts the executor's start-up, dispatch and idle tail; steady overhead per item is the
gap between two consecutive items of one worker beyond the later one's own seconds (dispatch, result, driver
bookkeeping); start-up is the time until the first item's work began. Outputs of every executor are
compared byte for byte. No cache (each run computes).
rss: a manifest of N hard links of one 10 ms file through `audio_playground.batch` in a fresh driver process, on the
local executor and on ray (ap-cache-fs on: after the first items every input is a hit by content, so the run
measures the driver streaming N items, not N separations). Target: driver peak RSS (VmHWM) <= 300 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inputs import DATA, looped_demo  # the sibling module: scripts run from this folder

ENV = {
    # one CPU thread per worker everywhere: a model's CPU results depend on its thread count, and the runs are
    # compared byte for byte (a batch on a CPU box wants OMP_NUM_THREADS=1 and -j = cores anyway)
    "OMP_NUM_THREADS": "1",
    "RAY_AUTH_MODE": "disabled",
    "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    "RAY_USAGE_STATS_ENABLED": "0",
}


def start_head(tmp: Path) -> tuple[subprocess.Popen, str, float]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    ray = Path(sys.executable).with_name("ray")
    started = time.perf_counter()
    head = subprocess.Popen(
        [
            *(str(ray), "start", "--head", "--block", "--node-ip-address", "127.0.0.1", "--port", str(port)),
            *("--num-cpus", "2", "--include-dashboard", "false", "--disable-usage-stats", "--temp-dir", str(tmp / "r")),
        ],
        env={**os.environ, **ENV},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            time.sleep(0.2)
    return head, f"127.0.0.1:{port}", time.perf_counter() - started


def stop_head(head: subprocess.Popen) -> None:
    head.send_signal(signal.SIGTERM)
    head.wait(timeout=60)


def stems(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*.wav"))}


def throughput(files: int, seconds: float, separators: list[str]) -> None:
    os.environ.update(ENV)  # before torch loads
    import audio_playground

    os.environ["AUDIO_PLAYGROUND_LOAD_PLUGINS"] = "demucs,ray"
    tmp = Path(tempfile.mkdtemp(prefix="bench-batch-", dir="/tmp"))
    song = looped_demo(DATA / f"demo-{seconds:g}s.wav", seconds)
    library = tmp / "lib"
    library.mkdir()
    for i in range(files):
        os.link(song, library / f"song{i:02d}.wav")
    repo = tmp / "models"
    from ap_demucs.testing import write_test_repo

    write_test_repo(repo)
    head, address, head_seconds = start_head(tmp)
    print(json.dumps({"ray_start_seconds": round(head_seconds, 2)}))
    runs = [("local", 1, None), ("local", 2, None), ("ray", 2, address)]
    try:
        for separator in separators:
            options = {"repo": str(repo), "model": "tiny4", "shifts": 0} if separator == "demucs" else {}
            reference: dict[str, bytes] | None = None
            for executor, workers, where in runs:
                out = tmp / f"{separator}-{executor}-{workers}"
                arrivals: list[tuple[float, dict]] = []
                started = time.perf_counter()
                summary = audio_playground.batch(
                    [library],
                    out,
                    separator,
                    on_record=lambda record, _s, arrivals=arrivals: arrivals.append((time.perf_counter(), record)),
                    executor=executor,
                    workers=workers,
                    address=where,
                    options=options,
                    cache=False,
                    device="cpu",
                    backend="pytorch" if separator == "demucs" else "auto",
                )
                wall = time.perf_counter() - started
                records = [json.loads(line) for line in (out / "run-manifest.jsonl").read_text().splitlines()]
                busy = sum(r["seconds"] for r in records)
                # steady state: the gap between two items of one worker, beyond the later item's own seconds
                gaps, last = [], {}
                for at, record in arrivals:
                    if record["worker"] in last:
                        gaps.append(at - last[record["worker"]] - record["seconds"])
                    last[record["worker"]] = at
                first = arrivals[0][0] - started - arrivals[0][1]["seconds"]
                written = stems(out)
                reference = reference or written
                print(
                    json.dumps(
                        {
                            "separator": separator,
                            "executor": f"{executor} -j {workers}",
                            "items": summary.done,
                            "failed": summary.failed,
                            "wall_s": round(wall, 2),
                            "audio_min_per_wall_min": round(summary.audio_seconds / wall, 2),
                            "mean_item_s": round(busy / len(records), 3),
                            "overhead_per_item_s": round((wall * workers - busy) / len(records), 3),
                            "steady_overhead_per_item_s": round(sum(gaps) / len(gaps), 4) if gaps else None,
                            "start_up_s": round(first, 2),
                            "identical_to_sequential": written == reference,
                        }
                    ),
                    flush=True,
                )
    finally:
        stop_head(head)


DRIVER = """
import json, sys, time
import audio_playground
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
before = hwm()
started = time.perf_counter()
address = sys.argv[4] if len(sys.argv) > 4 else None
s = audio_playground.batch(manifest=sys.argv[1], output_dir=sys.argv[2], executor=sys.argv[3], address=address)
print(json.dumps({"executor": sys.argv[3], "items": s.done + s.cached + s.failed, "cached": s.cached,
                  "failed": s.failed, "wall_s": round(time.perf_counter() - started, 1),
                  "driver_peak_rss_mb": round(hwm(), 1), "rss_after_imports_mb": round(before, 1)}))
"""


def rss(items: int) -> None:
    import numpy as np
    import soundfile as sf

    tmp = Path(tempfile.mkdtemp(prefix="bench-rss-", dir="/tmp"))
    base = tmp / "base.wav"
    sf.write(str(base), (np.random.default_rng(0).standard_normal((80, 2)) * 0.1).astype(np.float32), 8000)
    (tmp / "lib").mkdir()
    listing = tmp / "library.txt"
    with listing.open("w") as handle:
        for i in range(items):
            os.link(base, tmp / "lib" / f"t{i:05d}.wav")
            handle.write(f"lib/t{i:05d}.wav\n")
    env = {**os.environ, **ENV, "AUDIO_PLAYGROUND_LOAD_PLUGINS": "ray,cache-fs"}
    head, address, _ = start_head(tmp)
    try:
        for executor, where in (("local", None), ("ray", address)):
            env["AUDIO_PLAYGROUND_CACHE_DIR"] = str(tmp / f"cache-{executor}")
            args = [sys.executable, "-c", DRIVER, str(listing), str(tmp / f"out-{executor}"), executor]
            out = subprocess.run([*args, *([where] if where else [])], env=env, capture_output=True, text=True)
            print(out.stdout.strip() or out.stderr[-2000:], flush=True)
    finally:
        stop_head(head)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="mode", required=True)
    t = sub.add_parser("throughput")
    t.add_argument("--files", type=int, default=20)
    t.add_argument("--seconds", type=float, default=30.0)
    t.add_argument("--separators", default="hpss,demucs")
    r = sub.add_parser("rss")
    r.add_argument("--items", type=int, default=10_000)
    args = parser.parse_args()
    if args.mode == "throughput":
        throughput(args.files, args.seconds, args.separators.split(","))
    else:
        rss(args.items)


if __name__ == "__main__":
    main()
