"""Building the model ourselves: config.json with rankers and span predictor off unless asked, checkpoint.pt
checked key by key, the video encoder dropped, devices, and what a missing sam_audio says."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from ap_sam_torch.model import (
    TorchSamModel,
    build_config,
    load_model,
    load_separator,
    require_sam_audio,
    resolve_device,
)
from ap_sam_torch.resolve import resolve
from audio_playground.errors import ModelError, PluginError, UsageError


def copy(tiny_model: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_model, tmp_path / "model"))


def edit_config(folder: Path, **changes: Any) -> None:
    config = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        if value is ...:
            config.pop(key, None)
        else:
            config[key] = value
    (folder / "config.json").write_text(json.dumps(config))


def edit_checkpoint(folder: Path, change: Any) -> None:
    state = torch.load(folder / "checkpoint.pt", weights_only=True)
    change(state)
    torch.save(state, folder / "checkpoint.pt")


def test_the_hub_configs_rankers_and_span_predictor_stay_off_unless_asked(tiny_model: Path, tmp_path: Path) -> None:
    folder = copy(tiny_model, tmp_path)
    # as on the hub: rankers named, span_predictor not given (upstream's default builds PE-A-Frame)
    edit_config(folder, text_ranker={"kind": "clap"}, visual_ranker={"kind": "clap"}, span_predictor=...)
    plain = load_model(str(folder))
    assert plain.sam.text_ranker is None and plain.sam.visual_ranker is None
    assert not hasattr(plain.sam, "span_predictor") and plain.capabilities == frozenset({"seeded_decode"})
    ranked = load_model(str(folder), rankers=True)
    assert ranked.sam.text_ranker is not None and ranked.sam.visual_ranker is None
    assert ranked.capabilities == frozenset({"reranking", "seeded_decode"})
    spans = load_model(str(folder), spans=True)
    assert hasattr(spans.sam, "span_predictor") and spans.sam.text_ranker is None
    assert spans.capabilities == frozenset({"spans", "seeded_decode"})


def test_asking_for_what_the_config_lacks_is_a_usage_error(tiny_model: Path) -> None:
    with pytest.raises(UsageError, match=r"needs a text ranker, and this model's config\.json names none"):
        load_separator({"model": str(tiny_model), "prompts": ("bass",), "reranking_candidates": 2}, "cpu")
    with pytest.raises(UsageError, match="needs a span predictor"):
        load_separator({"model": str(tiny_model), "prompts": ("bass",), "predict_spans": True}, "cpu")


def test_ranker_kinds_as_upstream_parses_them(tiny_model: Path, tmp_path: Path) -> None:
    """Upstream's parser knows imagebind and sound_activity and gives None for a kind it does not know."""
    from sam_audio.model.config import (  # ty: ignore
        ImageBindRankerConfig,
        SoundActivityRankerConfig,
        parse_ranker_config,
    )

    assert parse_ranker_config({"kind": "mystery"}) is None
    assert isinstance(parse_ranker_config({"kind": "imagebind"}), ImageBindRankerConfig)
    assert isinstance(parse_ranker_config({"kind": "sound_activity", "metric": "iou"}), SoundActivityRankerConfig)
    folder = copy(tiny_model, tmp_path)
    edit_config(folder, text_ranker={"kind": "mystery"})
    assert load_model(str(folder)).sam.text_ranker is None
    with pytest.raises(UsageError, match=r"of a kind the installed sam_audio does not know \('mystery'\)"):
        load_separator({"model": str(folder), "prompts": ("bass",), "reranking_candidates": 2}, "cpu")


def test_the_checkpoint_is_really_loaded(tiny_model: Path, tiny: TorchSamModel) -> None:
    state = torch.load(tiny_model / "checkpoint.pt", weights_only=True)
    loaded = tiny.sam.state_dict()
    assert not any(k.startswith("vision_encoder.") for k in loaded)  # dropped after loading: text prompts only
    assert any(k.startswith("vision_encoder.") for k in state)  # but in the checkpoint, as on the hub
    keys = ("proj.weight", "transformer.layers.0.attention.wq.weight", "audio_codec.decoder.model.0.bias")
    for key in (*keys, "audio_codec.decoder.wm_model.msg_processor.msg_processor.weight"):  # names upstream has
        assert torch.equal(loaded[key], state[key])
    assert tiny.sam.embed_anchors.gate.item() == 0.5  # not the constructor's zero
    assert not tiny.sam.training


