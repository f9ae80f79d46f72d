"""The Demucs separator on ONNX Runtime: the chunk plan, shift trick and bag weighting of the PyTorch path, in
numpy, around the exported networks (`ap_demucs.onnx_runtime`). Loading it never imports torch once the
networks of the weights are exported; the first load exports them (torch) into the user cache.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ap_demucs.batching import batch_size
from ap_demucs.models import QUANTIZED, ensure_local
from ap_demucs.onnx_runtime import Network, open_networks
from ap_demucs.options import DemucsOptions, StemsAndStats, resolve_options
from audio_playground.engine import triangle_window
from audio_playground.errors import ModelError, UsageError
from audio_playground.specs import ChunkPlan

EPS = 1e-8
"""demucs.api adds this to the mix's std before normalising."""


class OnnxDemucsSeparator(StemsAndStats):
    """A Demucs model or bag as exported networks, separating (channels, frames) chunks, `batch_size` at a time."""

    needs_stats = True

    def __init__(
        self, networks: list[Network], options: DemucsOptions, bag_weights: Any = None, batch_size: int = 1
    ) -> None:
        self.options = options
        self.name = options.model
        self.networks = networks
        self.weights: list[list[float]] | None = None
        if len(networks) > 1 or bag_weights is not None:
            count = len(networks[0].meta["sources"])
            rows = bag_weights or [[1.0] * count for _ in networks]
            self.weights = [list(map(float, row)) for row in rows]
        first = networks[0].meta
        self.sample_rate = int(first["samplerate"])
        self.channels = int(first["audio_channels"])
        self.sources = tuple(first["sources"])
        self.batch_size = batch_size
        self.segment = self._segment()
        self.max_shift = int(0.5 * self.sample_rate)
        frames = int(self.sample_rate * self.segment)
        if options.shifts > 0:
            frames = min([frames, *(n.training_frames - self.max_shift for n in networks if self._trains(n))])
        hop = int((1 - options.overlap) * frames)
        if frames < 1 or hop < 1:
            raise UsageError(
                f"a {float(self.segment):g} s segment with --overlap {options.overlap:g} leaves no chunk to run",
                hint="use a longer --segment or a smaller --overlap",
            )
        pad_short = any(self._trains(n) for n in networks)
        self.plan = ChunkPlan(frames, hop, triangle_window(frames, 1.0), pad_short=pad_short)
        self.stems = self._stems()
        self.mean: float | None = None
        self.std: float | None = None

    @staticmethod
    def _trains(network: Network) -> bool:
        return network.is_ht and bool(network.meta["use_train_segment"])

    def _segment(self) -> Any:
        requested = self.options.segment
        if requested is not None:
            limits = [n.segment for n in self.networks if n.is_ht]
            if limits and requested > min(limits):
                longest = float(min(limits))
                raise ModelError(
                    f"--segment {requested:g} is longer than the {longest:g} s Demucs model {self.name} was trained on",
                    hint=f"pass --segment {longest:g} or less, or leave it out",
                )
            return requested
        segments = {n.segment for n in self.networks}
        if len(segments) > 1:
            shown = ", ".join(f"{float(s):g}" for s in sorted(segments))
            raise ModelError(
                f"the models of bag {self.name} use different segments ({shown} s)",
                hint="pass --segment S no longer than the shortest",
            )
        return self.networks[0].segment

    # ------------------------------------------------------------------ separation

    def separate(self, chunk: np.ndarray) -> dict[str, np.ndarray]:
        """Separate one (channels, frames) float32 chunk into {stem: (channels, frames)}."""
        return self.separate_batch([chunk])[0]

    def separate_batch(self, chunks: Sequence[np.ndarray]) -> list[dict[str, np.ndarray]]:
        """Separate several chunks, those of one length through each network in one call."""
        audios = [np.ascontiguousarray(c, dtype=np.float32) for c in chunks]
        for audio in audios:
            if audio.ndim != 2 or audio.shape[0] != self.channels or audio.shape[1] == 0:
                raise ModelError(
                    f"Demucs model {self.name} takes ({self.channels}, frames) audio, not {audio.shape}",
                    hint="map the input to the model's channels first",
                )
        results: list[dict[str, np.ndarray]] = [{} for _ in audios]
        groups: dict[int, list[int]] = {}
        for i, audio in enumerate(audios):
            groups.setdefault(audio.shape[1], []).append(i)
        for indices in groups.values():
            for i, out in zip(indices, self._separate_group([audios[i] for i in indices]), strict=True):
                results[i] = self._named(out)
        return results

    def _separate_group(self, audios: list[np.ndarray]) -> list[np.ndarray]:
        """Same-length chunks -> (sources, channels, n) each, float32."""
        scales, means, mixes = [], [], []
        for audio in audios:
            if self.mean is None or self.std is None:
                mono = audio.astype(np.float64).mean(axis=0)
                mean, std = float(mono.mean()), float(mono.std(ddof=1)) if mono.size > 1 else 0.0
            else:
                mean, std = self.mean, self.std
            scales.append(std + EPS)
            means.append(mean)
            mixes.append(((audio.astype(np.float64) - mean) / (std + EPS)).astype(np.float32))
        rngs = [np.random.default_rng([self.options.shifts, zlib.crc32(a.tobytes())]) for a in audios]
        batch = np.stack(mixes)
        try:
            estimate = self._combine(batch, rngs)
        except ModelError:
            raise
        except Exception as exc:  # onnxruntime's failures (memory, a provider): one line
            cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelError(
                f"Demucs model {self.name} failed on ONNX Runtime for {len(audios)} chunk(s) of "
                f"{batch.shape[-1]} frames ({cause})",
                hint="try a smaller --batch-size or --segment, or --backend pytorch",
            ) from exc
        return [(estimate[i] * scales[i] + means[i]).astype(np.float32) for i in range(len(audios))]

    def _combine(self, mix: np.ndarray, rngs: list[np.random.Generator]) -> np.ndarray:
        """(B, sources, channels, n): each network's estimate, weighted per stem like demucs's BagOfModels."""
        if self.weights is None:
            return self._shifted(self.networks[0], mix, rngs)
        total = np.zeros((mix.shape[0], len(self.sources), *mix.shape[1:]))
        totals = np.zeros(len(self.sources))
        for network, weights in zip(self.networks, self.weights, strict=True):
            out = self._shifted(network, mix, rngs)
            for k, weight in enumerate(weights):
                total[:, k] += out[:, k] * weight
                totals[k] += weight
        return total / totals[None, :, None, None]

    def _shifted(self, network: Network, mix: np.ndarray, rngs: list[np.random.Generator]) -> np.ndarray:
        """The shift trick per chunk, each chunk's offsets from its own generator (as on the PyTorch path)."""
        shifts = self.options.shifts
        if shifts == 0:
            return self._forward(network, mix)
        n = mix.shape[-1]
        total = np.zeros((mix.shape[0], len(self.sources), *mix.shape[1:]))
        for _ in range(shifts):
            leads = [int(rng.integers(0, self.max_shift + 1)) for rng in rngs]
            padded = np.stack(
                [np.pad(m, ((0, 0), (lead, self.max_shift - lead))) for m, lead in zip(mix, leads, strict=True)]
            )
            out = self._forward(network, padded)
            for i, lead in enumerate(leads):
                total[i] += out[i, ..., lead : lead + n]
        return total / shifts

    def _forward(self, network: Network, mix: np.ndarray) -> np.ndarray:
        """One network on (B, channels, n), padded to its valid length and trimmed back (centred)."""
        n = mix.shape[-1]
        delta = self._valid_length(network, n) - n
        if delta > 0:
            mix = np.pad(mix, ((0, 0), (0, 0), (delta // 2, delta - delta // 2)))
        out = network.run(mix)
        return out[..., delta // 2 : delta // 2 + n] if delta > 0 else out

    def _valid_length(self, network: Network, n: int) -> int:
        """The input length demucs's apply_model feeds this network for an n-frame segment."""
        if network.is_ht:
            if self.options.segment is not None:
                return max(n, int(self.options.segment * self.sample_rate))
            if self._trains(network):
                if n > network.training_frames:
                    raise ModelError(
                        f"a {n}-frame chunk is longer than Demucs model {self.name} accepts",
                        hint="use the separator's own chunk plan (plan.frames)",
                    )
                return network.training_frames
            return n
        return n  # the time-domain network pads to its own valid length inside Network.run

    def _named(self, out: np.ndarray) -> dict[str, np.ndarray]:
        if self.options.two_stems is None:
            return {stem: out[k] for k, stem in enumerate(self.sources)}
        k = self.sources.index(self.options.two_stems)
        rest = np.zeros_like(out[k])
        for i in range(len(self.sources)):
            if i != k:
                rest += out[i]
        return {self.stems[0]: out[k], self.stems[1]: rest}


def load_onnx_separator(options: Mapping[str, Any], device: str = "auto") -> OnnxDemucsSeparator:
    """SeparatorSpec.load on onnx: the weights' exported networks (exported now if missing), one session each."""
    from importlib.util import find_spec

    if find_spec("onnxruntime") is None:
        raise ModelError("onnxruntime is not installed", hint="pip install 'ap-demucs[onnx]'")
    opts = resolve_options(options)
    batch = batch_size(options)
    weights = ensure_local(opts.model, opts.repo)
    if opts.model in QUANTIZED and weights.kind != "repo":
        from ap_demucs.separator import _require_diffq

        _require_diffq(opts.model)
    runtime = str(options.get("runtime") or "auto")
    networks, exports = open_networks(weights, device, opts.threads, runtime)
    return OnnxDemucsSeparator(networks, opts, exports.manifest.get("bag_weights"), batch)
