"""Built-in backend specs (numpy, pytorch, mlx) and the choice behind `--backend auto|NAME`.

Availability is detected with importlib.util.find_spec: listing backends never imports a runtime.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from audio_playground.errors import PluginError, UsageError
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
    """Load the first candidate that loads; warn for each that fails and fall back to the next."""
    for message in choice.warnings:
        warn(message)
    last: Exception | None = None
    for i, spec in enumerate(choice.candidates):
        try:
            return spec, spec.load(options, device)
        except Exception as exc:  # a plugin's load failure must not hide the fallback
            last = exc
            if i + 1 < len(choice.candidates):
                warn(
                    f"{spec.name} on {spec.backend} could not load ({exc}); "
                    f"falling back to {choice.candidates[i + 1].backend}"
                )
    assert last is not None
    raise last
