"""Write a tiny, randomly initialised SAM-Audio model folder that `--model DIR` loads offline.

    python -m ap_sam_torch.testing DIR [--seed 0]

It is built with the installed `sam_audio`'s own classes (Meta's, or the tests' stand-in) from a toy config:
the released models' DACVAE geometry (48 kHz, a 1920-sample hop: 25 frames/s; decoder width 1536 over rates
12, 10, 8, 2, which the codec's watermarker requires) with a small encoder and latent, a one-layer DiT, the
smallest Perception Encoder, and a T5 encoder with a small byte-pair tokenizer trained on sound words, in
text_encoder/. The folder has the hub's layout (config.json, checkpoint.pt with every weight but T5's, as on
facebook/sam-audio-*, so upstream's own strict load takes it) and is noise-like: it exercises the real code
path, not separation quality. With Meta's sam_audio it takes about 530 MB (the fixed-size codec decoder and
vision encoder); the decoder makes it slow on a CPU (seconds per second of audio).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ap_sam_torch.resolve import CHECKPOINT, CONFIG, TEXT_ENCODER_DIR
from audio_playground.errors import APError, UsageError

DESCRIPTION = "Write a tiny, randomly initialised SAM-Audio model folder that --model DIR loads offline."
CODEBOOK_DIM = 8
T5_DIM = 16
WORDS = (
    "dog barking cat meowing bird singing car horn engine siren rain wind thunder water speech voice man "
    "woman child laughing singing vocals guitar bass drums piano violin music noise applause footsteps door "
    "knock bell clock alarm phone typing crowd traffic train plane helicopter fire crackling"
)
VISION_ENCODER = "PE-Core-T16-384"
"""The smallest Perception Encoder upstream knows (its weights are in checkpoint.pt, as on the hub)."""
LEFT_OUT = ("text_encoder.",)
"""Not in checkpoint.pt: T5 lives in text_encoder/, as upstream fetches it apart from the checkpoint."""


def tiny_config() -> dict[str, Any]:
    """config.json of the tiny model, in upstream's SAMAudioConfig keywords."""
    return {
        "in_channels": 6 * CODEBOOK_DIM,
        "audio_codec": {
            "encoder_dim": 4,
            "encoder_rates": [2, 8, 10, 12],
            "latent_dim": 16,
            "decoder_dim": 1536,
            "decoder_rates": [12, 10, 8, 2],
            "n_codebooks": 2,
            "codebook_size": 16,
            "codebook_dim": CODEBOOK_DIM,
            "sample_rate": 48_000,
        },
        "text_encoder": {"name": TEXT_ENCODER_DIR, "dim": T5_DIM, "max_length": 32},
        "vision_encoder": {"dim": 8, "name": VISION_ENCODER},
        "transformer": {
            "dim": 32,
            "n_heads": 4,
            "n_layers": 1,
            "dropout": 0.0,
            "context_dim": 32,
            "out_channels": 2 * CODEBOOK_DIM,
            "frequency_embedding_dim": 16,
            "multiple_of": 8,
            "max_positions": 2000,
        },
        "num_anchors": 3,
        "anchor_embedding_dim": 8,
        "visual_ranker": None,
        "text_ranker": None,
        "span_predictor": None,
    }


def _write_tokenizer(folder: Path) -> int:
    """Train a small BPE tokenizer (T5-style: "</s>" appended, "<pad>" = 0) and save it; its vocabulary size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=160,
        special_tokens=["<pad>", "</s>", "<unk>"],
        initial_alphabet=list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -'.,/&"),
        show_progress=False,
    )
    tokenizer.train_from_iterator([WORDS, *WORDS.split()], trainer=trainer)
    eos = tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(single="$A </s>", special_tokens=[("</s>", eos)])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", model_max_length=512
    )
    fast.save_pretrained(str(folder))
    return len(fast)


def _write_text_encoder(folder: Path) -> None:
    """A one-layer T5 encoder and its tokenizer, in Hugging Face's layout."""
    from transformers import T5Config, T5EncoderModel

    vocab = _write_tokenizer(folder)
    config = T5Config(
        vocab_size=vocab,
        d_model=T5_DIM,
        d_kv=4,
        d_ff=32,
        num_layers=1,
        num_heads=4,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=32,
        dropout_rate=0.0,
        feed_forward_proj="gated-gelu",
        pad_token_id=0,
        eos_token_id=1,
    )
    T5EncoderModel(config).save_pretrained(str(folder))


def _build(folder: Path, seed: int) -> None:
    import torch
    from sam_audio.model.config import SAMAudioConfig  # ty: ignore
    from sam_audio.model.model import SAMAudio  # ty: ignore

    from ap_sam_torch.model import quiet_transformers

    torch.manual_seed(seed)
    text = folder / TEXT_ENCODER_DIR
    text.mkdir()
    raw = tiny_config()
    with quiet_transformers():
        _write_text_encoder(text)
        sam = SAMAudio(SAMAudioConfig(**{**raw, "text_encoder": {**raw["text_encoder"], "name": str(text)}}))
    with torch.no_grad():
        for name, param in sam.named_parameters():
            if name.endswith("gate"):  # zero at init upstream: open them so video and anchor inputs matter
                param.fill_(0.5)
    state = {k: v for k, v in sam.state_dict().items() if not k.startswith(LEFT_OUT)}
    torch.save(state, folder / CHECKPOINT)
    (folder / CONFIG).write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
    for path in (*folder.iterdir(), *text.iterdir()):
        path.chmod(0o755 if path.is_dir() else 0o644)  # ordinary files, whatever mode the writers chose


def write_tiny_model(directory: str | Path, *, seed: int = 0) -> Path:
    """Write the tiny model folder at `directory` (absent or empty); it appears whole or not at all."""
    target = Path(directory)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise UsageError("the folder exists and is not empty", path=target, hint="pass a new or empty folder")
    from ap_sam_torch.model import require_sam_audio

    require_sam_audio()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        staging.chmod(0o755)
        _build(staging, seed)
        if target.exists():
            target.rmdir()
        os.replace(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def main(argv: list[str] | None = None) -> int:
    """`python -m ap_sam_torch.testing DIR`: exit 0 with the folder written, 2 on a usage error, 1 otherwise."""
    parser = argparse.ArgumentParser(prog="python -m ap_sam_torch.testing", description=DESCRIPTION)
    parser.add_argument("directory", type=Path, help="new or empty folder to write")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the weights (default 0)")
    args = parser.parse_args(argv)
    try:
        path = write_tiny_model(args.directory, seed=args.seed)
    except APError as exc:
        parser.exit(int(exc.exit_code), f"error: {exc}\n")
    print(path)  # the command's one output: where the model is
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
