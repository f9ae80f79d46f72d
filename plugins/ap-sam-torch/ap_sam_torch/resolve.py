"""Where a --model lives (a short name, a hub id, or a local folder), checked before any weight is read.

A model folder holds upstream's config.json and checkpoint.pt (the layout of facebook/sam-audio-* on the hub).
The T5 text encoder is not in the checkpoint: it comes from text_encoder/ inside the folder, else from
config.json's text_encoder.name (a folder, or a hub id such as t5-base in the Hugging Face cache). Hub ids go
through the Hugging Face cache and are downloaded only when downloads are allowed (HF_HUB_OFFLINE unset).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audio_playground.errors import ModelError, UsageError
from audio_playground.prompted import DEFAULTS, SAM_MODEL_NAMES
from audio_playground.specs import ModelInfo

HUB_IDS: dict[str, str] = {name: f"facebook/sam-audio-{name}" for name in SAM_MODEL_NAMES}
"""Short --model names to Meta's releases (gated: request access on the model's hub page first)."""
CONFIG = "config.json"
CHECKPOINT = "checkpoint.pt"
TEXT_ENCODER_DIR = "text_encoder"
TEXT_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "spiece.model")
SAM_PATTERNS = [CONFIG, CHECKPOINT]
TEXT_PATTERNS = ["*.json", "*.safetensors", "spiece.model"]
FOLDER_HINT = (
    "a model folder needs config.json and checkpoint.pt (as on facebook/sam-audio-*), and a T5 text encoder: "
    "text_encoder/ with config.json, model.safetensors and a tokenizer, or t5-base in the Hugging Face cache; "
    "`python -m ap_sam_torch.testing DIR` writes a tiny example"
)
LOGIN_HINT = "log in with `hf auth login` (or `huggingface-cli login`) or set HF_TOKEN"


@dataclass(frozen=True)
class ModelLocation:
    """A resolved --model: the folder of config and checkpoint, the T5 encoder's folder, the hub id if any."""

    name: str
    folder: Path
    text_folder: Path
    hub_id: str | None = None

    @property
    def label(self) -> str:
        """How reports and errors name the model: its hub id, else its folder's name."""
        return self.hub_id or self.folder.name


def offline() -> bool:
    """True when Hugging Face downloads are off (HF_HUB_OFFLINE)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def snapshot(repo_id: str, patterns: list[str], *, download: bool = True) -> Path | None:
    """The local snapshot of `repo_id`: from the cache, else downloaded if allowed; None if not local."""
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns, local_files_only=True))
    except Exception:  # not cached (LocalEntryNotFoundError) or not a valid repo id
        if not download:
            return None
    if offline():
        raise ModelError(
            f"{repo_id} is not in the Hugging Face cache and downloads are off (HF_HUB_OFFLINE)",
            hint=f"on a connected machine run `hf download {repo_id}` and copy its cache here, "
            "unset HF_HUB_OFFLINE to download, or pass --model DIR (a local model folder)",
        )
    try:
        return Path(snapshot_download(repo_id, allow_patterns=patterns))
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
            f"cannot download {repo_id} ({_first_line(exc)})",
            hint="check the name and the connection, or pass --model DIR (a local model folder)",
        ) from exc


def hub_id_for(name: str) -> str | None:
    """The hub id a --model value names (a short name or owner/name), or None for anything else."""
    if name in HUB_IDS:
        return HUB_IDS[name]
    parts = name.split("/")
    if len(parts) == 2 and all(parts) and not name.startswith((".", "~")):
        return name
    return None


def resolve(name: str, *, download: bool = True) -> ModelLocation | None:
    """Locate --model `name` and check its files; None only when `download` is False and it is not local.

    Raises ModelError naming what is missing, UsageError for a value that is no model at all.
    """
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelError("--model is a file, not a model folder", path=path, hint=FOLDER_HINT)
        return _check(name, path, None, download=False)
    hub = hub_id_for(name)
    if hub is None:
        if os.sep in name or name.startswith((".", "~")):
            raise ModelError("model folder not found", path=path, hint="check the path, or " + _names_hint())
        raise UsageError(f"unknown --model {name!r}", hint=_names_hint())
    folder = snapshot(hub, SAM_PATTERNS, download=download)
    if folder is None:
        return None
    return _check(name, folder, hub, download=download)


def _names_hint() -> str:
    return f"use one of {', '.join(SAM_MODEL_NAMES)}, a hub id (owner/name) or a local model folder"


def read_config(folder: Path) -> dict[str, Any]:
    """config.json of a model folder as a dict (ModelError if it is not a JSON object)."""
    try:
        config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelError(f"config.json is not readable JSON ({exc})", path=folder, hint=FOLDER_HINT) from exc
    if not isinstance(config, dict):
        raise ModelError("config.json is not a JSON object", path=folder, hint=FOLDER_HINT)
    return config


def _text_folder(folder: Path, config: Mapping[str, Any], *, download: bool) -> Path | None:
    """text_encoder/ in the folder, else the config's text encoder name as a folder or a hub snapshot."""
    inside = folder / TEXT_ENCODER_DIR
    if inside.is_dir():
        return inside
    text = config.get("text_encoder")
    text_name = text.get("name", "t5-base") if isinstance(text, dict) else "t5-base"  # upstream's default
    if not isinstance(text_name, str) or not text_name:
        return None
    as_path = Path(text_name).expanduser()
    candidate = as_path if as_path.is_absolute() else folder / as_path
    if candidate.is_dir():
        return candidate
    if as_path.is_absolute() or text_name.startswith((".", "~")) or text_name.count("/") > 1:
        return None  # a folder that is not there
    return snapshot(text_name, TEXT_PATTERNS, download=download)


