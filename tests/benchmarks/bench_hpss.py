"""HPSS: wall time of `ap extract hpss` on a 20 s stereo clip (start-up included), and separation quality.

Run: python tests/benchmarks/bench_hpss.py [--repeat 5]. Targets: under 4 s wall; the percussive stem at least
6 dB closer (SDR) to the true drums than the mix is. The clip is the synthetic demo song, whose true stems are
known (drums, bass, harmony); no recorded multitrack music is available offline here.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from audio_playground.audio.demo import make_demo_stems


def sdr(reference: np.ndarray, estimate: np.ndarray) -> float:
    return float(10 * np.log10((reference**2).sum() / ((reference - estimate) ** 2).sum()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    ap = shutil.which("ap") or sys.exit("ap is not on PATH: install the project first")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        stems = make_demo_stems(20.0, 44100)
        mix = stems["drums"] + stems["bass"] + stems["harmony"]
        clip = work / "clip.wav"
        sf.write(str(clip), mix.T, 44100, subtype="FLOAT")
        times = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            subprocess.run(
                [ap, "-q", "extract", "hpss", str(clip), "-o", str(work / "out"), "--bit-depth", "32f", "--no-cache"],
                check=True,
            )
            times.append(time.perf_counter() - started)
        percussive, _ = sf.read(str(work / "out" / "percussive-hpss.wav"), dtype="float32")
        drums = stems["drums"]
        print(
            f"wall: median {statistics.median(times):.2f} s, min {min(times):.2f} s over {args.repeat} runs "
            f"(target < 4 s)"
        )
        print(
            f"SDR vs true drums: mix {sdr(drums, mix):.1f} dB, percussive stem {sdr(drums, percussive.T):.1f} dB, "
            f"gain {sdr(drums, percussive.T) - sdr(drums, mix):.1f} dB (target >= 6 dB)"
        )


if __name__ == "__main__":
    main()
