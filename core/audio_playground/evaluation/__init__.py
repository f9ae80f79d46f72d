"""Quality evaluation of stems: BSSEval v4, global SDR and SI-SDR against references, and reference-free
checks (the stems' sum against the mix, silence, clipping, length, rate). Used by `ap eval` and `ap report`.

Attributes load lazily: importing the package costs nothing until a function runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audio_playground.evaluation.checks import Check, check_track
    from audio_playground.evaluation.layout import Track, discover
    from audio_playground.evaluation.report import EvalReport, TrackReport, evaluate

__all__ = ["Check", "EvalReport", "Track", "TrackReport", "check_track", "discover", "evaluate"]

_HOMES = {
    "Track": "layout",
    "discover": "layout",
    "Check": "checks",
    "check_track": "checks",
    "evaluate": "report",
    "EvalReport": "report",
    "TrackReport": "report",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'audio_playground.evaluation' has no attribute {name!r}")
    return getattr(importlib.import_module(f"audio_playground.evaluation.{home}"), name)
