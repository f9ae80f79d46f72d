"""Shared fixtures: a repo of tiny random-weight demucs models, isolated offline caches, a test mix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from ap_demucs.testing import write_test_repo

SR = 44100


@pytest.fixture(scope="session")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A local repo written by `ap_demucs.testing` (tiny4, tiny4b, tiny6, tinyd4, tinyh4, tinybag)."""
    root = tmp_path_factory.mktemp("demucs-repo")
    write_test_repo(root)
    return root


@pytest.fixture(autouse=True)
def offline_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Empty torch hub and Hugging Face caches, downloads off: no test can see real weights or the network."""
    home = tmp_path / "cache-home"
    monkeypatch.setenv("XDG_CACHE_HOME", str(home))
    monkeypatch.setenv("TORCH_HOME", str(home / "torch"))
    monkeypatch.setenv("HF_HOME", str(home / "huggingface"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    yield home


@pytest.fixture(scope="session")
def mix() -> np.ndarray:
    """About 5 s of 44.1 kHz stereo: tones plus seeded noise, float32 (2, frames)."""
    import torch

    torch.manual_seed(0)
    frames = int(5.1 * SR)
    t = torch.arange(frames) / SR
    tones = 0.3 * torch.sin(2 * torch.pi * 220 * t) + 0.2 * torch.sin(2 * torch.pi * 57 * t) ** 3
    noise = 0.1 * torch.randn(2, frames)
    return (tones[None] + noise).numpy().astype(np.float32)
