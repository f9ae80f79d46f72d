"""ap-cache-fs: the file-system step-result cache for audio-playground (see README.md)."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
