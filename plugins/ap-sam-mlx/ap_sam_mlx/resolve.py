"""Where a --model lives (a short name, a hub id, or a local folder), checked before any weight is read.

A model folder holds config.json and the SAM-Audio weights (*.safetensors); its T5 text encoder and
tokenizer come from text_encoder/ inside it, else from config.json's text_encoder.name (a folder, or a
hub id already in the Hugging Face cache). Hub ids resolve through the Hugging Face cache; they are
downloaded only when downloads are allowed (HF_HUB_OFFLINE unset) and the caller asks for it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audio_playground import hub
from audio_playground.errors import ModelError
from audio_playground.prompted import DEFAULTS, SAM_MODEL_NAMES
from audio_playground.specs import ModelInfo

HUB_IDS: dict[str, str] = {name: f"mlx-community/sam-audio-{name}" for name in SAM_MODEL_NAMES}
"""Short --model names to mlx-community's conversions of facebook/sam-audio-*."""
TEXT_ENCODER_DIR = "text_encoder"
TOKENIZER_FILES = ("tokenizer.json", "spiece.model")
SAM_PATTERNS = ["*.json", "*.safetensors"]
TEXT_PATTERNS = ["*.json", "*.safetensors", "spiece.model"]
DEFAULT_TEXT_ENCODER = "t5-base"
"""The text encoder when config.json names none (mlx-audio's default, and that of mlx-community's conversions)."""
FOLDER_HINT = (
    "a model folder needs config.json, the weights (*.safetensors) and text_encoder/ with a T5 encoder's "
    "config.json, model.safetensors and tokenizer (tokenizer.json or spiece.model); "
    "`python -m ap_sam_mlx.testing DIR` writes a tiny example"
)


@dataclass(frozen=True)
class ModelLocation:
    """A resolved --model: the folder of config and weights, the text encoder's folder, the hub id if any."""

    name: str
    folder: Path
    text_folder: Path
    hub_id: str | None = None


def downloads(hub_id: str) -> list[hub.Download]:
    """What a hub model needs from the hub: itself and, unless it holds one, its T5 text encoder."""
    text = hub.text_encoder_download(hub_id, SAM_PATTERNS, default=DEFAULT_TEXT_ENCODER, text_patterns=TEXT_PATTERNS)
    return [hub.Download(hub_id, tuple(SAM_PATTERNS)), *([text] if text is not None else [])]


def resolve(name: str, *, download: bool = True) -> ModelLocation | None:
    """Locate --model `name` and check its files; None only when `download` is False and it is not local.

    A hub model and its text encoder are fetched (or found missing) together, so that an offline machine
    hears of every download it lacks in one line. Raises ModelError naming what is missing, UsageError for a
    value that is no model at all.
    """
    hub_id = None if Path(name).expanduser().exists() else hub.hub_id_for(name, HUB_IDS)
    if hub_id is not None and download:
        hub.ensure(downloads(hub_id))
    return hub.resolve(name, HUB_IDS, SAM_PATTERNS, _check, folder_hint=FOLDER_HINT, download=download)


def _text_folder(folder: Path, config: Mapping[str, Any], *, download: bool) -> Path | None:
    """text_encoder/ in the folder, else the config's text encoder name as a folder or a hub snapshot."""
    inside = folder / TEXT_ENCODER_DIR
    if inside.is_dir():
        return inside
    text = config.get("text_encoder")
    text_name = text.get("name", DEFAULT_TEXT_ENCODER) if isinstance(text, dict) else DEFAULT_TEXT_ENCODER
    if not isinstance(text_name, str) or not text_name:
        return None
    candidate = (folder / text_name).expanduser()
    if candidate.is_dir():
        return candidate
    # a hub id such as "t5-base": already cached, or (for a hub model) downloaded like the model itself
    return hub.snapshot(text_name, TEXT_PATTERNS, download=download)


def _check(name: str, folder: Path, hub_id: str | None, download: bool) -> ModelLocation:
    missing: list[str] = []
    config: dict[str, Any] = {}
    if (folder / "config.json").is_file():
        config = hub.read_config(folder, hint=FOLDER_HINT)
    else:
        missing.append("config.json")
    if not any(folder.glob("*.safetensors")):
        missing.append("*.safetensors (the weights)")
    text = _text_folder(folder, config, download=download and hub_id is not None)
    if text is None:
        missing.append(f"{TEXT_ENCODER_DIR}/ (a T5 encoder and its tokenizer)")
    else:
        prefix = f"{text.name}/" if text.parent == folder else f"{text}/"
        if not (text / "config.json").is_file():
            missing.append(f"{prefix}config.json")
        if not any(text.glob("*.safetensors")):
            missing.append(f"{prefix}model.safetensors")
        if not any((text / f).is_file() for f in TOKENIZER_FILES):
            missing.append(f"{prefix}tokenizer.json or {prefix}spiece.model")
    if missing:
        where = f"the model {hub_id}" if hub_id else "the model folder"
        raise ModelError(f"{where} lacks {', '.join(missing)}", path=folder, hint=FOLDER_HINT)
    assert text is not None
    return ModelLocation(name, folder, text, hub_id)


def fingerprint(location: ModelLocation) -> str:
    """A short hash naming these weights: configs, and each weight file's size, header and edges.

    Cheap on multi-gigabyte files: the safetensors header (names, shapes, offsets) and 64 KiB at each end
    of the data tell different weights apart without reading them whole.
    """
    digest = hashlib.sha256()
    for folder in (location.folder, location.text_folder):
        config = folder / "config.json"
        digest.update(config.read_bytes())
        for path in sorted(folder.glob("*.safetensors")):
            size = path.stat().st_size
            digest.update(f"{path.name}:{size}".encode())
            with path.open("rb") as handle:
                head = handle.read(8)
                header = int.from_bytes(head, "little") if len(head) == 8 else 0
                digest.update(handle.read(min(header, 1 << 24)))
                digest.update(handle.read(1 << 16))
                handle.seek(max(0, size - (1 << 16)))
                digest.update(handle.read())
    return digest.hexdigest()[:16]


def identity(options: Mapping[str, Any]) -> str | None:
    """The cache identity of --model (name plus weights fingerprint); None for a model not on this machine."""
    name = str(options.get("model") or DEFAULTS["model"])
    return hub.identity("sam-audio/mlx", name, lambda n: resolve(n, download=False), fingerprint)


def list_models(options: Mapping[str, Any]) -> list[ModelInfo]:
    """The short-named models (and --model if it is another), each with whether it is on this machine."""
    names = list(SAM_MODEL_NAMES)
    given = options.get("model")
    if given and str(given) not in names:
        names.append(str(given))
    return hub.list_models(names, HUB_IDS, lambda name: resolve(name, download=False))
