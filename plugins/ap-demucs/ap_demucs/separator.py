"""The loaded Demucs separator: one model (or bag) run on one chunk, as demucs's apply_model runs a segment.

The core engine does the rest of `demucs.apply.apply_model` (split=True): chunk offsets every hop, demucs's
triangle weights, short last chunks padded with the audio around them, weighted overlap-add. With the
engine's whole-input statistics (`needs_stats`) the result equals `demucs.api.Separator.separate_tensor`
with shifts=0. The shift trick (shifts > 0) works per chunk here, in the spirit of demucs's whole-input
shifts: each run places the chunk at a random offset of up to 0.5 s inside zero padding, and the runs'
un-shifted outputs are averaged. The offsets come from a generator seeded by the chunk's bytes, so a
separation is reproducible (and cacheable) without fixing a global seed.
"""

from __future__ import annotations

import zlib
from collections.abc import Generator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from ap_demucs.models import QUANTIZED, LocalWeights, ensure_local
from ap_demucs.options import DemucsOptions, StemsAndStats, resolve_options
from audio_playground.engine import triangle_window
from audio_playground.errors import ModelError, UsageError
from audio_playground.specs import ChunkPlan

if TYPE_CHECKING:
    import torch

EPS = 1e-8
"""demucs.api adds this to the mix's std before normalising."""
TRANSITION_POWER = 1.0
"""demucs's default: triangle weights, linear cross-fades for overlaps under 50 %."""


