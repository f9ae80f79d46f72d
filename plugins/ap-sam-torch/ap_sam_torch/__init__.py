"""ap-sam-torch: SAM-Audio text-prompted separation for audio-playground on PyTorch."""

__version__ = "0.1.0"
