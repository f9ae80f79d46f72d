"""Checkpoints: the published layout saves and loads, safe loading refuses pickled code, keys must fit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from ap_roformer import checkpoint as ckpt
from ap_roformer.checkpoint import (
    CheckpointError,
    ModelFiles,
    build_network,
    identity,
    load_network,
    read_state,
    resolve_files,
    to_package_keys,
)
from ap_roformer.configs import ConfigFileError, load_config
from ap_roformer.testing import tiny_bs_config, write_config, write_model
from audio_playground.errors import ExitStatus


def test_saved_in_the_published_layout_and_loaded_back(models: dict[str, tuple[Path, Path]]) -> None:
    for name, (checkpoint, config_path) in models.items():
        state = torch.load(checkpoint, map_location="cpu", weights_only=True)
        assert all(isinstance(v, torch.Tensor) for v in state.values()), name
        network, config = load_network(ModelFiles(checkpoint, config_path))
        assert not network.training
        loaded = network.state_dict()
        for key, value in to_package_keys(state, config).items():
            assert torch.equal(loaded[key], value), key


def test_mel_band_layers_are_renumbered(models: dict[str, tuple[Path, Path]]) -> None:
    checkpoint, config_path = models["tiny_mel"]
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    # Music-Source-Separation-Training keeps [time, freq] per layer without linear attention ...
    assert "layers.0.0.layers.0.0.to_qkv.weight" in state and "layers.0.2.norm.gamma" not in state
    # ... the bs-roformer package keeps [None, time, freq]
    network = build_network(load_config(config_path))
    keys = network.state_dict()
    assert "layers.0.1.layers.0.0.to_qkv.weight" in keys and "layers.0.2.norm.gamma" in keys
    bs_state = torch.load(models["tiny_bs"][0], map_location="cpu", weights_only=True)
    assert to_package_keys(bs_state, load_config(models["tiny_bs"][1])).keys() == bs_state.keys()


def test_wrapped_prefixed_and_safetensors_checkpoints_load(
    models: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    from safetensors.torch import save_file

    checkpoint, config_path = models["tiny_bs"]
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    wrapped = tmp_path / "wrapped.ckpt"
    torch.save({"epoch": 3, "state_dict": {f"module.{k}": v for k, v in state.items()}}, wrapped)
    assert read_state(wrapped).keys() == state.keys()
    nested = tmp_path / "nested.pth"
    torch.save({"state": {"model": state}}, nested)
    assert read_state(nested).keys() == state.keys()
    safe = tmp_path / "weights.safetensors"
    save_file({k: v.contiguous() for k, v in state.items() if "rotary_embed" not in k}, str(safe))
    network, _ = load_network(ModelFiles(safe, config_path))  # rotary freqs are rebuilt, not needed
    assert torch.equal(network.state_dict()["final_norm.gamma"], state["final_norm.gamma"])


class Payload:
    """An object whose unpickling would create a file: a full torch.load runs it, weights_only must not."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return os.system, (f"touch {self.marker}",)


def test_a_malicious_pickle_is_refused_without_running(tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    evil = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "hook": Payload(marker)}, evil)
    with pytest.raises(CheckpointError) as info:
        read_state(evil)
    message = str(info.value)
    assert message.startswith(f"{evil}: refused: this checkpoint needs a full unpickle") and "\n" not in message
    assert info.value.exit_code == ExitStatus.USAGE
    assert not marker.exists()
    torch.load(evil, weights_only=False)  # the proof the payload is real: a full unpickle runs it
    assert marker.exists()


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"not a checkpoint at all", "not a readable PyTorch checkpoint"),
        (None, "holds no state dict"),
        ({"epoch": 1}, "holds no tensors"),
        ({"state_dict": {"a": 1}}, "holds no tensors"),
    ],
)
def test_unusable_files(tmp_path: Path, content: object, match: str) -> None:
    path = tmp_path / "bad.ckpt"
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        torch.save(content if content is not None else [], path)
    with pytest.raises(CheckpointError, match=match):
        read_state(path)
    broken = tmp_path / "bad.safetensors"
    broken.write_bytes(b"\x00" * 16)
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        read_state(broken)


def test_keys_that_do_not_fit_name_the_file(models: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    bs_checkpoint = models["tiny_bs"][0]
    mel_checkpoint, mel_config = models["tiny_mel"]
    with pytest.raises(CheckpointError) as info:
        load_network(ModelFiles(bs_checkpoint, mel_config))
    message = str(info.value)
    assert message.startswith(f"{bs_checkpoint}: its weights do not fit the Mel-Band RoFormer of tiny_mel.yaml")
    assert "missing" in message and "unexpected" in message and "\n" not in message
    wider = tiny_bs_config()
    wider["model"]["dim"] = 24
    with pytest.raises(CheckpointError, match="of another shape"):
        load_network(ModelFiles(bs_checkpoint, write_config(wider, tmp_path / "wider.yaml")))
    assert mel_checkpoint.exists()


def test_options_that_do_not_build_a_network(tmp_path: Path) -> None:
    config = tiny_bs_config()
    config["model"]["freqs_per_bands"] = (2, 3)
    with pytest.raises(ConfigFileError, match="options do not build a network"):
        build_network(load_config(write_config(config, tmp_path / "sum.yaml")))


def test_finding_the_pair(models: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    checkpoint, config = models["tiny_bs"]
    assert resolve_files(checkpoint, None) == ModelFiles(checkpoint, config)  # same stem beside it
    folder = tmp_path / "one"
    folder.mkdir()
    (folder / "weights.ckpt").write_bytes(checkpoint.read_bytes())
    (folder / "config_vocals.yaml").write_text(config.read_text())
    assert resolve_files(folder, None) == ModelFiles(folder / "weights.ckpt", folder / "config_vocals.yaml")
    assert resolve_files(folder / "weights.ckpt", config).config == config
    (folder / "second.pth").write_bytes(b"")
    with pytest.raises(CheckpointError, match=r"several checkpoints here \(second.pth, weights.ckpt\)"):
        resolve_files(folder, None)
    with pytest.raises(CheckpointError, match="checkpoint without its config"):
        resolve_files(folder / "weights.ckpt", None)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint in this folder"):
        resolve_files(empty, None)
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        resolve_files(tmp_path / "nope.ckpt", None)
    with pytest.raises(CheckpointError, match="config not found"):
        resolve_files(checkpoint, tmp_path / "nope.yaml")
    with pytest.raises(CheckpointError, match="--model is required"):
        resolve_files(None, config)


def test_identity_follows_the_bytes(models: dict[str, tuple[Path, Path]], tmp_path: Path) -> None:
    checkpoint, config = models["tiny_bs"]
    first = identity(ModelFiles(checkpoint, config))
    assert first.startswith("roformer:bs_roformer:") and first == identity(ModelFiles(checkpoint, config))
    other, _ = write_model(tmp_path, "tiny_bs", tiny_bs_config(), seed=7)
    assert identity(ModelFiles(other, config)) != first
    assert len(ckpt._HASHES) >= 2
