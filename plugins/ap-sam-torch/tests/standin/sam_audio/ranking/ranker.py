"""Stand-in for sam_audio.ranking.ranker: rankers score each item's candidates, (batch, candidates)."""

from __future__ import annotations

from typing import Any

import torch


class Ranker(torch.nn.Module):
    """Base of rankers: forward(**inputs) -> scores (batch, candidates)."""


class EnsembleRanker(Ranker):
    """A weighted sum of rankers' scores."""

    def __init__(self, rankers: list[Ranker], weights: list[float]) -> None:
        super().__init__()
        assert len(rankers) == len(weights)
        self.rankers = torch.nn.ModuleList(rankers)
        self.weights = list(weights)

    def forward(self, **kwargs: Any) -> torch.Tensor:
        return sum((w * r(**kwargs) for w, r in zip(self.weights, self.rankers, strict=True)), torch.tensor(0.0))
