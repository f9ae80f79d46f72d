"""Write a tiny, randomly initialised SAM-Audio model folder that `--model DIR` loads offline.

    python -m ap_sam_mlx.testing DIR [--sample-rate 8000] [--seed 0]

It is built from mlx-audio's own classes (DACVAE codec, DiT, T5 encoder) at toy sizes, with a low codec
rate so seconds of audio cost milliseconds, plus a small byte-pair tokenizer trained on sound words. The
output is noise-like: it exercises the real code path, not separation quality.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import Any

from ap_sam_mlx.resolve import TEXT_ENCODER_DIR
from audio_playground.errors import APError, UsageError

DESCRIPTION = "Write a tiny, randomly initialised SAM-Audio model folder that --model DIR loads offline."
CODEBOOK_DIM = 8
T5_DIM = 16
WORDS = (
    "dog barking cat meowing bird singing car horn engine siren rain wind thunder water speech voice man "
    "woman child laughing singing vocals guitar bass drums piano violin music noise applause footsteps door "
    "knock bell clock alarm phone typing crowd traffic train plane helicopter fire crackling"
)


def tiny_config(sample_rate: int = 8000) -> Any:
    """A SAMAudioConfig at toy sizes: hop 32 (250 latent frames/s at 8 kHz), one DiT layer, 16-wide text."""
    from mlx_audio.sts.models.sam_audio import DACVAEConfig, SAMAudioConfig, T5EncoderConfig, TransformerConfig

    return SAMAudioConfig(
        in_channels=6 * CODEBOOK_DIM,
        audio_codec=DACVAEConfig(
            encoder_dim=8,
            encoder_rates=[4, 8],
            latent_dim=16,
            decoder_dim=32,
            decoder_rates=[8, 4],
            n_codebooks=2,
            codebook_size=16,
            codebook_dim=CODEBOOK_DIM,
            sample_rate=sample_rate,
        ),
        text_encoder=T5EncoderConfig(name=TEXT_ENCODER_DIR, dim=T5_DIM, max_length=32),
        transformer=TransformerConfig(
            dim=32,
            n_heads=4,
            n_layers=1,
            dropout=0.0,
            context_dim=32,
            out_channels=2 * CODEBOOK_DIM,
            frequency_embedding_dim=16,
            multiple_of=8,
            max_positions=4096,
        ),
        anchor_embedding_dim=8,
    )


def _write_tokenizer(folder: Path) -> int:
    """Train a small BPE tokenizer (T5-style: "</s>" appended, "<pad>" = 0) and save it; its vocab size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    alphabet = list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -'.,/&")
    trainer = trainers.BpeTrainer(
        vocab_size=160, special_tokens=["<pad>", "</s>", "<unk>"], initial_alphabet=alphabet, show_progress=False
    )
    tokenizer.train_from_iterator([WORDS, *WORDS.split()], trainer=trainer)
    eos = tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", eos)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=512
    )
    fast.save_pretrained(str(folder))
    return len(fast)


def _t5_config(vocab_size: int) -> dict[str, Any]:
    return {
        "model_type": "t5",
        "vocab_size": vocab_size,
        "d_model": T5_DIM,
        "d_kv": 4,
        "d_ff": 32,
        "num_layers": 1,
        "num_heads": 4,
        "relative_attention_num_buckets": 8,
        "relative_attention_max_distance": 32,
        "dropout_rate": 0.0,
        "layer_norm_epsilon": 1e-6,
        "feed_forward_proj": "gated-gelu",
        "is_gated_act": True,
        "dense_act_fn": "gelu_new",
    }


def _build(folder: Path, sample_rate: int, seed: int) -> None:
    import mlx.core as mx
    from mlx.utils import tree_flatten
    from mlx_audio.sts.models.sam_audio import SAMAudio
    from mlx_audio.sts.models.sam_audio.text_encoder import T5Encoder

    from ap_sam_mlx.model import _t5_config as read_t5_config

    mx.random.seed(seed)
    config = tiny_config(sample_rate)
    sam = SAMAudio(config)
    # the watermarking branch never runs in separation: leave it out to keep the folder small
    weights: dict[str, Any] = {k: v for k, v in tree_flatten(sam.parameters()) if "wm_model" not in k}
    mx.save_safetensors(str(folder / "model.safetensors"), weights)
    (folder / "config.json").write_text(json.dumps(asdict(config), indent=2) + "\n", encoding="utf-8")

    text = folder / TEXT_ENCODER_DIR
    text.mkdir()
    vocab = _write_tokenizer(text)
    (text / "config.json").write_text(json.dumps(_t5_config(vocab), indent=2) + "\n", encoding="utf-8")
    encoder = T5Encoder(read_t5_config(text))
    mx.save_safetensors(str(text / "model.safetensors"), dict(tree_flatten(encoder.parameters())))


def write_tiny_model(directory: str | Path, *, sample_rate: int = 8000, seed: int = 0) -> Path:
    """Write the tiny model folder at `directory` (absent or empty); it appears whole or not at all."""
    target = Path(directory)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError("the folder exists and is not empty", path=target, hint="pass a new or empty folder")
    if sample_rate < 1000:
        raise UsageError(f"--sample-rate must be >= 1000, not {sample_rate}")
    if seed < 0:
        raise UsageError(f"--seed must be >= 0, not {seed}")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        staging.chmod(0o755)
        _build(staging, sample_rate, seed)
        if target.exists():
            target.rmdir()
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def main(argv: list[str] | None = None) -> int:
    """`python -m ap_sam_mlx.testing DIR`: exit 0 with the folder written, 2 on a usage error."""
    parser = argparse.ArgumentParser(prog="python -m ap_sam_mlx.testing", description=DESCRIPTION)
    parser.add_argument("directory", type=Path, help="new or empty folder to write")
    parser.add_argument("--sample-rate", type=int, default=8000, help="codec sample rate (default 8000)")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the weights (default 0)")
    args = parser.parse_args(argv)
    try:
        path = write_tiny_model(args.directory, sample_rate=args.sample_rate, seed=args.seed)
    except APError as exc:
        parser.exit(int(exc.exit_code), f"error: {exc}\n")
    print(path)  # the command's one output: where the model is
    return 0


if __name__ == "__main__":  # pragma: no cover - run through a subprocess in the tests
    raise SystemExit(main())
