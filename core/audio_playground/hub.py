"""Hugging Face hub resolution shared by model plugins: --model as a short name, a hub id or a local folder.

The core does not depend on huggingface_hub: a plugin that resolves hub models declares it, and these functions
import it only when they touch the hub. Cached snapshots come first; downloads happen only when allowed
(HF_HUB_OFFLINE unset) and asked for, and every failure is one ModelError that says what to do. What a model
folder must hold stays with each plugin (the `check` passed to `resolve`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

from audio_playground.errors import ModelError, UsageError
from audio_playground.specs import ModelInfo

__all__ = [
    "LOGIN_HINT",
    "Download",
    "Located",
    "Unreachable",
    "ensure",
    "first_line",
    "hub_id_for",
    "list_models",
    "names_hint",
    "offline",
    "read_config",
    "resolve",
    "snapshot",
    "text_encoder_download",
]

LOGIN_HINT = "log in with `hf auth login` (or `huggingface-cli login`) or set HF_TOKEN"
"""How to give this machine a Hugging Face identity (gated and private repos)."""
_TRUE = ("1", "true", "yes", "on")

T = TypeVar("T")


class Located(Protocol):
    """What `list_models` needs of a plugin's resolved model: the folder it lives in."""

    @property
    def folder(self) -> Path: ...


