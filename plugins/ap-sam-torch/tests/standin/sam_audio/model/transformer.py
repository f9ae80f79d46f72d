"""Stand-in for sam_audio.model.transformer: a small DiT (adaLN-modulated self-attention with RoPE, cross-attention
on the text memory, feed-forward), with upstream's constructor and forward signature.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sam_audio.model.config import TransformerConfig


class RotaryEmbedding(nn.Module):
    """Rotations for positions < max_seqlen; a longer sequence fails, as upstream's does."""

    cos: torch.Tensor
    sin: torch.Tensor

    def __init__(self, theta: float, head_dim: int, max_seqlen: int = 1024) -> None:
        super().__init__()
        self.max_seqlen = max_seqlen
        freqs = 1.0 / theta ** (torch.arange(0, head_dim, 2).float() / head_dim)
        angles = torch.outer(torch.arange(max_seqlen).float(), freqs)
        self.register_buffer("cos", angles.cos(), persistent=False)
        self.register_buffer("sin", angles.sin(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rotate (B, H, L, D) by position."""
        length = x.size(-2)
        assert length <= self.max_seqlen, f"sequence of {length} exceeds {self.max_seqlen} RoPE positions"
        cos, sin = self.cos[:length], self.sin[:length]
        even, odd = x[..., 0::2], x[..., 1::2]
        return torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1).flatten(-2)


class Attention(nn.Module):
    def __init__(self, dim: int, n_heads: int, qk_norm: bool, eps: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.wq, self.wk, self.wv, self.wo = (nn.Linear(dim, dim, bias=False) for _ in range(4))
        head = dim // n_heads
        self.q_norm = nn.RMSNorm(head, eps=eps) if qk_norm else nn.Identity()
        self.k_norm = nn.RMSNorm(head, eps=eps) if qk_norm else nn.Identity()

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, length, _ = x.shape
        return x.view(b, length, self.n_heads, -1).transpose(1, 2)

    def forward(
        self,
        x: torch.Tensor,
        cross_x: torch.Tensor | None = None,
        key_padding_mask: torch.Tensor | None = None,
        rope: RotaryEmbedding | None = None,
    ) -> torch.Tensor:
        source = x if cross_x is None else cross_x
        q = self.q_norm(self._heads(self.wq(x)))
        k = self.k_norm(self._heads(self.wk(source)))
        v = self._heads(self.wv(source))
        if rope is not None:
            q, k = rope(q), rope(k)
        mask = None if key_padding_mask is None else key_padding_mask[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return self.wo(out.transpose(1, 2).flatten(2))


class DiTBlock(nn.Module):
    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        dim = config.dim
        self.attention = Attention(dim, config.n_heads, config.qk_norm, config.norm_eps)
        self.cross_attention = Attention(dim, config.n_heads, config.qk_norm, config.norm_eps)
        self.attention_norm = nn.RMSNorm(dim, eps=config.norm_eps)
        self.ffn_norm = nn.RMSNorm(dim, eps=config.norm_eps)
        hidden = config.multiple_of * math.ceil(config.ffn_exp * dim / config.multiple_of)
        self.feed_forward = nn.Sequential(nn.Linear(dim, hidden), nn.SiLU(), nn.Linear(hidden, dim))
        self.scale_shift_table = nn.Parameter(torch.randn(6, dim) / dim**0.5)

    def forward(
        self,
        x: torch.Tensor,
        cross_x: torch.Tensor,
        t: torch.Tensor,
        padding_mask: torch.Tensor | None,
        memory_padding_mask: torch.Tensor | None,
        rope: RotaryEmbedding | None,
    ) -> torch.Tensor:
        shift, scale, gate, shift_ff, scale_ff, gate_ff = (
            self.scale_shift_table[None] + t.view(x.size(0), 6, -1)
        ).chunk(6, dim=1)
        h = x + gate * self.attention(self.attention_norm(x) * (1 + scale) + shift, None, padding_mask, rope)
        h = h + self.cross_attention(h, cross_x, memory_padding_mask)
        return h + gate_ff * self.feed_forward(self.ffn_norm(h) * (1 + scale_ff) + shift_ff)


class TimestepEmbedder(nn.Module):
    freqs: torch.Tensor

    def __init__(self, dim: int, frequency_embedding_dim: int) -> None:
        super().__init__()
        half = frequency_embedding_dim // 2
        self.register_buffer("freqs", torch.exp(-math.log(10000) * torch.arange(half).float() / half), persistent=False)
        self.projection = nn.Sequential(nn.Linear(2 * half, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        args = t[:, None].float() * self.freqs[None]
        return self.projection(torch.cat([args.cos(), args.sin()], dim=-1))


class DiT(nn.Module):
    """forward(x (B, T, dim), time (B), *, padding_mask (B, T), memory (B, L, context_dim), memory_padding_mask)
    -> (B, T, out_channels)."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.rope_embeddings = (
            RotaryEmbedding(max(10000, 2 * config.max_positions), config.dim // config.n_heads, config.max_positions)
            if config.use_rope
            else None
        )
        self.layers = nn.ModuleList(DiTBlock(config) for _ in range(config.n_layers))
        self.norm = nn.RMSNorm(config.dim, eps=config.norm_eps)
        self.output = nn.Linear(config.dim, config.out_channels, bias=config.fc_bias)
        self.x_embedder = nn.Linear(config.dim, config.dim)
        self.y_embedder = nn.Linear(config.context_dim, config.dim)
        self.t_embedder = TimestepEmbedder(config.dim, config.frequency_embedding_dim)
        self.t_block = nn.Linear(config.dim, 6 * config.dim, bias=config.t_block_bias)
        self.final_layer_scale_shift_table = nn.Parameter(torch.randn(2, config.dim) / config.dim**0.5)

    def forward(
        self,
        x: torch.Tensor,
        time: torch.Tensor,
        *,
        padding_mask: torch.Tensor | None = None,
        memory: torch.Tensor | None = None,
        memory_padding_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        h = self.x_embedder(x)
        t = self.t_embedder(time)
        modulation = self.t_block(F.silu(t))
        assert memory is not None, "the stand-in DiT always cross-attends"
        y = self.y_embedder(memory)
        for layer in self.layers:
            h = layer(h, y, modulation, padding_mask, memory_padding_mask, self.rope_embeddings)
        shift, scale = (self.final_layer_scale_shift_table[None] + t[:, None]).chunk(2, dim=1)
        return self.output(self.norm(h) * (1 + scale) + shift)
