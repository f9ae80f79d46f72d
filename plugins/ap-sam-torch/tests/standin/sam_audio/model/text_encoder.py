"""Stand-in for sam_audio.model.text_encoder: a T5 encoder and tokenizer that transformers loads by name."""

from __future__ import annotations

from typing import Any

import torch
import transformers

from sam_audio.model.config import T5EncoderConfig


class T5TextEncoder(torch.nn.Module):
    """texts -> (features (B, L, dim), mask (B, L) bool); the weights come from `cfg.name`, not the checkpoint."""

    def __init__(self, cfg: T5EncoderConfig) -> None:
        super().__init__()
        self.model = transformers.T5EncoderModel.from_pretrained(cfg.name)
        self.tokenizer: Any = transformers.AutoTokenizer.from_pretrained(cfg.name)
        self.pad_mode = cfg.pad_mode
        self.max_length = cfg.max_length

    def forward(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        device = next(self.model.parameters()).device
        tokens = self.tokenizer(
            texts, truncation=True, max_length=self.max_length, padding=self.pad_mode, return_tensors="pt"
        )
        mask = tokens["attention_mask"].to(device)
        hidden = self.model(input_ids=tokens["input_ids"].to(device), attention_mask=mask)["last_hidden_state"]
        return hidden, mask.bool()
