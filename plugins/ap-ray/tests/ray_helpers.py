"""Helpers of the ap-ray tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def write_wav(path: Path, seconds: float, seed: int, rate: int = 16000) -> Path:
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    audio = (np.random.default_rng(seed).standard_normal((int(seconds * rate), 2)) * 0.2).astype(np.float32)
    sf.write(str(path), audio, rate, subtype="PCM_16")
    return path
