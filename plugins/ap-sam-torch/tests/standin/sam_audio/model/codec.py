"""Stand-in for sam_audio.model.codec: a DACVAE-shaped codec (hop-strided encoder, mean latents, decoder)."""

from __future__ import annotations

import math

import torch
from torch import nn

from sam_audio.model.config import DACVAEConfig


class _Quantizer(nn.Module):
    """The two projections SAM-Audio uses: latents -> (mean, scale), codebook features -> latents."""

    def __init__(self, latent_dim: int, codebook_dim: int) -> None:
        super().__init__()
        self.in_proj = nn.Conv1d(latent_dim, 2 * codebook_dim, 1)
        self.out_proj = nn.Conv1d(codebook_dim, latent_dim, 1)


def _encoder(config: DACVAEConfig) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv1d(1, config.encoder_dim, 7, padding=3)]
    width = config.encoder_dim
    for rate in config.encoder_rates:
        layers += [nn.ELU(), nn.Conv1d(width, 2 * width, rate, stride=rate)]
        width *= 2
    layers += [nn.ELU(), nn.Conv1d(width, config.latent_dim, 3, padding=1)]
    return nn.Sequential(*layers)


def _decoder(config: DACVAEConfig) -> nn.Sequential:
    width = config.decoder_dim
    layers: list[nn.Module] = [nn.Conv1d(config.latent_dim, width, 7, padding=3)]
    for rate in config.decoder_rates:
        layers += [nn.ELU(), nn.ConvTranspose1d(width, width // 2, rate, stride=rate)]
        width //= 2
        layers += [nn.ELU(), nn.Conv1d(width, width, 3, padding=1)]
    layers += [nn.ELU(), nn.Conv1d(width, 1, 7, padding=3), nn.Tanh()]
    return nn.Sequential(*layers)


class DACVAE(nn.Module):
    """forward: (B, 1, samples) -> (B, codebook_dim, ceil(samples / hop)); decode: (B, C, T) -> (B, 1, T * hop)."""

    def __init__(self, config: DACVAEConfig) -> None:
        super().__init__()
        if math.prod(config.decoder_rates) != config.hop_length:
            raise ValueError("decoder_rates must multiply to the encoder's hop")
        self.encoder = _encoder(config)
        self.quantizer = _Quantizer(config.latent_dim, config.codebook_dim)
        self.decoder = _decoder(config)
        self.hop_length = config.hop_length
        self.sample_rate = config.sample_rate

    def _pad(self, wavs: torch.Tensor) -> torch.Tensor:
        extra = -wavs.size(-1) % self.hop_length
        return torch.nn.functional.pad(wavs, (0, extra), "reflect") if extra else wavs

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            mean, _ = self.quantizer.in_proj(self.encoder(self._pad(waveform))).chunk(2, dim=1)
        return mean

    def decode(self, encoded_frames: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.quantizer.out_proj(encoded_frames))

    def feature_idx_to_wav_idx(
        self, feature_idx: torch.Tensor | int, sample_rate: int | None = None
    ) -> torch.Tensor | int:
        rate = self.sample_rate if sample_rate is None else sample_rate
        samples = feature_idx * self.hop_length * (rate / self.sample_rate)
        return samples.int() if isinstance(samples, torch.Tensor) else int(samples)

    def wav_idx_to_feature_idx(self, wav_idx: torch.Tensor | int, sample_rate: int | None = None) -> torch.Tensor | int:
        rate = self.sample_rate if sample_rate is None else sample_rate
        if isinstance(wav_idx, torch.Tensor):
            return torch.ceil(torch.ceil(self.sample_rate * wav_idx / rate) / self.hop_length).int()
        return math.ceil(math.ceil(self.sample_rate * wav_idx / rate) / self.hop_length)
