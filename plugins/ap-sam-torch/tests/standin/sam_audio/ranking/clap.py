"""Stand-in for sam_audio.ranking.clap and .imagebind: text-audio rankers with tiny fixed random weights.

Upstream fetches CLAP or ImageBind from the hub when the ranker is built; the stand-in seeds its own
weights, so building it is cheap and every run scores the same way.
"""

from __future__ import annotations

import zlib
from typing import Any

import torch

from sam_audio.model.config import ClapRankerConfig, ImageBindRankerConfig
from sam_audio.ranking.ranker import Ranker

FRAME = 480


def _text_embedding(text: str, dim: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(zlib.crc32(text.encode()))
    return torch.randn(dim, generator=generator)


class _TinyRanker(Ranker):
    def __init__(self, seed: int) -> None:
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.proj = torch.nn.Parameter(torch.randn(FRAME, 16, generator=generator) / FRAME**0.5)

    def _audio_embedding(self, audio: torch.Tensor) -> torch.Tensor:
        """(candidates, samples) -> (candidates, 16): mean of per-frame projections."""
        frames = torch.nn.functional.pad(audio, (0, -audio.size(-1) % FRAME)).unflatten(-1, (-1, FRAME))
        return (frames @ self.proj.to(audio.device)).tanh().mean(dim=-2)


class ClapRanker(_TinyRanker):
    """Similarity of each candidate to its description."""

    def __init__(self, config: ClapRankerConfig) -> None:
        super().__init__(seed=1)
        self.config = config

    @torch.inference_mode()
    def forward(
        self, extracted_audio: list[torch.Tensor], descriptions: list[str], sample_rate: int = 48_000, **kwargs: Any
    ) -> torch.Tensor:
        scores = []
        for candidates, text in zip(extracted_audio, descriptions, strict=True):
            embedding = self._audio_embedding(candidates)
            scores.append(embedding @ _text_embedding(text, 16).to(embedding.device))
        return torch.stack(scores)


class ImageBindRanker(_TinyRanker):
    """Scores each candidate against its video (upstream: ImageBind); the visual ranker, for video prompts."""

    def __init__(self, config: ImageBindRankerConfig) -> None:
        super().__init__(seed=4)
        self.config = config

    @torch.inference_mode()
    def forward(
        self, extracted_audio: list[torch.Tensor], videos: list[torch.Tensor], sample_rate: int = 48_000, **kwargs: Any
    ) -> torch.Tensor:
        scores = []
        for candidates, video in zip(extracted_audio, videos, strict=True):
            scores.append(self._audio_embedding(candidates).sum(dim=-1) * video.float().mean())
        return torch.stack(scores)
