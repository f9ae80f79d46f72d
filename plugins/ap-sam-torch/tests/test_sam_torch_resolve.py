"""--model resolution: short names, hub ids through the Hugging Face cache, local folders; offline and missing
models say what to do (gated ones too: the core's audio_playground.hub, tested in tests/core/test_hub.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from ap_sam_torch import resolve as r
from ap_sam_torch.model import load_model
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


def set_text_name(folder: Path, name: str) -> None:
    config = json.loads((folder / "config.json").read_text())
    config["text_encoder"]["name"] = name
    (folder / "config.json").write_text(json.dumps(config))


def test_short_names_map_to_metas_releases() -> None:
    assert r.HUB_IDS["base"] == "facebook/sam-audio-base"
    assert r.HUB_IDS["large-tv"] == "facebook/sam-audio-large-tv"
    assert list(r.HUB_IDS) == list(SAM_MODEL_NAMES)


def test_a_hub_model_not_cached_while_offline_says_what_to_do() -> None:
    """The core's hub policy (tests/core/test_hub.py: offline, gated, not found, failures) on Meta's hub ids."""
    with pytest.raises(ModelError) as info:
        r.resolve("large")
    message = str(info.value)
    assert message.startswith(
        f"not on this machine: facebook/sam-audio-large ({r.GATED}) and t5-base (its text encoder), "
        "and downloads are off (HF_HUB_OFFLINE)"
    )
    assert (
        "`hf download facebook/sam-audio-large --include 'config.json' 'checkpoint.pt' && hf download t5-base"
        in message
    )
    assert "--model DIR" in message and "\n" not in message


def test_a_cached_hub_model_with_a_cached_t5_loads_offline(offline: Path, tiny_model: Path, tmp_path: Path) -> None:
    """The hub's layout: config.json + checkpoint.pt, the text encoder named by hub id (t5-base), cached apart."""
    source = copy(tiny_model, tmp_path, "source")
    text = Path(shutil.move(source / "text_encoder", tmp_path / "t5"))
    set_text_name(source, "t5-base")
    snapshot = cache_repo(offline, "facebook/sam-audio-small", source)
    t5 = cache_repo(offline, "t5-base", text)
    location = r.resolve("small")
    assert location is not None
    assert (location.folder, location.text_folder, location.hub_id) == (snapshot, t5, "facebook/sam-audio-small")
    assert location.label == "facebook/sam-audio-small"
    model = load_model("small")
    assert model.name == "sam-audio/pytorch:facebook/sam-audio-small"
    info = {m.name: m for m in r.list_models({})}
    assert info["small"].available and info["small"].location == str(snapshot)
    assert not info["base"].available and "hf download facebook/sam-audio-base" in info["base"].note


def test_a_cached_hub_model_whose_t5_is_not_cached(offline: Path, tiny_model: Path, tmp_path: Path) -> None:
    source = copy(tiny_model, tmp_path, "source")
    shutil.rmtree(source / "text_encoder")
    set_text_name(source, "t5-base")
    cache_repo(offline, "facebook/sam-audio-base", source)
    with pytest.raises(ModelError, match=r"^not on this machine: t5-base \(its text encoder\), and downloads are off"):
        r.resolve("base")
    base = next(m for m in r.list_models({}) if m.name == "base")
    assert not base.available and "lacks text_encoder/" in base.note
    assert r.identity({"model": "base"}) is None


def test_a_text_encoder_folder_named_in_the_config(tiny_model: Path, tmp_path: Path) -> None:
    folder = copy(tiny_model, tmp_path)
    moved = Path(shutil.move(folder / "text_encoder", tmp_path / "elsewhere"))
    set_text_name(folder, str(moved))
    location = r.resolve(str(folder))
    assert location is not None and location.text_folder == moved
    set_text_name(folder, "../elsewhere")
    location = r.resolve(str(folder))
    assert location is not None and location.text_folder.resolve() == moved.resolve()
    set_text_name(folder, "/no/such/t5")
    with pytest.raises(ModelError, match="lacks text_encoder/"):
        r.resolve(str(folder))


def test_a_local_folder_names_every_missing_file(tiny_model: Path, tmp_path: Path) -> None:
    folder = copy(tiny_model, tmp_path)
    (folder / "checkpoint.pt").unlink()
    (folder / "text_encoder" / "model.safetensors").unlink()
    (folder / "text_encoder" / "tokenizer.json").unlink()
    with pytest.raises(ModelError) as info:
        r.resolve(str(folder))
    message = str(info.value)
    assert message.startswith(f"{folder}: the model folder lacks checkpoint.pt (the weights)")
    assert "text_encoder/model.safetensors" in message and "text_encoder/tokenizer.json or" in message
    (folder / "config.json").unlink()
    (folder / "text_encoder" / "config.json").unlink()
    with pytest.raises(ModelError, match=r"lacks config\.json, checkpoint\.pt .*text_encoder/config\.json"):
        r.resolve(str(folder))
    shutil.rmtree(folder / "text_encoder")
    with pytest.raises(ModelError, match=r"text_encoder/ \(a T5 encoder"):
        r.resolve(str(folder))


def test_bad_model_values(tiny_model: Path, tmp_path: Path) -> None:
    """The core's checks (tests/core/test_hub.py) with this plugin's folder hint and short names."""
    with pytest.raises(UsageError, match="unknown --model 'huge'") as usage:
        r.resolve("huge")
    assert "use one of small, base, large, small-tv, base-tv, large-tv, a hub id" in str(usage.value)
    with pytest.raises(ModelError, match="is a file, not a model folder") as info:
        r.resolve(str(tiny_model / "config.json"))
    assert info.value.hint == r.FOLDER_HINT
    folder = copy(tiny_model, tmp_path)
    (folder / "config.json").write_text("[1, 2]")
    with pytest.raises(ModelError, match="not a JSON object") as info:
        r.resolve(str(folder))
    assert info.value.hint == r.FOLDER_HINT
    set_config = {"text_encoder": {"name": ""}}
    (folder / "config.json").write_text(json.dumps(set_config))
    shutil.rmtree(folder / "text_encoder")
    with pytest.raises(ModelError, match="lacks text_encoder/"):
        r.resolve(str(folder))


def test_identity_follows_the_weights(tiny_model: Path, tmp_path: Path) -> None:
    folder = copy(tiny_model, tmp_path)
    first = r.identity({"model": str(folder)})
    assert first is not None and first.startswith(f"sam-audio/pytorch:{folder}:") and len(first.rsplit(":", 1)[1]) == 16
    assert r.identity({"model": str(folder)}) == first
    with (folder / "checkpoint.pt").open("ab") as handle:
        handle.write(b"\0")
    assert r.identity({"model": str(folder)}) != first
    assert r.identity({}) is None and r.identity({"model": "huge"}) is None  # not here: never cached


def test_list_models_adds_the_given_folder(tiny_model: Path) -> None:
    found = r.list_models({"model": str(tiny_model)})
    assert [m.name for m in found] == [*r.HUB_IDS, str(tiny_model)]
    assert found[-1].available and found[-1].note == "local folder"
    assert not any(m.available for m in found[:-1])
    broken = r.list_models({"model": "/no/such/folder"})[-1]
    assert not broken.available and "not found" in broken.note
