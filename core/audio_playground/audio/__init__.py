"""Audio I/O: probe and stream any input, resample, mix channels, write WAV/FLAC atomically.

Attributes load lazily so that importing the built-in source plugin stays cheap (no numpy, soundfile, av).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audio_playground.audio.resample import Resampler, mix_channels
    from audio_playground.audio.source import open_audio, probe
    from audio_playground.audio.writer import AtomicGroup, AudioWriter, commit_all, default_bit_depth

__all__ = [
    "AtomicGroup",
    "AudioWriter",
    "Resampler",
    "commit_all",
    "default_bit_depth",
    "mix_channels",
    "open_audio",
    "probe",
]

_HOMES = {
    "probe": "source",
    "open_audio": "source",
    "Resampler": "resample",
    "mix_channels": "resample",
    "AudioWriter": "writer",
    "AtomicGroup": "writer",
    "commit_all": "writer",
    "default_bit_depth": "writer",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'audio_playground.audio' has no attribute {name!r}")
    return getattr(importlib.import_module(f"audio_playground.audio.{home}"), name)
