"""The step cache (ap-cache-fs): first run against second run, and hashing throughput.

Run: python tests/benchmarks/bench_cache.py [--only hash|segment|demucs] [--input-format wav|flac|mp3]
Targets: `segment split` on a 10-minute input, second run >= 10x faster than the first; `extract demucs`
with the full-size htdemucs architecture (random weights, `python -m ap_demucs.testing DIR --full`) on a 20 s
clip, second run >= 20x faster with byte-identical stems; hashing >= 500 MB/s.

Each run is a fresh `ap` process with an empty cache directory before the first run. Two times are shown:
the whole process (Python start-up, imports and plugin discovery included) and the step itself (from the
`step finished` log line). Inputs are generated once into tests/benchmarks/_data/ (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from inputs import DATA, looped_demo  # the sibling module: scripts run from this folder


def ap(args: list[str], cache: Path, plugins: str | None = None) -> tuple[float, float, bool]:
    """Run `ap ARGS` in a fresh process: (process wall seconds, step seconds, served by the cache)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIO_PLAYGROUND_")}
    env["AUDIO_PLAYGROUND_CACHE_DIR"] = str(cache)
    if plugins is not None:
        env["AUDIO_PLAYGROUND_LOAD_PLUGINS"] = plugins
    exe = shutil.which("ap") or sys.exit("ap is not on PATH: install the project first")
    os.sync()  # flush the last run's writes first: kernel writeback throttling would otherwise land in this one
    started = time.perf_counter()
    proc = subprocess.run([exe, "--log-format", "json", *args], capture_output=True, text=True, check=False, env=env)
    wall = time.perf_counter() - started
    if proc.returncode != 0:
        sys.exit(f"ap {' '.join(args)} failed:\n{proc.stderr}")
    for line in proc.stderr.splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("event") == "step finished":
                return wall, float(event["seconds"]), bool(event["cached"])
    sys.exit(f"no 'step finished' line from ap {' '.join(args)}:\n{proc.stderr}")


def identical(a: Path, b: Path) -> bool:
    names = sorted(p.name for p in a.iterdir())
    return names == sorted(p.name for p in b.iterdir()) and all(
        (a / n).read_bytes() == (b / n).read_bytes() for n in names
    )


def report(label: str, first: tuple[float, float, bool], second: tuple[float, float, bool], target: float) -> None:
    print(f"{label}")
    print(f"  first run : process {first[0]:7.3f} s   step {first[1]:7.3f} s   cached={first[2]}")
    print(f"  second run: process {second[0]:7.3f} s   step {second[1]:7.3f} s   cached={second[2]}")
    print(
        f"  speed-up  : process {first[0] / second[0]:6.1f}x   step {first[1] / max(second[1], 1e-9):6.1f}x"
        f"   (target >= {target:g}x)"
    )


def bench_hash(size_mb: int) -> None:
    from ap_cache_fs.hashing import hash_file

    path = DATA / f"random-{size_mb}MB.bin"
    if not path.exists():
        with open(path, "wb") as out:
            for _ in range(size_mb):
                out.write(os.urandom(1 << 20))
    mb = size_mb * (1 << 20) / 1e6
    cold = []
    for _ in range(3):
        os.sync()
        with open(path, "rb") as handle:  # evict the file's pages: this read comes from the disk
            os.posix_fadvise(handle.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        started = time.perf_counter()
        hash_file(path)
        cold.append(mb / (time.perf_counter() - started))
    warm = []
    for _ in range(3):
        started = time.perf_counter()
        hash_file(path)
        warm.append(mb / (time.perf_counter() - started))
    print(f"hashing (xxh3-128, {size_mb} MiB file), best of 3 (target >= 500 MB/s):")
    print(f"  from the disk (pages evicted first): {max(cold):,.0f} MB/s")
    print(f"  from the page cache:                 {max(warm):,.0f} MB/s")


def bench_segment(fmt: str) -> None:
    src = looped_demo(DATA / f"cache-10min.{fmt}", 600)
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        work = Path(tmp)
        args = ["segment", "split", "--src", str(src), "--output-dir"]
        first = ap([*args, str(work / "one")], work / "cache", plugins="cache-fs")
        second = ap([*args, str(work / "two")], work / "cache", plugins="cache-fs")
        same = identical(work / "one", work / "two")
        report(
            f"segment split, 10 min {fmt.upper()} ({src.stat().st_size / 1e6:.0f} MB), 10 s windows", first, second, 10
        )
        print(f"  outputs byte-identical: {same}")


def bench_demucs() -> None:
    repo = DATA / "demucs-full"
    if not (repo / "full4.th").exists():
        subprocess.run([sys.executable, "-m", "ap_demucs.testing", str(repo), "--full"], check=True)
    clip = looped_demo(DATA / "cache-20s.wav", 20)
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        work = Path(tmp)
        args = ["extract", "demucs", str(clip), "--repo", str(repo), "--model", "full4", "-o"]
        first = ap([*args, str(work / "one")], work / "cache", plugins="cache-fs,demucs")
        second = ap([*args, str(work / "two")], work / "cache", plugins="cache-fs,demucs")
        same = identical(work / "one", work / "two")
        report("extract demucs, full-size htdemucs (random weights), 20 s WAV clip", first, second, 20)
        print(f"  stems byte-identical: {same}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["hash", "segment", "demucs"], default=None)
    parser.add_argument("--input-format", choices=["wav", "flac", "mp3"], default="wav")
    parser.add_argument("--hash-mb", type=int, default=512, help="size of the hashed file in MiB")
    args = parser.parse_args()
    DATA.mkdir(parents=True, exist_ok=True)
    if args.only in (None, "hash"):
        bench_hash(args.hash_mb)
    if args.only in (None, "segment"):
        bench_segment(args.input_format)
    if args.only in (None, "demucs"):
        bench_demucs()


if __name__ == "__main__":
    main()
