"""SAM-Audio on MLX (ap-sam-mlx) against mlx-audio's own `separate_long`: shared encodes, wall time, memory over
input length, and solver cost (issue 4's targets).

Run: python tests/benchmarks/bench_sam.py compare [--seconds 60] [--prompts 3] [--solver midpoint] [--steps 16]
     python tests/benchmarks/bench_sam.py scaling [--minutes 1 2 5 10] [--prompts 1]
     python tests/benchmarks/bench_sam.py solvers [--seconds 20] [--steps 8]
     (every mode takes --model bench|tiny|DIR, default bench)
Targets:
  compare  3 prompts on a 60 s clip: codec encodes == chunks (mlx-audio: chunks x prompts), text encodes == 3, and
           ap's wall <= 0.6x of mlx-audio's `SAMAudio.separate_long` called once per prompt (same loaded model,
           chunking, solver and steps). Both sides' encodes, decodes, text encodes and DiT passes are counted by
           wrapping the model's codec, text encoder and forward pass in this script only. ap runs its whole file
           path (decode the WAV, resample, separate, write 44.1 kHz stems); mlx-audio gets the mono model-rate array
           ready-made and writes nothing, so the ratio is conservative.
  scaling  `ap extract sam-audio` on 1, 2, 5 and 10 minutes, each in a fresh process reading its own VmHWM at exit:
           peak memory flat (largest / smallest <= 1.3) and wall time linear in the input length.
  solvers  euler with N steps does half the DiT evaluations of midpoint with N steps (from --report).
Model: random weights (no weights can be downloaded), built from mlx-audio's real classes. `tiny` is the plugin's
test model (`python -m ap_sam_mlx.testing DIR`: 8 kHz codec, hop 32). Its 250 latent frames per second are ten times
the released models' 25 and MLX's CPU attention grows with the square of the length, so one DiT pass over a 10 s
chunk takes ~0.9 s: target 1 at 16 midpoint steps would take over 20 minutes, nearly all in the DiT. `bench` (the
default) is that tiny model with codec strides 4x8x10 (hop 320, decoder width 48): 25 latent frames per second
like the released models (250 per 10 s chunk), so the DiT's share of the time is closer to theirs, and all three
modes together take about 5 minutes. The released codec is unusable here (about a minute of CPU per second of
audio). Inputs are the demo song looped (audio_playground.audio.demo.make_demo_mix), 44.1 kHz stereo WAVs in
tests/benchmarks/_data/ (git-ignored), where the model folders are written too.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from inputs import DATA, looped_demo  # the sibling module: scripts run from this folder

PROMPTS = ("drums", "bass", "piano", "vocals", "guitar", "crowd")
BENCH_RATES = [4, 8, 10]
"""Codec strides of the `bench` model: hop 320 at 8 kHz, 25 latent frames/s like the released 48 kHz/1920."""
BENCH_DECODER_DIM = 48
"""Its decoder width: three upsampling stages halve it to 6, the least mlx-audio's watermark branch accepts."""
COUNTERS = ("codec_encodes", "codec_decodes", "text_encodes", "transformer_evals", "transformer_items")

# Runs `ap` in this process and prints its wall time and peak RSS (VmHWM) as JSON on stderr at exit.
CHILD = """
import atexit, json, sys, time
def hwm():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
started = time.perf_counter()
atexit.register(lambda: print(json.dumps({"wall": time.perf_counter() - started, "rss_mb": hwm()}),
                              file=sys.stderr))
from audio_playground.cli import main
main(sys.argv[1:])
"""


# --------------------------------------------------------------------------- inputs and models


def clip(seconds: float) -> Path:
    """The demo song looped to `seconds` (a 16-bit stereo WAV at 44.1 kHz, shared with bench_demucs.py)."""
    name = f"clip-{seconds / 60:g}min.wav" if seconds % 60 == 0 else f"clip-{seconds:g}s.wav"
    return looped_demo(DATA / name, seconds)


def _tiny() -> Path:
    from ap_sam_mlx.testing import write_tiny_model

    folder = DATA / "sam-mlx-tiny"
    if not folder.exists():
        write_tiny_model(folder)
    return folder


