"""One streaming pass over a stem: waveform peaks, a spectrogram, and its level, for the report page.

Memory is bounded by the decode block (never by the file length): peaks are reduced per block, and the
spectrogram takes a few short FFT frames per image column from the blocks as they pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

PEAK_BUCKETS = 1000
"""Waveform points per stem (max |x| per bucket, one byte each)."""
SPEC_COLUMNS = 480
SPEC_ROWS = 128
N_FFT = 2048
FRAMES_PER_COLUMN = 3
"""FFT frames averaged per spectrogram column: a sampled spectrogram, cheap for hours of audio."""
FLOOR_DB = -90.0
BLOCK_FRAMES = 1 << 18


@dataclass(frozen=True)
class StemAnalysis:
    """What the page shows of one audio file."""

    sample_rate: int
    channels: int
    frames: int
    peaks: bytes
    """PEAK_BUCKETS bytes: max |sample| per bucket, 0..255 for 0..1 (clipped above)."""
    spectrogram: np.ndarray
    """(SPEC_ROWS, SPEC_COLUMNS) levels 0..1, low frequencies in the last row."""
    peak: float
    rms: float

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0

    @property
    def peak_db(self) -> float | None:
        return None if self.peak <= 0 else round(20 * np.log10(self.peak), 2)

    @property
    def rms_db(self) -> float | None:
        return None if self.rms <= 0 else round(20 * np.log10(self.rms), 2)


def _bucket_edges(total: int, buckets: int) -> np.ndarray:
    return np.linspace(0, max(total, 1), buckets + 1).astype(np.int64)


def _frame_starts(total: int) -> np.ndarray:
    """Start of each FFT frame, FRAMES_PER_COLUMN per column spread evenly over the file."""
    count = SPEC_COLUMNS * FRAMES_PER_COLUMN
    last = max(total - N_FFT, 0)
    return np.linspace(0, last, count).astype(np.int64)


def _row_bins(sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """FFT bins [lo, hi) each image row averages, rows log-spaced from 30 Hz up to Nyquist (low rows that fall
    within one bin repeat it)."""
    bins = N_FFT // 2 + 1
    freqs = np.geomspace(30.0, sample_rate / 2, SPEC_ROWS + 1)
    edges = np.clip(np.round(freqs / (sample_rate / N_FFT)).astype(np.int64), 0, bins - 1)
    lo = edges[:-1]
    return lo, np.maximum(edges[1:], lo + 1)


def analyse(path: Path) -> StemAnalysis:
    """Decode `path` once as mono blocks and measure it (any format the core's source reads)."""
    from audio_playground.audio.source import open_audio

    stream = open_audio(path, block_frames=BLOCK_FRAMES)
    info = stream.info
    # The mono mix is the channels' mean; the sum is taken here and 1/channels applied to the results (one pass).
    scale = 1.0 / max(info.channels, 1)
    with stream:
        total = stream.estimated_frames or 0
        edges = _bucket_edges(total, PEAK_BUCKETS)
        peaks = np.zeros(PEAK_BUCKETS, dtype=np.float32)
        starts = _frame_starts(total)
        frames = np.zeros((len(starts), N_FFT), dtype=np.float32)
        taken = np.zeros(len(starts), dtype=bool)
        tail = np.zeros(0, dtype=np.float32)
        position = 0
        peak = 0.0
        energy = 0.0
        for block in stream:
            mono = block[0] if block.shape[0] == 1 else block.sum(axis=0)
            n = mono.shape[0]
            if n == 0:  # pragma: no cover - streams yield no empty blocks
                continue
            energy += float(np.dot(mono, mono))
            # peaks: the buckets this block overlaps (frames past an estimated length go to the last one)
            first = int(np.searchsorted(edges, position, side="right")) - 1
            first = min(max(first, 0), PEAK_BUCKETS - 1)
            local = np.clip(edges[first + 1 : PEAK_BUCKETS] - position, 0, n)
            cuts = np.unique(np.concatenate([[0], local[local < n]]))
            maxima = np.maximum(np.maximum.reduceat(mono, cuts), -np.minimum.reduceat(mono, cuts))
            peak = max(peak, float(maxima.max()))
            index = np.minimum(first + np.searchsorted(local, cuts, side="right"), PEAK_BUCKETS - 1)
            np.maximum.at(peaks, index, maxima)
            # spectrogram frames that end in this block (one that starts in the tail of the last is joined)
            end = position + n
            want = np.flatnonzero(~taken & (starts >= position - tail.size) & (starts + N_FFT <= end))
            for i in want:
                offset = int(starts[i] - position)
                if offset >= 0:
                    frames[i] = mono[offset : offset + N_FFT]
                else:
                    frames[i] = np.concatenate([tail[tail.size + offset :], mono[: N_FFT + offset]])
            taken[want] = True
            tail = mono[-(N_FFT - 1) :].copy() if n >= N_FFT - 1 else np.concatenate([tail, mono])[-(N_FFT - 1) :]
            position = end
        # a file shorter than one FFT frame: zero-padded from wherever it starts
        for i in np.flatnonzero(~taken & (starts >= position - tail.size)):
            offset = int(starts[i] - (position - tail.size))
            piece = tail[offset:]
            frames[i, : piece.size] = piece
    frames *= scale
    peaks *= scale
    spectrogram = _spectrogram(frames, info.sample_rate)
    levels = np.clip(np.round(peaks * 255), 0, 255).astype(np.uint8)
    return StemAnalysis(
        sample_rate=stream.sample_rate,
        channels=info.channels,
        frames=position,
        peaks=levels.tobytes(),
        spectrogram=spectrogram,
        peak=peak * scale,
        rms=float(np.sqrt(energy / position)) * scale if position else 0.0,
    )


def _spectrogram(frames: np.ndarray, sample_rate: int) -> np.ndarray:
    """Levels 0..1 (FLOOR_DB..0 dBFS), rows log-spaced in frequency, high frequencies first."""
    window = np.hanning(N_FFT).astype(np.float32)
    power = np.abs(np.fft.rfft(frames * window, axis=1)) ** 2
    power = power.reshape(SPEC_COLUMNS, FRAMES_PER_COLUMN, -1).mean(axis=1)  # (columns, bins)
    lo, hi = _row_bins(sample_rate)
    cumulative = np.concatenate([np.zeros((SPEC_COLUMNS, 1)), np.cumsum(power, axis=1)], axis=1)
    rows = (cumulative[:, hi] - cumulative[:, lo]) / (hi - lo)
    scale = (window.sum() / 2) ** 2  # a full-scale sine reads 0 dB
    db = 10 * np.log10(np.maximum(rows / scale, 1e-12))
    levels = np.clip((db - FLOOR_DB) / -FLOOR_DB, 0.0, 1.0)
    return levels.T[::-1].astype(np.float32)
