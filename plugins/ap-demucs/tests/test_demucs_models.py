"""Finding weights offline: --repo folders, the torch hub and Hugging Face caches, names, identities."""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from ap_demucs import models
from ap_demucs.models import (
    cache_identity,
    ensure_local,
    hf_repo_id,
    list_models,
    locate,
    offline,
    remote_bags,
    remote_files,
    torch_hub_checkpoints,
)
from ap_demucs.options import KNOWN_MODELS
from ap_demucs.testing import STEMS_6, tiny_htdemucs, write_bag
from audio_playground.errors import ExitStatus, ModelError, PluginError, UsageError

HTDEMUCS_FILE = "955717e8-8726e21a.th"


def sha16(*paths: Path) -> str:
    sha = hashlib.sha256()
    for path in paths:
        sha.update(path.read_bytes())
    return sha.hexdigest()[:16]


def put_in_torch_hub(source: Path, filename: str) -> Path:
    target = torch_hub_checkpoints() / filename
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    return target


def put_in_hf_cache(home: Path, name: str, signature: str, model: Any) -> Path:
    """Lay out a hub cache entry as huggingface_hub does: refs/main -> snapshots/<rev>/files."""
    from safetensors.torch import save_file

    repo_id = hf_repo_id(name)
    folder = home / "huggingface" / "hub" / ("models--" + repo_id.replace("/", "--"))
    revision = "0" * 40
    snapshot = folder / "snapshots" / revision
    snapshot.mkdir(parents=True)
    (folder / "refs").mkdir()
    (folder / "refs" / "main").write_text(revision)
    write_bag(snapshot / f"{name}.yaml", [signature])
    args, kwargs = model._init_args_kwargs
    state = {key: value.contiguous() for key, value in model.state_dict().items()}
    metadata = {"klass": "demucs.htdemucs.HTDemucs", "args": json.dumps(list(args)), "kwargs": json.dumps(kwargs)}
    save_file(state, str(snapshot / f"{signature}.safetensors"), metadata=metadata)
    return snapshot


# --------------------------------------------------------------------------- demucs's catalogue


def test_catalogue_comes_from_the_installed_demucs() -> None:
    bags = remote_bags()
    assert set(KNOWN_MODELS) <= set(bags)
    assert remote_files()["955717e8"] == HTDEMUCS_FILE
    assert hf_repo_id("htdemucs") == "adefossez/HTDemucs"
    assert hf_repo_id("htdemucs_ft") == "adefossez/HTDemucs-ft"
    assert hf_repo_id("mdx_extra_q") == "adefossez/Demucs-mdx_extra_q"


def test_missing_demucs_is_a_plugin_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "find_spec", lambda name: None)
    with pytest.raises(PluginError, match="demucs is not installed"):
        models.demucs_dir()


