"""SAM-Audio on PyTorch as a PromptedModel: Meta's `sam_audio` split into encode, text, generate, decode.

Upstream's `SAMAudio.separate` encodes the audio and the text, integrates the flow and decodes target and
residual on every call, one audio per description. Here each step is separate, on upstream's own modules (the
DACVAE codec, the T5 text encoder, the DiT vector field, the rankers and span predictor), so the core's driver
can share a chunk's mixture encode between prompts, encode each prompt's text once per run, batch prompts, and
decode a residual only when it is written. The model is built from the snapshot's config.json and checkpoint.pt
here (upstream's from_pretrained fails with huggingface_hub >= 1.0), with the rankers and the span predictor
left out unless --reranking-candidates > 1 or --predict-spans asks for them. torch and sam_audio are imported
inside the functions that use them.
"""

from __future__ import annotations

from collections.abc import Generator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ap_sam_torch.resolve import CHECKPOINT, FOLDER_HINT, ModelLocation, read_config, resolve
from audio_playground.errors import ModelError, PluginError, UsageError
from audio_playground.hub import first_line
from audio_playground.prompted import DEFAULTS, GenerateOptions, Generation, PromptedSeparator, PromptedSettings

INSTALL_HINT = (
    "install it with torchaudio: pip install 'ap-sam-torch[upstream]' "
    "(sam-audio comes from https://github.com/facebookresearch/sam-audio)"
)
STREAMING_DECODE_FRAMES = 100
"""Codec frames per piece when --streaming decodes in pieces (4 s at the released models' 25 frames/s)."""
STREAMING_CONTEXT_FRAMES = 16
"""Codec frames decoded on each side of a piece and dropped, so pieces join without seams."""
NOT_LOADED = ("text_encoder.", "vision_encoder.", "visual_ranker.", "text_ranker.", "span_predictor.")
"""Checkpoint prefixes not taken from checkpoint.pt: T5, rankers and span predictor load their own weights; the
vision encoder serves only video prompts and is dropped (text prompts give it zeros, not frames)."""
FAILURE_HINT = "use a shorter --chunk-duration or a smaller --batch-size, add --streaming, or use --device cpu"
WATERMARK_BITS = 16
"""Bits of DACVAE's watermark message when its decoder does not say (upstream's default)."""


def require_sam_audio() -> None:
    """Import upstream's sam_audio once, or say in one line what to install."""
    try:
        import sam_audio.model.model  # ty: ignore
        import sam_audio.processor  # noqa: F401  # ty: ignore
    except (ImportError, OSError) as exc:
        raise PluginError(
            f"sam-audio on pytorch needs Meta's sam_audio package, which cannot be imported ({exc})", hint=INSTALL_HINT
        ) from exc


def resolve_device(device: str | None) -> str:
    """Resolve --device: auto picks cuda if available, else mps, else cpu; others must be usable here."""
    import torch

    name = (device or "auto").strip().lower()
    mps = getattr(torch.backends, "mps", None)
    has_mps = mps is not None and mps.is_available()
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    try:
        parsed = torch.device(name)
    except RuntimeError as exc:
        raise UsageError(f"unknown device {device!r}", hint="use auto, cpu, cuda, cuda:N or mps") from exc
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"device {device} is not available: torch sees no CUDA GPU", hint="use --device cpu")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise UsageError(
                f"device {device} is not available: torch sees {torch.cuda.device_count()} CUDA GPU(s)",
                hint="use --device cuda or cuda:0",
            )
    elif parsed.type == "mps":
        if not has_mps:
            raise UsageError(f"device {device} is not available on this machine", hint="use --device cpu")
    elif parsed.type != "cpu":
        raise UsageError(f"device {device} is not supported by ap-sam-torch", hint="use auto, cpu, cuda or mps")
    return name


@dataclass
class Mixture:
    """A chunk encoded once for all its prompts: the mono audio (CPU) and its doubled codec features."""

    audio: Any
    """(1, frames) float32 torch tensor on the CPU: what rankers compare candidates with."""
    features: Any
    """(1, T, 2C) on the model's device: the codec features, twice (the target and residual halves)."""
    frames: int