def resolve_device(device: str | None) -> str:
    """Resolve --device: auto picks cuda if available, else mps, else cpu; others must be usable here."""
    import torch

    name = (device or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    try:
        kind = torch.device(name).type
    except RuntimeError as exc:
        raise UsageError(f"unknown device {device!r}", hint="use auto, cpu, cuda, cuda:N or mps") from exc
    if kind == "cuda" and not torch.cuda.is_available():
        raise UsageError(f"device {device} is not available: torch sees no CUDA GPU", hint="use --device cpu")
    if kind == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise UsageError(f"device {device} is not available on this machine", hint="use --device cpu")
    if kind not in {"cpu", "cuda", "mps"}:
        raise UsageError(f"device {device} is not supported by ap-demucs", hint="use auto, cpu, cuda or mps")
    return name


def load_weights(weights: LocalWeights) -> Any:
    """Build the demucs model (or BagOfModels) from local files, with demucs's own loaders."""
    import warnings

    import torch
    from demucs.apply import BagOfModels
    from demucs.states import load_model

    models = []
    for path in weights.files:
        try:
            if path.suffix == ".safetensors":
                from demucs.hf import load_safetensors_model

                models.append(load_safetensors_model(path))
                continue
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                package = torch.load(path, map_location="cpu", weights_only=False)
            state = package.get("state", {}) if isinstance(package, dict) else {}
            if isinstance(state, dict) and state.get("__quantized"):
                _require_diffq(weights.name)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                models.append(load_model(package))
        except ModelError:
            raise
        except (Exception, SystemExit) as exc:  # demucs calls sys.exit on some failures
            raise ModelError(
                f"cannot load Demucs weights ({type(exc).__name__}: {exc})".rstrip("."),
                path=path,
                hint="the file may be damaged or not a demucs model: download it again or fix --repo",
            ) from exc
    if weights.bag is None:
        return models[0]
    try:
        return BagOfModels(models, weights.bag.weights, weights.bag.segment)
    except AssertionError as exc:
        raise ModelError(
            "the models of this bag do not fit together (sources, rate, channels or weights differ)",
            path=weights.bag_file,
            hint="check the bag's yaml",
        ) from exc


def _require_diffq(name: str) -> None:
    from importlib.util import find_spec

    if find_spec("diffq") is None:
        raise ModelError(
            f"Demucs model {name} is quantized and needs diffq", hint="pip install diffq (or ap-demucs[quantized])"
        )


def _is_ht(model: Any) -> bool:
    from demucs.htdemucs import HTDemucs

    return isinstance(model, HTDemucs)


class DemucsSeparator(StemsAndStats):
    """A Demucs model or bag on a device, separating (channels, frames) chunks at the model's rate."""

    needs_stats = True

    def __init__(self, model: Any, options: DemucsOptions, device: str = "cpu") -> None:
        from demucs.apply import BagOfModels

        self.options = options
        self.name = options.model
        self.device = device
        if isinstance(model, BagOfModels):
            self.models: list[Any] = list(model.models)
            self.weights: list[list[float]] | None = [list(map(float, w)) for w in model.weights]
        else:
            self.models = [model]
            self.weights = None
        for sub in self.models:
            sub.to(device)
            sub.eval()
        self.sample_rate = int(model.samplerate)
        self.channels = int(model.audio_channels)
        self.sources = tuple(model.sources)
        self.segment = self._segment()
        self.max_shift = int(0.5 * self.sample_rate)
        frames = int(self.sample_rate * self.segment)
        if self.options.shifts > 0:
            frames = min([frames, *self._shift_limits()])
        hop = int((1 - self.options.overlap) * frames)
        if frames < 1 or hop < 1:
            raise UsageError(
                f"a {self.segment:g} s segment with --overlap {self.options.overlap:g} leaves no chunk to run",
                hint="use a longer --segment or a smaller --overlap",
            )
        # demucs pads a short last chunk (with the audio around it) only up to a model's valid length, which
        # for HT models is the whole training segment; other models run on the short chunk as it is.
        pad_short = any(_is_ht(sub) and getattr(sub, "use_train_segment", False) for sub in self.models)
        self.plan = ChunkPlan(frames, hop, triangle_window(frames, TRANSITION_POWER), pad_short=pad_short)
        self.stems = self._stems()
        self.mean: float | None = None
        self.std: float | None = None

    # ------------------------------------------------------------------ set-up

    def _segment(self) -> Any:
        """The chunk length in seconds: --segment (at most an HT model's training length) or the models'."""
        requested = self.options.segment
        if requested is not None:
            limits = [sub.segment for sub in self.models if _is_ht(sub)]
            if limits and requested > min(limits):
                longest = float(min(limits))
                raise ModelError(
                    f"--segment {requested:g} is longer than the {longest:g} s Demucs model {self.name} was trained on",
                    hint=f"pass --segment {longest:g} or less, or leave it out",
                )
            return requested
        segments = {sub.segment for sub in self.models}
        if len(segments) > 1:
            shown = ", ".join(f"{float(s):g}" for s in sorted(segments))
            raise ModelError(
                f"the models of bag {self.name} use different segments ({shown} s)",
                hint="pass --segment S no longer than the shortest",
            )
        return self.models[0].segment

    def _shift_limits(self) -> list[int]:
        """Chunk lengths that leave room for a 0.5 s shift inside each HT model's fixed training length."""
        return [
            int(sub.segment * self.sample_rate) - self.max_shift
            for sub in self.models
            if _is_ht(sub) and getattr(sub, "use_train_segment", False)
        ]

    # ------------------------------------------------------------------ separation

    def separate(self, chunk: np.ndarray) -> dict[str, np.ndarray]:
        """Separate one (channels, frames) float32 chunk into {stem: (channels, frames)}."""
        import torch

        audio = np.ascontiguousarray(chunk, dtype=np.float32)
        if audio.ndim != 2 or audio.shape[0] != self.channels or audio.shape[1] == 0:
            raise ModelError(
                f"Demucs model {self.name} takes ({self.channels}, frames) audio, not {audio.shape}",
                hint="map the input to the model's channels first",
            )
        if self.mean is None or self.std is None:
            mono = audio.astype(np.float64).mean(axis=0)  # no whole-input stats: this chunk's own
            mean, std = float(mono.mean()), float(mono.std(ddof=1)) if mono.size > 1 else 0.0
        else:
            mean, std = self.mean, self.std
        scale = std + EPS
        rng = np.random.default_rng([self.options.shifts, zlib.crc32(audio.tobytes())])
        try:
            with self._threads(), torch.inference_mode():
                mix = (torch.from_numpy(audio).to(self.device) - mean) / scale
                estimate = self._combine(mix, rng) * scale + mean
                out = estimate.to("cpu").numpy()
        except RuntimeError as exc:  # out of memory, device errors: one line, not a torch traceback
            cause = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ModelError(
                f"Demucs model {self.name} failed on a {audio.shape[1]}-frame chunk on {self.device} ({cause})",
                hint="try a shorter --segment, or --device cpu",
            ) from exc
        if self.options.two_stems is None:
            return {stem: out[k] for k, stem in enumerate(self.sources)}
        k = self.sources.index(self.options.two_stems)
        rest = np.zeros_like(out[k])
        for i in range(len(self.sources)):
            if i != k:
                rest += out[i]
        return {self.stems[0]: out[k], self.stems[1]: rest}

    def _combine(self, mix: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """(sources, channels, n): each model's estimate, weighted per stem like demucs's BagOfModels."""
        if self.weights is None:
            return self._shifted(self.models[0], mix, rng)
        total = None
        totals = np.zeros(len(self.sources))
        for sub, weights in zip(self.models, self.weights, strict=True):
            out = self._shifted(sub, mix, rng)
            for k, weight in enumerate(weights):
                out[k] *= weight
                totals[k] += weight
            total = out if total is None else total + out
        assert total is not None
        for k in range(len(self.sources)):
            total[k] /= totals[k]
        return total

    def _shifted(self, model: Any, mix: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """The shift trick per chunk: `shifts` runs at random offsets inside 0.5 s of zeros, un-shifted, averaged."""
        import torch.nn.functional as F

        shifts = self.options.shifts
        if shifts == 0:
            return self._forward(model, mix)
        n = mix.shape[-1]
        total = None
        for _ in range(shifts):
            lead = int(rng.integers(0, self.max_shift + 1))
            padded = F.pad(mix, (lead, self.max_shift - lead))
            out = self._forward(model, padded)[..., lead : lead + n]
            total = out if total is None else total + out
        assert total is not None
        return total / shifts

    def _forward(self, model: Any, mix: torch.Tensor) -> torch.Tensor:
        """One model on one (channels, n) input, padded to its valid length and trimmed back (centred)."""
        import torch.nn.functional as F

        n = mix.shape[-1]
        target = self._valid_length(model, n)
        delta = target - n
        if delta > 0:
            mix = F.pad(mix, (delta // 2, delta - delta // 2))
        out = model(mix[None])[0]
        if delta > 0:
            out = out[..., delta // 2 : delta // 2 + n]
        return out

    def _valid_length(self, model: Any, n: int) -> int:
        """The input length demucs's apply_model feeds this model for an n-frame segment."""
        if _is_ht(model):
            if self.options.segment is not None:
                return max(n, int(self.options.segment * model.samplerate))
            if getattr(model, "use_train_segment", False) and n > int(model.segment * model.samplerate):
                raise ModelError(
                    f"a {n}-frame chunk is longer than Demucs model {self.name} accepts",
                    hint="use the separator's own chunk plan (plan.frames)",
                )
            return int(model.valid_length(n))
        if hasattr(model, "valid_length"):
            return int(model.valid_length(n))
        return n

    @contextmanager
    def _threads(self) -> Generator[None]:
        """torch's CPU thread count set to --threads for the call, restored after (it is process-wide)."""
        threads = self.options.threads
        if threads is None or not self.device.startswith("cpu"):
            yield
            return
        import torch

        before = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)


def load_separator(options: Mapping[str, Any], device: str = "auto") -> DemucsSeparator:
    """SeparatorSpec.load: find the weights (no network when they are here), build the model, plan chunks."""
    opts = resolve_options(options)
    weights = ensure_local(opts.model, opts.repo)
    if opts.model in QUANTIZED and weights.kind != "repo":
        _require_diffq(opts.model)
    resolved = resolve_device(device)
    model = load_weights(weights)
    return DemucsSeparator(model, opts, resolved)