def _bench() -> Path:
    """The tiny test model with codec strides BENCH_RATES (25 latent frames/s), written once as a model folder."""
    folder = DATA / "sam-mlx-bench"
    if folder.exists():
        return folder
    import dataclasses

    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_audio.sts.models.sam_audio import SAMAudio

    from ap_sam_mlx.resolve import TEXT_ENCODER_DIR
    from ap_sam_mlx.testing import tiny_config

    tiny = _tiny()
    base = tiny_config()
    codec = dataclasses.replace(
        base.audio_codec,
        encoder_rates=list(BENCH_RATES),
        decoder_rates=list(reversed(BENCH_RATES)),
        decoder_dim=BENCH_DECODER_DIM,
    )
    config = dataclasses.replace(base, audio_codec=codec)
    mx.random.seed(0)
    sam = SAMAudio(config)
    staging = Path(tempfile.mkdtemp(prefix=".sam-mlx-bench.", dir=DATA))
    try:
        weights: dict[str, Any] = {k: v for k, v in tree_flatten(sam.parameters()) if "wm_model" not in k}
        mx.save_safetensors(str(staging / "model.safetensors"), weights)
        (staging / "config.json").write_text(json.dumps(dataclasses.asdict(config), indent=2) + "\n")
        shutil.copytree(tiny / TEXT_ENCODER_DIR, staging / TEXT_ENCODER_DIR)
        os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def model_folder(name: str) -> Path:
    """`bench`, `tiny`, or a model folder given by path."""
    if name == "bench":
        return _bench()
    if name == "tiny":
        return _tiny()
    return Path(name)


# --------------------------------------------------------------------------- counting the model's work


class Counts:
    """Calls into the model's codec, text encoder and DiT, counted per batch item, whoever makes them."""

    def __init__(self, sam: Any) -> None:
        self.values = dict.fromkeys(COUNTERS, 0)
        values = self.values

        class CountingCodec(type(sam.audio_codec)):
            def __call__(self, waveform: Any) -> Any:
                values["codec_encodes"] += int(waveform.shape[0])
                return super().__call__(waveform)

            def decode(self, encoded_frames: Any, chunk_size: int | None = None) -> Any:
                values["codec_decodes"] += int(encoded_frames.shape[0])
                return super().decode(encoded_frames, chunk_size=chunk_size)

        class CountingText(type(sam.text_encoder)):
            def __call__(self, texts: list[str]) -> Any:
                values["text_encodes"] += len(texts)
                return super().__call__(texts)

        class CountingSAM(type(sam)):
            def __call__(self, *args: Any, **kwargs: Any) -> Any:
                noisy = kwargs["noisy_audio"] if "noisy_audio" in kwargs else args[0]
                values["transformer_evals"] += 1
                values["transformer_items"] += int(noisy.shape[0])
                return super().__call__(*args, **kwargs)

        sam.audio_codec.__class__ = CountingCodec
        sam.text_encoder.__class__ = CountingText
        sam.__class__ = CountingSAM

    def take(self) -> dict[str, int]:
        """The counts since the last take, and start again from zero."""
        out = dict(self.values)
        self.values.update(dict.fromkeys(self.values, 0))
        return out


# --------------------------------------------------------------------------- compare: ap against separate_long


def _upstream(sam: Any, wave: Any, prompts: Sequence[str], args: argparse.Namespace) -> float:
    """mlx-audio's documented long-audio path: `separate_long` once per prompt; seconds of wall time."""
    import mlx.core as mx

    started = time.perf_counter()
    for prompt in prompts:
        result = sam.separate_long(
            wave,
            [prompt],
            chunk_seconds=args.chunk,
            overlap_seconds=args.overlap,
            ode_opt={"method": args.solver, "step_size": 1.0 / args.steps},
        )
        mx.eval(result.target[0])
        np.asarray(result.target[0])  # the target as numpy, ready to write (its residual is computed but unused)
    return time.perf_counter() - started


def _ap(model: Any, src: Path, out: Path, prompts: Sequence[str], args: argparse.Namespace) -> tuple[float, dict]:
    """ap's file path with the same loaded model: decode, resample, chunk, the prompted driver, write stems."""
    from audio_playground import api
    from audio_playground.backends import all_separators
    from audio_playground.plugins import get_plugin_manager
    from audio_playground.prompted import PromptedSeparator, PromptedSettings

    spec = next(s for s in all_separators(get_plugin_manager())["sam-audio"] if s.backend == "mlx")
    options = {
        "prompts": list(prompts),
        "solver": args.solver,
        "solver_steps": args.steps,
        "chunk_duration": args.chunk,
        "chunk_overlap": args.overlap,
        "crossfade_type": "cosine",
        "batch_size": args.batch_size,
    }
    separator = PromptedSeparator(model, PromptedSettings.from_options(options), name=model.name)
    started = time.perf_counter()
    api.separate_file(api.Loaded(spec, separator, options), src, out)
    return time.perf_counter() - started, separator.report()


