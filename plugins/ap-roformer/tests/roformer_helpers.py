"""Helpers the test modules import (fixtures live in conftest.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

SR = 44100


def write_audio(path: Path, audio: np.ndarray, sample_rate: int = SR) -> Path:
    """Write (channels, frames) float audio as 16-bit PCM (WAV or FLAC by the suffix)."""
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio.T, sample_rate, subtype="PCM_16")
    return path
