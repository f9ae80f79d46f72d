"""Stand-in for sam_audio.model.judge: SAMAudioJudgeModel, which scores a separation against its mixture and text.

Upstream's is a PE audio transformer with a ModernBERT text model; the stand-in pools the codec-rate frames of
both audios and the token embeddings through tiny linear layers. forward(**processed) -> an output with `overall`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from sam_audio.model.base import BaseModel
from sam_audio.model.config import SAMAudioJudgeConfig


@dataclass
class JudgeOutput:
    overall: torch.Tensor
    """(B,) one score per (mixture, separation, description)."""


class SAMAudioJudgeModel(BaseModel):
    config_cls = SAMAudioJudgeConfig
    revision = "sam_audio"

    def __init__(self, config: SAMAudioJudgeConfig) -> None:
        super().__init__()
        self.config = config
        self.hop = config.audio_codec.hop_length
        self.frame_proj = torch.nn.Linear(self.hop, config.bottleneck_dim)
        self.text_embed = torch.nn.Embedding(config.vocab_size, config.bottleneck_dim)
        self.head = torch.nn.Linear(2 * config.bottleneck_dim, 1)

    def _audio(self, wavs: torch.Tensor) -> torch.Tensor:
        """(B, 1, samples), samples whole hops -> (B, bottleneck) mean of per-frame projections."""
        return self.frame_proj(wavs[:, 0].unflatten(-1, (-1, self.hop))).tanh().mean(dim=1)

    def forward(
        self,
        input_ids: torch.Tensor,
        attention_mask: torch.Tensor,
        input_values: torch.Tensor,
        separated_values: torch.Tensor,
    ) -> JudgeOutput:
        mask = attention_mask[..., None].float()
        text = (self.text_embed(input_ids) * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1)
        audio = self._audio(separated_values) - self._audio(input_values)
        return JudgeOutput(self.head(torch.cat([audio, text], dim=-1))[:, 0])
