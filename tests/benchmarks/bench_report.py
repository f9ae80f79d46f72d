"""`ap report`: wall time and page size for 20 tracks x 4 stems of 3 minutes (44.1 kHz stereo 16-bit WAV).

Run: python tests/benchmarks/bench_report.py [--repeat 3] [--tracks 20] [--seconds 180]. Targets: <= 30 s wall
(start-up included) and a page of <= 2 MB without embedded audio. The stems are the demo song's parts (drums,
bass, harmony) and their mix, looped; every track's files are hard links to one set, so the disk holds one
track (the page cache serves all, as it would right after a separation). `--mix` adds a mixture.wav per track
(the checks then read it too).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent / "_data" / "report"
RATE = 44100
STEMS = ("drums", "bass", "other", "vocals")


def stem_files(seconds: float) -> dict[str, Path]:
    """One 3-minute file per stem (generated once into _data/, git-ignored)."""
    import soundfile as sf

    from audio_playground.audio.demo import make_demo_stems

    folder = DATA / f"{int(seconds)}s"
    files = {stem: folder / f"{stem}.wav" for stem in (*STEMS, "mixture")}
    if all(p.exists() for p in files.values()):
        return files
    folder.mkdir(parents=True, exist_ok=True)
    parts = make_demo_stems(20.0, RATE)
    loops = {"drums": parts["drums"], "bass": parts["bass"], "other": parts["harmony"]}
    t = np.arange(parts["drums"].shape[1]) / RATE
    loops["vocals"] = np.stack([0.2 * np.sin(2 * np.pi * 330 * t) * (np.sin(2 * np.pi * 0.25 * t) > 0)] * 2)
    loops["mixture"] = sum(loops.values())
    reps = int(np.ceil(seconds / 20.0))
    for stem, loop in loops.items():
        audio = np.tile(loop, (1, reps))[:, : int(seconds * RATE)]
        tmp = files[stem].with_name(f".{stem}.partial.wav")
        sf.write(str(tmp), audio.T.astype(np.float32), RATE, subtype="PCM_16")
        os.replace(tmp, files[stem])
    return files


def layout(root: Path, files: dict[str, Path], tracks: int, mix: bool) -> Path:
    """{track}/{stem}.wav for every track, hard-linked to the one set of files."""
    for i in range(tracks):
        folder = root / f"track{i:02d}"
        folder.mkdir(parents=True)
        for stem in (*STEMS, "mixture") if mix else STEMS:
            os.link(files[stem], folder / f"{stem}.wav")
    return root


def run_report(folder: Path) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, all threads) of one `ap report` process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "audio_playground", "-q", "report", str(folder)], check=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tracks", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--mix", action="store_true", help="a mixture.wav per track as well")
    args = parser.parse_args()
    files = stem_files(args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        root = layout(Path(tmp) / "out", files, args.tracks, args.mix)
        runs = [run_report(root) for _ in range(args.repeat)]
        times = [wall for wall, _ in runs]
        cpu = statistics.median(c for _, c in runs)
        page = root / "report.html"
        size = page.stat().st_size
        shutil.copy(page, Path(tmp) / "keep.html")
    stems = args.tracks * len(STEMS)
    print(f"{args.tracks} tracks x {len(STEMS)} stems of {args.seconds:.0f} s{' + mix' if args.mix else ''}")
    print(f"wall: median {statistics.median(times):.1f} s of {args.repeat} ({', '.join(f'{t:.1f}' for t in times)})")
    print(f"cpu (user+sys): median {cpu:.1f} s, {os.cpu_count()} cores; load before: {os.getloadavg()[0]:.1f}")
    per_stem = statistics.median(times) / stems * 1000
    print(f"per stem: {per_stem:.0f} ms; page: {size / 1e6:.2f} MB ({size / stems / 1e3:.1f} kB/stem)")


if __name__ == "__main__":
    main()
