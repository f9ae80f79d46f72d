"""The inputs of a batch: files, folders (optionally recursive), globs, and --manifest FILE, as a stream.

A manifest (one path a line, or CSV / JSONL with a `path` column) is read line by line and never held whole:
a library of 100,000 files costs the driver one line at a time. Paths on the command line are checked up front
(a missing one is a usage error, exit 2); a manifest line that is not a readable file reaches a worker and is
recorded as failed, so one bad line never stops a batch.
"""

from __future__ import annotations

import csv
import glob
import json
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from audio_playground.errors import InputError, UsageError
from audio_playground.specs import WorkItem

PATH_COLUMN = "path"


def _media_suffixes() -> frozenset[str]:
    from audio_playground.api import MEDIA_SUFFIXES

    return MEDIA_SUFFIXES


def _folder_files(folder: Path, recursive: bool) -> list[tuple[Path, str]]:
    """(file, track) for the media files in `folder`, sorted, hidden ones skipped (macOS's ._ files, .git);
    with `recursive`, the track keeps the subfolders."""
    suffixes = _media_suffixes()
    if not recursive:
        return [
            (p, p.stem)
            for p in sorted(folder.iterdir())
            if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".")
        ]
    found: list[tuple[Path, str]] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            if path.suffix.lower() in suffixes and not name.startswith("."):
                found.append((path, path.relative_to(folder).with_suffix("").as_posix()))
    return found


def expand(paths: Iterable[str | Path], *, recursive: bool = False) -> list[tuple[Path, str]]:
    """(file, track) for every input given: files as they are, folders' media files, glob matches."""
    found: list[tuple[Path, str]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            inside = _folder_files(path, recursive)
            if not inside:
                hint = "put audio or video files in it" + ("" if recursive else ", or pass --recursive for subfolders")
                raise InputError("folder has no audio or video files", path=path, hint=hint)
            found.extend(inside)
        elif path.exists():
            found.append((path, path.stem))
        elif glob.has_magic(str(raw)):
            matches = sorted(glob.glob(str(raw), recursive=True))
            files = [Path(m) for m in matches if Path(m).is_file()]
            if not files:
                raise InputError("no file matches this pattern", path=str(raw), hint="check the glob")
            found.extend((p, p.stem) for p in files)
        else:
            raise InputError("no such file or folder", path=path, hint="check the path")
    return found


def _manifest_kind(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in {".jsonl", ".ndjson", ".json"}:
        return "jsonl"
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.strip():
                return "jsonl" if line.lstrip().startswith("{") else "lines"
    return "lines"


def iter_manifest(manifest: str | Path) -> Iterator[Path]:
    """The paths a manifest lists, streamed; relative ones are relative to the manifest's folder."""
    path = Path(manifest)
    if not path.is_file():
        raise InputError("manifest not found", path=path, hint="pass a file of paths to --manifest")
    base = path.parent
    kind = _manifest_kind(path)

    def resolved(text: str) -> Path:
        entry = Path(text).expanduser()
        return entry if entry.is_absolute() else base / entry

    with path.open(encoding="utf-8", newline="" if kind == "csv" else None) as handle:
        if kind == "csv":
            reader = csv.DictReader(handle)
            if reader.fieldnames is None or PATH_COLUMN not in reader.fieldnames:
                raise UsageError(
                    f"CSV manifest has no {PATH_COLUMN!r} column",
                    path=path,
                    hint=f"add a header line naming a {PATH_COLUMN} column",
                )
            for row in reader:
                value = (row.get(PATH_COLUMN) or "").strip()
                if value:
                    yield resolved(value)
            return
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text or (kind == "lines" and text.startswith("#")):
                continue
            if kind == "lines":
                yield resolved(text)
                continue
            try:
                row = json.loads(text)
            except ValueError as exc:
                raise UsageError(f"{path}:{number}: not a JSON object ({exc})", hint="one JSON object a line") from exc
            value = row.get(PATH_COLUMN) if isinstance(row, dict) else None
            if not isinstance(value, str) or not value.strip():
                raise UsageError(
                    f"{path}:{number}: no {PATH_COLUMN!r} field", hint=f'each line needs {{"{PATH_COLUMN}": "..."}}'
                )
            yield resolved(value.strip())


def count_manifest(manifest: str | Path) -> int:
    """How many paths a manifest lists (one streamed pass, for the progress total)."""
    return sum(1 for _ in iter_manifest(manifest))


def work_items(
    paths: Iterable[str | Path] = (),
    *,
    recursive: bool = False,
    manifest: str | Path | None = None,
) -> tuple[Iterator[WorkItem], int]:
    """The items of a batch and how many there are: the paths given (checked now), then the manifest's (streamed).

    Input paths are made absolute (symlinks kept), so records and workers name the same file from any folder.
    """
    given = expand(paths, recursive=recursive)
    total = len(given) + (count_manifest(manifest) if manifest is not None else 0)
    if total == 0:
        raise UsageError("no input given", hint="pass files, folders or globs, or --manifest FILE")

    def generate() -> Iterator[WorkItem]:
        index = 0
        for path, track in given:
            yield WorkItem(index, str(path.absolute()), track)
            index += 1
        if manifest is not None:
            for path in iter_manifest(manifest):
                yield WorkItem(index, str(path.absolute()), path.stem)
                index += 1

    return generate(), total


def failed_items(output_dir: str | Path, only: Iterable[str | Path] = ()) -> tuple[Iterator[WorkItem], int]:
    """--retry-failed: the inputs whose last record in the folder's manifest failed (of `only`, when given)."""
    only = list(only)
    from audio_playground.executors.manifest import MANIFEST_NAME, last_status

    wanted = {str(Path(p).absolute()) for p, _ in expand(only)} if only else None
    failed = [
        (path, track)
        for path, (status, track) in last_status(output_dir).items()
        if status == "failed" and (wanted is None or path in wanted)
    ]
    if not failed:
        raise UsageError(
            "no failed input to retry", path=Path(output_dir) / MANIFEST_NAME, hint="every input there finished"
        )
    return (WorkItem(i, path, track) for i, (path, track) in enumerate(failed)), len(failed)