def offline() -> bool:
    """True when Hugging Face downloads are off (HF_HUB_OFFLINE in the environment or huggingface_hub's constants)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _TRUE:
        return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def first_line(exc: BaseException) -> str:
    """An exception as one line for an error message: its type and the first line of its text."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def snapshot(repo_id: str, patterns: Sequence[str], *, download: bool = True) -> Path | None:
    """The local snapshot of `repo_id`: from the cache, else downloaded if allowed; None if not local.

    ModelError when it must be downloaded and cannot be: downloads off, a gated repo without access, a repo the
    hub does not have (or a private one), any other failure; each names the fix.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    allow = list(patterns)
    try:
        return Path(snapshot_download(repo_id, allow_patterns=allow, local_files_only=True))
    except Exception:  # not cached (LocalEntryNotFoundError) or not a valid repo id
        if not download:
            return None
    if offline():
        raise ModelError(
            f"{repo_id} is not in the Hugging Face cache and downloads are off (HF_HUB_OFFLINE)",
            hint=f"on a connected machine run `hf download {repo_id}` and copy its cache here, "
            "unset HF_HUB_OFFLINE to download, or pass --model DIR (a local model folder)",
        )
    from huggingface_hub.errors import LocalEntryNotFoundError

    try:
        return Path(snapshot_download(repo_id, allow_patterns=allow))
    except LocalEntryNotFoundError as exc:  # nothing cached, and the hub did not answer (or answered an error)
        if not _no_connection(exc):
            raise ModelError(
                f"cannot download {repo_id} ({first_line(exc.__cause__ or exc)})",
                hint="check the name and the connection, or pass --model DIR (a local model folder)",
            ) from exc
        raise Unreachable(
            f"{repo_id} is not on this machine and huggingface.co cannot be reached",
            hint=f"check the connection; or on a connected machine run `{Download(repo_id, tuple(allow)).command}` "
            f"and copy its cache ({_cache_dir()}) here, or pass --model DIR (a local model folder)",
        ) from exc
    except GatedRepoError as exc:
        raise ModelError(
            f"{repo_id} is gated and this machine has no access to it",
            hint=f"request access on https://huggingface.co/{repo_id}, then {LOGIN_HINT}; "
            "or pass --model DIR (a local copy)",
        ) from exc
    except RepositoryNotFoundError as exc:
        raise ModelError(
            f"{repo_id} is not on the Hugging Face hub, or is private",
            hint=f"check the name; for a private or gated model {LOGIN_HINT}",
        ) from exc
    except Exception as exc:
        raise ModelError(
            f"cannot download {repo_id} ({first_line(exc)})",
            hint="check the name and the connection, or pass --model DIR (a local model folder)",
        ) from exc


def _no_connection(exc: BaseException) -> bool:
    """Whether `exc` came from a connection that could not be made or timed out (not an answer of the hub)."""
    seen = exc.__cause__ or exc.__context__
    while seen is not None:
        name = type(seen).__name__
        if "HTTPStatus" in name or name == "HfHubHTTPError":  # the hub answered, with an error
            return False
        if "Connect" in name or "Timeout" in name or isinstance(seen, ConnectionError | TimeoutError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


class Unreachable(ModelError):
    """A repo that is not cached and cannot be downloaded: the hub does not answer."""


@dataclass(frozen=True)
class Download:
    """A hub repo a model needs: its id, the files of it that are used, and what it is to the model."""

    repo_id: str
    patterns: tuple[str, ...]
    role: str = "the model"

    @property
    def command(self) -> str:
        """The command that puts it in a Hugging Face cache."""
        return f"hf download {self.repo_id} --include " + " ".join(f"'{p}'" for p in self.patterns)


def _cache_dir() -> str:
    from huggingface_hub import constants

    return str(constants.HF_HUB_CACHE)


def ensure(downloads: Sequence[Download], *, download: bool = True) -> bool:
    """Make every repo in `downloads` local; False when some are not and `download` is False.

    Missing repos with no way to fetch them (downloads off, the hub unreachable) are one ModelError naming
    every one and the commands that fetch them all; a refusal of one repo (gated, unknown) is its own error.
    """
    missing = [item for item in downloads if snapshot(item.repo_id, item.patterns, download=False) is None]
    if not missing:
        return True
    if not download:
        return False
    if offline():
        raise _not_here(missing, "downloads are off (HF_HUB_OFFLINE)", "unset HF_HUB_OFFLINE to download, ")
    for item in missing:
        try:
            snapshot(item.repo_id, item.patterns)
        except Unreachable:
            raise _not_here(missing, "huggingface.co cannot be reached", "check the connection, ") from None
    return True


def _not_here(missing: Sequence[Download], why: str, option: str) -> ModelError:
    names = " and ".join(f"{item.repo_id} ({item.role})" for item in missing)
    commands = " && ".join(item.command for item in missing)
    return ModelError(
        f"not on this machine: {names}, and {why}",
        hint=f"on a connected machine run `{commands}` and copy the Hugging Face cache ({_cache_dir()}) here; "
        f"or {option}or pass --model DIR (a local model folder)",
    )


def text_encoder_download(
    hub_id: str, patterns: Sequence[str], *, default: str | None, text_patterns: Sequence[str]
) -> Download | None:
    """The text encoder repo a hub model needs besides itself, judged without downloading anything.

    A cached model names it in config.json (text_encoder.name; `default` when unset) unless it holds a
    text_encoder/ folder; a model not yet cached is taken to use `default`. None: nothing to download (the
    model's own check reports a text encoder that is missing otherwise).
    """
    name: Any = default
    folder = snapshot(hub_id, patterns, download=False)
    if folder is not None:
        if (folder / "text_encoder").is_dir():
            return None
        try:
            config = read_config(folder)
        except ModelError:
            return None
        entry = config.get("text_encoder")
        name = entry.get("name", default) if isinstance(entry, dict) else default
    if not isinstance(name, str) or not name or name.startswith((".", "~", "/")) or name.count("/") > 1:
        return None
    if folder is not None and (folder / name).is_dir():
        return None
    return Download(name, tuple(text_patterns), "its text encoder")


def hub_id_for(name: str, short_names: Mapping[str, str]) -> str | None:
    """The hub id a --model value names (a short name or owner/name), or None for anything else."""
    if name in short_names:
        return short_names[name]
    parts = name.split("/")
    if len(parts) == 2 and all(parts) and not name.startswith((".", "~")):
        return name
    return None


def names_hint(short_names: Iterable[str]) -> str:
    """What a --model value may be, for the hint of an unknown one."""
    return f"use one of {', '.join(short_names)}, a hub id (owner/name) or a local model folder"


def resolve(
    name: str,
    short_names: Mapping[str, str],
    patterns: Sequence[str],
    check: Callable[[str, Path, str | None, bool], T],
    *,
    folder_hint: str,
    download: bool = True,
) -> T | None:
    """Locate --model `name` and hand its folder to `check`; None only when `download` is False and it is not local.

    A folder that exists is checked as is (`check(name, folder, None, False)`: a local model never downloads);
    a short name or owner/name goes through the hub cache (`snapshot` of `patterns`), then
    `check(name, snapshot, hub_id, download)`. ModelError for a file or a folder that is not there, UsageError
    for a value that is no model at all; `folder_hint` says what a model folder holds.
    """
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError("--model is a file, not a model folder", path=path, hint=folder_hint)
        return check(name, path, None, False)
    hub = hub_id_for(name, short_names)
    if hub is None:
        if os.sep in name or name.startswith((".", "~")):
            raise ModelError("model folder not found", path=path, hint="check the path, or " + names_hint(short_names))
        raise UsageError(f"unknown --model {name!r}", hint=names_hint(short_names))
    folder = snapshot(hub, patterns, download=download)
    if folder is None:
        return None
    return check(name, folder, hub, download)


def identity(prefix: str, name: str, locate: Callable[[str], T | None], fingerprint: Callable[[T], str]) -> str | None:
    """A cache identity "<prefix>:<name>:<weights fingerprint>", with no download and no weight loading.

    None (never cached) for a model that is not on this machine yet: its weights cannot be named before loading.
    """
    try:
        location = locate(name)
    except (ModelError, UsageError):
        location = None
    return None if location is None else f"{prefix}:{name}:{fingerprint(location)}"


def read_config(folder: Path, *, hint: str = "") -> dict[str, Any]:
    """config.json of a model folder as a dict (ModelError if it is not readable JSON or not an object)."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"config.json is not readable JSON ({exc})", path=folder, hint=hint) from exc
    if not isinstance(config, dict):
        raise ModelError("config.json is not a JSON object", path=folder, hint=hint)
    return config


def list_models(
    names: Iterable[str],
    short_names: Mapping[str, str],
    locate: Callable[[str], Located | None],
    *,
    download_note: str = "",
) -> list[ModelInfo]:
    """Each named model and whether it is on this machine; `locate(name)` resolves without downloading.

    A model that is not there says why (the resolver's error), or, for a hub model not yet cached, how to get
    it: `hf download ID` followed by `download_note`.
    """
    found: list[ModelInfo] = []
    for name in names:
        hub = hub_id_for(name, short_names)
        try:
            location = locate(name)
        except (ModelError, UsageError) as exc:
            found.append(ModelInfo(name, False, hub or name, exc.message))
            continue
        if location is None:
            note = f"not downloaded: `hf download {hub}`{download_note}" if hub else "not found"
            found.append(ModelInfo(name, False, hub or name, note))
        else:
            found.append(ModelInfo(name, True, str(location.folder), f"hub: {hub}" if hub else "local folder"))
    return found
