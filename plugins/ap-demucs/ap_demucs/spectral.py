"""Demucs's STFT and iSTFT in numpy, equal to torch.stft/istft as demucs calls them (hann, normalized, centred).

Hand-written on purpose: ONNX cannot hold demucs's complex spectrogram steps, and the ONNX path must not import
torch; scipy's STFT scales and pads differently from torch's. Float64 internally, float32 out.
`meta` is a network's description from `ap_demucs.onnx_export.member_meta` (nfft, hop_length, hybrid, ...).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def _hann(n: int) -> np.ndarray:
    """torch.hann_window(n): periodic."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


def pad1d(x: np.ndarray, left: int, right: int, mode: str = "reflect") -> np.ndarray:
    """demucs.hdemucs.pad1d: reflect padding that also works on inputs shorter than the padding."""
    length = x.shape[-1]
    extra = 0
    if mode == "reflect" and length <= max(left, right):
        extra = max(left, right) - length + 1
        x = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(0, extra)])
    out = np.pad(x, [(0, 0)] * (x.ndim - 1) + [(left, right)], mode="reflect" if mode == "reflect" else "constant")
    return out[..., : out.shape[-1] - extra] if extra else out


def stft(x: np.ndarray, nfft: int, hop: int) -> np.ndarray:
    """torch.stft(x, nfft, hop, hann(nfft), normalized=True, center=True, pad_mode="reflect"): (..., freqs, frames)."""
    xp = np.pad(x.astype(np.float64), [(0, 0)] * (x.ndim - 1) + [(nfft // 2, nfft // 2)], mode="reflect")
    frames = np.lib.stride_tricks.sliding_window_view(xp, nfft, axis=-1)[..., ::hop, :]
    z = np.fft.rfft(frames * _hann(nfft), axis=-1) / math.sqrt(nfft)
    return np.swapaxes(z, -1, -2)


def istft(z: np.ndarray, hop: int, length: int) -> np.ndarray:
    """torch.istft(z, nfft, hop, hann(nfft), normalized=True, center=True, length=length) for (..., freqs, frames)."""
    nfft = 2 * z.shape[-2] - 2
    window = _hann(nfft)
    frames = np.fft.irfft(np.swapaxes(z, -1, -2), n=nfft, axis=-1) * math.sqrt(nfft) * window
    count = frames.shape[-2]
    total = (count - 1) * hop + nfft
    out = np.zeros((*frames.shape[:-2], total))
    envelope = np.zeros(total)
    if nfft % hop == 0:  # demucs: hop = nfft / 4, so 4 shifted slabs of hop-long pieces add up to the overlap-add
        parts = nfft // hop
        pieces = frames.reshape(*frames.shape[:-1], parts, hop)
        slabs = out.reshape(*out.shape[:-1], count - 1 + parts, hop)
        squares = (window * window).reshape(parts, hop)
        rows = envelope.reshape(count - 1 + parts, hop)
        for j in range(parts):
            slabs[..., j : j + count, :] += pieces[..., j, :]
            rows[j : j + count] += squares[j]
    else:
        for k in range(count):
            out[..., k * hop : k * hop + nfft] += frames[..., k, :]
            envelope[k * hop : k * hop + nfft] += window * window
    start = nfft // 2
    out = out[..., start : start + length]
    envelope = envelope[start : start + length]
    if out.shape[-1] < length:
        out = np.pad(out, [(0, 0)] * (out.ndim - 1) + [(0, length - out.shape[-1])])
        envelope = np.pad(envelope, (0, length - envelope.shape[-1]), constant_values=1.0)
    return out / np.where(envelope > 1e-11, envelope, 1.0)


def spec(mix: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    """HTDemucs/HDemucs `_spec`: the complex spectrogram (B, C, nfft/2, frames) of (B, C, n) audio."""
    hop, nfft = meta["hop_length"], meta["nfft"]
    x = mix
    le = math.ceil(x.shape[-1] / hop)
    if meta["hybrid"]:
        pad = hop // 2 * 3
        x = pad1d(x, pad, pad + le * hop - x.shape[-1], "constant" if meta["hybrid_old"] else "reflect")
    z = stft(x, nfft, hop)[..., :-1, :]
    if meta["hybrid"]:
        z = z[..., 2 : 2 + le]
    return z


def magnitude(z: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    """`_magnitude`: real and imaginary parts as channels (cac), else the magnitude; float32 for the graph."""
    if meta["cac"]:
        b, c, f, t = z.shape
        return np.stack([z.real, z.imag], axis=2).reshape(b, c * 2, f, t).astype(np.float32)
    return np.abs(z).astype(np.float32)


def mask(z: np.ndarray, m: np.ndarray, meta: dict[str, Any]) -> np.ndarray:
    """`_mask`: the estimate (B, S, C*2, F, T) back to complex (cac), or the mix's phase on a magnitude."""
    if meta["cac"]:
        b, s, c2, f, t = m.shape
        parts = m.astype(np.float64).reshape(b, s, c2 // 2, 2, f, t)
        return parts[:, :, :, 0] + 1j * parts[:, :, :, 1]
    mix = z[:, None]
    return mix / (1e-8 + np.abs(mix)) * m  # wiener_iters < 0; Wiener filtering is refused at export


def ispec(z: np.ndarray, length: int, meta: dict[str, Any]) -> np.ndarray:
    """`_ispec`: (..., nfft/2, frames) complex back to (..., length) audio."""
    hop = meta["hop_length"]
    z = np.pad(z, [(0, 0)] * (z.ndim - 2) + [(0, 1), (0, 0)])
    if not meta["hybrid"]:
        return istft(z, hop, length)
    z = np.pad(z, [(0, 0)] * (z.ndim - 1) + [(2, 2)])
    pad = hop // 2 * 3
    if meta["hybrid_old"]:
        return istft(z, hop, hop * math.ceil(length / hop))[..., :length]
    le = hop * math.ceil(length / hop) + 2 * pad
    return istft(z, hop, le)[..., pad : pad + length]


def time_valid_length(length: int, meta: dict[str, Any]) -> int:
    """demucs.demucs.Demucs.valid_length, from the network's description."""
    if meta["resample"]:
        length *= 2
    for _ in range(meta["depth"]):
        length = max(1, math.ceil((length - meta["kernel_size"]) / meta["stride"]) + 1)
    for _ in range(meta["depth"]):
        length = (length - 1) * meta["stride"] + meta["kernel_size"]
    if meta["resample"]:
        length = math.ceil(length / 2)
    return int(length)


def center_trim(x: np.ndarray, length: int) -> np.ndarray:
    """demucs.utils.center_trim to a length."""
    delta = x.shape[-1] - length
    if delta < 0:
        raise ValueError(f"cannot trim {x.shape[-1]} frames to {length}")
    return x[..., delta // 2 : x.shape[-1] - (delta - delta // 2)] if delta else x
