"""What a run recorded about each input (run-manifest.jsonl), matched to the report's tracks."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

SETTING_KEYS = ("separator", "model", "backend", "options", "seconds", "audio_seconds", "worker", "status", "error")


def read_manifest(folder: Path) -> dict[str, dict[str, Any]]:
    """Input path -> the last record for it (the executors' reader: bad lines skipped; {} without a manifest)."""
    from audio_playground.executors.manifest import read_manifest as read

    return read(folder)


def _resolved(path: Any) -> str:
    try:
        return str(Path(path).resolve())
    except (OSError, TypeError, ValueError):
        return str(path)


def settings_for(records: Mapping[str, Mapping[str, Any]], name: str, stems: Mapping[str, Path]) -> dict[str, Any]:
    """The recorded settings of the track: the record whose outputs are its stems, else the one named like it."""
    wanted = {_resolved(p) for p in stems.values()}
    chosen: Mapping[str, Any] | None = None
    for record in records.values():
        outputs = record.get("outputs")
        if isinstance(outputs, Mapping) and wanted & {_resolved(p) for p in outputs.values()}:
            chosen = record
    if chosen is None:
        chosen = next((r for r in records.values() if r.get("track") == name), None)
    if chosen is None:
        return {}
    found = {key: json_safe(chosen[key]) for key in SETTING_KEYS if chosen.get(key) is not None}
    if isinstance(chosen.get("input"), str):
        found["input"] = chosen["input"]
    return found


def json_safe(value: Any) -> Any:
    """A setting as JSON data: containers kept, numbers and booleans kept, anything else as text."""
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v) for v in value]
    if isinstance(value, float):
        return value if value == value and value not in (float("inf"), float("-inf")) else str(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)
