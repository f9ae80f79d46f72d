"""`python -m ap_sam_mlx.testing DIR`: the tiny model folder appears whole, or not at all."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from ap_sam_mlx.testing import main, write_tiny_model
from audio_playground.errors import UsageError


def test_the_command_writes_a_loadable_folder(tmp_path: Path) -> None:
    target = tmp_path / "models" / "m"
    result = subprocess.run(
        [sys.executable, "-m", "ap_sam_mlx.testing", str(target), "--sample-rate", "16000"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.strip() == str(target)
    names = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert names == [
        "config.json",
        "model.safetensors",
        "text_encoder/config.json",
        "text_encoder/model.safetensors",
        "text_encoder/tokenizer.json",
        "text_encoder/tokenizer_config.json",
    ]
    config = json.loads((target / "config.json").read_text())
    assert config["audio_codec"]["sample_rate"] == 16000 and config["transformer"]["n_layers"] == 1
    assert sum(p.stat().st_size for p in target.rglob("*") if p.is_file()) < 1_000_000
    assert [p.name for p in target.parent.iterdir()] == ["m"]  # no staging folder left


def test_main_refuses_a_folder_with_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(SystemExit) as info:
        main([str(tmp_path / "full")])
    assert info.value.code == 2
    assert "the folder exists and is not empty" in capsys.readouterr().err


def test_an_empty_folder_is_filled(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty"), "--seed", "3"]) == 0
    assert (tmp_path / "empty" / "text_encoder" / "tokenizer.json").is_file()
    assert capsys.readouterr().out.strip() == str(tmp_path / "empty")


def test_bad_values_leave_nothing_behind(tmp_path: Path) -> None:
    where = tmp_path / "models"
    with pytest.raises(UsageError, match="--sample-rate"):
        write_tiny_model(where / "slow", sample_rate=100)
    with pytest.raises(UsageError, match="--seed"):
        write_tiny_model(where / "negative", seed=-1)
    with pytest.raises((TypeError, OverflowError)):  # mlx refuses a seed past 64 bits, mid-build
        write_tiny_model(where / "huge", seed=2**70)
    assert not where.exists() or not any(where.iterdir())
