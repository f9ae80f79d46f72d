"""ap-sam-mlx: SAM-Audio text-prompted separation for audio-playground on MLX."""

__version__ = "0.1.0"
