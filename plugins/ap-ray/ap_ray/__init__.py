"""ap-ray: the `ray` executor for audio-playground (batches on a local Ray instance or a Ray cluster)."""

__version__ = "0.1.0"
