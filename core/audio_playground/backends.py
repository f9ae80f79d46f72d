"""Built-in backend specs (numpy, pytorch, mlx, onnx) and the choice behind `--backend auto|NAME`.

Availability is detected with importlib.util.find_spec: listing backends never imports a runtime.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from audio_playground.errors import APError, PluginError, UsageError
from audio_playground.hookspecs import hookimpl
from audio_playground.specs import BackendSpec, SeparatorSpec


def _apple_silicon() -> bool:
    return sys.platform == "darwin" and platform.machine() == "arm64"


def _torch_devices() -> list[str]:
    import torch

    devices = ["cpu"]
    if torch.cuda.is_available():
        devices += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devices.append("mps")
    return devices


def _mlx_devices() -> list[str]:
    return ["gpu", "cpu"] if _apple_silicon() else ["cpu"]


def _onnx_devices() -> list[str]:
    import onnxruntime

    gpu = {"CUDAExecutionProvider", "ROCMExecutionProvider"} & set(onnxruntime.get_available_providers())
    return ["cpu", "cuda"] if gpu else ["cpu"]


@hookimpl
def ap_backends() -> list[BackendSpec]:
    return [
        BackendSpec("numpy", "numpy", priority=0, devices=lambda: ["cpu"]),
        BackendSpec(
            "pytorch",
            "torch",
            priority=10,
            devices=_torch_devices,
            install_hint="pip install torch (https://pytorch.org for CUDA builds)",
        ),
        BackendSpec(
            "mlx",
            "mlx",
            priority=20 if _apple_silicon() else 5,
            devices=_mlx_devices,
            install_hint="pip install ap-sam-mlx (brings mlx; on Linux mlx[cpu])",
        ),
        # Above pytorch: measured faster on a CPU (tests/benchmarks/RESULTS.md). A separator on onnx refuses
        # to load under --device auto when a GPU is there and onnxruntime has no provider for it, so auto
        # falls back to pytorch there (with a warning).
        BackendSpec(
            "onnx",
            "onnxruntime",
            priority=15,
            devices=_onnx_devices,
            install_hint="pip install 'ap-demucs[onnx]' (brings onnxruntime and onnx; onnxruntime-gpu for CUDA)",
        ),
    ]


def all_backends(pm: Any) -> dict[str, BackendSpec]:
    """Backends by name from every plugin (first registration of a name wins)."""
    found: dict[str, BackendSpec] = {}
    for group in pm.hook.ap_backends():
        for spec in group or ():
            found.setdefault(spec.name, spec)
    return found


def all_separators(pm: Any) -> dict[str, list[SeparatorSpec]]:
    """Separator specs grouped by name, in registration order."""
    found: dict[str, list[SeparatorSpec]] = {}
    for group in pm.hook.ap_separators():
        for spec in group or ():
            found.setdefault(spec.name, []).append(spec)
    return found


@dataclass(frozen=True)
class Choice:
    """The ordered candidates for a separator: the first that loads is used; the rest are fallbacks."""

    name: str
    candidates: tuple[SeparatorSpec, ...]
    warnings: tuple[str, ...] = ()


KNOWN_PLUGINS = {
    "demucs": "ap-demucs",
    "sam-audio": "ap-sam-torch (PyTorch) or ap-sam-mlx (Apple Silicon / MLX)",
    "roformer": "ap-roformer",
}


def choose(pm: Any, name: str, backend: str = "auto") -> Choice:
    """Order the specs of separator `name` for `backend` (auto: highest available priority first)."""
    separators = all_separators(pm)
    specs = separators.get(name)
    if not specs:
        known = ", ".join(sorted(separators)) or "none"
        hint = f"install {KNOWN_PLUGINS[name]}" if name in KNOWN_PLUGINS else f"known separators: {known}"
        raise PluginError(f"no installed plugin provides the separator '{name}'", hint=hint)
    backends = all_backends(pm)
    if backend != "auto" and backend not in backends:
        raise UsageError(f"unknown backend '{backend}'", hint=f"use auto or one of: {', '.join(sorted(backends))}")

    def rank(spec: SeparatorSpec) -> tuple[int, int]:
        b = backends.get(spec.backend)
        available = b.available() if b else True
        return (0 if available else 1, -(b.priority if b else 0))

    ordered = sorted(specs, key=rank)
    warnings: list[str] = []
    if backend != "auto":
        wanted = [s for s in ordered if s.backend == backend]
        others = [s for s in ordered if s.backend != backend]
        b = backends[backend]
        if not wanted:  # specs is not empty, so another backend is there to use
            offered = ", ".join(s.backend for s in specs)
            warnings.append(
                f"'{name}' has no {backend} backend installed; using {others[0].backend} ({name} runs on: {offered})"
            )
            ordered = others
        elif not b.available():
            if not others:
                raise PluginError(f"the {backend} backend is not installed", hint=b.install_hint or None)
            warnings.append(f"the {backend} backend is not installed ({b.install_hint}); using {others[0].backend}")
            ordered = others
        else:
            ordered = wanted + others
    return Choice(name, tuple(ordered), tuple(warnings))


def load_separator(
    choice: Choice,
    options: Mapping[str, Any],
    device: str,
    warn: Callable[[str], None],
) -> tuple[SeparatorSpec, Any]:
    """Load the first candidate that loads; warn for each that failed before it (the fallback it took).

    When none loads, the first candidate's error is raised, once (it is the backend asked for, or the best
    there is), its hint naming the other backends that failed too.
    """
    for message in choice.warnings:
        warn(message)
    failures: list[tuple[SeparatorSpec, Exception]] = []
    for spec in choice.candidates:
        try:
            separator = spec.load(options, device)
        except Exception as exc:  # a plugin's load failure must not hide the fallback
            failures.append((spec, exc))
            continue
        for failed, exc in failures:
            warn(f"{failed.name} on {failed.backend} could not load ({exc}); falling back to {spec.backend}")
        return spec, separator
    first = failures[0][1]
    others = sorted({spec.backend for spec, exc in failures[1:] if str(exc) != str(first)})
    if others and isinstance(first, APError):
        also = f"the {' and '.join(others)} backend{'s' if len(others) > 1 else ''} failed too"
        first.hint = f"{first.hint.rstrip('.')}; {also}" if first.hint else also
        first.hint += f" (--backend {others[0]} says why)"
    raise first