@dataclass
class TextFeature:
    """One prompt's T5 features, cut to its own tokens, and its text (the span predictor and rankers read it)."""

    prompt: str
    features: Any
    """(tokens, dim) on the model's device."""


def seeded_noise(seeds: Sequence[int], candidates: int, frames: int, channels: int) -> Any:
    """The starting noise, (len(seeds) * candidates, frames, channels): item i's rows drawn from seeds[i] on the CPU,
    so a seed gives the same noise on every device."""
    import torch

    rows = []
    for seed in seeds:
        generator = torch.Generator().manual_seed(int(seed))
        rows.append(torch.randn((candidates, frames, channels), generator=generator))
    return torch.cat(rows)


def watermark_message(seed: int, bits: int = WATERMARK_BITS) -> Any:
    """The (1, bits) float32 0/1 message DACVAE's watermarker embeds, drawn from `seed` on the CPU.

    Upstream draws a fresh message from torch's global RNG on every decode, so the same seed never gave the same
    audio twice; here it follows the seed, one message per chunk."""
    import torch

    generator = torch.Generator().manual_seed(int(seed))
    return torch.randint(0, 2, (1, bits), generator=generator).float()


def time_grid(step_size: float) -> list[tuple[Any, Any]]:
    """The (t0, dt) steps torchdiffeq's fixed-grid odeint takes over [0, 1] for `step_size`, as upstream integrates.

    Hand-written after torchdiffeq's grid constructor (float32 times, ceil(1 / step_size + 1) points, the last
    set to 1): for some step counts (61, 109, ...) that is one step more than 1 / step_size."""
    import torch

    t = torch.tensor([0.0, 1.0])
    points = torch.ceil((t[-1] - t[0]) / step_size + 1).item()
    grid = torch.arange(0, points, dtype=t.dtype) * step_size + t[0]
    grid[-1] = t[-1]
    return [(grid[i], grid[i + 1] - grid[i]) for i in range(len(grid) - 1)]


