"""ap-roformer: BS-RoFormer and Mel-Band RoFormer checkpoints for audio-playground, as a separate plugin."""

__version__ = "0.1.0"
