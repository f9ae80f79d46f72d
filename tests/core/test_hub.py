"""What the SAM plugins share from the core: hub resolution (audio_playground.hub) and the sam-audio spec.

Tests that touch the Hugging Face cache or hub need huggingface_hub, which the core does not depend on: the
core's test extra installs it, and they skip without it (the SAM plugins' suites run them too through their
resolvers). Nothing leaves
the machine: the hub is a local stand-in server, or an address that refuses at once.
"""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from audio_playground import hub
from audio_playground.errors import ModelError, UsageError
from audio_playground.prompted import sam_audio_options, sam_audio_spec
from audio_playground.specs import ModelInfo, Separator

SHORT = {"tiny": "owner/model-tiny", "huge": "owner/model-huge"}
HINT = "a model folder needs config.json"


class Checked:
    """A plugin's check: records what resolve handed it and returns it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Path, str | None, bool]] = []

    def __call__(self, name: str, folder: Path, hub_id: str | None, download: bool) -> tuple[Path, str | None]:
        self.calls.append((name, folder, hub_id, download))
        return folder, hub_id


def resolve(name: str, check: Checked | None = None, *, download: bool = True) -> tuple[Path, str | None] | None:
    return hub.resolve(name, SHORT, ["*.json"], check or Checked(), folder_hint=HINT, download=download)


# --------------------------------------------------------------------------- no hub involved


def test_hub_ids_for_short_names_and_owner_slash_name() -> None:
    assert hub.hub_id_for("tiny", SHORT) == "owner/model-tiny"
    assert hub.hub_id_for("someone/fork", SHORT) == "someone/fork"
    for other in ("./a/b", "a/b/c", "/x", "~/x", "a/", "/b", "plain"):
        assert hub.hub_id_for(other, SHORT) is None, other


def test_names_hint_lists_the_short_names_in_order() -> None:
    assert hub.names_hint(SHORT) == "use one of tiny, huge, a hub id (owner/name) or a local model folder"


@pytest.mark.parametrize("value", ["1", "true", "YES", " on "])
def test_offline_reads_the_environment(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert hub.offline()


def test_first_line() -> None:
    assert hub.first_line(RuntimeError("out of memory\nmore")) == "RuntimeError: out of memory"
    assert hub.first_line(ValueError()) == "ValueError"


def test_read_config(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"a": 1}))
    assert hub.read_config(tmp_path) == {"a": 1}
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(ModelError, match=r"config\.json is not a JSON object") as info:
        hub.read_config(tmp_path, hint=HINT)
    assert str(info.value) == f"{tmp_path}: config.json is not a JSON object. {HINT}."
    (tmp_path / "config.json").write_text("{")
    with pytest.raises(ModelError, match=r"config\.json is not readable JSON"):
        hub.read_config(tmp_path)
    (tmp_path / "config.json").unlink()
    with pytest.raises(ModelError, match=r"config\.json is not readable JSON"):
        hub.read_config(tmp_path)


def test_a_local_folder_goes_to_the_check_as_is_and_never_downloads(tmp_path: Path) -> None:
    check = Checked()
    assert resolve(str(tmp_path), check) == (tmp_path, None)
    assert check.calls == [(str(tmp_path), tmp_path, None, False)]


def test_values_that_are_no_model(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ModelError, match="is a file, not a model folder") as info:
        resolve(str(tmp_path / "file"))
    assert info.value.hint == HINT and info.value.path == str(tmp_path / "file")
    for missing in ("./nope", "a/b/c", "~/no/such/model", str(tmp_path / "nope")):
        with pytest.raises(ModelError, match="model folder not found") as info:
            resolve(missing)
        assert info.value.hint == "check the path, or " + hub.names_hint(SHORT)
    with pytest.raises(UsageError, match="unknown --model 'giant'") as usage:
        resolve("giant")
    assert "use one of tiny, huge" in str(usage.value) and "\n" not in str(usage.value)


def test_list_models_says_where_each_model_is_or_why_not(tmp_path: Path) -> None:
    class Location:
        def __init__(self, folder: Path) -> None:
            self.folder = folder

    def locate(name: str) -> Location | None:
        if name == "tiny":
            return Location(tmp_path / "snap")
        if name == "broken":
            raise ModelError("the model folder lacks config.json", path=tmp_path)
        if name == "giant":
            raise UsageError("unknown --model 'giant'")
        return Location(tmp_path) if name == str(tmp_path) else None

    found = hub.list_models(
        ["tiny", "huge", "someone/x", str(tmp_path), "./gone", "broken", "giant"],
        SHORT,
        locate,
        download_note=" (gated)",
    )
    assert found == [
        ModelInfo("tiny", True, str(tmp_path / "snap"), "hub: owner/model-tiny"),
        ModelInfo("huge", False, "owner/model-huge", "not downloaded: `hf download owner/model-huge` (gated)"),
        ModelInfo("someone/x", False, "someone/x", "not downloaded: `hf download someone/x` (gated)"),
        ModelInfo(str(tmp_path), True, str(tmp_path), "local folder"),
        ModelInfo("./gone", False, "./gone", "not found"),
        ModelInfo("broken", False, "broken", "the model folder lacks config.json"),
        ModelInfo("giant", False, "giant", "unknown --model 'giant'"),
    ]
    assert hub.list_models(["huge"], SHORT, locate)[0].note == "not downloaded: `hf download owner/model-huge`"


def test_the_sam_audio_spec_is_one_shape_for_every_backend() -> None:
    def load(options: Mapping[str, Any], device: str) -> Separator:
        raise AssertionError("discovery never loads")

    def models(options: Mapping[str, Any]) -> list[ModelInfo]:
        return []

    def identity(options: Mapping[str, Any]) -> str | None:
        return None

    spec = sam_audio_spec("mlx", load=load, models=models, cache_identity=identity, plugin="ap-sam-x", runtime="MLX")
    assert (spec.name, spec.backend, spec.prompted, spec.suffix, spec.file_suffix, spec.plugin, spec.stems) == (
        "sam-audio",
        "mlx",
        True,
        "sam",
        "sam",
        "ap-sam-x",
        (),
    )
    assert (spec.load, spec.models, spec.cache_identity) == (load, models, identity)
    assert spec.options == sam_audio_options() and dict(spec.defaults) == {"suffix": "sam"}
    assert spec.help == "SAM-Audio: extract any sound described in words (--prompts 'dog barking'), on MLX."


# --------------------------------------------------------------------------- the Hugging Face cache and hub


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """huggingface_hub (skip without it), downloads off, an empty cache of this test's own."""
    pytest.importorskip("huggingface_hub")
    from huggingface_hub import constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    return cache


