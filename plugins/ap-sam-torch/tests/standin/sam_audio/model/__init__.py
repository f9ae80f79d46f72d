"""Stand-in for sam_audio.model."""

from sam_audio.model.model import SAMAudio

__all__ = ["SAMAudio"]
