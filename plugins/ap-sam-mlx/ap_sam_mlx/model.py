"""SAM-Audio on MLX as a PromptedModel: mlx-audio's SAMAudio split into encode, text, generate, decode.

mlx-audio's own `separate` encodes the audio, encodes the text and decodes target and residual on every
call; here each step is separate so the core's driver can share the mixture encode between prompts, cache
text features for the run, and decode a residual only when it is written. Everything is loaded from local
files: the T5 encoder and tokenizer are set from the model's folder, never fetched lazily from the hub.
mlx and mlx_audio are imported inside the functions that use them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ap_sam_mlx.resolve import FOLDER_HINT, ModelLocation, resolve
from audio_playground.errors import ModelError, PluginError, UsageError
from audio_playground.prompted import DEFAULTS, GenerateOptions, Generation, PromptedSeparator, PromptedSettings

STREAMING_DECODE_FRAMES = 50
"""Latent frames per piece when --streaming decodes in pieces (about 2 s at 25 frames/s)."""
INSTALL_HINT = "install the backend: pip install 'mlx[cpu]' on Linux, pip install mlx on macOS (or ap-sam-mlx)"


def require_mlx() -> None:
    """Import mlx and mlx-audio's SAM-Audio once, or say in one line how to install them."""
    try:
        import mlx.core  # noqa: F401
        import mlx_audio.sts.models.sam_audio  # noqa: F401
    except (ImportError, OSError) as exc:
        raise PluginError(f"the mlx backend cannot be imported ({exc})", hint=INSTALL_HINT) from exc


def use_device(device: str) -> None:
    """Point MLX at `device`: auto keeps its default; cpu; gpu, mps or cuda need an MLX GPU."""
    import mlx.core as mx

    if device in ("", "auto"):
        return
    if device == "cpu":
        mx.set_default_device(mx.cpu)
    elif device in ("gpu", "mps") or device.startswith("cuda"):
        if not mx.is_available(mx.gpu):
            raise UsageError(f"--device {device}: MLX has no GPU on this machine", hint="use --device cpu or auto")
        mx.set_default_device(mx.gpu)  # pragma: no cover - needs an MLX GPU (Apple Silicon, mlx[cuda])
    else:
        raise UsageError(f"--device {device} means nothing to MLX", hint="use auto, cpu or gpu")


