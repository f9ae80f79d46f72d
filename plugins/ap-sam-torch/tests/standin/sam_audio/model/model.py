"""Stand-in for sam_audio.model.model: SAMAudio, with upstream's attributes, methods and their signatures.

The flow: the codec encodes the mixture (features doubled: target and residual halves), T5 encodes the
descriptions, a DiT integrates noise -> [target | residual] codec features over t in [0, 1] (conditioned on the
mixture, zero video features, anchors and the text), and the codec decodes both halves. `separate` does it all
in one call and returns lists of 1-D tensors at the codec's rate, as upstream does.
"""

from __future__ import annotations

import itertools
import math
import re
import zlib
from dataclasses import dataclass
from typing import Any

import torch

from sam_audio.model.align import AlignModalities
from sam_audio.model.codec import DACVAE
from sam_audio.model.config import SAMAudioConfig
from sam_audio.model.text_encoder import T5TextEncoder
from sam_audio.model.transformer import DiT
from sam_audio.model.vision_encoder import PerceptionEncoder
from sam_audio.processor import Batch
from sam_audio.ranking import create_ranker

DFLT_ODE_OPT: dict[str, Any] = {"method": "midpoint", "options": {"step_size": 2 / 32}}
SKIPPED_KEYS = re.compile("(^text_encoder|^visual_ranker|^text_ranker|^span_predictor)")
"""Weights that upstream's checkpoint does not hold: they come from their own pretrained sources."""


class SinusoidalEmbedding(torch.nn.Module):
    inv_freq: torch.Tensor

    def __init__(self, dim: int, theta: int = 10000) -> None:
        super().__init__()
        half = dim // 2
        inv_freq = torch.exp(-math.log(theta) * torch.arange(half).float() / half)
        self.register_buffer("inv_freq", inv_freq, persistent=False)

    def forward(self, x: torch.Tensor, pos: torch.Tensor | None = None) -> torch.Tensor:
        if pos is None:
            pos = torch.arange(x.shape[1], device=x.device)
        angles = torch.outer(pos, self.inv_freq)
        return torch.cat((angles.cos(), angles.sin()), dim=-1)


class EmbedAnchors(torch.nn.Module):
    """Add a gated embedding of the anchor each frame points at (no anchors: unchanged)."""

    def __init__(self, num_embeddings: int, embedding_dim: int, out_dim: int) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(num_embeddings + 1, embedding_dim, padding_idx=num_embeddings)
        self.gate = torch.nn.Parameter(torch.tensor([0.0]))
        self.proj = torch.nn.Linear(embedding_dim, out_dim, bias=False)

    def forward(
        self, x: torch.Tensor, anchor_ids: torch.Tensor | None = None, anchor_alignment: torch.Tensor | None = None
    ) -> torch.Tensor:
        if anchor_ids is None or anchor_alignment is None:
            return x
        return x + self.gate.tanh() * self.proj(self.embed(anchor_ids.gather(1, anchor_alignment)))


@dataclass
class SpanOutput:
    spans: list[list[list[float]]]
    """Per item, [start_s, end_s] spans where the described sound is predicted."""


class SpanPredictor(torch.nn.Module):
    """Frames whose text-conditioned score is positive, merged into spans (upstream: PE-A-Frame)."""

    def __init__(self, in_dim: int, frame_seconds: float) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(3)
        self.score = torch.nn.Parameter(torch.randn(in_dim, generator=generator))
        self.frame_seconds = frame_seconds

    def forward(
        self,
        input_features: torch.Tensor,
        padding_mask: torch.Tensor,
        text_bias: torch.Tensor,
        return_spans: bool = True,
    ) -> SpanOutput:
        centred = input_features - input_features.mean(dim=1, keepdim=True)  # frames against the chunk's mean
        logits = centred @ self.score[: input_features.size(-1)] * 10 + text_bias.to(input_features.device)[:, None]
        active = (logits > 0) & padding_mask
        spans: list[list[list[float]]] = []
        for row in active.cpu().tolist():
            found: list[list[float]] = []
            for i, on in enumerate(row):
                if on and (not found or found[-1][1] < i * self.frame_seconds):
                    found.append([i * self.frame_seconds, (i + 1) * self.frame_seconds])
                elif on:
                    found[-1][1] = (i + 1) * self.frame_seconds
            spans.append(found)
        return SpanOutput(spans)


class SpanPredictorTransform:
    """Descriptions -> the span predictor's text input (a per-description bias)."""

    def __call__(self, text: list[str]) -> dict[str, torch.Tensor]:
        return {"text_bias": torch.tensor([(zlib.crc32(t.encode()) % 1000) / 1000 - 0.5 for t in text])}