def _check(name: str, folder: Path, hub: str | None, *, download: bool) -> ModelLocation:
    missing: list[str] = []
    config: dict[str, Any] = {}
    if (folder / CONFIG).is_file():
        config = read_config(folder)
    else:
        missing.append(CONFIG)
    if not (folder / CHECKPOINT).is_file():
        missing.append(f"{CHECKPOINT} (the weights)")
    text = _text_folder(folder, config, download=download and hub is not None)
    if text is None:
        missing.append(f"{TEXT_ENCODER_DIR}/ (a T5 encoder and its tokenizer; or t5-base in the Hugging Face cache)")
    else:
        prefix = f"{text.name}/" if text.parent == folder else f"{text}/"
        if not (text / CONFIG).is_file():
            missing.append(f"{prefix}config.json")
        if not any((text / f).is_file() for f in TEXT_WEIGHTS):
            missing.append(f"{prefix}model.safetensors")
        if not any((text / f).is_file() for f in TOKENIZER_FILES):
            missing.append(f"{prefix}tokenizer.json or {prefix}spiece.model")
    if missing:
        where = f"the model {hub}" if hub else "the model folder"
        raise ModelError(f"{where} lacks {', '.join(missing)}", path=folder, hint=FOLDER_HINT)
    assert text is not None
    return ModelLocation(name, folder, text, hub)


def _digest_file(digest: Any, path: Path) -> None:
    """Size plus 64 KiB at each end: different weights differ there, and no gigabyte file is read whole."""
    size = path.stat().st_size
    digest.update(f"{path.name}:{size}".encode())
    with path.open("rb") as handle:
        digest.update(handle.read(1 << 16))
        handle.seek(max(0, size - (1 << 16)))
        digest.update(handle.read())


def fingerprint(location: ModelLocation) -> str:
    """A short hash naming these weights: both configs, the checkpoint's and the text encoder's weight files."""
    digest = hashlib.sha256()
    digest.update((location.folder / CONFIG).read_bytes())
    _digest_file(digest, location.folder / CHECKPOINT)
    digest.update((location.text_folder / CONFIG).read_bytes())
    for weights in TEXT_WEIGHTS:
        if (location.text_folder / weights).is_file():
            _digest_file(digest, location.text_folder / weights)
    return digest.hexdigest()[:16]


def identity(options: Mapping[str, Any]) -> str | None:
    """The cache identity of --model: name plus weights fingerprint (no download, no weight loading).

    None (never cached) for a model that is not on this machine yet: its weights cannot be named before loading.
    """
    name = str(options.get("model") or DEFAULTS["model"])
    try:
        location = resolve(name, download=False)
    except (ModelError, UsageError):
        location = None
    if location is None:
        return None
    return f"sam-audio/pytorch:{name}:{fingerprint(location)}"


def list_models(options: Mapping[str, Any]) -> list[ModelInfo]:
    """The short-named models (and --model or --repo if another), each with whether it is on this machine."""
    names = list(SAM_MODEL_NAMES)
    for given in (options.get("model"), options.get("repo")):
        if given and str(given) not in names:
            names.append(str(given))
    found: list[ModelInfo] = []
    for name in names:
        hub = hub_id_for(name)
        try:
            location = resolve(name, download=False)
        except (ModelError, UsageError) as exc:
            found.append(ModelInfo(name, False, hub or name, exc.message))
            continue
        if location is None:
            note = f"not downloaded: `hf download {hub}` (gated: request access first)" if hub else "not found"
            found.append(ModelInfo(name, False, hub or name, note))
        else:
            found.append(ModelInfo(name, True, str(location.folder), f"hub: {hub}" if hub else "local folder"))
    return found
