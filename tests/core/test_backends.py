"""Backend choice: auto by priority among installed runtimes, explicit choices, fallbacks with warnings."""

from __future__ import annotations

from typing import Any

import pytest

from audio_playground import hookimpl
from audio_playground.backends import ap_backends, choose, load_separator
from audio_playground.errors import PluginError, UsageError
from audio_playground.plugins import build_plugin_manager
from audio_playground.specs import BackendSpec, SeparatorSpec


class Model:
    def __init__(self, backend: str) -> None:
        self.backend = backend


def _spec(backend: str, fail: bool = False) -> SeparatorSpec:
    def load(options: Any, device: str) -> Model:
        if fail:
            raise RuntimeError(f"{backend} weights are broken")
        return Model(backend)

    return SeparatorSpec("thing", backend, load=load)


class Plugin:
    def __init__(self, *specs: SeparatorSpec) -> None:
        self.specs = list(specs)

    @hookimpl
    def ap_backends(self) -> list[BackendSpec]:
        return [
            BackendSpec("fast", "json", priority=50),
            BackendSpec("missing", "no_such_runtime_module_xyz", priority=100, install_hint="pip install missing"),
        ]

    @hookimpl
    def ap_separators(self) -> list[SeparatorSpec]:
        return self.specs


def _pm(*specs: SeparatorSpec) -> Any:
    pm = build_plugin_manager(load_entry_points=False)
    pm.register(Plugin(*specs), name="test-backends")
    return pm


def test_auto_prefers_the_highest_installed_priority() -> None:
    pm = _pm(_spec("numpy"), _spec("missing"), _spec("fast"))
    choice = choose(pm, "thing")
    assert [s.backend for s in choice.candidates] == ["fast", "numpy", "missing"]
    assert choice.warnings == ()


def test_explicit_backend_not_installed_falls_back_with_a_warning() -> None:
    pm = _pm(_spec("missing"), _spec("numpy"))
    warnings: list[str] = []
    spec, model = load_separator(choose(pm, "thing", "missing"), {}, "cpu", warnings.append)
    assert spec.backend == "numpy" and model.backend == "numpy"
    assert "pip install missing" in warnings[0]


def test_explicit_backend_the_separator_lacks() -> None:
    pm = _pm(_spec("numpy"))
    choice = choose(pm, "thing", "fast")
    assert "no fast backend" in choice.warnings[0]
    assert [s.backend for s in choice.candidates] == ["numpy"]


def test_nothing_to_fall_back_to() -> None:
    with pytest.raises(PluginError, match="missing backend is not installed"):
        choose(_pm(_spec("missing")), "thing", "missing")


def test_unknown_backend_and_separator() -> None:
    with pytest.raises(UsageError, match="unknown backend 'gpu9'"):
        choose(_pm(_spec("numpy")), "thing", "gpu9")
    with pytest.raises(PluginError, match="install ap-demucs"):
        choose(_pm(), "demucs")
    with pytest.raises(PluginError, match="known separators: hpss"):
        choose(_pm(), "nope")


def test_load_failure_falls_back_then_raises_the_last() -> None:
    warnings: list[str] = []
    spec, _ = load_separator(choose(_pm(_spec("fast", fail=True), _spec("numpy")), "thing"), {}, "cpu", warnings.append)
    assert spec.backend == "numpy"
    assert "fast could not load (fast weights are broken); falling back to numpy" in warnings[0]
    with pytest.raises(RuntimeError, match="numpy weights"):
        load_separator(choose(_pm(_spec("numpy", fail=True)), "thing"), {}, "cpu", warnings.append)


def test_builtin_backend_specs() -> None:
    specs = {s.name: s for s in ap_backends()}
    assert set(specs) == {"numpy", "pytorch", "mlx", "onnx"}
    assert specs["numpy"].available() and specs["numpy"].devices() == ["cpu"]
    assert specs["mlx"].devices() in (["cpu"], ["gpu", "cpu"])
    assert not BackendSpec("x", "no_such_runtime_module_xyz").available()
    assert not BackendSpec("x", "..bad").available()


def test_onnx_backend_is_found_without_importing_onnxruntime() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from audio_playground.backends import ap_backends; "
        "b = {s.name: s for s in ap_backends()}['onnx']; b.available(); "
        "print(b.module, b.priority, 'onnxruntime' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    specs = {s.name: s for s in ap_backends()}
    assert out == ["onnxruntime", str(specs["onnx"].priority), "False"]
    assert specs["onnx"].priority > specs["pytorch"].priority  # measured faster on a CPU
    assert "ap-demucs[onnx]" in specs["onnx"].install_hint


def test_onnx_devices_follow_the_installed_providers() -> None:
    ort = pytest.importorskip("onnxruntime")
    listing = {s.name: s for s in ap_backends()}["onnx"].devices
    assert listing is not None
    devices = listing()
    gpu = {"CUDAExecutionProvider", "ROCMExecutionProvider"} & set(ort.get_available_providers())
    assert devices == (["cpu", "cuda"] if gpu else ["cpu"])
