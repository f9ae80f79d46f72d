"""Stand-in for sam_audio.ranking: create_ranker(config) -> a ranker, or None for no config."""

from __future__ import annotations

from sam_audio.model.config import (
    ClapRankerConfig,
    EnsembleRankerConfig,
    ImageBindRankerConfig,
    JudgeRankerConfig,
    RankerConfig,
)
from sam_audio.ranking.clap import ClapRanker, ImageBindRanker
from sam_audio.ranking.judge import JudgeRanker
from sam_audio.ranking.ranker import EnsembleRanker, Ranker


def create_ranker(config: RankerConfig | None) -> Ranker | None:
    """As upstream: imagebind, clap, judge and ensembles; any other config (sound_activity too) fails the assert."""
    if isinstance(config, ImageBindRankerConfig):
        return ImageBindRanker(config)
    if isinstance(config, ClapRankerConfig):
        return ClapRanker(config)
    if isinstance(config, JudgeRankerConfig):
        return JudgeRanker(config)
    if isinstance(config, EnsembleRankerConfig):
        rankers, weights = zip(*config.rankers.values(), strict=True)
        built = [create_ranker(c) for c in rankers]
        return EnsembleRanker([r for r in built if r is not None], list(weights))
    assert config is None
    return None
