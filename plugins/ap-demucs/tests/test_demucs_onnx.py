"""The onnx backend of ap-demucs: parity with demucs for every architecture, batching, the export cache."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("onnxruntime")

from test_demucs_separator import ArrayStream, Collect, demucs_api

from ap_demucs import onnx_runtime
from ap_demucs.onnx_separator import OnnxDemucsSeparator, load_onnx_separator
from ap_demucs.plugin import ap_separators
from ap_demucs.testing import save_model
from audio_playground.engine import run_separation
from audio_playground.errors import ModelError, UsageError
from audio_playground.specs import Separator


@pytest.fixture(scope="session")
def mix(mix: np.ndarray) -> np.ndarray:
    """The shared test mix cut to 3.2 s: three chunks of the tiny models, the last one short."""
    return mix[:, : int(3.2 * 44100)]


@pytest.fixture(scope="module")
def export_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-exports")


@pytest.fixture(autouse=True)
def shared_exports(offline_caches: Path, export_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One user cache of exported graphs for this module (the weight caches stay per test and empty)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(export_home))
    return export_home


def engine_run(separator: Separator, audio: np.ndarray) -> dict[str, np.ndarray]:
    sinks = {stem: Collect() for stem in separator.stems}
    assert run_separation(lambda: ArrayStream(audio), separator, sinks)["frames"] == audio.shape[1]
    return {stem: sink.audio for stem, sink in sinks.items()}


def specs() -> dict[str, Any]:
    return {spec.backend: spec for spec in ap_separators()}


def load_onnx(repo: Path, **options: Any) -> OnnxDemucsSeparator:
    separator = specs()["onnx"].load({"repo": repo, **options}, "cpu")
    assert isinstance(separator, OnnxDemucsSeparator)
    return separator


def biggest(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    assert set(a) == set(b)
    return max(float(np.abs(a[stem] - b[stem]).max()) for stem in a)


@pytest.mark.parametrize(
    ("model", "segment"),
    [("tiny4", None), ("tiny4", 1.5), ("tiny6", None), ("tinybag", None), ("tinyh4", None)],
)
def test_onnx_matches_demucs_api(repo: Path, mix: np.ndarray, model: str, segment: float | None) -> None:
    ours = engine_run(load_onnx(repo, model=model, shifts=0, segment=segment), mix)
    assert biggest(ours, demucs_api(repo, model, mix, segment)) < 1e-4


def test_time_domain_demucs_matches_the_pytorch_path(repo: Path, mix: np.ndarray) -> None:
    # Both paths pad these chunks with zeros where demucs pads with neighbouring audio (see test_demucs_separator).
    ours = engine_run(load_onnx(repo, model="tinyd4", shifts=0), mix)
    torch_path = engine_run(specs()["pytorch"].load({"repo": repo, "model": "tinyd4", "shifts": 0}, "cpu"), mix)
    assert biggest(ours, torch_path) < 1e-4
    assert biggest(ours, demucs_api(repo, "tinyd4", mix, None)) < 1e-3


def test_shift_trick_and_two_stems_match_the_pytorch_path(repo: Path, mix: np.ndarray) -> None:
    options = {"repo": repo, "model": "tinybag", "shifts": 1, "two_stems": "vocals"}
    short = mix
    ours = engine_run(specs()["onnx"].load(options, "cpu"), short)
    torch_path = engine_run(specs()["pytorch"].load(options, "cpu"), short)
    assert set(ours) == {"vocals", "no_vocals"} and biggest(ours, torch_path) < 1e-4


@pytest.mark.parametrize(("model", "shifts"), [("tiny4", 0), ("tiny4", 1), ("tinyh4", 0)])
def test_batches_equal_batch_one(repo: Path, mix: np.ndarray, model: str, shifts: int) -> None:
    one = engine_run(load_onnx(repo, model=model, shifts=shifts), mix)
    three = load_onnx(repo, model=model, shifts=shifts, batch_size=3)
    assert three.batch_size == 3
    assert biggest(one, engine_run(three, mix)) < 1e-5


@pytest.mark.parametrize("model", ["tiny4", "tinyh4", "tinyd4"])
def test_onnxruntime_and_openvino_agree(repo: Path, mix: np.ndarray, model: str) -> None:
    pytest.importorskip("openvino")
    short = mix
    ours = engine_run(load_onnx(repo, model=model, shifts=0, runtime="onnxruntime"), short)
    assert load_onnx(repo, model=model, runtime="openvino").networks[0].runtime == "openvino"
    assert biggest(ours, engine_run(load_onnx(repo, model=model, shifts=0, runtime="openvino"), short)) < 1e-5
    torch_path = specs()["pytorch"].load({"repo": repo, "model": model, "shifts": 0}, "cpu")
    assert biggest(ours, engine_run(torch_path, short)) < 1e-4


def test_runtime_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib.util import find_spec

    cpu = ["CPUExecutionProvider"]
    installed = find_spec("openvino") is not None
    assert onnx_runtime.choose_runtime("auto", cpu) == ("openvino" if installed else "onnxruntime")
    assert onnx_runtime.choose_runtime("auto", ["CUDAExecutionProvider", *cpu]) == "onnxruntime"
    assert onnx_runtime.choose_runtime("onnxruntime", cpu) == "onnxruntime"
    with pytest.raises(UsageError, match="CPU only"):
        onnx_runtime.choose_runtime("openvino", ["CUDAExecutionProvider", *cpu])
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(UsageError, match="openvino is not installed"):
        onnx_runtime.choose_runtime("openvino", cpu)


def test_batch_size_is_validated_and_onnx_only(repo: Path) -> None:
    with pytest.raises(UsageError, match="--batch-size must be >= 1"):
        load_onnx(repo, model="tiny4", batch_size=0)
    with pytest.raises(UsageError, match="onnx backend only"):
        specs()["pytorch"].load({"repo": repo, "model": "tiny4", "batch_size": 2}, "cpu")
    with pytest.raises(UsageError, match="onnx backend's runtime"):
        specs()["pytorch"].load({"repo": repo, "model": "tiny4", "runtime": "openvino"}, "cpu")


def test_a_run_from_exported_networks_never_imports_torch(repo: Path, mix: np.ndarray, tmp_path: Path) -> None:
    load_onnx(repo, model="tiny4", shifts=0)  # exports into this test's cache
    np.save(tmp_path / "chunk.npy", mix[:, : 2 * 44100])
    code = (
        "import sys, numpy as np\n"
        "from ap_demucs.plugin import ap_separators\n"
        "spec = [s for s in ap_separators() if s.backend == 'onnx'][0]\n"
        f"sep = spec.load({{'repo': {str(repo)!r}, 'model': 'tiny4', 'shifts': 0, 'threads': 1}}, 'cpu')\n"
        f"out = sep.separate(np.load({str(tmp_path / 'chunk.npy')!r}))\n"
        "print(sorted(out), 'torch' in sys.modules, 'demucs' in sys.modules)\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert run.stdout.split("] ")[1].split() == ["False", "False"], run.stdout


def test_corrupt_export_is_found_by_hash_and_exported_again(repo: Path, mix: np.ndarray) -> None:
    first = load_onnx(repo, model="tinyh4", shifts=0)
    exports = first.networks[0].exports
    manifest = json.loads((exports.folder / "manifest.json").read_text())
    graph = manifest["networks"][0]["graphs"][manifest["networks"][0]["default"]]
    path = exports.folder / graph["file"]
    path.write_bytes(path.read_bytes()[:1000])  # a truncated download, a disk error
    again = load_onnx(repo, model="tinyh4", shifts=0)
    assert onnx_runtime._sha256(path) == graph["sha256"]
    chunk = mix[:, : again.plan.frames]
    assert biggest(first.separate(chunk), again.separate(chunk)) == 0.0


def test_a_new_chunk_length_gets_its_own_graph(repo: Path, mix: np.ndarray) -> None:
    separator = load_onnx(repo, model="tinyh4", shifts=0)
    network = separator.networks[0]
    separator.separate(mix[:, :30011])  # a length no chunk of the mix has
    assert {separator.plan.frames, 30011} <= set(map(int, network.exports.manifest["networks"][0]["graphs"]))


def test_an_export_that_fails_falls_back_to_pytorch(repo: Path, tmp_path: Path) -> None:
    from demucs.hdemucs import HDemucs

    from audio_playground import api

    local = tmp_path / "repo"
    save_model(HDemucs(["drums", "bass", "other", "vocals"], channels=4, segment=2, cac=False), local / "wiener.th")
    warnings: list[str] = []
    loaded = api.load(
        "demucs", backend="auto", options={"repo": local, "model": "wiener"}, device="cpu", warn=warnings.append
    )
    assert loaded.spec.backend == "pytorch"
    assert len(warnings) == 1 and "Wiener filtering" in warnings[0] and "falling back to pytorch" in warnings[0]
    with pytest.raises(ModelError, match="has no ONNX export here"):
        load_onnx_separator({"repo": local, "model": "wiener"}, "cpu")


def test_without_onnxruntime_the_load_says_how_to_install(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "onnxruntime" else real(name, *a))
    with pytest.raises(ModelError, match="onnxruntime is not installed") as info:
        load_onnx_separator({"repo": repo, "model": "tiny4"}, "cpu")
    assert "ap-demucs[onnx]" in str(info.value.hint)


def test_execution_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    cpu = ["CPUExecutionProvider"]
    assert onnx_runtime.providers_for("cpu", cpu) == cpu
    assert onnx_runtime.providers_for("cuda:1", ["CUDAExecutionProvider", *cpu])[0] == (
        "CUDAExecutionProvider",
        {"device_id": 1},
    )
    assert onnx_runtime.providers_for("auto", ["CUDAExecutionProvider", *cpu]) == ["CUDAExecutionProvider", *cpu]
    with pytest.raises(UsageError, match="not available to onnxruntime"):
        onnx_runtime.providers_for("cuda", cpu)
    with pytest.raises(UsageError, match="not supported on the onnx backend"):
        onnx_runtime.providers_for("mps", cpu)
    monkeypatch.setattr(onnx_runtime, "gpu_visible", lambda: True)
    with pytest.raises(ModelError, match="PyTorch is faster"):
        onnx_runtime.providers_for("auto", cpu)
    monkeypatch.setattr(onnx_runtime, "gpu_visible", lambda: False)
    assert onnx_runtime.providers_for("auto", cpu) == cpu


def test_session_memory_options() -> None:
    options = onnx_runtime.session_options(2)
    assert not options.enable_cpu_mem_arena and not options.enable_mem_pattern
    assert options.intra_op_num_threads == 2


def test_cli_backends_agree(repo: Path, mix: np.ndarray, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import soundfile as sf

    from audio_playground.cli import run
    from audio_playground.plugins import reset_plugin_manager

    monkeypatch.setenv("AUDIO_PLAYGROUND_LOAD_PLUGINS", "demucs")
    reset_plugin_manager()
    song = tmp_path / "song.wav"
    sf.write(song, mix.T, 44100, subtype="FLOAT")
    stems = {}
    for backend in ("onnx", "pytorch"):
        args = ["-q", "--device", "cpu", "extract", "demucs", str(song), "-o", str(tmp_path / backend)]
        args += ["--repo", str(repo), "--model", "tiny4", "--shifts", "0", "--no-cache", "--backend", backend]
        assert run([*args, "--batch-size", "2"] if backend == "onnx" else args) == 0
        stems[backend] = {p.name: sf.read(p, dtype="float32")[0] for p in (tmp_path / backend).iterdir()}
    reset_plugin_manager()
    assert sorted(stems["onnx"]) == ["bass-demucs.wav", "drums-demucs.wav", "other-demucs.wav", "vocals-demucs.wav"]
    assert biggest(stems["onnx"], stems["pytorch"]) < 1e-4


def test_bad_options_and_chunks_are_one_line_errors(repo: Path, mix: np.ndarray, tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="longer than the 2 s Demucs model"):
        load_onnx(repo, model="tiny4", segment=3.0)
    with pytest.raises(ModelError, match="has no such stem"):
        load_onnx(repo, model="tiny4", two_stems="flute")
    with pytest.raises(UsageError, match="leaves no chunk"):
        load_onnx(repo, model="tiny4", segment=1e-5, overlap=0.5)
    separator = load_onnx(repo, model="tiny4", shifts=0)
    with pytest.raises(ModelError, match=r"takes \(2, frames\) audio"):
        separator.separate(mix[:1])
    with pytest.raises(ModelError, match="longer than Demucs model tiny4 accepts"):
        separator.separate(np.zeros((2, separator.plan.frames + 1), np.float32))


def test_bag_members_must_share_a_segment(repo: Path, tmp_path: Path) -> None:
    import shutil

    from demucs.htdemucs import HTDemucs

    from ap_demucs.testing import write_bag

    local = tmp_path / "repo"
    local.mkdir()
    shutil.copy(repo / "tiny4.th", local / "tiny4.th")
    save_model(HTDemucs(["drums", "bass", "other", "vocals"], channels=8, t_layers=1, segment=1), local / "short.th")
    write_bag(local / "mixed.yaml", ["tiny4", "short"])
    with pytest.raises(ModelError, match="use different segments"):
        load_onnx(local, model="mixed")
    assert load_onnx(local, model="mixed", segment=1.0, shifts=0).plan.frames == 44100


def test_spectral_helpers_match_demucs() -> None:
    import torch
    from demucs.demucs import Demucs
    from demucs.hdemucs import HDemucs, pad1d
    from demucs.utils import center_trim

    from ap_demucs import spectral
    from ap_demucs.onnx_export import member_meta

    x = torch.randn(2, 2, 700)
    for mode in ("reflect", "constant"):
        theirs = pad1d(x, (1000, 1200), mode=mode).numpy()
        np.testing.assert_allclose(spectral.pad1d(x.numpy(), 1000, 1200, mode), theirs, atol=1e-6)
    for kwargs in ({"hybrid": False}, {"hybrid_old": True}):
        model = HDemucs(["a", "b"], channels=4, segment=2, **kwargs)
        meta = member_meta(model)
        for n in (4410, 5000):
            audio = torch.randn(1, 2, n)
            z = model._spec(audio)
            np.testing.assert_allclose(spectral.spec(audio.numpy(), meta), z.numpy(), atol=1e-5)
            back = spectral.ispec(z.numpy(), n, meta)
            np.testing.assert_allclose(back, model._ispec(z, n).numpy(), atol=1e-5)
    plain = Demucs(["a", "b"], channels=4, depth=3, resample=False, segment=1)
    meta = member_meta(plain)
    assert [spectral.time_valid_length(n, meta) for n in (1, 999, 44100)] == [
        plain.valid_length(n) for n in (1, 999, 44100)
    ]
    y = torch.randn(1, 9)
    np.testing.assert_array_equal(spectral.center_trim(y.numpy(), 4), center_trim(y, 4).numpy())
    with pytest.raises(ValueError, match="cannot trim"):
        spectral.center_trim(y.numpy(), 10)
    np.testing.assert_allclose(spectral.istft(np.ones((1, 5, 2), complex), 3, 12)[..., 8:], 0.0, atol=1e-12)
