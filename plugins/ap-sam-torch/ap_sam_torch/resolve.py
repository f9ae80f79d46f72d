"""Where a --model lives (a short name, a hub id, or a local folder), checked before any weight is read.

A model folder holds upstream's config.json and checkpoint.pt (the layout of facebook/sam-audio-* on the hub).
The T5 text encoder is not in the checkpoint: it comes from text_encoder/ inside the folder, else from
config.json's text_encoder.name (a folder, or a hub id such as t5-base in the Hugging Face cache). Hub ids go
through the Hugging Face cache and are downloaded only when downloads are allowed (HF_HUB_OFFLINE unset).
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

HUB_IDS: dict[str, str] = {name: f"facebook/sam-audio-{name}" for name in SAM_MODEL_NAMES}
"""Short --model names to Meta's releases (gated: request access on the model's hub page first)."""
CONFIG = "config.json"
CHECKPOINT = "checkpoint.pt"
TEXT_ENCODER_DIR = "text_encoder"
TEXT_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
TOKENIZER_FILES = ("tokenizer.json", "spiece.model")
SAM_PATTERNS = [CONFIG, CHECKPOINT]
TEXT_PATTERNS = ["*.json", "*.safetensors", "spiece.model"]
GATED = "the model, gated: request access on its hub page first"
DEFAULT_TEXT_ENCODER = "t5-base"
"""The text encoder when config.json names none (upstream's default)."""
FOLDER_HINT = (
    "a model folder needs config.json and checkpoint.pt (as on facebook/sam-audio-*), and a T5 text encoder: "
    "text_encoder/ with config.json, model.safetensors and a tokenizer, or t5-base in the Hugging Face cache; "
    "`python -m ap_sam_torch.testing DIR` writes a tiny example"
)


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


def downloads(hub_id: str) -> list[hub.Download]:
    """What a hub model needs from the hub: itself and, unless it holds one, its T5 text encoder."""
    text = hub.text_encoder_download(hub_id, SAM_PATTERNS, default=DEFAULT_TEXT_ENCODER, text_patterns=TEXT_PATTERNS)
    return [hub.Download(hub_id, tuple(SAM_PATTERNS), GATED), *([text] if text is not None else [])]


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


def read_config(folder: Path) -> dict[str, Any]:
    """config.json of a model folder as a dict (ModelError if it is not a JSON object)."""
    return hub.read_config(folder, hint=FOLDER_HINT)


def _text_folder(folder: Path, config: Mapping[str, Any], *, download: bool) -> Path | None:
    """text_encoder/ in the folder, else the config's text encoder name as a folder or a hub snapshot."""
    inside = folder / TEXT_ENCODER_DIR
    if inside.is_dir():
        return inside
    text = config.get("text_encoder")
    text_name = text.get("name", DEFAULT_TEXT_ENCODER) if isinstance(text, dict) else DEFAULT_TEXT_ENCODER
    if not isinstance(text_name, str) or not text_name:
        return None
    as_path = Path(text_name).expanduser()
    candidate = as_path if as_path.is_absolute() else folder / as_path
    if candidate.is_dir():
        return candidate
    if as_path.is_absolute() or text_name.startswith((".", "~")) or text_name.count("/") > 1:
        return None  # a folder that is not there
    return hub.snapshot(text_name, TEXT_PATTERNS, download=download)


def _check(name: str, folder: Path, hub_id: str | None, download: bool) -> ModelLocation:
    missing: list[str] = []
    config: dict[str, Any] = {}
    if (folder / CONFIG).is_file():
        config = read_config(folder)
    else:
        missing.append(CONFIG)
    if not (folder / CHECKPOINT).is_file():
        missing.append(f"{CHECKPOINT} (the weights)")
    text = _text_folder(folder, config, download=download and hub_id is not None)
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
        where = f"the model {hub_id}" if hub_id else "the model folder"
        raise ModelError(f"{where} lacks {', '.join(missing)}", path=folder, hint=FOLDER_HINT)
    assert text is not None
    return ModelLocation(name, folder, text, hub_id)


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
    """The cache identity of --model (name plus weights fingerprint); None for a model not on this machine."""
    name = str(options.get("model") or DEFAULTS["model"])
    return hub.identity("sam-audio/pytorch", name, lambda n: resolve(n, download=False), fingerprint)


def list_models(options: Mapping[str, Any]) -> list[ModelInfo]:
    """The short-named models (and --model or --repo if another), each with whether it is on this machine."""
    names = list(SAM_MODEL_NAMES)
    for given in (options.get("model"), options.get("repo")):
        if given and str(given) not in names:
            names.append(str(given))
    note = " (gated: request access first)"
    return hub.list_models(names, HUB_IDS, lambda name: resolve(name, download=False), download_note=note)
