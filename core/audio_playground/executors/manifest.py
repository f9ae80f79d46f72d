"""The run manifest: `{output_dir}/run-manifest.jsonl`, one JSON record per finished input (contracts.md).

Records are appended as inputs finish, one flushed line each; a rerun appends, and the last line for an input
wins. A line cut short by a crash (or any line that is not a JSON object with an "input") is skipped on read.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MANIFEST_NAME = "run-manifest.jsonl"
STATUSES = ("done", "cached", "failed")


def now() -> str:
    """The timestamp records carry: ISO 8601, UTC, seconds."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def iter_records(folder: str | Path) -> Iterator[dict[str, Any]]:
    """Every well-formed record of the folder's manifest, in file order, streamed (nothing when absent)."""
    path = Path(folder) / MANIFEST_NAME
    try:
        handle = path.open("rb")
    except FileNotFoundError:
        return
    with handle:
        for raw in handle:
            try:
                record = json.loads(raw)
            except ValueError:
                continue
            if isinstance(record, dict) and isinstance(record.get("input"), str) and record.get("status") in STATUSES:
                yield record


def read_manifest(folder: str | Path) -> dict[str, dict[str, Any]]:
    """Input path -> its last record; {} when the folder has no manifest; bad lines skipped."""
    return {record["input"]: record for record in iter_records(folder)}


def last_status(folder: str | Path) -> dict[str, tuple[str, str]]:
    """Input path -> (status, track) of its last record: what --retry-failed needs, without the records."""
    return {r["input"]: (r["status"], str(r.get("track") or Path(r["input"]).stem)) for r in iter_records(folder)}


class ManifestWriter:
    """Appends records to a folder's manifest, one flushed line each (a rerun appends to what is there)."""

    def __init__(self, folder: str | Path) -> None:
        self.path = Path(folder) / MANIFEST_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("ab")
        # A line cut short by a crash must not swallow the first record of this run.
        if self._handle.tell() > 0 and not _ends_with_newline(self.path):
            self._handle.write(b"\n")

    def write(self, record: Mapping[str, Any]) -> None:
        line = json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str)
        self._handle.write(line.encode("utf-8") + b"\n")
        self._handle.flush()

    def close(self) -> None:
        if not self._handle.closed:
            self._handle.flush()
            os.fsync(self._handle.fileno())
            self._handle.close()

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"
