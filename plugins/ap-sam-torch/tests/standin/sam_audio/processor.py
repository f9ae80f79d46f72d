"""Stand-in for sam_audio.processor: Batch (audio, sizes, anchors, masks) and SAMAudioProcessor.

As upstream: one audio per description, each downmixed to mono (channel mean), padded to the longest; sizes in
codec frames; anchors ("+" / "-" spans in seconds) become anchor ids and a per-frame alignment.
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import torch
from torch.nn.utils.rnn import pad_sequence

from sam_audio.model.config import SAMAudioConfig, SAMAudioJudgeConfig

Anchor = tuple[str, float, float]
ANCHOR_IDS = {"<null>": 0, "+": 1, "-": 2, "<pad>": 3}


def batch_audio(audios: list[torch.Tensor], audio_sampling_rate: int = 48_000) -> tuple[torch.Tensor, torch.Tensor]:
    """(channels, samples) tensors -> mono (B, 1, longest) padded with zeros, and each one's length."""
    mono = [audio.mean(0) for audio in audios]
    sizes = torch.tensor([wav.size(-1) for wav in mono])
    return pad_sequence(mono, batch_first=True).unsqueeze(1), sizes


def mask_from_sizes(sizes: torch.Tensor) -> torch.Tensor:
    return torch.arange(int(sizes.max())).expand(len(sizes), -1) < sizes.unsqueeze(1)


class Batch:
    def __init__(
        self,
        audios: torch.Tensor,
        sizes: torch.Tensor,
        wav_sizes: torch.Tensor,
        descriptions: list[str],
        hop_length: int,
        audio_sampling_rate: int,
        anchors: list[list[Any]] | None = None,
        audio_pad_mask: torch.Tensor | None = None,
        masked_video: list[torch.Tensor] | None = None,
    ) -> None:
        assert audios.size(0) == len(descriptions), "one audio per description"
        self.audios = audios
        self.sizes = sizes
        self.wav_sizes = wav_sizes
        self.descriptions = descriptions
        self.audio_pad_mask = audio_pad_mask if audio_pad_mask is not None else mask_from_sizes(sizes)
        self.masked_video = masked_video
        self.hop_length = hop_length
        self.audio_sampling_rate = audio_sampling_rate
        self.anchor_ids = torch.zeros(0, dtype=torch.long)
        self.anchor_alignment = torch.zeros(0, dtype=torch.long)
        self.process_anchors(anchors)

    def _frame(self, seconds: float) -> int:
        return math.ceil(seconds * self.audio_sampling_rate / self.hop_length)

    def to(self, device: torch.device | str) -> Batch:
        self.audios = self.audios.to(device)
        self.anchor_ids = self.anchor_ids.to(device)
        self.anchor_alignment = self.anchor_alignment.to(device)
        self.sizes = self.sizes.to(device)
        self.wav_sizes = self.wav_sizes.to(device)
        self.audio_pad_mask = self.audio_pad_mask.to(device)
        if self.masked_video is not None:
            self.masked_video = [v.to(device) for v in self.masked_video]
        return self

    def process_anchors(self, anchors: list[list[Any]] | None) -> None:
        """Anchor ids per item (<null>, <pad>, then one per span) and the id each frame points at."""
        # as upstream: built on the CPU and indexed by the pad mask, which must be on the CPU too
        alignment = torch.zeros(self.audio_pad_mask.shape, dtype=torch.long)
        alignment[~self.audio_pad_mask] = 1  # padding frames point at <pad>
        ids: list[torch.Tensor] = []
        for i in range(len(self.descriptions)):
            current = [ANCHOR_IDS["<null>"], ANCHOR_IDS["<pad>"]]
            for token, start, end in anchors[i] if anchors is not None else []:
                alignment[i, self._frame(start) : self._frame(end)] = len(current)
                current.append(ANCHOR_IDS[token])
            ids.append(torch.tensor(current))
        self.anchor_ids = pad_sequence(ids, batch_first=True, padding_value=ANCHOR_IDS["<pad>"]).to(self.audios.device)
        self.anchor_alignment = alignment.to(self.audios.device)
        self.anchors = anchors


