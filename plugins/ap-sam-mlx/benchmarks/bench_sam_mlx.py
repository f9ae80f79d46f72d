"""Measure the prompted driver's savings on MLX against mlx-audio's one-call `separate` per prompt.

    python plugins/ap-sam-mlx/benchmarks/bench_sam_mlx.py [--seconds 5] [--prompts 3] [--steps 8]

Random weights at realistic proportions (the released 48 kHz codec, a t5-base-sized text encoder, a
reduced DiT), so the time of each step is representative even though the output is noise.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

PROMPTS = ("dog barking", "car horn", "a man speaking", "rain on a roof", "bass guitar", "crowd cheering")


def build(dim: int, layers: int, tokenizer_dir: Path, codec_width: float = 1.0) -> Any:
    """SAMAudio with the released codec layout (48 kHz, hop 1920; widths scaled by `codec_width`), a DiT of
    `dim` x `layers`, and a random t5-base-sized text encoder; the tokenizer comes from a tiny model folder."""
    import mlx.core as mx
    from mlx_audio.sts.models.sam_audio import (
        DACVAEConfig,
        SAMAudio,
        SAMAudioConfig,
        T5EncoderConfig,
        TransformerConfig,
    )
    from mlx_audio.sts.models.sam_audio.text_encoder import T5Config, T5Encoder
    from transformers import AutoTokenizer

    codec = DACVAEConfig(encoder_dim=max(4, int(64 * codec_width)), decoder_dim=max(48, int(1536 * codec_width)))
    config = SAMAudioConfig(
        audio_codec=codec,
        text_encoder=T5EncoderConfig(name="t5-base", dim=768),
        transformer=TransformerConfig(dim=dim, n_heads=8, n_layers=layers, context_dim=dim, dropout=0.0),
    )
    sam = SAMAudio(config)
    sam.eval()
    tokenizer: Any = AutoTokenizer.from_pretrained(str(tokenizer_dir), local_files_only=True)
    sam.text_encoder.tokenizer = tokenizer
    encoder = T5Encoder(T5Config(vocab_size=len(tokenizer), dropout_rate=0.0, is_gated_act=False, dense_act_fn="relu"))
    encoder.eval()
    sam.text_encoder.model = encoder
    mx.eval(sam.parameters(), encoder.parameters())
    return sam


def naive(sam: Any, audio: np.ndarray, prompts: tuple[str, ...], steps: int) -> float:
    """mlx-audio's own path: one `separate` call per prompt (encode, text, generate, decode target+residual)."""
    import mlx.core as mx

    wave = mx.array(audio[None, :, :])
    started = time.perf_counter()
    for prompt in prompts:
        result = sam.separate(wave, [prompt], ode_opt={"method": "euler", "step_size": 1 / steps})
        mx.eval(result.target[0], result.residual[0])
    return time.perf_counter() - started


def driver(sam: Any, audio: np.ndarray, prompts: tuple[str, ...], steps: int, **settings: Any) -> dict[str, Any]:
    from ap_sam_mlx.model import MlxSamModel
    from audio_playground.prompted import GenerateOptions, PromptedSeparator, PromptedSettings

    seconds = audio.shape[1] / sam.sample_rate
    sep = PromptedSeparator(
        MlxSamModel(sam, name="bench"),
        PromptedSettings(
            prompts=prompts,
            generate=GenerateOptions("euler", steps),
            chunk_duration=seconds,
            chunk_overlap=0.0,
            crossfade_type="cosine",
            **settings,
        ),
    )
    started = time.perf_counter()
    sep.separate(audio)
    report = sep.report()
    report["wall"] = time.perf_counter() - started
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--prompts", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--codec-width", type=float, default=1.0, help="scale of the codec's widths (1 = released)")
    parser.add_argument("--tokenizer", type=Path, required=True, help="a tiny model's text_encoder/ folder")
    args = parser.parse_args()
    import mlx.core as mx

    mx.random.seed(0)
    sam = build(args.dim, args.layers, args.tokenizer, args.codec_width)
    rng = np.random.default_rng(0)
    audio = (0.1 * rng.standard_normal((1, int(args.seconds * sam.sample_rate)))).astype(np.float32)
    prompts = PROMPTS[: args.prompts]
    driver(sam, audio[:, : sam.sample_rate], prompts[:1], 1)  # warm-up (kernels, allocator)
    rows = {"mlx-audio separate() per prompt": {"wall": naive(sam, audio, prompts, args.steps)}}
    rows["driver, batch 1"] = driver(sam, audio, prompts, args.steps, batch_size=1)
    rows[f"driver, batch {len(prompts)}"] = driver(sam, audio, prompts, args.steps, batch_size=len(prompts))
    rows["driver, batch 1, residuals decoded"] = driver(sam, audio, prompts, args.steps, batch_size=1, residuals=True)
    rows["driver, chain residuals"] = driver(sam, audio, prompts, args.steps, chain_residuals=True)
    keys = ("codec_encodes", "codec_decodes", "text_encodes", "transformer_evals")
    print(
        f"{args.seconds:g} s of 48 kHz audio, {len(prompts)} prompts, euler {args.steps} steps, DiT {args.dim}x"
        f"{args.layers}, codec width x{args.codec_width:g}, t5-base-sized text encoder, {mx.default_device()}"
    )
    for name, row in rows.items():
        counts = " ".join(f"{k}={row[k]}" for k in keys if k in row)
        steps = json.dumps(row.get("seconds", {})) if "seconds" in row else ""
        print(f"{name:38s} {row['wall']:7.2f} s  {counts}  {steps}")


if __name__ == "__main__":
    main()
