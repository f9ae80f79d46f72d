"""The built-in, weight-free separator: harmonic/percussive separation by median filtering (scipy).

Runs anywhere in seconds with no plugin and no download: `ap extract hpss song.mp4`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from audio_playground.hookspecs import hookimpl
from audio_playground.specs import ChunkPlan, ModelInfo, OptionSpec, SeparatorSpec

if TYPE_CHECKING:
    import numpy as np

STEMS = ("harmonic", "percussive")
CHUNK_SECONDS = 20.0
OVERLAP_SECONDS = 1.0

OPTIONS = (
    OptionSpec("kernel_size", int, 31, "Median filter length (STFT bins and frames); larger is smoother."),
    OptionSpec("margin", float, 1.0, "Mask margin >= 1: larger keeps only clearly harmonic/percussive energy."),
    OptionSpec("n_fft", int, 2048, "STFT size in samples."),
)


class HpssSeparator:
    """Median-filtering HPSS on overlapping chunks; soft (Wiener) masks, shared by the channels, sum to one."""

    channels = 2
    stems = STEMS
    any_rate = True

    def __init__(self, sample_rate: int = 44100, kernel_size: int = 31, margin: float = 1.0, n_fft: int = 2048):
        from audio_playground.engine import crossfade_window
        from audio_playground.errors import UsageError

        if kernel_size < 1:
            raise UsageError(f"--kernel-size must be >= 1, not {kernel_size}")
        if margin < 1.0:
            raise UsageError(f"--margin must be >= 1, not {margin}")
        if n_fft < 16 or n_fft & (n_fft - 1):
            raise UsageError(f"--n-fft must be a power of two >= 16, not {n_fft}")
        self.kernel_size = kernel_size
        self.margin = margin
        self.n_fft = n_fft
        self.sample_rate = sample_rate
        frames = int(CHUNK_SECONDS * sample_rate)
        overlap = int(OVERLAP_SECONDS * sample_rate)
        self.plan = ChunkPlan(frames, frames - overlap, crossfade_window(frames, overlap, "cosine"), every_hop=False)

    def for_rate(self, sample_rate: int) -> HpssSeparator:
        """The same separator working at `sample_rate` (HPSS needs no fixed model rate)."""
        return HpssSeparator(sample_rate, self.kernel_size, self.margin, self.n_fft)

    def separate(self, chunk: np.ndarray) -> dict[str, np.ndarray]:
        import numpy as np
        from scipy.signal import istft, stft

        n = chunk.shape[1]
        nperseg = self.n_fft
        hop = nperseg // 4
        if n < nperseg:  # a chunk shorter than one STFT frame: zero-pad it, trim the stems below
            chunk = np.pad(chunk, ((0, 0), (0, nperseg - n)))
        _, _, spec = stft(chunk, nperseg=nperseg, noverlap=nperseg - hop, boundary="even", padded=True)
        # One mask pair from the channels' mean magnitude keeps the stereo image and halves the filtering.
        mag = np.abs(spec).mean(axis=0).astype(np.float32)
        k = self.kernel_size
        harmonic = _median_along_last(mag, k)
        percussive = _median_along_last(mag.T, k).T
        mask_h = _soft_mask(harmonic, percussive * self.margin)
        mask_p = _soft_mask(percussive, harmonic * self.margin) if self.margin > 1.0 else 1.0 - mask_h
        out = {}
        for stem, mask in (("harmonic", mask_h), ("percussive", mask_p)):
            _, audio = istft(spec * mask, nperseg=nperseg, noverlap=nperseg - hop, boundary=True)
            audio = audio[..., :n]
            if audio.shape[-1] < n:
                audio = np.pad(audio, ((0, 0), (0, n - audio.shape[-1])))
            out[stem] = audio.astype(np.float32)
        return out


def _median_along_last(values: np.ndarray, size: int, rows: int = 64) -> np.ndarray:
    """Running median of odd-extended `size` along the last axis, in row blocks to bound memory.

    np.partition over a sliding window view is several times faster than scipy.ndimage.median_filter here.
    """
    import numpy as np
    from numpy.lib.stride_tricks import sliding_window_view

    size = size | 1
    half = size // 2
    out = np.empty_like(values)
    for start in range(0, values.shape[0], rows):
        block = np.pad(values[start : start + rows], ((0, 0), (half, half)), mode="symmetric")
        windows = sliding_window_view(block, size, axis=1)
        out[start : start + rows] = np.partition(windows, half, axis=-1)[..., half]
    return out


def _soft_mask(target: np.ndarray, other: np.ndarray) -> np.ndarray:
    """Wiener-style mask target^2 / (target^2 + other^2); silent bins go to the target evenly (0.5)."""
    import numpy as np

    t2 = target.astype(np.float64) ** 2
    total = t2 + other.astype(np.float64) ** 2
    return np.where(total > 0, t2 / np.where(total > 0, total, 1.0), 0.5).astype(np.float32)


def _option(options: Mapping[str, Any], name: str, default: Any) -> Any:
    value = options.get(name)
    return default if value is None else value


def _load(options: Mapping[str, Any], device: str) -> HpssSeparator:
    return HpssSeparator(
        kernel_size=int(_option(options, "kernel_size", 31)),
        margin=float(_option(options, "margin", 1.0)),
        n_fft=int(_option(options, "n_fft", 2048)),
    )


def _models(options: Mapping[str, Any]) -> list[ModelInfo]:
    return [ModelInfo("hpss", True, "built in", "weight-free median filtering")]


@hookimpl
def ap_separators() -> list[SeparatorSpec]:
    return [
        SeparatorSpec(
            name="hpss",
            backend="numpy",
            load=_load,
            help="Harmonic/percussive separation by median filtering: weight-free, runs anywhere in seconds.",
            stems=STEMS,
            suffix="hpss",
            options=OPTIONS,
            models=_models,
            plugin="audio-playground",
            cache_identity=lambda options: "hpss:builtin",
        )
    ]
