"""Stand-in for sam_audio.ranking.judge: JudgeRanker, built as upstream's from the judge's from_pretrained."""

from __future__ import annotations

from typing import Any

import torch

from sam_audio.model.config import JudgeRankerConfig
from sam_audio.model.judge import SAMAudioJudgeModel
from sam_audio.processor import SAMAudioJudgeProcessor
from sam_audio.ranking.ranker import Ranker


class JudgeRanker(Ranker):
    def __init__(self, config: JudgeRankerConfig) -> None:
        super().__init__()
        self.config = config
        self.model = SAMAudioJudgeModel.from_pretrained(config.checkpoint_or_model_id)
        self.processor = SAMAudioJudgeProcessor.from_pretrained(config.checkpoint_or_model_id)

    @torch.inference_mode()
    def forward(
        self,
        input_audio: list[torch.Tensor],
        extracted_audio: list[torch.Tensor],
        descriptions: list[str],
        sample_rate: int = 48_000,
        **kwargs: Any,
    ) -> torch.Tensor:
        bsz, ncandidates = len(input_audio), len(input_audio[0])
        input_seqs = [x[None] for candidates in input_audio for x in candidates]
        extracted_seqs = [x[None] for candidates in extracted_audio for x in candidates]
        repeated = [x for x in descriptions for _ in range(ncandidates)]
        processed = self.processor(
            text=repeated,
            input_audio=input_seqs,
            separated_audio=extracted_seqs,
            return_tensors="pt",
            padding=True,
            sampling_rate=sample_rate,
        )
        return self.model(**processed.to(input_audio[0].device)).overall.view(bsz, ncandidates)