class TorchSamModel:
    """The PromptedModel over a loaded upstream SAMAudio on one device."""

    def __init__(
        self, sam: Any, config: Any, *, name: str = "sam-audio", device: str = "cpu", decode_frames: int | None = None
    ) -> None:
        import torch

        self.sam = sam
        self.config = config
        self.name = name
        self.device = torch.device(device)
        self.decode_frames = decode_frames
        codec = config.audio_codec
        self.sample_rate = int(codec.sample_rate)
        self.hop = int(codec.hop_length)
        self.codebook_dim = int(codec.codebook_dim)
        self.video_dim = int(config.vision_encoder.dim)
        transformer = config.transformer
        self.max_frames: int | None = int(transformer.max_positions) * self.hop if transformer.use_rope else None
        capabilities = {"seeded_decode"}  # every decode embeds a watermark message, drawn from the chunk's seed
        if getattr(sam, "text_ranker", None) is not None:
            capabilities.add("reranking")
        if hasattr(sam, "span_predictor"):
            capabilities.add("spans")
        self.capabilities: frozenset[str] = frozenset(capabilities)

    @contextmanager
    def _step(self, what: str, frames: int) -> Generator[None]:
        """Run a step without autograd; a torch failure (out of memory, device errors) becomes one ModelError."""
        import torch

        try:
            with torch.inference_mode():
                yield
        except RuntimeError as exc:
            raise ModelError(
                f"{self.name} failed to {what} ({frames} frames at {self.sample_rate} Hz) on {self.device}: "
                f"{first_line(exc)}",
                hint=FAILURE_HINT,
            ) from exc

    def encode_mixture(self, audio: np.ndarray) -> Mixture:
        """(1, frames) float32 -> the codec's features of the chunk, doubled for target and residual."""
        import torch

        wave = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float32).reshape(1, -1))
        frames = int(wave.shape[1])
        codec_input = wave
        if frames < self.hop:  # the codec reflect-pads to its hop, which needs at least a hop of audio
            codec_input = torch.nn.functional.pad(wave, (0, self.hop - frames))
        with self._step("encode the mixture", frames):
            features = self.sam._get_audio_features(codec_input[None].to(self.device))
        return Mixture(wave, features, frames)

    def encode_text(self, prompts: Sequence[str]) -> list[TextFeature]:
        """T5 features per prompt, cut to its own tokens: each batchable with any other."""
        with self._step("encode the prompts", 0):
            features, mask = self.sam.text_encoder(list(prompts))
            lengths = mask.sum(dim=1).tolist()
            cut = zip(prompts, lengths, strict=True)
            return [TextFeature(p, features[i, : int(n)].clone()) for i, (p, n) in enumerate(cut)]

    def _anchors(self, mixture: Mixture, text: Sequence[TextFeature], predict_spans: bool, pad_mask: Any) -> Any:
        """Anchor ids and per-frame alignment from upstream's Batch: none, or the span predictor's "+" spans."""
        import torch
        from sam_audio.processor import Batch  # ty: ignore

        count = len(text)
        frames = int(mixture.features.shape[1])
        batch = Batch(  # on the CPU, where upstream builds anchors; only the ids move to the device
            audios=mixture.audio[None].expand(count, 1, mixture.frames),
            sizes=torch.full((count,), frames),
            wav_sizes=torch.full((count,), mixture.frames),
            descriptions=[t.prompt for t in text],
            hop_length=self.hop,
            audio_sampling_rate=self.sample_rate,
            audio_pad_mask=torch.ones((count, frames), dtype=torch.bool),
        )
        if predict_spans:
            features = mixture.features.expand(count, -1, -1)
            batch = self.sam.predict_spans(batch=batch, audio_features=features, audio_pad_mask=pad_mask[:count])
        return batch.anchor_ids.to(self.device), batch.anchor_alignment.to(self.device)

    def generate(
        self, mixture: Mixture, text: Sequence[TextFeature], seeds: Sequence[int], options: GenerateOptions
    ) -> Generation:
        """Integrate the flow from seeded noise to [target | residual] features, every prompt in one batch.

        With reranking, each prompt gets `reranking_candidates` noises; the text ranker picks one per prompt.
        """
        import torch

        count, candidates = len(text), options.reranking_candidates
        rows = count * candidates
        _, frames, channels = mixture.features.shape
        with self._step("generate", mixture.frames):
            pad_mask = torch.ones((rows, frames), dtype=torch.bool, device=self.device)
            anchor_ids, alignment = self._anchors(mixture, text, options.predict_spans, pad_mask)
            longest = max(int(t.features.shape[0]) for t in text)
            text_features = torch.stack(
                [torch.nn.functional.pad(t.features, (0, 0, 0, longest - int(t.features.shape[0]))) for t in text]
            )
            lengths = torch.tensor([int(t.features.shape[0]) for t in text], device=self.device)
            text_mask = torch.arange(longest, device=self.device)[None, :] < lengths[:, None]
            inputs = {
                "audio_features": mixture.features.expand(rows, -1, -1),
                "text_features": text_features.repeat_interleave(candidates, dim=0),
                "text_mask": text_mask.repeat_interleave(candidates, dim=0),
                "masked_video_features": mixture.features.new_zeros((rows, self.video_dim, frames)),
                "anchor_ids": anchor_ids.repeat_interleave(candidates, dim=0),
                "anchor_alignment": alignment.repeat_interleave(candidates, dim=0),
                "audio_pad_mask": pad_mask,
            }
            x = seeded_noise(seeds, candidates, frames, channels).to(self.device, mixture.features.dtype)
            evaluations = 0

            def velocity(state: Any, t: Any) -> Any:
                nonlocal evaluations
                evaluations += 1
                time = torch.full((rows,), float(t), device=self.device, dtype=state.dtype)
                return self.sam(noisy_audio=state, time=time, **inputs)

            for t, dt in time_grid(options.step_size):  # torchdiffeq's euler and midpoint steps, as upstream's
                if options.solver == "midpoint":
                    half = 0.5 * dt
                    x = x + dt.to(self.device) * velocity(x + velocity(x, t) * half.to(self.device), t + half)
                else:
                    x = x + dt.to(self.device) * velocity(x, t)
            latents = x.transpose(1, 2)  # (rows, 2C, T): the target's C channels, then the residual's
            half = channels // 2
            chosen = list(range(count))
            if candidates > 1:
                chosen = self._rerank(mixture, text, latents[:, :half], candidates, seeds)
        return Generation([latents[i, :half] for i in chosen], [latents[i, half:] for i in chosen], evaluations)

    def _rerank(
        self, mixture: Mixture, text: Sequence[TextFeature], targets: Any, candidates: int, seeds: Sequence[int]
    ) -> list[int]:
        """Decode every candidate target and let the text ranker pick each prompt's best; their row indices.

        As upstream's separate: the candidates at the codec's length (whole hops), the mixture at its own; each
        prompt's candidates decoded with a watermark message from its seed."""
        import torch

        messages = torch.cat([watermark_message(s, self._watermark_bits()) for s in seeds])
        wavs = self._codec_decode(targets, messages.repeat_interleave(candidates, dim=0))[:, 0]
        audio = mixture.audio.to(self.device)
        scores = self.sam.text_ranker(
            extracted_audio=[wavs[i * candidates : (i + 1) * candidates] for i in range(len(text))],
            input_audio=[audio.expand(candidates, -1) for _ in text],
            descriptions=[t.prompt for t in text],
            sample_rate=self.sample_rate,
        )
        best = scores.argmax(dim=1).tolist()
        return [i * candidates + int(b) for i, b in enumerate(best)]

    def _watermark_bits(self) -> int:
        processor = getattr(getattr(self.sam.audio_codec.decoder, "wm_model", None), "msg_processor", None)
        return int(getattr(processor, "nbits", WATERMARK_BITS))

    def _codec_decode(self, latents: Any, messages: Any) -> Any:
        """(B, C, T) latents -> (B, 1, T * hop) audio: upstream's DACVAE.decode with the watermark messages given
        ((B, bits)), where upstream's draws them at random."""
        import torch

        codec = self.sam.audio_codec
        with torch.backends.cudnn.flags(enabled=False):
            return codec.decoder(codec.quantizer.out_proj(latents), message=messages.to(latents.device))

    def decode(self, latents: Sequence[Any], seed: int = 0) -> list[np.ndarray]:
        """Codec-decode (C, T) latents to 1-D float32 audio: in one batch, or piece by piece with --streaming.

        Every row and every piece carries the same watermark message, drawn from `seed` (the chunk's)."""
        import torch

        frames = int(latents[0].shape[-1]) * self.hop
        message = watermark_message(seed, self._watermark_bits())
        with self._step("decode", frames):
            if self.decode_frames is None:
                wavs = self._codec_decode(torch.stack(list(latents)), message.expand(len(latents), -1))[:, 0]
                return [w.float().cpu().numpy() for w in wavs]
            return [self._decode_in_pieces(latent, message) for latent in latents]

    def _decode_in_pieces(self, latent: Any, message: Any) -> np.ndarray:
        """One (C, T) latent decoded `decode_frames` at a time, each piece with context on both sides dropped."""
        assert self.decode_frames is not None
        total = int(latent.shape[-1])
        context = STREAMING_CONTEXT_FRAMES
        pieces = []
        for start in range(0, total, self.decode_frames):
            end = min(total, start + self.decode_frames)
            lo, hi = max(0, start - context), min(total, end + context)
            wav = self._codec_decode(latent[None, :, lo:hi], message)[0, 0]
            pieces.append(wav[(start - lo) * self.hop : (end - lo) * self.hop].float().cpu().numpy())
        return np.concatenate(pieces)