class SAMAudioProcessor:
    """descriptions + audios (48 kHz tensors, any channels) -> Batch."""

    def __init__(self, audio_hop_length: int, audio_sampling_rate: int) -> None:
        self.audio_hop_length = audio_hop_length
        self.audio_sampling_rate = audio_sampling_rate

    @classmethod
    def from_pretrained(cls, model_name_or_path: str) -> SAMAudioProcessor:
        if not os.path.isdir(model_name_or_path):
            raise OSError("the stand-in reads local model folders only")
        with open(os.path.join(model_name_or_path, "config.json"), encoding="utf-8") as handle:
            config = SAMAudioConfig(**json.load(handle))
        return cls(config.audio_codec.hop_length, config.audio_codec.sample_rate)

    def wav_to_feature_idx(self, wav_idx: torch.Tensor) -> torch.Tensor:
        return torch.ceil(wav_idx / self.audio_hop_length).long()

    def __call__(
        self,
        descriptions: list[str],
        audios: list[torch.Tensor],
        anchors: list[list[Any]] | None = None,
        masked_videos: list[torch.Tensor] | None = None,
    ) -> Batch:
        assert len(descriptions) == len(audios)
        assert anchors is None or len(anchors) == len(descriptions)
        assert masked_videos is None, "the stand-in takes text prompts only"
        wavs, wav_sizes = batch_audio(audios, self.audio_sampling_rate)
        sizes = self.wav_to_feature_idx(wav_sizes)
        return Batch(
            audios=wavs,
            sizes=sizes,
            wav_sizes=wav_sizes,
            descriptions=descriptions,
            hop_length=self.audio_hop_length,
            audio_sampling_rate=self.audio_sampling_rate,
            anchors=anchors,
            audio_pad_mask=mask_from_sizes(sizes),
        )


class _Processed(dict):
    def to(self, device: torch.device | str) -> _Processed:
        return _Processed({k: v.to(device) for k, v in self.items()})


class SAMAudioJudgeProcessor:
    """texts, mixtures and separations -> the judge's inputs: tokens, and both audios reflect-padded to hops."""

    def __init__(self, audio_hop_length: int, audio_sampling_rate: int, tokenizer: Any) -> None:
        self.audio_hop_length = audio_hop_length
        self.audio_sampling_rate = audio_sampling_rate
        self.tokenizer = tokenizer

    @classmethod
    def from_pretrained(cls, model_name_or_path: str) -> SAMAudioJudgeProcessor:
        from transformers import AutoTokenizer

        if not os.path.isdir(model_name_or_path):
            raise OSError("the stand-in reads local model folders only")
        with open(os.path.join(model_name_or_path, "config.json"), encoding="utf-8") as handle:
            config = SAMAudioJudgeConfig(**json.load(handle))
        tokenizer = AutoTokenizer.from_pretrained(model_name_or_path)
        return cls(config.audio_codec.hop_length, config.audio_codec.sample_rate, tokenizer)

    def _audio(self, wavs: list[torch.Tensor]) -> torch.Tensor:
        padded = []
        for wav in wavs:
            extra = -wav.size(-1) % self.audio_hop_length
            padded.append(torch.nn.functional.pad(wav, (0, extra), mode="reflect") if extra else wav)
        longest = max(w.size(-1) for w in padded)
        return torch.stack([torch.nn.functional.pad(w, (0, longest - w.size(-1))) for w in padded])

    def __call__(
        self,
        text: list[str],
        input_audio: list[torch.Tensor],
        separated_audio: list[torch.Tensor],
        return_tensors: str = "pt",
        padding: bool = True,
        sampling_rate: int | None = None,
    ) -> _Processed:
        if sampling_rate is not None and sampling_rate != self.audio_sampling_rate:
            raise ValueError(f"the judge takes {self.audio_sampling_rate} Hz audio, not {sampling_rate} Hz")
        tokens = self.tokenizer(text, return_tensors=return_tensors, padding=padding)
        return _Processed(
            input_ids=tokens["input_ids"],
            attention_mask=tokens["attention_mask"],
            input_values=self._audio(input_audio),
            separated_values=self._audio(separated_audio),
        )


__all__ = ["Batch", "SAMAudioJudgeProcessor", "SAMAudioProcessor"]
