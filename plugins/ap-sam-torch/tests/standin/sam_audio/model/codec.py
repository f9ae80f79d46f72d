"""Stand-in for sam_audio.model.codec: a DACVAE-shaped codec with upstream's watermarking decoder.

As upstream's (dacvae's) decoder, it halves the width at each of its rates and ends in a watermarker: every
decode embeds a 16-bit message, drawn from torch's global RNG unless one is given (`decoder(x, message=...)`).
The watermarker reads 96 channels, so only decoder_dim 1536 over 4 rates decodes, and it works on 320-sample
blocks, so only lengths divisible by 320 decode; a reflect pad longer than the audio fails to encode. These are
upstream's limits, kept so that a model the stand-in decodes is one the real codec decodes. The layers are
cheap (grouped transposed convolutions), not upstream's.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from sam_audio.model.config import DACVAEConfig

WATERMARK_DIM = 96
"""Channels the watermarker reads: 1536 halved four times, as upstream's."""
WATERMARK_BLOCK = 320
"""Samples per watermark block (upstream's wm_rates 8 * 5 * 4 * 2)."""
NBITS = 16


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


class MsgProcessor(nn.Module):
    """Adds the message's embedding (one row per bit value) to every frame of the hidden state."""

    def __init__(self, nbits: int, hidden_size: int) -> None:
        super().__init__()
        self.nbits = nbits
        self.msg_processor = nn.Embedding(2 * nbits, hidden_size)

    def forward(self, hidden: torch.Tensor, msg: torch.Tensor) -> torch.Tensor:
        indices = 2 * torch.arange(msg.shape[-1], device=hidden.device) + msg.long().to(hidden.device)
        return hidden + self.msg_processor(indices).sum(dim=-2).unsqueeze(-1)


class WatermarkEncoderBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pre = nn.Sequential(nn.Conv1d(WATERMARK_DIM, 1, 7, padding=3), nn.Tanh(), nn.Conv1d(1, 32, 7, padding=3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pre(x)

    def forward_no_conv(self, x: torch.Tensor) -> torch.Tensor:
        return self.pre[1](self.pre[0](x))


class Watermarker(nn.Module):
    def __init__(self, hidden: int = 64, nbits: int = NBITS) -> None:
        super().__init__()
        self.encoder_block = WatermarkEncoderBlock()
        self.down = nn.Conv1d(32, hidden, WATERMARK_BLOCK, stride=WATERMARK_BLOCK)
        self.msg_processor = MsgProcessor(nbits, hidden)
        self.up = nn.ConvTranspose1d(hidden, 32, WATERMARK_BLOCK, stride=WATERMARK_BLOCK)
        self.post = nn.Conv1d(32, 1, 7, padding=3)

    def random_message(self, bsz: int) -> torch.Tensor:
        return torch.randint(0, 2, (bsz, self.msg_processor.nbits), dtype=torch.float32)


class Decoder(nn.Module):
    """model[0] widens the latents, each rate upsamples and halves the width; the watermarker blends in last."""

    def __init__(self, input_channel: int, channels: int, rates: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv1d(input_channel, channels, 7, padding=3)]
        for i, rate in enumerate(rates):
            width = channels // 2**i
            layers.append(
                nn.Sequential(nn.ELU(), nn.ConvTranspose1d(width, width // 2, rate, stride=rate, groups=width // 2))
            )
        self.model = nn.ModuleList(layers)
        self.wm_model = Watermarker()
        self.alpha = 32 / 128

    def forward(self, x: torch.Tensor, message: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self.model:
            x = layer(x)
        return self.watermark(x, message)

    def watermark(self, x: torch.Tensor, message: torch.Tensor | None = None) -> torch.Tensor:
        h = self.wm_model.down(self.wm_model.encoder_block(x))
        if message is None:
            message = self.wm_model.random_message(x.shape[0])
        h = self.wm_model.msg_processor(h, message.to(x.device))
        h = self.wm_model.post(self.wm_model.up(h))
        return self.wm_model.encoder_block.forward_no_conv(x) + self.alpha * h


class DACVAE(nn.Module):
    """forward: (B, 1, samples) -> (B, codebook_dim, ceil(samples / hop)); decode: (B, C, T) -> (B, 1, T * hop)."""

    def __init__(self, config: DACVAEConfig) -> None:
        super().__init__()
        if math.prod(config.decoder_rates) != config.hop_length:
            raise ValueError("decoder_rates must multiply to the encoder's hop")
        self.encoder = _encoder(config)
        self.quantizer = _Quantizer(config.latent_dim, config.codebook_dim)
        self.decoder = Decoder(config.latent_dim, config.decoder_dim, config.decoder_rates)
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
