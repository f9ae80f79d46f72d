"""The loaded RoFormer separator: one checkpoint on one device, separating the chunks the core's engine cuts.

Chunking follows the checkpoint's config as Music-Source-Separation-Training's `demix` does: chunks of
`audio.chunk_size` frames every `chunk_size // inference.num_overlap`, weighted by a window with linear fades
of a tenth of a chunk, overlap-added and normalised by the summed weights (the engine does this part, so memory
stays flat at any length). Each chunk is zero-padded at its end to a whole number of STFT hops (the package's
iSTFT returns whole hops only) and cut back. With `inference.normalize`, the mix is normalised by the whole
input's mean and standard deviation first, as that tool does. A one-target config writes the target and the
residual (the mix minus the target), as that tool's instrumental.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from ap_roformer.checkpoint import ModelFiles, load_network
from ap_roformer.configs import RoformerConfig
from audio_playground.engine import crossfade_window
from audio_playground.errors import ModelError, UsageError
from audio_playground.specs import ChunkPlan

FADE_FRACTION = 10
"""The window's fades are chunk_size // 10 long, as in Music-Source-Separation-Training's demix."""


def resolve_device(device: str | None) -> str:
    """--device: auto picks cuda, else mps, else cpu; an explicit one must be usable here."""
    import torch

    name = (device or "auto").strip().lower()
    mps = getattr(torch.backends, "mps", None)
    has_mps = bool(mps is not None and mps.is_available())
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if has_mps else "cpu"
    try:
        kind = torch.device(name).type
    except RuntimeError as exc:
        raise UsageError(f"unknown device {device!r}", hint="use auto, cpu, cuda, cuda:N or mps") from exc
    if kind == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {device} is not available: torch sees no CUDA GPU", hint="use --device cpu")
    if kind == "mps" and not has_mps:
        raise UsageError(f"device {device} is not available on this machine", hint="use --device cpu")
    if kind not in {"cpu", "cuda", "mps"}:
        raise UsageError(f"device {device} is not supported by ap-roformer", hint="use auto, cpu, cuda or mps")
    return name


def chunk_plan(config: RoformerConfig) -> ChunkPlan:
    """The engine's plan for a config: its chunk size, its overlap, a window with linear fades."""
    frames = config.chunk_size
    hop = max(1, frames // config.num_overlap)
    window = crossfade_window(frames, frames // FADE_FRACTION, "linear")
    return ChunkPlan(frames, hop, window, pad_short=False, every_hop=False)


class RoformerSeparator:
    """A BS-RoFormer or Mel-Band RoFormer network separating (channels, frames) chunks at its rate."""

    def __init__(self, network: Any, config: RoformerConfig, name: str = "roformer", device: str = "cpu") -> None:
        self.network = network.to(device)
        self.network.eval()
        self.config = config
        self.name = name
        self.device = device
        self.sample_rate = config.sample_rate
        self.channels = config.channels
        self.stems = config.stems
        self.plan = chunk_plan(config)
        self.stft_hop = int(config.kwargs.get("stft_hop_length", 512))
        self.n_fft = int(config.kwargs.get("stft_n_fft", 2048))
        self.needs_stats = config.normalize
        self.mean = 0.0
        self.std = 1.0

    def set_stats(self, mean: float, std: float) -> None:
        """The whole input's mono-mix mean and std, for configs with inference.normalize."""
        self.mean = float(mean)
        self.std = float(std) if std > 0 else 1.0

    def forward(self, audio: np.ndarray) -> np.ndarray:
        """The network's stems for one (channels, n) chunk, as (model stems, channels, n) float32."""
        import torch

        n = audio.shape[1]
        padded = max(math.ceil(n / self.stft_hop), math.ceil((self.n_fft // 2 + 1) / self.stft_hop)) * self.stft_hop
        if padded > n:
            audio = np.pad(audio, ((0, 0), (0, padded - n)))
        try:
            with warnings.catch_warnings(), torch.inference_mode():
                # bs-roformer 0.4 enters torch.backends.cuda.sdp_kernel (deprecated, same attention)
                warnings.filterwarnings("ignore", message=".*sdp_kernel.*", category=FutureWarning)
                out = self.network(torch.from_numpy(np.ascontiguousarray(audio))[None].to(self.device))
                result = out.to("cpu", torch.float32).numpy()[0]
        except RuntimeError as exc:  # out of memory, device errors: one line, not a torch traceback
            cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelError(
                f"RoFormer {self.name} failed on a {n}-frame chunk on {self.device} ({cause})",
                hint="try --device cpu, or a config with a smaller audio.chunk_size",
            ) from exc
        if result.ndim == 2:
            result = result[None]
        return result[:, :, :n]

    def separate(self, chunk: np.ndarray) -> dict[str, np.ndarray]:
        """Separate one (channels, frames) float32 chunk into {stem: (channels, frames)}."""
        audio = np.asarray(chunk, dtype=np.float32)
        if audio.ndim != 2 or audio.shape[0] != self.channels or audio.shape[1] == 0:
            raise ModelError(
                f"RoFormer {self.name} takes ({self.channels}, frames) audio, not {audio.shape}",
                hint="map the input to the model's channels first",
            )
        scaled = (audio - self.mean) / self.std if self.needs_stats else audio
        out = self.forward(scaled.astype(np.float32))
        if self.needs_stats:
            out = out * self.std + self.mean
        stems = {stem: out[k] for k, stem in enumerate(self.config.model_stems)}
        if len(self.stems) > len(stems):
            stems[self.stems[1]] = audio - out[0]
        return stems


def load_separator(options: Mapping[str, Any], device: str = "auto") -> RoformerSeparator:
    """SeparatorSpec.load: find the checkpoint and its config, build the network, load the weights safely."""
    from ap_roformer.checkpoint import resolve_files

    model, config = options.get("model"), options.get("config")
    files: ModelFiles = resolve_files(model, config)
    resolved = resolve_device(device)
    network, parsed = load_network(files)
    return RoformerSeparator(network, parsed, files.name, resolved)