@dataclass
class SeparationResult:
    target: list[torch.Tensor]
    residual: list[torch.Tensor]
    noise: torch.Tensor


def _fixed_grid_odeint(field: Any, y0: torch.Tensor, method: str, step_size: float) -> torch.Tensor:
    """Integrate dy/dt = field(t, y) over [0, 1] as torchdiffeq's odeint does with a fixed step_size: its grid
    (float32 times, ceil(1 / step_size + 1) points, the last one set to 1) and its euler and midpoint steps."""
    t = torch.tensor([0.0, 1.0], device=y0.device)
    points = torch.ceil((t[-1] - t[0]) / step_size + 1).item()
    grid = torch.arange(0, points, dtype=t.dtype, device=t.device) * step_size + t[0]
    grid[-1] = t[-1]
    y = y0
    for t0, t1 in itertools.pairwise(grid):
        dt = t1 - t0
        if method == "euler":
            y = y + dt * field(t0, y)
        elif method == "midpoint":
            half = 0.5 * dt
            y = y + dt * field(t0 + half, y + field(t0, y) * half)
        else:
            raise ValueError(f"unsupported method {method!r}")
    return y


class SAMAudio(torch.nn.Module):
    def __init__(self, cfg: SAMAudioConfig) -> None:
        super().__init__()
        self.audio_codec = DACVAE(cfg.audio_codec)
        self.text_encoder = T5TextEncoder(cfg.text_encoder)
        self.vision_encoder = PerceptionEncoder(cfg.vision_encoder)
        self.transformer = DiT(cfg.transformer)
        self.proj = torch.nn.Linear(cfg.in_channels, cfg.transformer.dim)
        self.align_masked_video = AlignModalities(cfg.vision_encoder.dim, cfg.transformer.dim)
        self.embed_anchors = EmbedAnchors(cfg.num_anchors, cfg.anchor_embedding_dim, cfg.transformer.dim)
        self.memory_proj = torch.nn.Linear(cfg.text_encoder.dim, cfg.transformer.dim)
        self.timestep_emb = SinusoidalEmbedding(cfg.transformer.dim)
        self.visual_ranker = create_ranker(cfg.visual_ranker)
        self.text_ranker = create_ranker(cfg.text_ranker)
        if cfg.span_predictor is not None:
            codec = cfg.audio_codec
            self.span_predictor = SpanPredictor(min(128, 2 * codec.codebook_dim), codec.hop_length / codec.sample_rate)
            self.span_predictor_transform = SpanPredictorTransform()

    @property
    def sample_rate(self) -> int:
        return self.audio_codec.sample_rate

    def align_inputs(
        self,
        noisy_audio: torch.Tensor,
        audio_features: torch.Tensor,
        masked_video_features: torch.Tensor | None = None,
        anchor_ids: torch.Tensor | None = None,
        anchor_alignment: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = torch.cat([noisy_audio, torch.zeros_like(audio_features), audio_features], dim=2)
        aligned = self.align_masked_video(self.proj(x), masked_video_features)
        return self.embed_anchors(aligned, anchor_ids, anchor_alignment)

    def forward(
        self,
        noisy_audio: torch.Tensor,
        audio_features: torch.Tensor,
        text_features: torch.Tensor,
        time: torch.Tensor,
        masked_video_features: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
        anchor_ids: torch.Tensor | None = None,
        anchor_alignment: torch.Tensor | None = None,
        audio_pad_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """One vector-field evaluation: (B, T, 2C) noisy features at `time` (B) -> their velocity."""
        aligned = self.align_inputs(noisy_audio, audio_features, masked_video_features, anchor_ids, anchor_alignment)
        memory = timestep = self.timestep_emb(time, pos=time).unsqueeze(1)
        if text_features is not None:
            memory = self.memory_proj(text_features) + timestep
        return self.transformer(
            aligned, time, padding_mask=audio_pad_mask, memory=memory, memory_padding_mask=text_mask
        )

    def _get_audio_features(self, audios: torch.Tensor) -> torch.Tensor:
        features = self.audio_codec(audios).transpose(1, 2)
        return torch.cat([features, features], dim=2)

    def _get_video_features(self, video: list[torch.Tensor] | None, audio_features: torch.Tensor) -> torch.Tensor:
        b, t, _ = audio_features.shape
        if video is None:
            return audio_features.new_zeros(b, self.vision_encoder.dim, t)
        return self.vision_encoder(video).transpose(1, 2)

    def _repeat_for_reranking(self, tensor: torch.Tensor, candidates: int) -> torch.Tensor:
        return tensor.repeat_interleave(candidates, dim=0) if candidates > 1 else tensor

    def _unrepeat_from_reranking(self, tensor: torch.Tensor, candidates: int) -> torch.Tensor:
        return tensor[::candidates]

    def _get_forward_args(self, batch: Batch, candidates: int = 1) -> dict[str, torch.Tensor]:
        audio_features = self._get_audio_features(batch.audios)
        text_features, text_mask = self.text_encoder(batch.descriptions)
        video = self._get_video_features(batch.masked_video, audio_features)
        args = {
            "audio_features": audio_features,
            "text_features": text_features,
            "text_mask": text_mask,
            "masked_video_features": video,
            "anchor_ids": batch.anchor_ids,
            "anchor_alignment": batch.anchor_alignment,
            "audio_pad_mask": batch.audio_pad_mask,
        }
        return {k: self._repeat_for_reranking(v, candidates) for k, v in args.items()}

    def predict_spans(self, batch: Batch, audio_features: torch.Tensor, audio_pad_mask: torch.Tensor) -> Batch:
        """Predict where each description sounds and set them as "+" anchors of the batch."""
        inputs = self.span_predictor_transform(text=batch.descriptions)
        output = self.span_predictor(
            input_features=audio_features[:, :, :128], padding_mask=audio_pad_mask, return_spans=True, **inputs
        )
        batch.process_anchors([[["+", *span] for span in spans] for spans in output.spans])
        return batch

    @torch.inference_mode()
    def separate(
        self,
        batch: Batch,
        noise: torch.Tensor | None = None,
        ode_opt: dict[str, Any] = DFLT_ODE_OPT,
        reranking_candidates: int = 1,
        predict_spans: bool = False,
    ) -> SeparationResult:
        candidates = reranking_candidates
        args = self._get_forward_args(batch, candidates=candidates)
        if predict_spans and hasattr(self, "span_predictor") and batch.anchors is None:
            # as upstream: the forward arguments are built first, so the predicted spans never reach them
            features = self._unrepeat_from_reranking(args["audio_features"], candidates)
            pad_mask = self._unrepeat_from_reranking(args["audio_pad_mask"], candidates)
            batch = self.predict_spans(batch, features, pad_mask)
        features = args["audio_features"]
        b, t, c2 = features.shape
        if noise is None:
            noise = torch.randn_like(features)

        def field(time: torch.Tensor, noisy: torch.Tensor) -> torch.Tensor:
            return self.forward(noisy_audio=noisy, time=time.expand(noisy.size(0)), **args)

        state = _fixed_grid_odeint(field, noise, ode_opt["method"], ode_opt["options"]["step_size"])
        generated = state.transpose(1, 2)  # (B, 2C, T): target rows then residual rows
        wavs = self.audio_codec.decode(generated.reshape(2 * b, c2 // 2, t)).view(b, 2, -1)
        items = b // candidates
        sizes = self.audio_codec.feature_idx_to_wav_idx(batch.sizes)
        targets = self.unbatch(wavs[:, 0].view(items, candidates, -1), sizes)
        residuals = self.unbatch(wavs[:, 1].view(items, candidates, -1), sizes)
        if candidates > 1 and self.text_ranker is not None:
            mixtures = [
                a[:, :s].expand(candidates, -1) for a, s in zip(batch.audios, torch.as_tensor(sizes), strict=True)
            ]
            scores = self.text_ranker(
                extracted_audio=targets,
                input_audio=mixtures,
                descriptions=batch.descriptions,
                sample_rate=self.sample_rate,
            )
            best = scores.argmax(dim=1).tolist()
        else:
            best = [0] * items
        return SeparationResult(
            target=[w[i] for w, i in zip(targets, best, strict=True)],
            residual=[w[i] for w, i in zip(residuals, best, strict=True)],
            noise=noise,
        )

    def unbatch(self, wavs: torch.Tensor, sizes: Any, time_dim: int = -1) -> list[torch.Tensor]:
        return [row.narrow(dim=time_dim, start=0, length=int(size)) for row, size in zip(wavs, sizes, strict=False)]

    def load_state_dict(self, state_dict: Any, strict: bool = True, assign: bool = False) -> Any:
        """As upstream: strict loading tolerates the weights it fetches elsewhere; non-strict loads nothing."""
        if strict:
            missing, unexpected = super().load_state_dict(state_dict, strict=False, assign=assign)
            missing = [k for k in missing if not SKIPPED_KEYS.search(k)]
            if missing or unexpected:
                raise RuntimeError(f"Missing keys: {missing}, unexpected_keys: {unexpected}")


__all__ = ["SAMAudio"]
