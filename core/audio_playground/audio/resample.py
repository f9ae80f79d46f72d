"""Streaming sample-rate conversion (soxr) and channel mixing for (channels, frames) float32 blocks."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from audio_playground.errors import UsageError

if TYPE_CHECKING:
    import numpy as np


def expected_frames(n_in: int, in_rate: int, out_rate: int) -> int:
    """Frames a resampled stream of `n_in` frames yields: n_in * out / in, rounded half up, in integers."""
    if in_rate == out_rate:
        return n_in
    return (2 * n_in * out_rate + in_rate) // (2 * in_rate)


def mix_channels(block: np.ndarray, channels: int, strict: bool = True) -> np.ndarray:
    """Return `block` with `channels` channels: kept when equal, N->1 by mean, 1->N by copying.

    Other counts raise a UsageError unless `strict` is False (the engine feeding a model): then the first
    `channels` are kept, or the mean fills the missing ones.
    """
    import numpy as np

    have = block.shape[0]
    if channels == have:
        return block
    if channels == 1:
        return block.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)
    if have == 1 and channels > 1:
        return np.repeat(block, channels, axis=0)
    if strict:
        raise UsageError(
            f"cannot mix {have} channels into {channels}",
            hint="ask for 1 channel (a mono downmix) or for the input's own channel count",
        )
    if have > channels:
        return block[:channels]
    mean = block.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32)
    return np.concatenate([block, np.repeat(mean, channels - have, axis=0)])


class Resampler:
    """A streaming resampler: feed blocks in order, pass last=True with (or after) the final one.

    Identity (no copy, no delay) when the rates are equal. soxr's HQ quality, float32 throughout.
    """

    def __init__(self, in_rate: int, out_rate: int, channels: int, quality: str = "HQ") -> None:
        if in_rate <= 0 or out_rate <= 0:
            raise UsageError(
                f"invalid sample rate {in_rate if in_rate <= 0 else out_rate}",
                hint="use a positive rate in Hz",
            )
        self.in_rate = in_rate
        self.out_rate = out_rate
        self.channels = channels
        self._stream: Any = None
        if in_rate != out_rate:
            import soxr

            self._stream = soxr.ResampleStream(in_rate, out_rate, channels, dtype="float32", quality=quality)

    @property
    def identity(self) -> bool:
        """True when the rates are equal and blocks pass through untouched."""
        return self._stream is None

    def process(self, block: np.ndarray, last: bool = False) -> np.ndarray:
        """Resample one (channels, frames) block; with last=True, also flush what soxr holds back."""
        import numpy as np

        if self._stream is None:
            return block
        frames_first = np.ascontiguousarray(block.T, dtype=np.float32)
        out = self._stream.resample_chunk(frames_first, last=last)
        return np.ascontiguousarray(out.reshape(-1, self.channels).T)

    @staticmethod
    def expected_frames(n_in: int, in_rate: int, out_rate: int) -> int:
        """See the module function `expected_frames`."""
        return expected_frames(n_in, in_rate, out_rate)