def test_the_text_encoder_comes_from_its_folder(tiny_model: Path) -> None:
    location = resolve(str(tiny_model))
    assert location is not None
    config = build_config(location)
    assert config.text_encoder.name == str(tiny_model / "text_encoder")
    assert config.text_ranker is None and config.span_predictor is None and config.visual_ranker is None


def test_a_config_that_is_no_sam_audio_config(tiny_model: Path, tmp_path: Path) -> None:
    folder = copy(tiny_model, tmp_path)
    edit_config(folder, colour="blue")
    with pytest.raises(ModelError, match=r"config\.json does not describe a SAM-Audio model"):
        load_model(str(folder))


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda s: s.pop("proj.weight"), "checkpoint.pt lacks 1 parameters (proj.weight)"),
        (lambda s: s.update({"proj.bias": torch.zeros(3)}), "has the wrong shape for 1 parameters (proj.bias)"),
        (lambda s: s.update({f"extra.{i}": torch.zeros(1) for i in range(4)}), "has unknown 4 parameters (extra.0"),
    ],
)
def test_a_checkpoint_that_does_not_fit_names_the_keys(
    tiny_model: Path, tmp_path: Path, change: Any, expected: str
) -> None:
    folder = copy(tiny_model, tmp_path)
    edit_checkpoint(folder, change)
    with pytest.raises(ModelError, match=expected.replace("(", r"\(").replace(")", r"\)")) as info:
        load_model(str(folder))
    assert "do not belong together" in str(info.value)


def test_checkpoint_keys_fetched_elsewhere_are_ignored(tiny_model: Path, tmp_path: Path) -> None:
    folder = copy(tiny_model, tmp_path)
    edit_checkpoint(folder, lambda s: s.update({"vision_encoder.model.weight": torch.zeros(8, 3)}))
    assert load_model(str(folder)).sam.vision_encoder is None


def test_an_unreadable_checkpoint(tiny_model: Path, tmp_path: Path) -> None:
    folder = copy(tiny_model, tmp_path)
    (folder / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match=r"cannot read checkpoint\.pt"):
        load_model(str(folder))
    torch.save([torch.zeros(1)], folder / "checkpoint.pt")
    with pytest.raises(ModelError, match="not a state dict of tensors"):
        load_model(str(folder))


def test_a_legacy_checkpoint_loads_without_mmap(tiny_model: Path, tmp_path: Path) -> None:
    folder = copy(tiny_model, tmp_path)
    state = torch.load(folder / "checkpoint.pt", weights_only=True)
    torch.save(state, folder / "checkpoint.pt", _use_new_zipfile_serialization=False)
    assert load_model(str(folder)).capabilities == frozenset({"seeded_decode"})


def test_a_text_encoder_that_cannot_load_is_one_model_error(tiny_model: Path, tmp_path: Path) -> None:
    folder = copy(tiny_model, tmp_path)
    (folder / "text_encoder" / "model.safetensors").write_bytes(b"broken")
    with pytest.raises(ModelError) as info:
        load_model(str(folder))
    message = str(info.value)
    assert "cannot build SAM-Audio (" in message and "text encoder folder" in message and "\n" not in message


def test_missing_sam_audio_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sam_audio.processor", None)
    with pytest.raises(PluginError) as info:
        require_sam_audio()
    message = str(info.value)
    assert "needs Meta's sam_audio package" in message and "pip install 'ap-sam-torch[upstream]'" in message
    assert "github.com/facebookresearch/sam-audio" in message
    assert "\n" not in message and info.value.exit_code == 1


def test_devices() -> None:
    auto = resolve_device("auto")
    assert auto in ("cuda", "mps", "cpu") and resolve_device(None) == auto
    assert resolve_device(" CPU ") == "cpu" and resolve_device("cpu:0") == "cpu:0"
    with pytest.raises(UsageError, match="unknown device 'tpu'"):
        resolve_device("tpu")
    with pytest.raises(UsageError, match="not supported by ap-sam-torch"):
        resolve_device("meta")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="torch sees no CUDA GPU"):
            resolve_device("cuda")
    else:  # pragma: no cover - on a GPU machine
        with pytest.raises(UsageError, match="CUDA GPU"):
            resolve_device(f"cuda:{torch.cuda.device_count()}")
    if not (torch.backends.mps.is_available()):
        with pytest.raises(UsageError, match="not available on this machine"):
            resolve_device("mps")