def compare(args: argparse.Namespace) -> None:
    os.environ.setdefault("TQDM_DISABLE", "1")  # separate_long's progress bar
    import mlx.core as mx
    import soundfile as sf
    import soxr

    from ap_sam_mlx.model import load_model

    folder = model_folder(args.model)
    src = clip(args.seconds)
    prompts = PROMPTS[: args.prompts]
    model = load_model(str(folder))
    sam = model.sam
    counts = Counts(sam)
    started = time.perf_counter()
    audio, rate = sf.read(str(src), dtype="float32", always_2d=True)
    mono = soxr.resample(audio.mean(axis=1), rate, model.sample_rate).astype(np.float32)
    wave = mx.array(mono[None, None, :])
    prep = time.perf_counter() - started
    walls: dict[str, list[float]] = {"mlx-audio": [], "ap": []}
    counted: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        short = Path(tmp) / "warm.wav"
        sf.write(str(short), audio[: 2 * rate], rate)
        warm = argparse.Namespace(**{**vars(args), "steps": 2})
        _upstream(sam, wave[:, :, : 2 * model.sample_rate], prompts[:1], warm)  # kernels and allocator
        _ap(model, short, Path(tmp) / "warm", prompts[:1], warm)
        counts.take()
        for i in range(args.repeat):
            for side in ("mlx-audio", "ap") if i % 2 == 0 else ("ap", "mlx-audio"):
                if side == "ap":
                    wall, report = _ap(model, src, Path(tmp) / f"ap-{i}", prompts, args)
                    counted[side] = {**counts.take(), "chunks": report["chunks"], "seconds": report["seconds"]}
                else:
                    wall = _upstream(sam, wave, prompts, args)
                    counted[side] = {**counts.take(), "chunks": _upstream_chunks(len(mono), model.sample_rate, args)}
                walls[side].append(wall)
                print(f"run {i} {side:9s} {wall:7.2f} s", flush=True)
    up, ap = statistics.median(walls["mlx-audio"]), statistics.median(walls["ap"])
    print(
        f"\n{args.seconds:g} s clip, {len(prompts)} prompts, {args.solver} {args.steps} steps, chunks {args.chunk:g} s "
        f"(overlap {args.overlap:g} s), model {folder.name} ({model.sample_rate} Hz, hop {model.hop}), "
        f"{mx.default_device()}; mlx-audio's input prepared in {prep:.2f} s (not counted)"
    )
    print("| run | chunks | codec encodes | codec decodes | text encodes | DiT passes (items) | wall |")
    print("|---|---|---|---|---|---|---|")
    labels = {"mlx-audio": "mlx-audio separate_long per prompt", "ap": f"ap separate_file, batch {args.batch_size}"}
    for side, label in labels.items():
        c = counted[side]
        print(
            f"| {label} | {c['chunks']} | {c['codec_encodes']} | {c['codec_decodes']} | {c['text_encodes']} | "
            f"{c['transformer_evals']} ({c['transformer_items']}) | {statistics.median(walls[side]):.2f} s |"
        )
    steps = counted["ap"]["seconds"]
    print("ap seconds per step: " + ", ".join(f"{k} {v:.2f}" for k, v in steps.items()))
    c = counted["ap"]
    print(
        f"codec encodes == chunks: {c['codec_encodes'] == c['chunks']}; text encodes == {len(prompts)}: "
        f"{c['text_encodes'] == len(prompts)}; wall ratio ap / mlx-audio {ap / up:.3f} (target <= 0.6)"
    )


def _upstream_chunks(frames: int, rate: int, args: argparse.Namespace) -> int:
    """Chunks separate_long cuts `frames` into (its own formula)."""
    import math

    size, overlap = int(args.chunk * rate), int(args.overlap * rate)
    return 1 if frames <= size else math.ceil((frames - overlap) / (size - overlap))


# --------------------------------------------------------------------------- the CLI in a fresh process