# --------------------------------------------------------------------------- loading


def build_config(location: ModelLocation, *, rankers: bool = False, spans: bool = False) -> Any:
    """Upstream's SAMAudioConfig from config.json: T5 from the resolved folder, rankers/span predictor only if asked.

    The hub config names rankers and a span predictor that fetch large models and exhaust memory; they are set to
    None unless asked for. The visual ranker serves video prompts only and is always left out.
    """
    from sam_audio.model.config import SAMAudioConfig  # ty: ignore

    raw = dict(read_config(location.folder))
    if rankers and raw.get("text_ranker") is None:
        raise UsageError(
            "--reranking-candidates above 1 needs a text ranker, and this model's config.json names none",
            path=location.folder,
            hint="use --reranking-candidates 1, or a model whose config.json has text_ranker",
        )
    if spans and "span_predictor" in raw and raw["span_predictor"] is None:
        raise UsageError(
            "--predict-spans needs a span predictor, and this model's config.json names none",
            path=location.folder,
            hint="leave --predict-spans off, or use a model whose config.json has span_predictor",
        )
    raw["visual_ranker"] = None
    if not rankers:
        raw["text_ranker"] = None
    if not spans:
        raw["span_predictor"] = None
    text = raw.get("text_encoder")
    raw["text_encoder"] = {**(text if isinstance(text, dict) else {}), "name": str(location.text_folder)}
    kind = raw["text_ranker"].get("kind") if isinstance(raw["text_ranker"], dict) else None
    try:
        config = SAMAudioConfig(**raw)
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise ModelError(
            f"config.json does not describe a SAM-Audio model ({exc})", path=location.folder, hint=FOLDER_HINT
        ) from exc
    if rankers and config.text_ranker is None:  # upstream's parser gives None for a kind it does not know
        raise UsageError(
            f"--reranking-candidates above 1 needs a text ranker, and this model's config.json names one of a kind "
            f"the installed sam_audio does not know ({kind!r})",
            path=location.folder,
            hint="use --reranking-candidates 1, or update sam_audio",
        )
    return config


