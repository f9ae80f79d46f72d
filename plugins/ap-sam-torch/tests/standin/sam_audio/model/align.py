"""Stand-in for sam_audio.model.align: add (gated, normalised) video features to the audio sequence."""

from __future__ import annotations

import torch


class AlignModalities(torch.nn.Module):
    """anchor (B, T, out) + tanh(gate) * LayerNorm(conv(tgt (B, in, T))); without tgt, the anchor unchanged."""

    def __init__(self, in_channels: int, out_channels: int, normalize: bool = True, with_gate: bool = True) -> None:
        super().__init__()
        self.conv = torch.nn.Conv1d(in_channels, out_channels, kernel_size=1)
        self.normalize = normalize
        self.layer_norm = torch.nn.LayerNorm(out_channels) if normalize else None
        self.gate = torch.nn.Parameter(torch.tensor([0.0])) if with_gate else None
        self.out_channels = out_channels

    def forward(self, anchor: torch.Tensor, tgt: torch.Tensor | None = None) -> torch.Tensor:
        if tgt is None:
            return anchor
        aligned = self.conv(tgt).permute(0, 2, 1)
        if self.layer_norm is not None:
            aligned = self.layer_norm(aligned)
        if self.gate is None:
            return aligned
        return anchor + self.gate.tanh() * aligned
