"""Discovery and the real commands: `ap extract roformer`, bad input as one line with exit 2, `ap models list`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from roformer_helpers import write_audio

import ap_roformer
from ap_roformer import plugin, testing
from ap_roformer.options import cache_identity, list_models
from audio_playground.errors import ExitStatus


def test_spec_and_entry_point() -> None:
    (spec,) = plugin.ap_separators()
    assert (spec.name, spec.backend, spec.suffix, spec.plugin, spec.models_dir) == (
        "roformer",
        "pytorch",
        "roformer",
        "ap-roformer",
        "roformer_dir",
    )
    assert [option.name for option in spec.options] == ["model", "config"]
    assert not spec.prompted and spec.cache_identity is cache_identity and spec.models is list_models
    found = [ep for ep in entry_points(group="audio_playground") if ep.name == "roformer"]
    assert found and found[0].load() is plugin
    assert ap_roformer.__version__ == "0.1.0"


def test_discovery_and_listing_do_not_import_torch(models: dict[str, tuple[Path, Path]]) -> None:
    folder = models["tiny_bs"][0].parent
    code = (
        "import sys; from ap_roformer.plugin import ap_separators; spec = ap_separators()[0]; "
        f"infos = spec.models({{'repo': {str(folder)!r}}}); assert len(infos) == 2, infos; "
        "heavy = [m for m in ('torch', 'bs_roformer', 'numpy') if m in sys.modules]; assert not heavy, heavy"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_extract_writes_the_config_stems(
    ap, models: dict[str, tuple[Path, Path]], mix: np.ndarray, tmp_path: Path
) -> None:
    song = write_audio(tmp_path / "song.flac", mix)
    checkpoint, config = models["tiny_bs"]
    result = ap("extract", "roformer", song, "--model", checkpoint, "--config", config, "-o", tmp_path / "out")
    assert result.code == 0, result.err
    written = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert written == ["other-roformer.wav", "vocals-roformer.wav"]
    vocals, rate = sf.read(tmp_path / "out" / "vocals-roformer.wav", always_2d=True)
    other, _ = sf.read(tmp_path / "out" / "other-roformer.wav", always_2d=True)
    assert rate == 44100 and vocals.shape == (mix.shape[1], 2)
    # the residual is the mix minus the target, to the 16-bit rounding of each file
    decoded, _ = sf.read(song, always_2d=True)
    assert np.max(np.abs(vocals + other - decoded)) < 5e-4


def test_extract_from_a_folder_with_the_pair(
    ap, models: dict[str, tuple[Path, Path]], mix: np.ndarray, tmp_path: Path
) -> None:
    folder = tmp_path / "mel"
    folder.mkdir()
    for path in models["tiny_mel"]:
        shutil.copy(path, folder / path.name)
    song = write_audio(tmp_path / "song.wav", mix[:, : 441 * 30])
    result = ap("extract", "roformer", song, "--model", folder, "-o", tmp_path / "out", "--no-cache")
    assert result.code == 0, result.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        f"{stem}-roformer.wav" for stem in ("bass", "drums", "other", "vocals")
    ]


def one_line_usage_error(ap, tmp_path: Path, *args: str | Path) -> str:
    song = write_audio(tmp_path / "song.wav", np.zeros((2, 4410), np.float32))
    result = ap("extract", "roformer", song, *args, "-o", tmp_path / "out")
    assert result.code == ExitStatus.USAGE, result.err
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.err, result.err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    return lines[0]


def test_a_checkpoint_without_its_config(ap, models: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    lonely = tmp_path / "lonely.ckpt"
    shutil.copy(models["tiny_bs"][0], lonely)
    (tmp_path / "a.yaml").write_text("x: 1\n")
    (tmp_path / "b.yaml").write_text("x: 1\n")
    line = one_line_usage_error(ap, tmp_path, "--model", lonely)
    assert str(lonely) in line and "checkpoint without its config" in line


def test_an_unknown_architecture(ap, models: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    config = tmp_path / "demucs.yaml"
    config.write_text("model_type: htdemucs\nmodel: {dim: 4}\n")
    line = one_line_usage_error(ap, tmp_path, "--model", models["tiny_bs"][0], "--config", config)
    assert str(config) in line and "unknown architecture 'htdemucs'" in line


def test_keys_that_do_not_fit(ap, models: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    line = one_line_usage_error(ap, tmp_path, "--model", models["tiny_bs"][0], "--config", models["tiny_mel"][1])
    assert str(models["tiny_bs"][0]) in line and "do not fit" in line


class Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def test_a_malicious_checkpoint_is_refused(ap, models: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    evil = tmp_path / "evil.ckpt"
    state = torch.load(models["tiny_bs"][0], weights_only=True)
    torch.save({"state_dict": state, "extra": Payload(marker)}, evil)
    line = one_line_usage_error(ap, tmp_path, "--model", evil, "--config", models["tiny_bs"][1])
    assert "refused: this checkpoint needs a full unpickle" in line and "system" in line
    assert not marker.exists()


def test_cache_identity(models: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    checkpoint, config = models["tiny_bs"]
    key = cache_identity({"model": checkpoint, "config": config})
    assert key is not None and key.startswith("roformer:bs_roformer:")
    moved = tmp_path / "elsewhere.ckpt"
    shutil.copy(checkpoint, moved)
    assert cache_identity({"model": moved, "config": config}) == key  # the bytes count, not the place
    assert cache_identity({"model": tmp_path / "missing.ckpt"}) is None


def test_models_list_shows_the_checkpoints_with_their_stems(
    ap, models: dict[str, tuple[Path, Path]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = models["tiny_bs"][0].parent
    monkeypatch.setenv("AUDIO_PLAYGROUND_ROFORMER_DIR", str(folder))
    result = ap("models", "list")
    assert result.code == 0, result.err
    assert "tiny_bs  stems: vocals, other" in result.out and "BS-RoFormer, config tiny_bs.yaml" in result.out
    assert "tiny_mel  stems: bass, drums, other, vocals" in result.out
    rows = [r for r in json.loads(ap("models", "list", "--json").out) if r["separator"] == "roformer"]
    assert {r["model"]: r["stems"] for r in rows} == {
        "tiny_bs": ["vocals", "other"],
        "tiny_mel": ["bass", "drums", "other", "vocals"],
    }
    assert all(r["available"] for r in rows)


def test_models_list_reports_what_is_wrong(models: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    extra = tmp_path / "extra"
    extra.mkdir()
    shutil.copy(models["tiny_bs"][0], extra / "lonely.ckpt")
    shutil.copy(models["tiny_bs"][0], extra / "broken.ckpt")
    (extra / "broken.yaml").write_text("model: {dim: 4}\n")
    (extra / "other.yaml").write_text("model: {dim: 4}\n")
    infos = {info.name: info for info in list_models({"repo": extra, "models_dir": extra})}
    assert not infos["lonely"].available and "no config" in infos["lonely"].note
    assert not infos["broken"].available and "unknown architecture" in infos["broken"].note
    missing = list_models({"repo": tmp_path / "nope"})
    assert [(m.available, m.note) for m in missing] == [(False, "not a folder")]
    (hint,) = list_models({})
    assert "roformer_dir" in hint.note and hint.available


def test_testing_module_writes_both_architectures(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert testing.main([str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert "tiny_bs\t" in out and "tiny_mel\t" in out
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "tiny_bs.ckpt",
        "tiny_bs.yaml",
        "tiny_mel.ckpt",
        "tiny_mel.yaml",
    ]


def test_help_and_the_settings_file_before_the_command(
    ap, models: dict[str, tuple[Path, Path]], mix: np.ndarray, tmp_path: Path
) -> None:
    help_text = ap("extract", "roformer", "--help").out
    assert "--model" in help_text and "--config" in help_text and "Stems: named by the model" in help_text
    settings = tmp_path / "settings.toml"
    settings.write_text('output_format = "flac"\n')
    song = write_audio(tmp_path / "song.wav", mix[:, : 441 * 30])
    checkpoint, config = models["tiny_bs"]
    args = ["extract", "roformer", song, "--model", checkpoint, "--config", config, "-o", tmp_path / "out"]
    result = ap("--config", settings, *args)
    assert result.code == 0, result.err
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["other-roformer.flac", "vocals-roformer.flac"]