def _read_checkpoint(location: ModelLocation) -> Mapping[str, Any]:
    import torch

    path = location.folder / CHECKPOINT
    try:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:
            if "mmap" not in str(exc):
                raise
            state = torch.load(path, map_location="cpu", weights_only=True)  # the legacy (non-zip) format
    except Exception as exc:
        raise ModelError(f"cannot read checkpoint.pt ({exc})", path=path, hint=FOLDER_HINT) from exc
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError("checkpoint.pt is not a state dict of tensors", path=path, hint=FOLDER_HINT)
    return state


def load_weights(sam: Any, location: ModelLocation) -> None:
    """Load checkpoint.pt into `sam`, after checking that every parameter it must supply is there and fits."""
    import torch

    state = _read_checkpoint(location)
    params = sam.state_dict()
    missing = sorted(k for k in params if k not in state and not k.startswith(NOT_LOADED))
    unexpected = sorted(k for k in state if k not in params and not k.startswith(NOT_LOADED))
    misshapen = sorted(k for k in params if k in state and tuple(state[k].shape) != tuple(params[k].shape))
    for bad, cause in ((missing, "lacks"), (misshapen, "has the wrong shape for"), (unexpected, "has unknown")):
        if bad:
            listed = ", ".join(bad[:3]) + (", ..." if len(bad) > 3 else "")
            raise ModelError(
                f"checkpoint.pt {cause} {len(bad)} parameters ({listed})",
                path=location.folder,
                hint="config.json and checkpoint.pt do not belong together: fetch or write the folder again",
            )
    # upstream's load_state_dict(strict=False) loads nothing: call torch's own, with every key checked above
    kept = {k: v for k, v in state.items() if k in params and not k.startswith(NOT_LOADED)}
    torch.nn.Module.load_state_dict(sam, kept, strict=False)


@contextmanager
def quiet_transformers() -> Generator[None]:
    """transformers' progress bars off for the block: they would break the CLI's one-line-per-event output."""
    from transformers.utils import logging as transformers_logging

    enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            transformers_logging.enable_progress_bar()


