"""Stand-in for sam_audio.model.vision_encoder: frames (T, 3, H, W) -> (T, dim) features, padded per batch."""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import pad_sequence

from sam_audio.model.config import PerceptionEncoderConfig


class PerceptionEncoder(torch.nn.Module):
    """A pooled linear image encoder of width `cfg.dim` (upstream: a Perception Encoder CLIP)."""

    def __init__(self, cfg: PerceptionEncoderConfig) -> None:
        super().__init__()
        self.dim = cfg.dim
        self.batch_size = cfg.batch_size
        self.model = torch.nn.Linear(3, cfg.dim)

    @torch.no_grad()
    def forward(self, videos: list[torch.Tensor]) -> torch.Tensor:
        return pad_sequence([self.model(v.float().mean(dim=(2, 3))) for v in videos], batch_first=True)