def test_torch_hub_folder_follows_the_environment(offline_caches: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = offline_caches / "torch" / "hub" / "checkpoints"
    assert torch_hub_checkpoints() == expected
    monkeypatch.delitem(sys.modules, "torch")  # the path computed without torch loaded is the same
    assert torch_hub_checkpoints() == expected
    monkeypatch.delenv("TORCH_HOME")
    assert torch_hub_checkpoints() == offline_caches / "torch" / "hub" / "checkpoints"


def test_hf_cache_folder_follows_the_environment(offline_caches: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert models.hf_cache_dir() == offline_caches / "huggingface" / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(offline_caches / "elsewhere"))
    assert models.hf_cache_dir() == offline_caches / "elsewhere"


@pytest.mark.parametrize(("value", "expected"), [("1", True), ("true", True), ("0", False), ("", False)])
def test_offline_flag(value: str, expected: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", value)
    assert offline() is expected


# --------------------------------------------------------------------------- --repo


def test_repo_models_are_listed_and_available(repo: Path) -> None:
    infos = {info.name: info for info in list_models({"repo": repo})}
    for name in ("tiny4", "tiny4b", "tiny6", "tinyd4", "tinyh4", "tinybag"):
        assert infos[name].available
        assert infos[name].location == str(repo)
    for name in KNOWN_MODELS:  # published names stay listed, unavailable in empty caches
        assert not infos[name].available


def test_unknown_model_lists_the_known_ones(repo: Path) -> None:
    with pytest.raises(ModelError) as caught:
        locate("nope")
    message = str(caught.value)
    assert "unknown Demucs model 'nope'" in message
    for name in KNOWN_MODELS:
        assert name in message
    assert caught.value.exit_code == ExitStatus.FAILURE
    with pytest.raises(ModelError, match="models here: tiny4, tiny4b, tiny6, tinybag, tinyd4, tinyh4"):
        locate("nope", repo)


def test_repo_must_be_a_folder(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="--repo is not a folder") as caught:
        locate("tiny4", tmp_path / "missing")
    assert caught.value.exit_code == ExitStatus.USAGE


def test_repo_signature_with_checksum_and_duplicates(repo: Path, tmp_path: Path) -> None:
    shutil.copyfile(repo / "tiny4.th", tmp_path / "tiny4-0123abcd.th")
    found = locate("tiny4", tmp_path)
    assert found is not None and found.files == (tmp_path / "tiny4-0123abcd.th",)
    shutil.copyfile(repo / "tiny4.th", tmp_path / "tiny4.th")
    with pytest.raises(ModelError, match="two weight files for signature tiny4"):
        locate("tiny4", tmp_path)


def test_bag_missing_a_model_and_broken_yaml(repo: Path, tmp_path: Path) -> None:
    shutil.copyfile(repo / "tiny4.th", tmp_path / "tiny4.th")
    write_bag(tmp_path / "half.yaml", ["tiny4", "gone"])
    (tmp_path / "broken.yaml").write_text("weights: [1]\n")
    with pytest.raises(ModelError, match="bag half needs gone, which this repo lacks"):
        locate("half", tmp_path)
    with pytest.raises(ModelError, match="not a demucs bag of models"):
        locate("broken", tmp_path)
    infos = {info.name: info for info in list_models({"repo": tmp_path})}
    assert infos["tiny4"].available
    assert not infos["half"].available and "lacks" in infos["half"].note
    assert not infos["broken"].available


# --------------------------------------------------------------------------- caches and downloads


def test_nothing_cached_means_unavailable() -> None:
    infos = list_models({})
    assert [info.name for info in infos] == list(KNOWN_MODELS)
    assert not any(info.available for info in infos)
    notes = {info.name: info.note for info in infos}
    assert notes["htdemucs"] == "downloaded on first use"
    assert notes["mdx_q"] == "needs diffq: pip install diffq"  # diffq is not installed here


def test_torch_hub_cache_is_found_offline(repo: Path) -> None:
    cached = put_in_torch_hub(repo / "tiny4.th", HTDEMUCS_FILE)
    found = locate("htdemucs")
    assert found is not None and found.kind == "torch-hub" and found.files == (cached,)
    bag_yaml = remote_bags()["htdemucs"]
    assert cache_identity({"model": "htdemucs"}) == "demucs:htdemucs:" + sha16(cached, bag_yaml)
    infos = {info.name: info for info in list_models({})}
    assert infos["htdemucs"].available and infos["htdemucs"].location == str(cached.parent)
    # a bare signature from demucs's list loads the same file
    found = locate("955717e8")
    assert found is not None and found.files == (cached,) and found.bag is None
    assert locate("5c90dfd2") is None


def test_hugging_face_cache_is_found_offline(offline_caches: Path) -> None:
    model = tiny_htdemucs(STEMS_6, seed=2)
    snapshot = put_in_hf_cache(offline_caches, "htdemucs_6s", "5c90dfd2", model)
    found = locate("htdemucs_6s")
    assert found is not None and found.kind == "huggingface"
    assert found.files == (snapshot / "5c90dfd2.safetensors",)
    assert found.bag is not None and found.bag.signatures == ("5c90dfd2",)
    assert locate("htdemucs_ft") is None  # its yaml is not cached


def test_hugging_face_bag_with_a_missing_model_is_unavailable(offline_caches: Path) -> None:
    snapshot = put_in_hf_cache(offline_caches, "htdemucs_6s", "5c90dfd2", tiny_htdemucs(STEMS_6))
    (snapshot / "5c90dfd2.safetensors").unlink()
    assert locate("htdemucs_6s") is None


def test_offline_model_says_how_to_get_it() -> None:
    with pytest.raises(ModelError) as caught:
        ensure_local("htdemucs")
    message = str(caught.value)
    assert "weights of Demucs model htdemucs are not on this machine" in message
    assert "python -m demucs -n htdemucs" in message and "--repo DIR" in message
    with pytest.raises(ModelError, match="not on this machine"):
        cache_identity({"model": "htdemucs"})


def test_failed_download_is_one_model_error(monkeypatch: pytest.MonkeyPatch) -> None:
    import demucs.pretrained

    def unreachable(name: str, repo: Path | None = None) -> None:  # what an offline machine gets
        raise OSError("[Errno 101] Network is unreachable")

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(models, "resolvable", lambda host: True)  # DNS works, the download does not
    monkeypatch.setattr(demucs.pretrained, "get_model", unreachable)
    with pytest.raises(ModelError) as caught:
        ensure_local("htdemucs_ft")
    message = str(caught.value)
    assert "downloading them failed (OSError: [Errno 101] Network is unreachable)" in message
    assert "Traceback" not in message


def test_no_network_fails_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    asked: list[str] = []

    def no_dns(host: str, port: int) -> list[Any]:  # what getaddrinfo does on a machine with no network
        asked.append(host)
        raise socket.gaierror(-2, "Name or service not known")

    assert models.resolvable("localhost")
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "https://hf-mirror.example:8443")
    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(ModelError) as caught:
        ensure_local("htdemucs")
    assert asked == ["hf-mirror.example", "huggingface.co", "dl.fbaipublicfiles.com"]
    assert "downloading them failed (no network: cannot resolve hf-mirror.example or huggingface.co or" in str(
        caught.value
    )


def test_download_then_load_from_the_cache(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import demucs.pretrained

    calls = []

    def fills_the_cache(name: str, repo_: Path | None = None) -> None:  # what a connected machine gets
        calls.append(name)
        put_in_torch_hub(repo / "tiny4.th", HTDEMUCS_FILE)

    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setattr(models, "resolvable", lambda host: True)
    monkeypatch.setattr(demucs.pretrained, "get_model", fills_the_cache)
    found = ensure_local("htdemucs")
    assert calls == ["htdemucs"] and found.kind == "torch-hub"
    assert ensure_local("htdemucs") == found and calls == ["htdemucs"]  # cached now: no second download

    monkeypatch.setattr(demucs.pretrained, "get_model", lambda name, repo=None: None)
    with pytest.raises(ModelError, match="the download left no files"):
        ensure_local("htdemucs_6s")


# --------------------------------------------------------------------------- identities


def test_cache_identity_hashes_weights_and_bag(repo: Path, tmp_path: Path) -> None:
    assert cache_identity({"model": "tiny4", "repo": repo}) == "demucs:tiny4:" + sha16(repo / "tiny4.th")
    expected = sha16(repo / "tiny4.th", repo / "tiny4b.th", repo / "tinybag.yaml")
    assert cache_identity({"model": "tinybag", "repo": str(repo)}) == "demucs:tinybag:" + expected

    shutil.copyfile(repo / "tiny4.th", tmp_path / "tiny4.th")
    before = cache_identity({"model": "tiny4", "repo": tmp_path})
    shutil.copyfile(repo / "tiny4b.th", tmp_path / "tiny4.th")  # other weights, same name
    after = cache_identity({"model": "tiny4", "repo": tmp_path})
    assert before != after and after == "demucs:tiny4:" + sha16(repo / "tiny4b.th")