def _load_judge(config: Any) -> Any:
    """Upstream's JudgeRanker over the judge model loaded as SAMAudio is here, from config.json and checkpoint.pt:
    the ranker's own from_pretrained fails with huggingface_hub >= 1.0, as SAMAudio's does."""
    import torch
    from sam_audio.model.judge import SAMAudioJudgeModel  # ty: ignore
    from sam_audio.processor import SAMAudioJudgeProcessor  # ty: ignore
    from sam_audio.ranking.judge import JudgeRanker  # ty: ignore
    from sam_audio.ranking.ranker import Ranker  # ty: ignore

    name = str(config.checkpoint_or_model_id)
    folder = Path(name)
    if not folder.is_dir():
        from huggingface_hub import snapshot_download

        folder = Path(snapshot_download(repo_id=name, revision=SAMAudioJudgeModel.revision))
    model = SAMAudioJudgeModel(SAMAudioJudgeModel.config_cls(**read_config(folder)))
    model.load_state_dict(torch.load(folder / CHECKPOINT, map_location="cpu", weights_only=True))
    ranker = JudgeRanker.__new__(JudgeRanker)  # its __init__ is what calls the failing from_pretrained
    Ranker.__init__(ranker)
    ranker.config = config
    ranker.model = model.eval()
    ranker.processor = SAMAudioJudgeProcessor.from_pretrained(str(folder))
    return ranker


def build_ranker(config: Any) -> Any:
    """A ranker from its config as upstream's create_ranker builds it, but judges loaded by `_load_judge`."""
    from sam_audio.model.config import EnsembleRankerConfig, JudgeRankerConfig  # ty: ignore
    from sam_audio.ranking import create_ranker  # ty: ignore
    from sam_audio.ranking.ranker import EnsembleRanker  # ty: ignore

    if isinstance(config, JudgeRankerConfig):
        return _load_judge(config)
    if isinstance(config, EnsembleRankerConfig):
        configs, weights = zip(*config.rankers.values(), strict=True)
        return EnsembleRanker(rankers=[build_ranker(c) for c in configs], weights=list(weights))
    return create_ranker(config)


def load_sam(location: ModelLocation, config: Any) -> Any:
    """Build upstream's SAMAudio from `config` on the CPU, drop the video encoder, load checkpoint.pt."""
    from sam_audio.model.model import SAMAudio  # ty: ignore

    ranker, config.text_ranker = config.text_ranker, None  # built apart: upstream's judge cannot load itself
    try:
        with quiet_transformers():
            sam = SAMAudio(config)
            if ranker is not None:
                sam.text_ranker = build_ranker(ranker)
    except Exception as exc:  # T5, rankers or span predictor that cannot load: one line, not a traceback
        raise ModelError(
            f"cannot build SAM-Audio ({first_line(exc)})",
            path=location.folder,
            hint="check the text encoder folder; rankers and the span predictor fetch their own weights from the "
            "Hugging Face hub (run once online, or leave --reranking-candidates 1 and --predict-spans off)",
        ) from exc
    sam.vision_encoder = None  # text prompts give the video branch zeros: its encoder would only hold memory
    load_weights(sam, location)
    return sam.eval()


def load_model(
    name: str, *, device: str = "cpu", streaming: bool = False, rankers: bool = False, spans: bool = False
) -> TorchSamModel:
    """Resolve --model `name` (short name, hub id or folder) and load it on `device` as a TorchSamModel."""
    location = resolve(name)  # first: a model that is not there is told before torch is imported
    assert location is not None  # resolve() downloads or raises when asked to
    require_sam_audio()
    config = build_config(location, rankers=rankers, spans=spans)
    sam = load_sam(location, config)
    try:
        sam.to(device)
    except RuntimeError as exc:
        raise ModelError(f"cannot move the model to {device} ({exc})", hint="use --device cpu") from exc
    return TorchSamModel(
        sam,
        config,
        name=f"sam-audio/pytorch:{location.label}",
        device=device,
        decode_frames=STREAMING_DECODE_FRAMES if streaming else None,
    )


def load_separator(options: Mapping[str, Any], device: str) -> PromptedSeparator:
    """SeparatorSpec.load: validate the options, load the model, wrap it in the core's prompted driver."""
    settings = PromptedSettings.from_options(options)
    name = str(options.get("model") or DEFAULTS["model"])
    resolve(name)  # before importing torch (seconds): a missing model fails at once; load_model finds it again
    require_sam_audio()
    resolved = resolve_device(device)
    model = load_model(
        name,
        device=resolved,
        streaming=bool(options.get("streaming")),
        rankers=settings.generate.reranking_candidates > 1,
        spans=settings.generate.predict_spans,
    )
    return PromptedSeparator(model, settings, name=model.name)