class MlxSamModel:
    """The PromptedModel over a loaded mlx-audio SAMAudio (codec, T5 text encoder, DiT)."""

    capabilities: frozenset[str] = frozenset()
    """mlx-audio ships no ranker and no span predictor: reranking and span prediction are off."""

    def __init__(self, sam: Any, *, name: str = "sam-audio", decode_frames: int | None = None) -> None:
        self.sam = sam
        self.name = name
        self.decode_frames = decode_frames
        codec = sam.audio_codec
        self.sample_rate = int(codec.sample_rate)
        self.hop = int(codec.hop_length)
        self.codebook_dim = int(codec.config.codebook_dim)
        self.max_frames: int | None = int(sam.config.transformer.max_positions) * self.hop

    def encode_mixture(self, audio: np.ndarray) -> Any:
        """(1, frames) float32 -> codec features (1, T, 2C): the mixture's, doubled for target and residual."""
        import mlx.core as mx

        wave = mx.array(np.ascontiguousarray(audio, dtype=np.float32)[None, :, :])  # (1, 1, frames)
        features = mx.transpose(self.sam.audio_codec(wave), (0, 2, 1))
        features = mx.concatenate([features, features], axis=2)
        mx.eval(features)
        return features

    def encode_text(self, prompts: Sequence[str]) -> list[Any]:
        """T5 features per prompt, cut to its own tokens: (tokens, dim) each, batchable with any other."""
        import mlx.core as mx

        features, mask = self.sam.text_encoder(list(prompts))
        mx.eval(features, mask)
        lengths = np.asarray(mask).sum(axis=1)
        return [features[i, : int(n)] for i, n in enumerate(lengths)]

    def generate(self, mixture: Any, text: Sequence[Any], seeds: Sequence[int], options: GenerateOptions) -> Generation:
        """Integrate the flow from seeded noise to target+residual features, all prompts in one batch."""
        import mlx.core as mx

        batch = len(text)
        _, frames, channels = mixture.shape
        features = mx.broadcast_to(mixture, (batch, frames, channels))
        longest = max(int(t.shape[0]) for t in text)
        text_features = mx.stack([mx.pad(t, [(0, longest - int(t.shape[0])), (0, 0)]) for t in text])
        lengths = mx.array([int(t.shape[0]) for t in text])
        text_mask = mx.arange(longest)[None, :] < lengths[:, None]
        x = mx.stack([mx.random.normal((frames, channels), key=mx.random.key(int(s))) for s in seeds])
        dt = options.step_size
        evaluations = 0

        def velocity(state: Any, t: float) -> Any:
            nonlocal evaluations
            evaluations += 1
            time = mx.full((batch,), t, dtype=mx.float32)
            return self.sam(state, features, text_features, time, text_mask=text_mask)

        for step in range(options.steps):
            t = step * dt
            v = velocity(x, t)
            if options.solver == "midpoint":
                v = velocity(x + 0.5 * dt * v, t + 0.5 * dt)
            x = x + dt * v
            mx.eval(x)
        mx.clear_cache()
        c = channels // 2
        targets = [mx.transpose(x[i, :, :c]) for i in range(batch)]
        residuals = [mx.transpose(x[i, :, c:]) for i in range(batch)]
        return Generation(targets, residuals, evaluations)

    def decode(self, latents: Sequence[Any]) -> list[np.ndarray]:
        """Codec-decode (C, T) latents in one batch (in pieces with --streaming) to 1-D float32 audio."""
        import mlx.core as mx

        wave = self.sam.audio_codec.decode(mx.stack(list(latents)), chunk_size=self.decode_frames)
        mx.eval(wave)
        mx.clear_cache()
        audio = np.asarray(wave[:, :, 0], dtype=np.float32)
        return [audio[i] for i in range(audio.shape[0])]


# --------------------------------------------------------------------------- loading


def _load_safetensors(folder: Path) -> dict[str, Any]:
    import mlx.core as mx

    weights: dict[str, Any] = {}
    for path in sorted(folder.glob("*.safetensors")):
        try:
            weights.update(mx.load(str(path)))  # ty: ignore[no-matching-overload]
        except Exception as exc:
            raise ModelError(f"cannot read the weights ({exc})", path=path, hint=FOLDER_HINT) from exc
    return weights


def _fill(module: Any, weights: Mapping[str, Any], folder: Path, what: str) -> list[tuple[str, Any]]:
    """The weights that fit `module`, after checking none of its parameters is left out or misshapen."""
    from mlx.utils import tree_flatten

    params = dict(tree_flatten(module.parameters()))
    missing = sorted(k for k in params if k not in weights and "wm_model" not in k)
    misshapen = sorted(k for k in params if k in weights and sorted(weights[k].shape) != sorted(params[k].shape))
    if missing or misshapen:
        bad = missing or misshapen
        cause = "lack" if missing else "have the wrong shape for"
        raise ModelError(
            f"the {what} weights {cause} {len(bad)} parameters ({', '.join(bad[:3])}{', ...' if len(bad) > 3 else ''})",
            path=folder,
            hint="config.json and the weights do not belong together: fetch or write the folder again",
        )
    return [(k, v) for k, v in weights.items() if k in params]


