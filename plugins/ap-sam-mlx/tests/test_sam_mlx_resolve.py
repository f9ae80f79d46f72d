"""--model resolution: short names, hub ids through the Hugging Face cache, local folders; offline errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ap_sam_mlx import resolve as r
from ap_sam_mlx.model import load_model
from audio_playground.errors import ModelError, UsageError
from audio_playground.prompted import SAM_MODEL_NAMES


def copy(tiny_model: Path, tmp_path: Path, name: str = "model") -> Path:
    return Path(shutil.copytree(tiny_model, tmp_path / name))


def cache_repo(cache: Path, repo_id: str, source: Path, commit: str = "0123abcd" * 5) -> Path:
    """Lay `source` out as a cached hub snapshot of `repo_id`, as `hf download` leaves it."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    shutil.copytree(source, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot


def edit_config(folder: Path, **changes: Any) -> None:
    config = json.loads((folder / "config.json").read_text())
    for key, value in changes.items():
        section, _, field = key.partition("__")
        if field:
            config[section][field] = value
        else:
            config[section] = value
    (folder / "config.json").write_text(json.dumps(config))


def test_short_names_map_to_mlx_community() -> None:
    assert r.HUB_IDS["base"] == "mlx-community/sam-audio-base"
    assert r.HUB_IDS["large-tv"] == "mlx-community/sam-audio-large-tv"
    assert list(r.HUB_IDS) == list(SAM_MODEL_NAMES)


def test_a_hub_model_not_cached_while_offline_says_what_to_do() -> None:
    """The core's hub policy (tests/core/test_hub.py) on this plugin's hub ids."""
    with pytest.raises(ModelError) as info:
        r.resolve("base")
    message = str(info.value)
    assert message.startswith(
        "not on this machine: mlx-community/sam-audio-base (the model) and t5-base (its text encoder), "
        "and downloads are off (HF_HUB_OFFLINE)"
    )
    assert (
        "`hf download mlx-community/sam-audio-base --include '*.json' '*.safetensors' && hf download t5-base" in message
    )
    assert "--model DIR" in message and "\n" not in message


def test_a_cached_hub_model_loads_offline(offline: Path, tiny_model: Path) -> None:
    snapshot = cache_repo(offline, "mlx-community/sam-audio-small", tiny_model)
    location = r.resolve("small")
    assert location is not None
    assert (location.folder, location.hub_id) == (snapshot, "mlx-community/sam-audio-small")
    model = load_model("small")
    assert model.name == "sam-audio/mlx:mlx-community/sam-audio-small"
    available = {m.name: m for m in r.list_models({})}
    assert available["small"].available and available["small"].location == str(snapshot)
    assert not available["base"].available and "hf download mlx-community/sam-audio-base" in available["base"].note


def test_the_text_encoder_may_come_from_the_hub_cache(offline: Path, tiny_model: Path, tmp_path: Path) -> None:
    bare = copy(tiny_model, tmp_path, "bare")
    shutil.rmtree(bare / "text_encoder")
    edit_config(bare, text_encoder__name="t5-base")
    cache_repo(offline, "owner/sam", bare)
    with pytest.raises(ModelError, match=r"^not on this machine: t5-base \(its text encoder\), and downloads are off"):
        r.resolve("owner/sam")
    t5 = cache_repo(offline, "t5-base", tiny_model / "text_encoder")
    location = r.resolve("owner/sam")
    assert location is not None and location.text_folder == t5
    # a local folder may use the cached encoder too (no download involved)
    assert r.resolve(str(bare)) == r.ModelLocation(str(bare), bare, t5, None)


def test_the_text_encoder_may_be_a_folder_named_in_the_config(tiny_model: Path, tmp_path: Path) -> None:
    folder = copy(tiny_model, tmp_path)
    shutil.move(folder / "text_encoder", tmp_path / "t5")
    edit_config(folder, text_encoder__name=str(tmp_path / "t5"))
    location = r.resolve(str(folder))
    assert location is not None and location.text_folder == tmp_path / "t5"
    assert load_model(str(folder)).encode_text(["bass"])[0].shape[1] == 16


