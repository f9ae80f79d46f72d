"""--model resolution: short names, hub ids through the Hugging Face cache, local folders; offline, gated and
missing models say what to do."""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ap_sam_torch import resolve as r
from ap_sam_torch.model import load_model
from audio_playground.errors import ModelError, UsageError


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


class Hub(http.server.BaseHTTPRequestHandler):
    """A stand-in hub that answers every request with one status and X-Error-Code, as the real one does."""

    status = 401
    error_code = "GatedRepo"

    def do_GET(self) -> None:
        self.send_response(self.status)
        if self.error_code:
            self.send_header("X-Error-Code", self.error_code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_HEAD = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def online_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Hub]]:
    """Downloads allowed, against a local server (nothing leaves the machine)."""
    from huggingface_hub import constants

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    handler = type("TestHub", (Hub,), {})
    server.RequestHandlerClass = handler
    yield handler
    server.shutdown()
    server.server_close()


def test_short_names_map_to_metas_releases() -> None:
    assert r.HUB_IDS["base"] == "facebook/sam-audio-base"
    assert r.HUB_IDS["large-tv"] == "facebook/sam-audio-large-tv"
    assert r.hub_id_for("owner/model") == "owner/model"
    assert r.hub_id_for("./a/b") is None and r.hub_id_for("a/b/c") is None and r.hub_id_for("/x") is None


@pytest.mark.parametrize("name", ["large", "someone/sam-audio-fork"])
def test_a_hub_model_not_cached_while_offline_says_what_to_do(name: str) -> None:
    with pytest.raises(ModelError) as info:
        r.resolve(name)
    message = str(info.value)
    assert "not in the Hugging Face cache" in message and "HF_HUB_OFFLINE" in message
    assert "hf download" in message and "--model DIR" in message and "\n" not in message


def test_a_gated_model_without_access_says_how_to_get_it(online_hub: type[Hub]) -> None:
    assert not r.offline()
    with pytest.raises(ModelError) as info:
        r.resolve("large")
    message = str(info.value)
    assert "facebook/sam-audio-large is gated" in message
    assert "https://huggingface.co/facebook/sam-audio-large" in message
    assert "hf auth login" in message and "huggingface-cli login" in message and "HF_TOKEN" in message


def test_a_model_the_hub_does_not_have(online_hub: type[Hub]) -> None:
    online_hub.status, online_hub.error_code = 404, "RepoNotFound"
    with pytest.raises(ModelError, match="someone/nothing is not on the Hugging Face hub, or is private"):
        r.resolve("someone/nothing")


def test_a_failed_download_is_a_model_error(online_hub: type[Hub]) -> None:
    online_hub.status, online_hub.error_code = 500, ""
    with pytest.raises(ModelError, match="cannot download facebook/sam-audio-small"):
        r.resolve("small")


@pytest.mark.parametrize("value", ["1", "true", "YES", "on"])
def test_offline_reads_the_environment(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert r.offline()


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
    with pytest.raises(ModelError, match="t5-base is not in the Hugging Face cache"):
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
    with pytest.raises(UsageError, match="unknown --model 'huge'"):
        r.resolve("huge")
    with pytest.raises(ModelError, match="model folder not found"):
        r.resolve(str(tmp_path / "nowhere"))
    with pytest.raises(ModelError, match="is a file, not a model folder"):
        r.resolve(str(tiny_model / "config.json"))
    folder = copy(tiny_model, tmp_path)
    (folder / "config.json").write_text("[1, 2]")
    with pytest.raises(ModelError, match="not a JSON object"):
        r.resolve(str(folder))
    (folder / "config.json").write_text("{")
    with pytest.raises(ModelError, match="not readable JSON"):
        r.resolve(str(folder))
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
