"""ap-demucs: Demucs stem separation for audio-playground, as a separately installed plugin."""

__version__ = "0.1.0"
