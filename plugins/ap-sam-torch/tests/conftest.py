"""Shared fixtures: the sam_audio stand-in on the path, offline Hugging Face in an empty cache, one tiny model.

Meta's sam_audio needs torchaudio, which cannot be installed here: tests/standin/sam_audio follows its API with
tiny real torch modules, and goes first on sys.path (and PYTHONPATH, for subprocesses). With
AP_SAM_TORCH_UPSTREAM=1 the suite runs against the sam_audio that is installed (Meta's) instead.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from audio_playground.plugins import reset_plugin_manager

UPSTREAM = os.environ.get("AP_SAM_TORCH_UPSTREAM") == "1"
STANDIN = Path(__file__).parent / "standin"
if not UPSTREAM:
    sys.path.insert(0, str(STANDIN))


@pytest.fixture(autouse=True)
def offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Each test: no network, an empty Hugging Face cache, its own working folder, no stray settings."""
    from huggingface_hub import constants

    for key in list(os.environ):
        if key.startswith("AUDIO_PLAYGROUND_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("AUDIO_PLAYGROUND_LOAD_PLUGINS", "sam_torch")
    monkeypatch.setenv("AUDIO_PLAYGROUND_CACHE_DIR", str(tmp_path / "ap-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    if not UPSTREAM:
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(STANDIN), os.environ.get("PYTHONPATH")])))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    reset_plugin_manager()
    yield cache
    reset_plugin_manager()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SAM-Audio folder written by `ap_sam_torch.testing` (48 kHz, hop 480, one DiT layer)."""
    from ap_sam_torch.testing import write_tiny_model

    return write_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny(tiny_model: Path) -> Any:
    """The tiny model loaded once as a TorchSamModel on the CPU (separators over it are cheap to make)."""
    from ap_sam_torch.model import load_model

    return load_model(str(tiny_model))
