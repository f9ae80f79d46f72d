"""`python -m ap_demucs.testing DIR`: a repo of random-weight models that demucs itself loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ap_demucs.testing import full_htdemucs, main, save_model, tiny_htdemucs


def test_main_writes_a_repo_demucs_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from demucs.apply import BagOfModels
    from demucs.htdemucs import HTDemucs
    from demucs.pretrained import get_model

    assert main([str(tmp_path / "repo"), "--seed", "3"]) == 0
    listed = dict(line.split("\t") for line in capsys.readouterr().out.splitlines())
    assert set(listed) == {"tiny4", "tiny4b", "tiny6", "tinyd4", "tinyh4", "tinybag"}
    assert sorted(p.name for p in (tmp_path / "repo").iterdir()) == [
        "tiny4.th",
        "tiny4b.th",
        "tiny6.th",
        "tinybag.yaml",
        "tinyd4.th",
        "tinyh4.th",
    ]
    model = get_model("tiny6", repo=tmp_path / "repo")
    assert isinstance(model, HTDemucs) and len(model.sources) == 6
    bag = get_model("tinybag", repo=tmp_path / "repo")
    assert isinstance(bag, BagOfModels) and len(bag.models) == 2


def test_seeded_weights_are_reproducible(tmp_path: Path) -> None:
    a = save_model(tiny_htdemucs(seed=5), tmp_path / "a.th")
    b = save_model(tiny_htdemucs(seed=5), tmp_path / "b.th")
    import torch

    state_a = torch.load(a, weights_only=False)["state"]
    state_b = torch.load(b, weights_only=False)["state"]
    assert all(torch.equal(state_a[key], state_b[key]) for key in state_a)
    assert not list(tmp_path.glob(".*.tmp"))


def test_full_size_architecture() -> None:
    model = full_htdemucs()
    assert sum(p.numel() for p in model.parameters()) == 41_984_456
    assert int(model.samplerate * model.segment) == 343_980


def test_module_runs_as_a_script(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ap_demucs.testing", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and "--full" in result.stdout
