"""`ap eval` against museval: speed at equal numbers on a 3-minute 4-stem track, and memory for 20 minutes.

Run (one BLAS thread each, the machine is shared):
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python tests/benchmarks/bench_eval.py compare [--seconds 180]
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python tests/benchmarks/bench_eval.py memory [--minutes 20]
    python tests/benchmarks/bench_eval.py hpss [--seconds 30]
compare: our evaluate() (files in, streamed) against museval's evaluation of the same files (museval.evaluate's
call: metrics.bss_eval with 1 s windows and hops, time-invariant filters, images version; the files read with
soundfile as museval's eval_dir does), every window compared. Target: >= 5x faster, numbers within 0.01 dB.
memory: peak RSS of a fresh process evaluating a long track (`--museval` also runs museval there: hours).
hpss: `ap extract hpss` scored by `ap eval` against the known stems of a synthetic song (docs/QUALITY.md).
The multitrack is synthetic (the demo song's drums, bass and harmony, a lead line, a noise floor) and the
estimates an imperfect separation of it (leakage, filtering, noise); no recorded multitrack is available here.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import soundfile as sf
from scipy.signal import lfilter

from audio_playground.audio.demo import make_demo_stems

RATE = 44100
NAMES = ("drums", "bass", "harmony", "vocals")


def museval_metrics() -> ModuleType:
    """museval.metrics from its file (`import museval` needs ffmpeg binaries for musdb's stempeg)."""
    spec = importlib.util.find_spec("museval")
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "metrics.py"
    module_spec = importlib.util.spec_from_file_location("museval_metrics", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def chunk(seconds: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(refs, estimates) of `seconds` of the multitrack, (source, channel, frames)."""
    stems = make_demo_stems(seconds, RATE, seed)
    rng = np.random.default_rng(seed)
    frames = stems["drums"].shape[1]
    t = np.arange(frames) / RATE
    lead = 0.2 * np.sin(2 * np.pi * 330 * t * (1 + 0.01 * np.sin(np.pi * t)))
    vocals = np.stack([lead, 0.8 * lead + 0.05 * np.sin(2 * np.pi * 495 * t)])
    refs = np.stack([stems["drums"], stems["bass"], stems["harmony"], vocals]).astype(np.float64)
    refs += lfilter([1.0], [1.0, -0.95], rng.standard_normal(refs.shape), axis=-1) * 0.003
    est = refs + 0.15 * refs[[1, 2, 3, 0]] + 0.003 * rng.standard_normal(refs.shape)
    est[2] = lfilter([0.7, 0.2, 0.1], [1.0], est[2], axis=-1)
    return refs, est


def write_track(folder: Path, seconds: float, piece: float = 60.0) -> tuple[Path, Path]:
    """refs/ and est/ folders of 24-bit WAVs, written `piece` seconds at a time (bounded memory)."""
    files = {}
    for side in ("refs", "est"):
        (folder / side).mkdir(parents=True, exist_ok=True)
        for name in NAMES:
            files[side, name] = sf.SoundFile(
                str(folder / side / f"{name}.wav"), "w", RATE, 2, subtype="PCM_24", format="WAV"
            )
    done = 0.0
    seed = 0
    while done < seconds:
        length = min(piece, seconds - done)
        refs, est = chunk(length, seed)
        for k, name in enumerate(NAMES):
            files["refs", name].write(np.clip(refs[k].T, -1, 1))
            files["est", name].write(np.clip(est[k].T, -1, 1))
        done += length
        seed += 1
    for handle in files.values():
        handle.close()
    return folder / "est", folder / "refs"


def ours(est: Path, refs: Path) -> tuple[float, dict[str, dict[str, np.ndarray]]]:
    from audio_playground.evaluation.bsseval import evaluate_sources
    from audio_playground.evaluation.reader import BlockReader

    def opener() -> tuple[list[BlockReader], list[BlockReader]]:
        return [BlockReader(refs / f"{n}.wav") for n in NAMES], [BlockReader(est / f"{n}.wav") for n in NAMES]

    started = time.perf_counter()
    scores = evaluate_sources(opener, window=RATE, hop=RATE)
    seconds = time.perf_counter() - started
    return seconds, {n: s.windows for n, s in zip(NAMES, scores, strict=True)}


def theirs(est: Path, refs: Path) -> tuple[float, dict[str, dict[str, np.ndarray]]]:
    metrics = museval_metrics()
    started = time.perf_counter()
    r = np.stack([sf.read(str(refs / f"{n}.wav"), dtype="float64", always_2d=True)[0] for n in NAMES])
    e = np.stack([sf.read(str(est / f"{n}.wav"), dtype="float64", always_2d=True)[0] for n in NAMES])
    sdr, isr, sir, sar, _ = metrics.bss_eval(
        r, e, window=RATE, hop=RATE, compute_permutation=False, framewise_filters=False, bsseval_sources_version=False
    )
    seconds = time.perf_counter() - started
    return seconds, {n: {"sdr": sdr[k], "isr": isr[k], "sir": sir[k], "sar": sar[k]} for k, n in enumerate(NAMES)}


def compare(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        est, refs = write_track(Path(tmp), args.seconds)
        ours_times = []
        for _ in range(args.repeat):
            seconds, mine = ours(est, refs)
            ours_times.append(seconds)
        their_seconds, expected = theirs(est, refs)
    worst = max(float(np.nanmax(np.abs(mine[n][m] - expected[n][m]))) for n in NAMES for m in expected[n])
    print(f"{args.seconds:.0f} s, 4 stereo stems at 44.1 kHz, 1 s windows")
    print(f"ours: {min(ours_times):.1f} s (min of {args.repeat}); museval: {their_seconds:.1f} s")
    print(f"ratio: {their_seconds / min(ours_times):.1f}x (target >= 5x)")
    print(f"largest difference over every window and metric: {worst:.2e} dB (target <= 0.01)")
    print("stem      SDR ours / museval (median over windows)")
    for n in NAMES:
        print(f"{n:<9} {np.nanmedian(mine[n]['sdr']):.4f} / {np.nanmedian(expected[n]['sdr']):.4f}")


def memory(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        est, refs = write_track(Path(tmp), args.minutes * 60.0)
        modes = ["ours", "museval"] if args.museval else ["ours"]
        for mode in modes:
            command = [sys.executable, __file__, "_peak", mode, str(est), str(refs)]
            out = subprocess.run(command, check=True, capture_output=True, text=True).stdout.strip()
            print(f"{args.minutes:g} min, {mode}: {out}")


def peak(args: argparse.Namespace) -> None:
    """Peak RSS of this process: VmHWM (ru_maxrss would carry the parent's peak over fork and exec)."""
    seconds, _ = (ours if args.mode == "ours" else theirs)(Path(args.est), Path(args.refs))
    status = Path("/proc/self/status").read_text()
    line = next(x for x in status.splitlines() if x.startswith("VmHWM:"))
    print(f"{seconds:.1f} s, peak RSS {int(line.split()[1]) / 1024:.0f} MB (VmHWM)")


def hpss(args: argparse.Namespace) -> None:
    """HPSS scored against known stems: the demo song with a -50 dB noise floor per stem; harmonic = bass +
    harmony, percussive = drums. Prints `ap eval`'s table (docs/QUALITY.md quotes it)."""
    import shutil

    ap = shutil.which("ap") or sys.exit("ap is not on PATH: install the project first")
    stems = make_demo_stems(args.seconds, RATE)
    rng = np.random.default_rng(1)

    def floor() -> np.ndarray:
        noise = rng.standard_normal(stems["drums"].shape)
        return (lfilter([1.0], [1.0, -0.95], noise, axis=-1) * 0.003).astype(np.float32)

    truth = {"percussive": stems["drums"] + floor(), "harmonic": stems["bass"] + stems["harmony"] + floor()}
    with tempfile.TemporaryDirectory() as tmp:
        refs = Path(tmp) / "refs" / "demo"
        refs.mkdir(parents=True)
        for name, audio in truth.items():
            sf.write(str(refs / f"{name}.wav"), audio.T, RATE, subtype="FLOAT")
        sf.write(str(refs / "mixture.wav"), (truth["percussive"] + truth["harmonic"]).T, RATE, subtype="FLOAT")
        est = Path(tmp) / "est" / "demo"
        separate = [ap, "-q", "extract", "hpss", str(refs / "mixture.wav"), "-o", str(est), "--no-cache"]
        subprocess.run(separate, check=True)
        subprocess.run([ap, "eval", str(est.parent), "--references", str(refs.parent)], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compare")
    c.add_argument("--seconds", type=float, default=180.0)
    c.add_argument("--repeat", type=int, default=2)
    m = sub.add_parser("memory")
    m.add_argument("--minutes", type=float, default=20.0)
    m.add_argument("--museval", action="store_true")
    h = sub.add_parser("hpss")
    h.add_argument("--seconds", type=float, default=30.0)
    p = sub.add_parser("_peak")
    p.add_argument("mode")
    p.add_argument("est")
    p.add_argument("refs")
    args = parser.parse_args()
    {"compare": compare, "memory": memory, "hpss": hpss, "_peak": peak}[args.cmd](args)


if __name__ == "__main__":
    main()
