"""Discovery, the spec's loader, the `ap` command line with the plugin installed, and the tiny-model writer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ap_sam_torch.testing as testing
from ap_sam_torch.model import TorchSamModel
from audio_playground.cli import run
from audio_playground.errors import PluginError, UsageError
from audio_playground.prompted import PromptedSeparator, sam_audio_options
from audio_playground.specs import SeparatorSpec


def spec() -> SeparatorSpec:
    from ap_sam_torch.plugin import ap_separators

    (found,) = ap_separators()
    return found


def write_mix(path: Path, frames: int = 24000, rate: int = 16000) -> Path:
    import soundfile as sf

    rng = np.random.default_rng(0)
    sf.write(path, (0.1 * rng.standard_normal((frames, 2))).astype(np.float32), rate)
    return path


def test_the_spec_describes_sam_audio_on_pytorch() -> None:
    found = spec()
    assert (found.name, found.backend, found.prompted, found.suffix, found.plugin) == (
        "sam-audio",
        "pytorch",
        True,
        "sam",
        "ap-sam-torch",
    )
    assert found.options == sam_audio_options()
    assert found.file_suffix == "sam" and found.stems == ()


def test_the_entry_point_registers_the_plugin() -> None:
    from audio_playground.backends import all_separators
    from audio_playground.plugins import build_plugin_manager

    pm = build_plugin_manager()
    record = next(r for r in pm.records if r.name == "sam_torch")
    assert record.distribution == "ap-sam-torch" and record.error is None
    assert record.hooks == ["ap_separators"]
    assert [s.backend for s in all_separators(pm)["sam-audio"]] == ["pytorch"]


def test_discovery_imports_no_model_library() -> None:
    code = (
        "import sys; from ap_sam_torch.plugin import ap_separators; ap_separators(); "
        "heavy = [m for m in ('torch', 'sam_audio', 'transformers', 'huggingface_hub') if m in sys.modules]; "
        "print(heavy)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_load_through_the_spec(tiny_model: Path) -> None:
    sep = spec().load(
        {
            "model": str(tiny_model),
            "prompts": ("dog barking, car horn",),
            "chunk_duration": 0.25,
            "chunk_overlap": 0.05,
            "solver": "euler",
            "solver_steps": 1,
            "streaming": True,
        },
        "auto",
    )
    out = sep.separate(np.zeros((2, 12000), np.float32))
    assert sep.stems == ("dog_barking", "car_horn") and sep.sample_rate == 48000 and sep.channels == 1
    assert {k: v.shape for k, v in out.items()} == {"dog_barking": (1, 12000), "car_horn": (1, 12000)}
    assert isinstance(sep, PromptedSeparator) and isinstance(sep.model, TorchSamModel)
    assert sep.model.decode_frames == 100


def test_bad_prompts_fail_before_the_model_loads() -> None:
    with pytest.raises(UsageError, match="empty prompt"):
        spec().load({"model": "/nowhere/at/all", "prompts": ("bass,,drums",)}, "cpu")


def test_missing_sam_audio_through_the_spec(tiny_model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sam_audio.model.model", None)  # the model is resolved first: one on disk
    with pytest.raises(PluginError, match=r"pip install 'ap-sam-torch\[upstream\]'"):
        spec().load({"model": str(tiny_model), "prompts": ("bass",)}, "cpu")


def test_cli_extracts_every_prompt_and_the_chain_residual(tiny_model: Path, tmp_path: Path) -> None:
    import soundfile as sf

    source = write_mix(tmp_path / "mix.wav")
    out = tmp_path / "out"
    code = run(
        [
            "extract",
            "sam-audio",
            str(source),
            "--output-dir",
            str(out),
            "--backend",
            "pytorch",
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
    assert report["model"] == "sam-audio/pytorch:tiny" and report["sample_rate"] == 48000
    assert report["prompts"] == 3 and report["text_encodes"] == 3
    assert report["codec_encodes"] == 3 * report["chunks"] and report["chunks"] == 2  # 1.5 s, 0.75 s hop


def test_cli_says_reranking_needs_a_ranker(
    tiny_model: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_mix(tmp_path / "mix.wav", frames=1600)
    options = ["--backend", "pytorch", "--model", str(tiny_model), "--reranking-candidates", "2"]
    code = run(["extract", "sam-audio", str(source), "-o", str(tmp_path / "o"), "--prompts", "bass", *options])
    assert code == 2
    assert "needs a text ranker" in capsys.readouterr().err


def test_cli_says_what_to_install_without_sam_audio(
    tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "sam_audio", None)
    source = write_mix(tmp_path / "mix.wav", frames=1600)
    args = ["extract", "sam-audio", str(source), "-o", str(tmp_path / "o"), "--prompts", "bass"]
    code = run([*args, "--model", str(tiny_model)])
    err = capsys.readouterr().err
    assert code == 1
    assert "sam_audio" in err and "pip install 'ap-sam-torch[upstream]'" in err


def test_the_tiny_model_writer(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "made"
    assert testing.main([str(target), "--seed", "1"]) == 0
    assert capsys.readouterr().out.strip() == str(target)
    assert sorted(p.name for p in target.iterdir()) == ["checkpoint.pt", "config.json", "text_encoder"]
    assert all(oct(p.stat().st_mode)[-3:] == "644" for p in (target / "text_encoder").iterdir())
    config = json.loads((target / "config.json").read_text())
    assert config["audio_codec"]["sample_rate"] == 48000 and config["span_predictor"] is None
    with pytest.raises(SystemExit) as info:
        testing.main([str(target)])
    assert info.value.code == 2 and "not empty" in capsys.readouterr().err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging folder left behind


def test_the_tiny_model_writer_cleans_up_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(folder: Path, seed: int) -> None:
        (folder / "partial").write_text("x")
        raise RuntimeError("disk full")

    monkeypatch.setattr(testing, "_build", fail)
    parent = tmp_path / "models"
    with pytest.raises(RuntimeError, match="disk full"):
        testing.write_tiny_model(parent / "made")
    assert list(parent.iterdir()) == []


def test_python_m_testing_runs(tmp_path: Path) -> None:
    target = tmp_path / "empty"
    target.mkdir()
    env = {**os.environ}
    result = subprocess.run(
        [sys.executable, "-m", "ap_sam_torch.testing", str(target)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(target) and (target / "checkpoint.pt").is_file()


def test_models_list_and_the_cache_identity(tiny_model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["models", "list", "--json", "--repo", str(tiny_model)]) == 0
    rows = [row for row in json.loads(capsys.readouterr().out) if row["backend"] == "pytorch"]
    assert [row["model"] for row in rows] == [
        "small",
        "base",
        "large",
        "small-tv",
        "base-tv",
        "large-tv",
        str(tiny_model),
    ]
    assert [row["available"] for row in rows] == [False] * 6 + [True]
    assert rows[0]["location"] == "facebook/sam-audio-small" and "gated" in rows[0]["note"]
    identity = spec().cache_identity
    assert identity is not None
    assert str(identity({"model": str(tiny_model)})).startswith(f"sam-audio/pytorch:{tiny_model}:")


def test_the_tiny_model_writer_fills_an_empty_folder(tmp_path: Path) -> None:
    target = tmp_path / "empty"
    target.mkdir()
    assert testing.write_tiny_model(target, seed=2) == target and (target / "checkpoint.pt").is_file()


def readme_smoke_test() -> list[list[str]]:
    """The README's smoke-test commands, each as its arguments (line continuations joined)."""
    import shlex

    text = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    block = text.split("A quick offline smoke test", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    lines = block.replace("\\\n", " ").splitlines()
    return [shlex.split(line, comments=True) for line in lines if line.strip() and not line.startswith("#")]


def test_the_readme_smoke_test_runs_and_two_runs_are_byte_identical(tmp_path: Path) -> None:
    write, extract = readme_smoke_test()
    assert write[:3] == ["python", "-m", "ap_sam_torch.testing"] and extract[:2] == ["ap", "extract"]
    model = tmp_path / Path(write[3]).name
    assert testing.main([str(model)]) == 0
    source = write_mix(tmp_path / "song.wav", frames=48000)  # 3 s: the smoke test separates the first
    outputs = []
    for run_dir in ("a", "b"):
        args = [str(source) if a == "song.mp3" else a for a in extract[1:]]
        args = [str(model) if a == write[3] else str(tmp_path / run_dir) if a == "/tmp/sam-smoke" else a for a in args]
        assert run(args) == 0
        outputs.append((tmp_path / run_dir / "bass-sam.wav").read_bytes())
    assert outputs[0] == outputs[1]  # the watermark follows the seed: byte-identical runs
