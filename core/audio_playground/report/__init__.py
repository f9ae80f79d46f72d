"""`ap report`: a self-contained HTML page to review stems (synchronized player, waveforms, spectrograms, checks).

Attributes load lazily: importing the package costs nothing until a function runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from audio_playground.report.build import REPORT_NAME, ReportResult, build_report

__all__ = ["REPORT_NAME", "ReportResult", "build_report"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from audio_playground.report import build

        return getattr(build, name)
    raise AttributeError(f"module 'audio_playground.report' has no attribute {name!r}")
