"""Content hashing for cache keys: xxh3-128 of file bytes, remembered per file state for the run.

Key material from the core names input files by path; the key depends on their bytes only, so a renamed or
copied input still hits. A file's digest is remembered per (path, inode, size, mtime_ns, ctime_ns) within
the process, so a workflow that hashes the same file for several steps reads it once.
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
_local = threading.local()


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
        _memo[state] = digest
    return digest


def forget() -> None:
    """Forget every remembered digest (tests; a long-lived process that wants fresh reads)."""
    _memo.clear()


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