def cache_repo(cache: Path, repo_id: str, files: Mapping[str, str], commit: str = "0123abcd" * 5) -> Path:
    """Lay `files` out as a cached hub snapshot of `repo_id`, as `hf download` leaves it."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name, text in files.items():
        (snapshot / name).write_text(text)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    return snapshot


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
def online_hub(hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[Hub]]:
    """Downloads allowed, against a local server (nothing leaves the machine)."""
    from huggingface_hub import constants

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hub)
    handler = type("TestHub", (Hub,), {})
    server.RequestHandlerClass = handler
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", f"http://127.0.0.1:{server.server_port}")
    yield handler
    server.shutdown()
    server.server_close()


def test_offline_follows_huggingface_hub_when_the_environment_is_silent(
    hf_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.delenv("HF_HUB_OFFLINE")
    assert hub.offline()  # the constant, still True
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert not hub.offline()


def test_a_cached_snapshot_is_used_without_the_network(hf_cache: Path) -> None:
    snapshot = cache_repo(hf_cache, "owner/model-tiny", {"config.json": "{}"})
    assert hub.snapshot("owner/model-tiny", ["*.json"]) == snapshot
    check = Checked()
    assert resolve("tiny", check) == (snapshot, "owner/model-tiny")
    assert check.calls == [("tiny", snapshot, "owner/model-tiny", True)]
    assert resolve("owner/model-tiny", check, download=False) == (snapshot, "owner/model-tiny")
    assert check.calls[-1] == ("owner/model-tiny", snapshot, "owner/model-tiny", False)


def test_not_cached_and_not_downloading_is_none(hf_cache: Path) -> None:
    assert hub.snapshot("owner/model-huge", ["*.json"], download=False) is None
    assert resolve("huge", download=False) is None


@pytest.mark.parametrize("name", ["huge", "someone/fork"])
def test_not_cached_while_offline_says_what_to_do(hf_cache: Path, name: str) -> None:
    with pytest.raises(ModelError) as info:
        resolve(name)
    message = str(info.value)
    repo = SHORT.get(name, name)
    assert message.startswith(f"{repo} is not in the Hugging Face cache and downloads are off (HF_HUB_OFFLINE)")
    assert f"`hf download {repo}`" in message and "--model DIR" in message and "\n" not in message


def test_a_gated_repo_without_access_says_how_to_get_it(online_hub: type[Hub]) -> None:
    assert not hub.offline()
    with pytest.raises(ModelError) as info:
        resolve("huge")
    message = str(info.value)
    assert message.startswith("owner/model-huge is gated and this machine has no access to it")
    assert "request access on https://huggingface.co/owner/model-huge" in message
    assert "hf auth login" in message and "huggingface-cli login" in message and "HF_TOKEN" in message
    assert "--model DIR" in message and "\n" not in message


def test_a_repo_the_hub_does_not_have(online_hub: type[Hub]) -> None:
    online_hub.status, online_hub.error_code = 404, "RepoNotFound"
    with pytest.raises(ModelError, match="someone/nothing is not on the Hugging Face hub, or is private") as info:
        hub.snapshot("someone/nothing", ["*.json"])
    assert info.value.hint is not None and hub.LOGIN_HINT in info.value.hint


def test_any_other_failure_is_a_model_error(online_hub: type[Hub], monkeypatch: pytest.MonkeyPatch) -> None:
    online_hub.status, online_hub.error_code = 500, ""
    with pytest.raises(ModelError, match=r"cannot download owner/model-tiny \(\w+: ") as info:
        resolve("tiny")
    assert "check the name and the connection" in str(info.value) and "\n" not in str(info.value)
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # refused at once
    with pytest.raises(hub.Unreachable, match=r"owner/model-huge is not on this machine and huggingface\.co cannot"):
        resolve("huge")


def test_identity_names_local_weights_only() -> None:
    from audio_playground import hub
    from audio_playground.errors import ModelError

    def missing(name: str) -> None:
        raise ModelError("not here")

    assert hub.identity("x/y", "m", lambda n: "folder", lambda loc: "abc") == "x/y:m:abc"
    assert hub.identity("x/y", "m", lambda n: None, lambda loc: "abc") is None
    assert hub.identity("x/y", "m", missing, lambda loc: "abc") is None


# --------------------------------------------------------------------------- everything a model needs, at once

SAM = hub.Download("owner/model-huge", ("*.json", "*.safetensors"))
T5 = hub.Download("t5-base", ("*.json", "spiece.model"), "its text encoder")


def test_ensure_names_every_missing_download_and_its_command_while_offline(hf_cache: Path) -> None:
    assert hub.ensure([SAM, T5], download=False) is False
    with pytest.raises(ModelError) as info:
        hub.ensure([SAM, T5])
    message = str(info.value)
    assert message.startswith(
        "not on this machine: owner/model-huge (the model) and t5-base (its text encoder), "
        "and downloads are off (HF_HUB_OFFLINE)"
    )
    assert (
        "`hf download owner/model-huge --include '*.json' '*.safetensors' && "
        "hf download t5-base --include '*.json' 'spiece.model'`" in message
    )
    assert str(hf_cache) in message and "--model DIR" in message and "\n" not in message
    cache_repo(hf_cache, "t5-base", {"config.json": "{}"})
    with pytest.raises(ModelError, match=r"^not on this machine: owner/model-huge \(the model\), and"):
        hub.ensure([SAM, T5])
    cache_repo(hf_cache, "owner/model-huge", {"config.json": "{}"})
    assert hub.ensure([SAM, T5]) is True


def test_ensure_with_the_hub_unreachable_is_one_line_too(
    online_hub: type[Hub], monkeypatch: pytest.MonkeyPatch
) -> None:
    from huggingface_hub import constants

    monkeypatch.setattr(constants, "ENDPOINT", "http://127.0.0.1:9")  # refused at once
    with pytest.raises(ModelError) as info:
        hub.ensure([SAM, T5])
    assert info.value.__cause__ is None and not isinstance(info.value, hub.Unreachable)
    message = str(info.value)
    assert message.startswith("not on this machine: owner/model-huge (the model) and t5-base (its text encoder)")
    assert "huggingface.co cannot be reached" in message and "check the connection" in message
    assert "Error" not in message  # no raw exception text


def test_the_text_encoder_a_hub_model_needs(hf_cache: Path) -> None:
    def needed(default: str | None = "t5-base") -> str | None:
        found = hub.text_encoder_download("owner/model-huge", ["*.json"], default=default, text_patterns=["*.json"])
        return None if found is None else found.repo_id

    assert needed() == "t5-base"  # not cached yet: the default
    assert needed(None) is None
    folder = cache_repo(hf_cache, "owner/model-huge", {"config.json": json.dumps({"text_encoder": {"name": "o/t5"}})})
    assert needed() == "o/t5"
    (folder / "config.json").write_text(json.dumps({"text_encoder": {"dim": 8}}))
    assert needed() == "t5-base" and needed(None) is None
    for name in ("./local", "/abs/t5", "a/b/c"):
        (folder / "config.json").write_text(json.dumps({"text_encoder": {"name": name}}))
        assert needed() is None  # a folder: nothing to download, the model's check reports it
    (folder / "config.json").write_text(json.dumps({"text_encoder": {"name": "t5-here"}}))
    (folder / "t5-here").mkdir()
    assert needed() is None
    (folder / "config.json").write_text("[not a dict")
    assert needed() is None
    (folder / "config.json").write_text("{}")
    (folder / "text_encoder").mkdir()
    assert needed() is None
