"""Small audio helpers for the ap-cache-fs tests (a module name of its own: test folders share sys.path)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_wav(path: Path, audio: np.ndarray, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """Write (channels, frames) float audio to `path`."""
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio.T, sample_rate, subtype=subtype)
    return path


def noise(channels: int, frames: int, seed: int = 0, scale: float = 0.3) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal((channels, frames)) * scale).astype(np.float32)