def run_ap(src: Path, folder: Path, prompts: Sequence[str], extra: Sequence[str]) -> dict[str, Any]:
    """`ap extract sam-audio` in a fresh process: its wall time, peak RSS and --report."""
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        args = [
            "-q",
            "--device",
            "cpu",
            "extract",
            "sam-audio",
            str(src),
            "-o",
            str(Path(tmp) / "out"),
            "--model",
            str(folder),
            "--prompts",
            ",".join(prompts),
            "--no-cache",
            "--report",
            str(report),
            *extra,
        ]
        done = subprocess.run([sys.executable, "-c", CHILD, *args], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.exit(f"ap failed ({done.returncode}):\n{done.stderr[-3000:]}")
        result = json.loads(done.stderr.strip().splitlines()[-1])
        result["report"] = json.loads(report.read_text())
    return result


def scaling(args: argparse.Namespace) -> None:
    folder = model_folder(args.model)
    prompts = PROMPTS[: args.prompts]
    extra = ["--solver", args.solver, "--solver-steps", str(args.steps)]
    rows = []
    for minutes in args.minutes:
        src = clip(minutes * 60)
        result = run_ap(src, folder, prompts, extra)
        rows.append((minutes, result))
        print(
            f"{minutes:g} min: wall {result['wall']:.1f} s, peak {result['rss_mb']:.0f} MB, "
            f"chunks {result['report']['chunks']}",
            flush=True,
        )
    peaks = [r["rss_mb"] for _, r in rows]
    xs = np.array([m for m, _ in rows], dtype=np.float64)
    ys = np.array([r["wall"] for _, r in rows], dtype=np.float64)
    slope, intercept = np.polyfit(xs, ys, 1) if len(rows) > 1 else (ys[0] / xs[0], 0.0)
    fit = slope * xs + intercept
    print(
        f"\nmodel {folder.name}, {len(prompts)} prompt(s), {args.solver} {args.steps} steps, "
        f"fresh `ap extract sam-audio` per input"
    )
    print("| input | chunks | wall | wall per minute | linear fit | peak RSS | peak / smallest |")
    print("|---|---|---|---|---|---|---|")
    for (minutes, r), predicted in zip(rows, fit, strict=True):
        print(
            f"| {minutes:g} min | {r['report']['chunks']} | {r['wall']:.1f} s | {r['wall'] / minutes:.1f} s | "
            f"{predicted:.1f} s | {r['rss_mb']:.0f} MB | {r['rss_mb'] / min(peaks):.2f} |"
        )
    worst = float(np.max(np.abs(ys - fit) / ys))
    print(
        f"peak largest / smallest {max(peaks) / min(peaks):.3f} (target <= 1.3); wall = {intercept:.1f} s + "
        f"{slope:.1f} s per minute, largest deviation from the line {100 * worst:.1f}%"
    )


def solvers(args: argparse.Namespace) -> None:
    folder = model_folder(args.model)
    src = clip(args.seconds)
    prompts = PROMPTS[: args.prompts]
    rows = {}
    for solver in ("euler", "midpoint"):
        result = run_ap(src, folder, prompts, ["--solver", solver, "--solver-steps", str(args.steps)])
        rows[solver] = result
        print(f"{solver}: wall {result['wall']:.1f} s", flush=True)
    print(f"\n{args.seconds:g} s clip, {len(prompts)} prompt(s), {args.steps} steps, model {folder.name}")
    print("| solver | steps | chunks | DiT passes | generate seconds | wall |")
    print("|---|---|---|---|---|---|")
    for solver, r in rows.items():
        rep = r["report"]
        print(
            f"| {solver} | {rep['solver_steps']} | {rep['chunks']} | {rep['transformer_evals']} | "
            f"{rep['seconds']['generate']:.2f} s | {r['wall']:.1f} s |"
        )
    euler, midpoint = rows["euler"]["report"], rows["midpoint"]["report"]
    print(
        f"DiT passes euler / midpoint {euler['transformer_evals'] / midpoint['transformer_evals']:.3f} (target 0.5); "
        f"generate time {euler['seconds']['generate'] / midpoint['seconds']['generate']:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    modes = {
        "compare": (compare, 60.0, 3, "midpoint", 16),
        "scaling": (scaling, None, 1, "midpoint", 16),
        "solvers": (solvers, 20.0, 1, None, 8),
    }
    for name, (_, seconds, prompts, solver, steps) in modes.items():
        p = sub.add_parser(name)
        p.add_argument("--model", default="bench", help="bench (default), tiny, or a model folder")
        p.add_argument("--prompts", type=int, default=prompts, help=f"number of prompts (default {prompts})")
        p.add_argument("--steps", type=int, default=steps, help=f"ODE steps (default {steps})")
        if solver is not None:
            p.add_argument("--solver", choices=["euler", "midpoint"], default=solver)
        if seconds is not None:
            p.add_argument("--seconds", type=float, default=seconds, help=f"clip length (default {seconds:g})")
        if name == "compare":
            p.add_argument("--chunk", type=float, default=10.0, help="chunk seconds, both sides (default 10)")
            p.add_argument("--overlap", type=float, default=2.0, help="overlap seconds, both sides (default 2)")
            p.add_argument("--repeat", type=int, default=1, help="runs per side, alternating (default 1)")
            p.add_argument("--batch-size", type=int, default=4, help="ap's prompts per generate batch (default 4)")
        if name == "scaling":
            p.add_argument("--minutes", type=float, nargs="+", default=[1.0, 2.0, 5.0, 10.0])
    args = parser.parse_args()
    if args.mode == "compare" and args.steps < 2:
        parser.error("compare needs --steps >= 2 (mlx-audio takes a step size below 1)")
    modes[args.mode][0](args)


if __name__ == "__main__":
    main()
