"""Discovery, the spec's loader, and the `ap` command line with the plugin installed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ap_sam_mlx.model import MlxSamModel
from audio_playground.cli import run
from audio_playground.errors import PluginError, UsageError
from audio_playground.prompted import PromptedSeparator, sam_audio_options
from audio_playground.specs import SeparatorSpec


def spec() -> SeparatorSpec:
    from ap_sam_mlx.plugin import ap_separators

    (found,) = ap_separators()
    return found


def test_the_spec_describes_sam_audio_on_mlx() -> None:
    found = spec()
    assert (found.name, found.backend, found.prompted, found.suffix, found.plugin) == (
        "sam-audio",
        "mlx",
        True,
        "sam",
        "ap-sam-mlx",
    )
    assert found.options == sam_audio_options()
    assert found.file_suffix == "sam" and found.stems == ()


def test_the_entry_point_registers_the_plugin() -> None:
    from audio_playground.backends import all_separators
    from audio_playground.plugins import build_plugin_manager

    pm = build_plugin_manager()
    record = next(r for r in pm.records if r.name == "sam_mlx")
    assert record.distribution == "ap-sam-mlx" and record.error is None
    assert record.hooks == ["ap_separators"]
    assert [s.backend for s in all_separators(pm)["sam-audio"]] == ["mlx"]


def test_discovery_imports_no_model_library() -> None:
    code = (
        "import sys; from ap_sam_mlx.plugin import ap_separators; ap_separators(); "
        "heavy = [m for m in ('mlx', 'mlx_audio', 'transformers', 'huggingface_hub', 'torch') if m in sys.modules]; "
        "print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_load_through_the_spec(tiny_model: Path) -> None:
    sep = spec().load(
        {
            "model": str(tiny_model),
            "prompts": ("dog barking, car horn",),
            "chunk_duration": 0.5,
            "chunk_overlap": 0.1,
            "solver": "euler",
            "solver_steps": 2,
            "streaming": True,
        },
        "cpu",
    )
    out = sep.separate(np.zeros((2, 4000), np.float32))
    assert sep.stems == ("dog_barking", "car_horn") and sep.sample_rate == 8000 and sep.channels == 1
    assert {k: v.shape for k, v in out.items()} == {"dog_barking": (1, 4000), "car_horn": (1, 4000)}
    assert isinstance(sep, PromptedSeparator) and isinstance(sep.model, MlxSamModel)
    assert sep.model.decode_frames == 50


def test_bad_prompts_fail_before_the_model_loads() -> None:
    with pytest.raises(UsageError, match="empty prompt"):
        spec().load({"model": "/nowhere/at/all", "prompts": ("bass,,drums",)}, "cpu")


def test_missing_mlx_is_one_line_saying_what_to_install(monkeypatch: pytest.MonkeyPatch, tiny_model: Path) -> None:
    monkeypatch.setitem(sys.modules, "mlx_audio.sts.models.sam_audio", None)
    with pytest.raises(PluginError) as info:  # the model is there (it is resolved first): mlx is what is missing
        spec().load({"model": str(tiny_model), "prompts": ("bass",)}, "cpu")
    message = str(info.value)
    assert "mlx backend cannot be imported" in message and "pip install 'mlx[cpu]'" in message
    assert "\n" not in message and info.value.exit_code == 1


def test_devices() -> None:
    import mlx.core as mx

    from ap_sam_mlx.model import use_device

    before = mx.default_device()
    try:
        use_device("auto")
        use_device("cpu")
        assert mx.default_device() == mx.cpu
        if not mx.is_available(mx.gpu):
            with pytest.raises(UsageError, match="no GPU"):
                use_device("cuda:0")
        with pytest.raises(UsageError, match="means nothing to MLX"):
            use_device("tpu")
    finally:
        mx.set_default_device(before)


def test_cli_extracts_every_prompt_and_the_chain_residual(tiny_model: Path, tmp_path: Path) -> None:
    import soundfile as sf

    source = tmp_path / "mix.wav"
    rng = np.random.default_rng(0)
    sf.write(source, (0.1 * rng.standard_normal((24000, 2))).astype(np.float32), 16000)
    out = tmp_path / "out"
    code = run(
        [
            "extract",
            "sam-audio",
            str(source),
            "--output-dir",
            str(out),
            "--prompts",
            "dog barking",
            "--prompts",
            "car horn,AC/DC",
            "--model",
            str(tiny_model),
            "--chunk-duration",
            "1",
            "--chunk-overlap",
            "0.25",
            "--solver",
            "euler",
            "--solver-steps",
            "2",
            "--chain-residuals",
            "--report",
            str(out / "r.json"),
        ]
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == [
        "AC_DC-sam.wav",
        "car_horn-sam.wav",
        "dog_barking-sam.wav",
        "other-sam.wav",
        "r.json",
    ]
    for name in ("AC_DC", "car_horn", "dog_barking", "other"):
        info = sf.info(out / f"{name}-sam.wav")
        assert (info.samplerate, info.channels, info.frames) == (16000, 2, 24000)
    report = json.loads((out / "r.json").read_text())
    assert report["prompts"] == 3 and report["text_encodes"] == 3
    assert report["codec_encodes"] == 3 * report["chunks"] and report["chunks"] == 2  # 1.5 s, 0.75 s hop


def test_cli_refuses_an_empty_prompt(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "mix.wav"
    import soundfile as sf

    sf.write(source, np.zeros((800, 1), np.float32), 8000)
    code = run(["extract", "sam-audio", str(source), "-o", str(tmp_path / "o"), "--prompts", " "])
    assert code == 2
    assert "empty prompt" in capsys.readouterr().err