def test_a_folder_missing_files_names_them(tiny_model: Path, tmp_path: Path) -> None:
    folder = copy(tiny_model, tmp_path)
    (folder / "model.safetensors").unlink()
    (folder / "text_encoder" / "tokenizer.json").unlink()
    (folder / "text_encoder" / "model.safetensors").unlink()
    with pytest.raises(ModelError) as info:
        load_model(str(folder))
    message = str(info.value)
    assert message.startswith(f"{folder}: the model folder lacks *.safetensors (the weights)")
    assert "text_encoder/model.safetensors" in message
    assert "text_encoder/tokenizer.json or text_encoder/spiece.model" in message
    assert "python -m ap_sam_mlx.testing DIR" in message


def test_a_folder_without_config_or_text_encoder(tmp_path: Path, tiny_model: Path) -> None:
    folder = tmp_path / "weights-only"
    folder.mkdir()
    shutil.copy(tiny_model / "model.safetensors", folder)
    with pytest.raises(ModelError, match=r"lacks config.json, text_encoder/ \(a T5 encoder and its tokenizer\)"):
        r.resolve(str(folder))
    named = copy(tiny_model, tmp_path, "named")
    shutil.rmtree(named / "text_encoder")
    edit_config(named, text_encoder__name="t5-base")  # not cached, and a folder never downloads
    with pytest.raises(ModelError, match="lacks text_encoder/"):
        r.resolve(str(named))
    shutil.copy(tiny_model / "text_encoder" / "config.json", tmp_path / "t5.json")
    edit_config(named, text_encoder=[])
    with pytest.raises(ModelError, match="lacks text_encoder/"):
        r.resolve(str(named))
    edit_config(named, text_encoder={"name": ""})
    with pytest.raises(ModelError, match="lacks text_encoder/"):
        r.resolve(str(named))
    (tmp_path / "t5").mkdir()
    edit_config(named, text_encoder={"name": str(tmp_path / "t5")})
    with pytest.raises(ModelError, match=f"lacks {tmp_path / 't5'}/config.json"):
        r.resolve(str(named))


def test_values_that_are_no_model_get_this_plugins_hints(tiny_model: Path, tmp_path: Path) -> None:
    """The core's checks (tests/core/test_hub.py) with this plugin's folder hint and short names."""
    folder = copy(tiny_model, tmp_path)
    (folder / "config.json").write_text("[1]")
    with pytest.raises(ModelError, match="not a JSON object") as info:
        r.resolve(str(folder))
    assert info.value.hint == r.FOLDER_HINT
    with pytest.raises(ModelError, match="is a file, not a model folder") as info:
        r.resolve(str(folder / "config.json"))
    assert info.value.hint == r.FOLDER_HINT
    with pytest.raises(UsageError, match="unknown --model 'giant'") as usage:
        r.resolve("giant")
    assert "use one of small, base, large, small-tv, base-tv, large-tv, a hub id" in str(usage.value)


def test_not_downloading_gives_none_for_an_uncached_hub_model() -> None:
    assert r.resolve("large", download=False) is None


def test_identity_names_the_weights(tiny_model: Path, tmp_path: Path) -> None:
    from ap_sam_mlx.testing import write_tiny_model

    first = r.identity({"model": str(tiny_model)})
    assert first is not None and first == r.identity({"model": str(tiny_model)})
    assert first.startswith(f"sam-audio/mlx:{tiny_model}:") and len(first.rsplit(":", 1)[1]) == 16
    other = write_tiny_model(tmp_path / "other", seed=1)
    second = r.identity({"model": str(other)})
    assert second is not None and second.rsplit(":", 1)[1] != first.rsplit(":", 1)[1]
    assert r.identity({}) is None  # not on this machine: never cached
    assert r.identity({"model": "giant"}) is None


