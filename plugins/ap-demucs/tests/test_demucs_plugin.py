"""Discovery: the entry point, the spec, and that listing costs no torch import."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import ap_demucs
from ap_demucs import plugin
from ap_demucs.options import KNOWN_MODELS


def test_spec() -> None:
    spec, onnx = plugin.ap_separators()
    assert (spec.name, spec.backend, spec.suffix, spec.plugin) == ("demucs", "pytorch", "demucs", "ap-demucs")
    assert (onnx.name, onnx.backend, onnx.options) == ("demucs", "onnx", spec.options)
    assert spec.stems == ("drums", "bass", "other", "vocals") and not spec.prompted
    names = [option.name for option in spec.options]
    assert names == ["model", "repo", "shifts", "overlap", "segment", "two_stems", "threads", "batch_size", "runtime"]
    options = {option.name: option for option in spec.options}
    assert options["threads"].flag == "--threads" and options["two_stems"].flag == "--two-stems"
    assert (options["model"].default, options["shifts"].default, options["overlap"].default) == ("htdemucs", 1, 0.25)
    assert options["repo"].type is Path and options["segment"].default is None
    assert spec.models is not None and spec.cache_identity is not None
    assert all(name in options["model"].help for name in KNOWN_MODELS)
    assert ap_demucs.__version__ == "0.1.0"


def test_entry_point_is_installed() -> None:
    found = [ep for ep in entry_points(group="audio_playground") if ep.name == "demucs"]
    assert found, "pip install -e plugins/ap-demucs registers the entry point"
    assert found[0].value == "ap_demucs.plugin"
    assert found[0].load() is plugin


def test_plugin_manager_discovers_it() -> None:
    from audio_playground.plugins import build_plugin_manager

    pm = build_plugin_manager()
    records = {record.name: record for record in pm.records}
    assert records["demucs"].distribution == "ap-demucs" and records["demucs"].error is None
    assert "ap_separators" in records["demucs"].hooks
    specs = [spec for group in pm.hook.ap_separators() for spec in group if spec.name == "demucs"]
    assert [spec.backend for spec in specs] == ["pytorch", "onnx"]


def test_discovery_and_listing_do_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys; from ap_demucs.plugin import ap_separators; spec = ap_separators()[0]; "
        "infos = spec.models({}); assert len(infos) == 8, infos; "
        "heavy = [m for m in ('torch', 'demucs', 'numpy') if m in sys.modules]; assert not heavy, heavy"
    )
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(sys.path),
        "HF_HUB_OFFLINE": "1",
        "XDG_CACHE_HOME": str(tmp_path),
        "TORCH_HOME": str(tmp_path / "torch"),
    }
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("name", ["plugin", "options", "models", "batching"])
def test_light_modules_import_no_heavy_library_at_top(name: str) -> None:
    source = (Path(plugin.__file__).parent / f"{name}.py").read_text()
    top = [line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert not [module for module in top if module.split(".")[0] in {"torch", "demucs", "numpy"}]
