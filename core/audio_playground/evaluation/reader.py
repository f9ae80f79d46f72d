"""Read audio files in fixed-size blocks, several in lockstep: memory stays bounded by the block size."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audio_playground.errors import DecodeError, InputError

if TYPE_CHECKING:
    import numpy as np


class BlockReader:
    """A file as (channels, n) float64 blocks of exactly the size asked for (shorter only at the end)."""

    def __init__(
        self,
        path: str | Path,
        *,
        sample_rate: int | None = None,
        channels: int | None = None,
        frames: int | None = None,
    ) -> None:
        from audio_playground.audio import open_audio

        self.path = Path(path)
        try:
            self._stream: Any = open_audio(self.path, sample_rate=sample_rate, channels=channels)
        except DecodeError as exc:
            raise InputError(
                f"not an audio file ({exc.message})", path=self.path, hint="remove it or pass only audio files"
            ) from exc
        self.sample_rate = int(self._stream.sample_rate)
        self.channels = int(self._stream.channels)
        self.limit = frames
        """Pad with zeros or cut to this many frames (None: the file's own length)."""
        self.frames = 0
        """Frames returned so far."""
        self._blocks: Iterator[np.ndarray] = iter(self._stream)
        self._pending: list[np.ndarray] = []
        self._have = 0
        self._done = False

    def _fill(self, n: int) -> None:
        while self._have < n and not self._done:
            try:
                block = next(self._blocks)
            except StopIteration:
                self._done = True
                break
            except DecodeError as exc:  # pragma: no cover - a file that probes but breaks mid-stream
                raise InputError(f"cannot decode ({exc.message})", path=self.path, hint="check the file") from exc
            if block.shape[1]:
                self._pending.append(block)
                self._have += block.shape[1]

    def read(self, n: int) -> np.ndarray:
        """The next `n` frames (fewer at the end; none once exhausted)."""
        import numpy as np

        if self.limit is not None:
            n = min(n, self.limit - self.frames)
        self._fill(n)
        joined = np.concatenate(self._pending, axis=1) if self._pending else np.zeros((self.channels, 0), np.float32)
        out, rest = joined[:, :n], joined[:, n:]
        self._pending = [rest] if rest.shape[1] else []
        self._have = rest.shape[1]
        if self.limit is not None and out.shape[1] < n:
            out = np.concatenate([out, np.zeros((self.channels, n - out.shape[1]), np.float32)], axis=1)
        self.frames += out.shape[1]
        return out.astype(np.float64)

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> BlockReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
