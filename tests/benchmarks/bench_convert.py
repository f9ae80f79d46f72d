"""convert to-wav on a long input: wall time, real-time factor and peak RSS of the converting process.

Run: python tests/benchmarks/bench_convert.py [--input-format flac|mp3] [--minutes 60] [--sample-rate N]
(Linux: peak RSS is read from /proc).
Targets: >= 50x real time and < 200 MB peak RSS for 60 minutes of 44.1 kHz stereo. The input (the demo song
repeated) is generated once into tests/benchmarks/_data/ (git-ignored) and reused; the WAV written is deleted.
The conversion runs in a fresh subprocess so that its peak RSS is its own, not the generator's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from inputs import DATA, looped_demo  # the sibling module: scripts run from this folder

# Peak RSS from /proc/self/status VmHWM: getrusage's ru_maxrss keeps the forking parent's peak across exec.
CHILD = """
import json, sys, time
from audio_playground.audio.convert import convert_to_wav
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
before = hwm()
src, target, rate = sys.argv[1], sys.argv[2], sys.argv[3]
started = time.perf_counter()
result = convert_to_wav(src, target, sample_rate=int(rate) if rate != "-" else None)
wall = time.perf_counter() - started
print(json.dumps({"wall": wall, "frames": result.frames, "rate": result.sample_rate,
                  "rss_kb": hwm(), "rss_before_kb": before}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--input-format", choices=["flac", "mp3"], default="flac")
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--sample-rate", type=int, default=None, help="resample to this rate (default: keep)")
    args = parser.parse_args()

    DATA.mkdir(parents=True, exist_ok=True)
    src = DATA / f"long-{args.minutes:g}min.{args.input_format}"
    if not src.exists():
        started = time.perf_counter()
        looped_demo(src, args.minutes * 60)
        print(f"generated {src.name} ({src.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.0f} s")
    target = DATA / "converted.wav"
    try:
        rate = str(args.sample_rate) if args.sample_rate else "-"
        proc = subprocess.run(
            [sys.executable, "-c", CHILD, str(src), str(target), rate], check=True, capture_output=True, text=True
        )
    finally:
        target.unlink(missing_ok=True)
    stats = json.loads(proc.stdout.strip().splitlines()[-1])
    seconds = args.minutes * 60
    print(
        f"{src.name} -> WAV{' at ' + rate + ' Hz' if args.sample_rate else ''}: "
        f"{stats['frames']} frames at {stats['rate']} Hz"
    )
    print(f"wall {stats['wall']:.1f} s, real-time factor {seconds / stats['wall']:.0f}x (target >= 50x)")
    print(
        f"peak RSS {stats['rss_kb'] / 1024:.0f} MB (target < 200 MB; "
        f"{stats['rss_before_kb'] / 1024:.0f} MB after imports, before converting)"
    )


if __name__ == "__main__":
    main()
