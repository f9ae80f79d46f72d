"""The options of `ap extract roformer`, declared once, and the checkpoints `ap models list` shows."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from audio_playground.errors import APError
from audio_playground.specs import ModelInfo, OptionSpec

OPTIONS = (
    OptionSpec(
        "model",
        Path,
        None,
        "RoFormer checkpoint (.ckpt/.pth/.safetensors), or a folder holding one checkpoint and its YAML.",
        cache_key=False,  # the cache keys on the checkpoint's and config's hashes, not on where they lie
    ),
    OptionSpec(
        "config",
        Path,
        None,
        "The checkpoint's YAML config (default: the .yaml of the same name beside it). For settings, "
        "give a TOML file before the command: `ap --config settings.toml extract roformer ...`.",
        cache_key=False,
    ),
)


def _files(options: Mapping[str, Any]) -> Any:
    from ap_roformer.checkpoint import resolve_files

    model, config = options.get("model"), options.get("config")
    return resolve_files(None if model is None else Path(model), None if config is None else Path(config))


def cache_identity(options: Mapping[str, Any]) -> str | None:
    """SeparatorSpec.cache_identity: architecture + checkpoint hash + config hash; None when unusable."""
    from ap_roformer.checkpoint import identity

    try:
        return identity(_files(options))
    except (APError, OSError):
        return None  # the load reports what is wrong; a separation that cannot load is never cached


def list_models(options: Mapping[str, Any]) -> list[ModelInfo]:
    """SeparatorSpec.models: the checkpoints in --repo and in the roformer_dir setting, with their stems."""
    from ap_roformer.checkpoint import scan_folder
    from ap_roformer.configs import load_config

    folders = [Path(f).expanduser() for f in (options.get("repo"), options.get("models_dir")) if f is not None]
    infos: list[ModelInfo] = []
    seen: set[Path] = set()
    for folder in folders:
        if folder.resolve() in seen:
            continue
        seen.add(folder.resolve())
        if not folder.is_dir():
            infos.append(ModelInfo(folder.name, False, str(folder), "not a folder"))
            continue
        for checkpoint, config in scan_folder(folder):
            if config is None:
                note = f"no config: put {checkpoint.stem}.yaml beside it"
                infos.append(ModelInfo(checkpoint.stem, False, str(checkpoint), note))
                continue
            try:
                parsed = load_config(config)
            except APError as exc:
                infos.append(ModelInfo(checkpoint.stem, False, str(checkpoint), exc.message))
                continue
            note = f"{parsed.title}, config {config.name}"
            infos.append(ModelInfo(checkpoint.stem, True, str(checkpoint), note, stems=parsed.stems))
    if not infos:
        where = "set roformer_dir (AUDIO_PLAYGROUND_ROFORMER_DIR) or pass --repo DIR"
        infos.append(ModelInfo("(--model FILE.ckpt --config FILE.yaml)", True, "", f"no checkpoint folder: {where}"))
    return infos
