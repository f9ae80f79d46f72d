"""Content hashing for cache keys: xxh3-128 of file bytes, remembered per file state for the run.

Key material from the core names input files by path; the key depends on their bytes only, so a renamed or
copied input still hits. A file's digest is remembered per (path, inode, size, mtime_ns, ctime_ns), within
the process (a workflow that hashes the same file for several steps reads it once) and across runs in the
store's digest memo (`load_memo`/`save_memo`), so a rerun reads neither its unchanged input nor the outputs
it delivered before. Any write to a file changes its ctime, which no program can set back: a remembered
digest is never that of other bytes.
"""

from __future__ import annotations

import json
import mmap
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

FORMAT = 1
"""Version of the key scheme and the store's layout: a change makes every old entry a miss."""
ALGORITHM = "xxh3-128"
BLOCK = 1 << 22
"""Files this large or larger are hashed through a memory map; smaller ones are read in one 4 MiB buffer."""

_memo: dict[tuple[str, int, int, int, int], str] = {}
_dirty: list[bool] = [False]
_local = threading.local()
MEMO_LIMIT = 4096
"""Digests the memo file keeps (the most recent); a forgotten one only costs reading that file again."""


def hash_bytes(data: bytes | bytearray | memoryview) -> str:
    """The xxh3-128 hex digest of `data`."""
    import xxhash

    return xxhash.xxh3_128_hexdigest(data)


def _buffer() -> memoryview:
    """This thread's read buffer: allocating (and zeroing) 4 MiB per file would cost more than hashing small ones."""
    view = getattr(_local, "buffer", None)
    if view is None:
        view = _local.buffer = memoryview(bytearray(BLOCK))
    return view


def hash_file(path: str | Path) -> str:
    """The xxh3-128 hex digest of a file's bytes: mapped when large (no copy), else read into a reused buffer."""
    import xxhash

    digest = xxhash.xxh3_128()
    with open(path, "rb", buffering=0) as handle:
        if os.fstat(handle.fileno()).st_size >= BLOCK:
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
                digest.update(mapped)
            return digest.hexdigest()
        view = _buffer()
        while count := handle.readinto(view):
            digest.update(view[:count])
    return digest.hexdigest()


def _state(path: Path) -> tuple[str, int, int, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def file_digest(path: str | Path) -> str:
    """hash_file(path), remembered while the file keeps its inode, size and times."""
    state = _state(Path(path))
    digest = _memo.get(state)
    if digest is None:
        digest = hash_file(path)
        remember(path, digest, state)
    return digest


def remember(path: str | Path, digest: str, state: tuple[str, int, int, int, int] | None = None) -> None:
    """Record that `path`, as it is now, holds bytes of `digest` (a file this process just wrote or read)."""
    key = _state(Path(path)) if state is None else state
    _memo.pop(key, None)  # re-inserted last: the most recent are kept
    _memo[key] = digest
    _dirty[0] = True


def load_memo(path: Path) -> None:
    """Add the digests remembered in the memo file at `path` (missing or garbage: nothing)."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if not isinstance(rows, list):
        return
    for row in rows:
        valid = isinstance(row, list) and len(row) == 6 and isinstance(row[0], str) and isinstance(row[5], str)
        if valid and all(isinstance(v, int) for v in row[1:5]):
            _memo.setdefault((row[0], row[1], row[2], row[3], row[4]), row[5])


def save_memo(path: Path) -> None:
    """Write the most recent digests to `path` (atomically) if this process learnt any; errors are ignored."""
    if not _dirty[0]:
        return
    rows = [[*state, digest] for state, digest in list(_memo.items())[-MEMO_LIMIT:]]
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        tmp.write_text(json.dumps(rows, separators=(",", ":")), encoding="utf-8")
        os.replace(tmp, path)
        _dirty[0] = False
    except OSError:
        pass
    finally:
        tmp.unlink(missing_ok=True)


def forget() -> None:
    """Forget every remembered digest (tests; a long-lived process that wants fresh reads)."""
    _memo.clear()
    _dirty[0] = False


def canonical(data: Any) -> bytes:
    """`data` as canonical JSON bytes: sorted keys, no spaces; anything unusual as its str()."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def input_digests(inputs: Mapping[str, str | Path]) -> dict[str, str]:
    """Each input's content digest, by name."""
    return {name: file_digest(path) for name, path in inputs.items()}


def key_of(material: Mapping[str, Any]) -> str:
    """The key of a step execution: a digest of its material with each input file replaced by its content hash."""
    inputs = input_digests(material.get("inputs") or {})
    return hash_bytes(canonical({**material, "inputs": inputs, "format": FORMAT}))