def test_models_list_includes_a_given_folder(tiny_model: Path) -> None:
    listed = r.list_models({"model": str(tiny_model)})
    assert [m.name for m in listed][:6] == ["small", "base", "large", "small-tv", "base-tv", "large-tv"]
    assert not any(m.available for m in listed[:6])
    assert listed[6].available and listed[6].location == str(tiny_model) and listed[6].note == "local folder"
    broken = r.list_models({"model": "./nope"})[6]
    assert not broken.available and broken.note == "model folder not found"


def test_plugin_spec_lists_models_and_identity(tiny_model: Path) -> None:
    from ap_sam_mlx.plugin import ap_separators

    (spec,) = ap_separators()
    assert spec.models is not None and spec.cache_identity is not None
    assert len(spec.models({})) == 6
    assert spec.cache_identity({"model": str(tiny_model)}) == r.identity({"model": str(tiny_model)})


# --------------------------------------------------------------------------- weights that do not fit


def test_weights_for_another_config_are_refused(tiny_model: Path, tmp_path: Path) -> None:
    lacking = copy(tiny_model, tmp_path, "lacking")
    edit_config(lacking, transformer__n_layers=2)
    with pytest.raises(ModelError, match=r"the SAM-Audio weights lack \d+ parameters \(transformer.layers.1"):
        load_model(str(lacking))
    misshapen = copy(tiny_model, tmp_path, "misshapen")
    edit_config(misshapen, anchor_embedding_dim=4)
    with pytest.raises(ModelError, match="have the wrong shape for"):
        load_model(str(misshapen))


def test_unreadable_weights_are_a_model_error(tiny_model: Path, tmp_path: Path) -> None:
    folder = copy(tiny_model, tmp_path)
    (folder / "model.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(ModelError, match="cannot read the weights"):
        load_model(str(folder))


def test_a_config_that_is_not_sam_audio(tiny_model: Path, tmp_path: Path) -> None:
    folder = copy(tiny_model, tmp_path)
    edit_config(folder, transformer__no_such_field=1)
    with pytest.raises(ModelError, match="does not describe a SAM-Audio model"):
        load_model(str(folder))


def test_text_encoder_problems(tiny_model: Path, tmp_path: Path) -> None:
    folder = copy(tiny_model, tmp_path)
    t5 = folder / "text_encoder" / "config.json"
    good = json.loads(t5.read_text())
    t5.write_text(json.dumps({**good, "d_model": 24}))
    with pytest.raises(ModelError, match=r"width \(24\) is not the model's text_encoder.dim \(16\)"):
        load_model(str(folder))
    t5.write_text(json.dumps({k: v for k, v in good.items() if k != "d_kv"}))
    with pytest.raises(ModelError, match="lacks 'd_kv'"):
        load_model(str(folder))
    t5.write_text(json.dumps(good))
    (folder / "text_encoder" / "tokenizer.json").write_text("{")
    with pytest.raises(ModelError, match="cannot load the tokenizer"):
        load_model(str(folder))


def test_a_real_t5_base_style_config_reads(tmp_path: Path) -> None:
    from ap_sam_mlx.model import _t5_config

    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "vocab_size": 32128,
                "d_model": 768,
                "d_kv": 64,
                "d_ff": 3072,
                "num_layers": 12,
                "num_heads": 12,
                "feed_forward_proj": "relu",
            }
        )
    )
    config = _t5_config(tmp_path)
    assert (config.is_gated_act, config.dense_act_fn, config.d_model) == (False, "relu", 768)
    (tmp_path / "config.json").write_text(
        json.dumps(
            {
                "vocab_size": 1,
                "d_model": 8,
                "d_kv": 2,
                "d_ff": 8,
                "num_layers": 1,
                "num_heads": 4,
                "feed_forward_proj": "gated-gelu",
            }
        )
    )
    config = _t5_config(tmp_path)
    assert (config.is_gated_act, config.dense_act_fn) == (True, "gelu_new")


def test_the_loaded_model_runs_from_a_cached_hub_snapshot(offline: Path, tiny_model: Path) -> None:
    cache_repo(offline, "mlx-community/sam-audio-base-tv", tiny_model)
    model = load_model("base-tv")
    features = model.encode_mixture(np.zeros((1, 320), np.float32))
    assert tuple(features.shape) == (1, 10, 16)