def _t5_config(folder: Path) -> Any:
    from mlx_audio.sts.models.sam_audio.text_encoder import T5Config

    raw = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    projection = str(raw.get("feed_forward_proj", "relu"))
    gated = bool(raw.get("is_gated_act", projection.startswith("gated-")))
    activation = raw.get("dense_act_fn", projection.split("-")[-1])
    try:
        return T5Config(
            vocab_size=int(raw["vocab_size"]),
            d_model=int(raw["d_model"]),
            d_kv=int(raw["d_kv"]),
            d_ff=int(raw["d_ff"]),
            num_layers=int(raw["num_layers"]),
            num_heads=int(raw["num_heads"]),
            relative_attention_num_buckets=int(raw.get("relative_attention_num_buckets", 32)),
            relative_attention_max_distance=int(raw.get("relative_attention_max_distance", 128)),
            dropout_rate=0.0,
            layer_norm_epsilon=float(raw.get("layer_norm_epsilon", 1e-6)),
            is_gated_act=gated,
            dense_act_fn="gelu_new" if activation == "gelu" else str(activation),
        )
    except KeyError as exc:
        raise ModelError(f"the T5 config.json lacks {exc}", path=folder, hint=FOLDER_HINT) from exc


def load_text_encoder(folder: Path, dim: int) -> tuple[Any, Any]:
    """The T5 encoder (MLX) and its tokenizer, both from `folder`, offline."""
    from mlx_audio.sts.models.sam_audio.text_encoder import T5Encoder
    from transformers import AutoTokenizer

    config = _t5_config(folder)
    if config.d_model != dim:
        raise ModelError(
            f"the text encoder's width ({config.d_model}) is not the model's text_encoder.dim ({dim})",
            path=folder,
            hint="use the T5 encoder the model was trained with (t5-base for the released models)",
        )
    encoder = T5Encoder(config)
    weights = T5Encoder.sanitize(_load_safetensors(folder))
    encoder.load_weights(_fill(encoder, weights, folder, "text encoder"), strict=False)
    encoder.eval()
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:
        raise ModelError(f"cannot load the tokenizer ({exc})", path=folder, hint=FOLDER_HINT) from exc
    return encoder, tokenizer


def load_sam(location: ModelLocation) -> Any:
    """Build SAMAudio from the folder's config.json and weights, T5 and tokenizer set from local files."""
    import mlx.core as mx
    from mlx_audio.sts.models.sam_audio import SAMAudio, SAMAudioConfig

    raw = json.loads((location.folder / "config.json").read_text(encoding="utf-8"))
    try:
        config = SAMAudioConfig.from_dict(raw)
        sam = SAMAudio(config)
    except (TypeError, ValueError, KeyError) as exc:
        raise ModelError(
            f"config.json does not describe a SAM-Audio model ({exc})", path=location.folder, hint=FOLDER_HINT
        ) from exc
    weights = sam.sanitize(_load_safetensors(location.folder))
    sam.load_weights(_fill(sam, weights, location.folder, "SAM-Audio"), strict=False)
    sam.eval()
    mx.eval(sam.parameters())
    encoder, tokenizer = load_text_encoder(location.text_folder, int(config.text_encoder.dim))
    sam.text_encoder.model = encoder
    sam.text_encoder.tokenizer = tokenizer
    return sam


def load_model(name: str, *, streaming: bool = False) -> MlxSamModel:
    """Resolve --model `name` (short name, hub id or folder) and load it as an MlxSamModel."""
    location = resolve(name)  # first: a model that is not there is told before mlx is imported
    assert location is not None  # resolve() downloads or raises when asked to
    require_mlx()
    sam = load_sam(location)
    label = f"sam-audio/mlx:{location.hub_id or location.folder.name}"
    return MlxSamModel(sam, name=label, decode_frames=STREAMING_DECODE_FRAMES if streaming else None)


def load_separator(options: Mapping[str, Any], device: str) -> PromptedSeparator:
    """SeparatorSpec.load: validate the options, load the model, wrap it in the core's prompted driver."""
    settings = PromptedSettings.from_options(options)
    name = str(options.get("model") or DEFAULTS["model"])
    resolve(name)  # before importing mlx (seconds): a missing model fails at once; load_model finds it again
    require_mlx()
    use_device(device)
    model = load_model(name, streaming=bool(options.get("streaming")))
    return PromptedSeparator(model, settings, name=model.name)
