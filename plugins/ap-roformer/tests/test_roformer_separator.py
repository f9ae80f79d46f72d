"""The separator through the core's engine: parity with one forward pass and with a plain overlap-add."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch

from ap_roformer.checkpoint import ModelFiles, load_network
from ap_roformer.separator import RoformerSeparator, chunk_plan, load_separator, resolve_device
from ap_roformer.testing import tiny_bs_config, tiny_mel_config, write_model
from audio_playground.engine import separate_array
from audio_playground.errors import ModelError, UsageError


def separator(models: dict[str, tuple[Path, Path]], name: str) -> RoformerSeparator:
    return load_separator({"model": models[name][0], "config": models[name][1]}, "cpu")


def forward(network: torch.nn.Module, audio: np.ndarray) -> np.ndarray:
    """The network on a whole (channels, n) clip, once: (stems, channels, n)."""
    with torch.inference_mode():
        out = network(torch.from_numpy(np.ascontiguousarray(audio))[None])[0].numpy()
    return out[None] if out.ndim == 2 else out


def test_plan_and_stems_come_from_the_config(models: dict[str, tuple[Path, Path]]) -> None:
    bs = separator(models, "tiny_bs")
    assert (bs.sample_rate, bs.channels, bs.stems, bs.name) == (44100, 2, ("vocals", "other"), "tiny_bs")
    assert (bs.plan.frames, bs.plan.hop, bs.plan.pad_short, bs.plan.every_hop) == (22050, 11025, False, False)
    window = bs.plan.window
    assert window.min() > 0 and window[len(window) // 2] == 1.0 and window[0] < 0.01
    mel = separator(models, "tiny_mel")
    assert mel.stems == ("bass", "drums", "other", "vocals")


@pytest.mark.parametrize("name", ["tiny_bs", "tiny_mel"])
def test_a_clip_shorter_than_a_chunk_equals_one_forward_pass(
    models: dict[str, tuple[Path, Path]], mix: np.ndarray, name: str
) -> None:
    sep = separator(models, name)
    clip = mix[:, : 441 * 40]  # shorter than the 22050-frame chunk, whole STFT hops: no padding at all
    ours = separate_array(clip, sep)
    reference = forward(sep.network, clip)
    for k, stem in enumerate(sep.config.model_stems):
        assert np.max(np.abs(ours[stem] - reference[k])) <= 1e-5, stem
    if name == "tiny_bs":
        assert np.max(np.abs(ours["other"] - (clip - reference[0]))) <= 1e-5


def plain_overlap_add(
    network: torch.nn.Module, audio: np.ndarray, size: int, hop: int, window: np.ndarray
) -> np.ndarray:
    """A straightforward whole-track overlap-add: every chunk start, weighted sums, divided by the weights."""
    n = audio.shape[1]
    starts = [0]
    while starts[-1] + size < n:
        starts.append(starts[-1] + hop)
    total: np.ndarray | None = None
    weights = np.zeros(n)
    for start in starts:
        piece = audio[:, start : start + size]
        length = piece.shape[1]
        padded = -(-length // 441) * 441
        out = forward(network, np.pad(piece, ((0, 0), (0, padded - length))))[..., :length]
        if total is None:
            total = np.zeros((out.shape[0], audio.shape[0], n))
        total[..., start : start + length] += out * window[:length]
        weights[start : start + length] += window[:length]
    assert total is not None
    return total / weights


@pytest.mark.parametrize("name", ["tiny_bs", "tiny_mel"])
def test_a_longer_clip_equals_a_plain_overlap_add(
    models: dict[str, tuple[Path, Path]], mix: np.ndarray, name: str
) -> None:
    sep = separator(models, name)
    clip = mix[:, : int(1.2 * 44100) + 123]  # several chunks, a ragged end
    ours = separate_array(clip, sep)
    reference = plain_overlap_add(sep.network, clip, sep.plan.frames, sep.plan.hop, sep.plan.window)
    for k, stem in enumerate(sep.config.model_stems):
        assert ours[stem].shape == clip.shape
        assert np.max(np.abs(ours[stem] - reference[k])) <= 1e-4, stem


def test_normalize_uses_the_whole_input_statistics(
    models: dict[str, tuple[Path, Path]], mix: np.ndarray, tmp_path: Path
) -> None:
    config = tiny_bs_config()
    config["inference"]["normalize"] = True
    checkpoint, config_path = write_model(tmp_path, "norm", config)
    sep = load_separator({"model": checkpoint, "config": config_path}, "cpu")
    assert sep.needs_stats
    clip = mix[:, : 441 * 40]
    sep.set_stats(0.1, 2.0)
    out = sep.separate(clip)
    expected = forward(sep.network, (clip - 0.1) / 2.0)[0] * 2.0 + 0.1
    assert np.max(np.abs(out["vocals"] - expected)) <= 1e-5
    sep.set_stats(0.0, 0.0)  # silence: no division by zero
    assert sep.std == 1.0


def test_a_mono_model_and_short_tails(tmp_path: Path, mix: np.ndarray) -> None:
    config = tiny_bs_config(chunk_size=4410)
    config["model"]["stereo"] = False
    config["audio"]["num_channels"] = 1
    config["inference"]["num_overlap"] = 1
    checkpoint, config_path = write_model(tmp_path, "mono", copy.deepcopy(config))
    sep = load_separator({"model": checkpoint, "config": config_path}, "cpu")
    assert sep.channels == 1 and sep.plan.hop == sep.plan.frames == 4410
    clip = mix[:1, : 4410 + 100]  # the last chunk is 100 frames: shorter than the STFT window
    out = separate_array(clip, sep)
    assert out["vocals"].shape == (1, 4510) and np.isfinite(out["vocals"]).all()
    assert chunk_plan(sep.config).hop == 4410


def test_wrong_input_and_device_failures(models: dict[str, tuple[Path, Path]]) -> None:
    sep = separator(models, "tiny_bs")
    with pytest.raises(ModelError, match=r"takes \(2, frames\) audio"):
        sep.separate(np.zeros((1, 100), np.float32))
    with pytest.raises(ModelError, match=r"takes \(2, frames\) audio"):
        sep.separate(np.zeros((2, 0), np.float32))
    network, config = load_network(ModelFiles(*models["tiny_bs"]))
    broken = RoformerSeparator(network, config, "tiny_bs", "meta")  # tensors without data: forward fails
    with pytest.raises(ModelError, match="RoFormer tiny_bs failed on a 4410-frame chunk on meta"):
        broken.separate(np.zeros((2, 4410), np.float32))


def test_devices() -> None:
    assert resolve_device(None) == resolve_device("auto") == ("cuda" if torch.cuda.is_available() else "cpu")
    assert resolve_device("CPU") == "cpu"
    with pytest.raises(UsageError, match="unknown device"):
        resolve_device("gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="torch sees no CUDA GPU"):
            resolve_device("cuda:0")
    with pytest.raises(UsageError, match="not available on this machine"):
        resolve_device("mps")
    with pytest.raises(UsageError, match="not supported by ap-roformer"):
        resolve_device("meta")


def test_tiny_configs_have_the_published_sections() -> None:
    for config in (tiny_bs_config(), tiny_mel_config()):
        assert set(config) == {"audio", "model", "training", "inference"}
        assert config["audio"]["sample_rate"] == 44100 and config["inference"]["num_overlap"] == 2
