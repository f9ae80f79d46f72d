"""The file-system store: one directory per step execution, artifacts plus a TOML manifest written last.

Layout under the cache directory (config.cache_dir):

    CACHEDIR.TAG                       marks the directory as a cache for backup tools
    steps-v1/entries/ab/<key>/         one entry: 0000-<name>.<ext> artifacts, then manifest.toml
    steps-v1/locks/<key>.lock          a lock per key (filelock) around every read and write of that entry
    steps-v1/digests.json              digests of files by path and state (inode, size, times): a rerun reads
                                       neither its unchanged input nor outputs it delivered (hashing.py)

An entry without a readable manifest is incomplete and ignored; an artifact whose size or hash no longer
matches the manifest makes the entry a miss (with a warning) and the entry is dropped. Everything is written
to a temporary file in the same directory and renamed into place; the manifest's mtime records the last use.
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ap_cache_fs import __version__, hashing
from ap_cache_fs.hashing import ALGORITHM, FORMAT, file_digest, hash_bytes, hash_file, key_of
from audio_playground.errors import OutputError
from audio_playground.specs import CacheHit

if TYPE_CHECKING:
    import numpy as np

Warn = Callable[[str], None]

LAYOUT = f"steps-v{FORMAT}"
MANIFEST = "manifest.toml"
MEMO = "digests.json"
TAG_NAME = "CACHEDIR.TAG"
TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This file is a cache directory tag created by audio-playground (ap-cache-fs).\n"
    "# For information about cache directory tags see https://bford.info/cachedir/\n"
)
LOCK_TIMEOUT = 120.0
"""Seconds to wait for another run holding an entry's lock before treating the entry as a miss."""
STALE_SECONDS = 3600.0
"""`cache clean` removes incomplete entries (no manifest) untouched for this long: no live run is writing them."""
FILES = "files"
ARRAYS = "arrays"
_KEY = re.compile(r"^[0-9a-f]{16,64}$")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_NO_RANGE_COPY = {errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM}
"""copy_file_range errors that mean "not here" (another filesystem, an old kernel): use a plain copy."""


class Corrupt(Exception):
    """An entry whose artifacts no longer match its manifest."""


@dataclass(frozen=True)
class EntryInfo:
    """One entry as `cache list` shows it."""

    key: str
    path: Path
    complete: bool
    size: int
    created: float
    used: float
    manifest: dict[str, Any]

    @property
    def command(self) -> str:
        return str(self.manifest.get("command", "?")) if self.complete else "(incomplete)"

    @property
    def input(self) -> str:
        inputs = self.manifest.get("inputs") or {}
        paths = [str(v.get("path", "")) for v in inputs.values() if isinstance(v, dict)]
        if not paths:
            return ""
        first = Path(paths[0])
        return first.name if len(paths) == 1 else f"{first.parent.name}/ ({len(paths)} files)"


def utc_now() -> datetime:
    """The current UTC time to the second (a TOML datetime in manifests)."""
    return datetime.now(UTC).replace(microsecond=0)


def _safe_name(name: str) -> str:
    return _UNSAFE.sub("_", name).strip("._")[:80] or "output"


def _temp_beside(path: Path) -> Path:
    return path.parent / f".{path.name}.tmp-{secrets.token_hex(4)}"


def copy_file(src: Path, dest: Path) -> None:
    """Copy `src` to `dest` (a new file): copy_file_range where the OS has it (a reflink on CoW filesystems)."""
    copy_range = getattr(os, "copy_file_range", None)
    if copy_range is not None:
        try:
            with open(src, "rb") as fin, open(dest, "wb") as fout:
                remaining = os.fstat(fin.fileno()).st_size
                while remaining > 0:
                    done = copy_range(fin.fileno(), fout.fileno(), remaining)
                    if done == 0:
                        break
                    remaining -= done
                if remaining == 0:
                    return
        except OSError as exc:
            if exc.errno not in _NO_RANGE_COPY:
                raise
    shutil.copyfile(src, dest)


def _holds(path: Path, artifact: Mapping[str, Any]) -> bool:
    """Whether the regular file at `path` already holds the artifact's bytes (same size, same hash)."""
    try:
        return path.is_file() and path.stat().st_size == artifact["size"] and file_digest(path) == artifact["hash"]
    except OSError:
        return False


def _write_bytes_atomic(path: Path, data: bytes) -> None:
    tmp = _temp_beside(path)
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _copy_atomic(src: Path, path: Path) -> None:
    tmp = _temp_beside(path)
    try:
        copy_file(src, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _plain_toml(value: Any) -> Any:
    """TOML has no null: drop None from tables and lists; paths and other objects become strings."""
    if isinstance(value, Mapping):
        return {str(k): _plain_toml(v) for k, v in value.items() if v is not None}
    if isinstance(value, list | tuple):
        return [_plain_toml(v) for v in value if v is not None]
    if isinstance(value, str | int | float | bool | datetime):
        return value
    return str(value)


def dump_manifest(manifest: Mapping[str, Any]) -> bytes:
    import tomli_w

    return tomli_w.dumps(_plain_toml(manifest)).encode()


def load_manifest(path: Path) -> dict[str, Any] | None:
    """The manifest at `path` when it is a valid one of this format; None when missing, garbage or foreign."""
    import tomllib

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return None
    outputs = data.get("outputs")
    if data.get("format") != FORMAT or data.get("kind") not in {FILES, ARRAYS} or not isinstance(outputs, dict):
        return None
    for artifact in outputs.values():
        if not isinstance(artifact, dict):
            return None
        name = artifact.get("file")
        if not isinstance(name, str) or Path(name).name != name or name in {"", ".", "..", MANIFEST}:
            return None
        if not isinstance(artifact.get("size"), int) or not isinstance(artifact.get("hash"), str):
            return None
    return data


class FsCache:
    """The StepCache of ap-cache-fs: entries in a directory tree, keyed by content."""

    def __init__(self, cache_dir: Path, warn: Warn, lock_timeout: float = LOCK_TIMEOUT) -> None:
        self.cache_dir = cache_dir
        self.root = cache_dir / LAYOUT
        self.entries = self.root / "entries"
        self.locks = self.root / "locks"
        self.warn = warn
        self.lock_timeout = lock_timeout

    @classmethod
    def open(cls, cache_dir: Path, warn: Warn) -> FsCache | None:
        """The store in `cache_dir`, created if need be; None (after a warning) when it cannot be written."""
        cache = cls(cache_dir.expanduser(), warn)
        try:
            cache.create()
        except OSError as exc:
            warn(
                f"{cache_dir}: the cache directory cannot be used ({exc.strerror or exc}); running uncached. "
                "Fix its permissions or free space, pass another --cache-dir, or use --no-cache"
            )
            return None
        hashing.load_memo(cache.root / MEMO)
        return cache

    def create(self) -> None:
        """Make the layout and check that it can be written (a probe file is created and removed)."""
        self.entries.mkdir(parents=True, exist_ok=True)
        self.locks.mkdir(parents=True, exist_ok=True)
        tag = self.cache_dir / TAG_NAME
        if not tag.is_file():
            _write_bytes_atomic(tag, TAG.encode())
        probe = _temp_beside(self.entries / "probe")
        probe.write_bytes(b"")
        probe.unlink()

    # ------------------------------------------------------------------ keys and locks

    def key(self, material: Mapping[str, Any]) -> str:
        key = key_of(material)
        hashing.save_memo(self.root / MEMO)
        return key

    def entry_dir(self, key: str) -> Path:
        if not _KEY.match(key):
            raise ValueError(f"not a cache key: {key!r}")
        return self.entries / key[:2] / key

    def lock_path(self, key: str) -> Path:
        return self.locks / f"{key}.lock"

    @contextlib.contextmanager
    def locked(self, key: str, timeout: float | None = None) -> Generator[bool]:
        """Hold the entry's lock; yields False (nothing held) when another run keeps it past the timeout."""
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.lock_path(key)), timeout=self.lock_timeout if timeout is None else timeout)
        try:
            lock.acquire()
        except Timeout:
            yield False
            return
        try:
            yield True
        finally:
            lock.release()

    # ------------------------------------------------------------------ reading

    def _verified(
        self, entry: Path, manifest: Mapping[str, Any], names: Iterable[str] | None = None
    ) -> dict[str, Path]:
        """Artifact paths (of `names`, default all) after checking size and hash; Corrupt if one differs."""
        outputs = manifest["outputs"]
        paths: dict[str, Path] = {}
        for name in outputs if names is None else names:
            artifact = outputs[name]
            path = entry / artifact["file"]
            try:
                size = path.stat().st_size
                same = size == artifact["size"] and hash_file(path) == artifact["hash"]
            except FileNotFoundError:
                same = False
            if not same:
                raise Corrupt(f"{path}: the cached {name!r} no longer matches its manifest")
            paths[name] = path
        return paths

    def _open_entry(self, key: str, kind: str) -> tuple[Path, dict[str, Any]] | None:
        entry = self.entry_dir(key)
        manifest = load_manifest(entry / MANIFEST)
        if manifest is None or manifest.get("kind") != kind or manifest.get("key") != key:
            return None
        return entry, manifest

    def _drop_corrupt(self, entry: Path, exc: Corrupt) -> None:
        self.warn(f"{exc}; dropping the entry and computing again")
        shutil.rmtree(entry, ignore_errors=True)

    def _touch(self, entry: Path) -> None:
        with contextlib.suppress(OSError):
            os.utime(entry / MANIFEST)

    def fetch(self, key: str, place: Callable[[str], Path]) -> CacheHit | None:
        """Copy a complete, verified entry to place(name) for each output (all copies first, then renames)."""
        with self.locked(key) as held:
            if not held:
                self.warn(f"cache entry {key[:12]} is locked by another run; computing without it")
                return None
            found = self._open_entry(key, FILES)
            if found is None:
                return None
            entry, manifest = found
            places = {name: Path(place(name)) for name in manifest["outputs"]}
            # A rerun into the same folder finds the outputs already there: a file holding the entry's bytes is
            # left alone, so only what is missing or different is verified and copied.
            stale = [name for name, artifact in manifest["outputs"].items() if not _holds(places[name], artifact)]
            try:
                artifacts = self._verified(entry, manifest, stale)
            except Corrupt as exc:
                self._drop_corrupt(entry, exc)
                return None
            self._deliver(artifacts, places, {name: manifest["outputs"][name]["hash"] for name in artifacts})
            self._touch(entry)
            hashing.save_memo(self.root / MEMO)
            return CacheHit(outputs=places, data=dict(manifest.get("result") or {}))

    def _deliver(self, artifacts: Mapping[str, Path], places: Mapping[str, Path], hashes: Mapping[str, str]) -> None:
        """Copy artifacts to temporary files beside their places, then rename them all: no file half-written.

        Each delivered file's digest (its artifact's, checked just before) is remembered for the next run.
        """
        temps: list[tuple[Path, Path]] = []
        try:
            for name, src in artifacts.items():
                dest = places[name]
                tmp = _temp_beside(dest)
                try:
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    copy_file(src, tmp)
                except OSError as exc:
                    with contextlib.suppress(OSError):
                        tmp.unlink(missing_ok=True)
                    raise OutputError(
                        f"cannot write ({exc.strerror or exc})", path=dest, hint="check that the folder is writable"
                    ) from exc
                temps.append((tmp, dest))
            for (tmp, dest), name in zip(temps, artifacts, strict=True):
                os.replace(tmp, dest)
                hashing.remember(dest, hashes[name])
        finally:
            for tmp, _ in temps:
                tmp.unlink(missing_ok=True)

    def fetch_arrays(self, key: str) -> dict[str, np.ndarray] | None:
        """The arrays stored under `key`, verified, or None."""
        import numpy as np

        with self.locked(key) as held:
            if not held:
                return None
            found = self._open_entry(key, ARRAYS)
            if found is None:
                return None
            entry, manifest = found
            arrays: dict[str, np.ndarray] = {}
            try:
                for name, artifact in manifest["outputs"].items():
                    path = entry / artifact["file"]
                    try:
                        data = path.read_bytes()
                    except FileNotFoundError:
                        data = b""
                    if len(data) != artifact["size"] or hash_bytes(data) != artifact["hash"]:
                        raise Corrupt(f"{path}: the cached {name!r} no longer matches its manifest")
                    arrays[name] = np.load(io.BytesIO(data), allow_pickle=False)
            except Corrupt as exc:
                self._drop_corrupt(entry, exc)
                return None
            self._touch(entry)
            return arrays

    # ------------------------------------------------------------------ writing

    def _begin(self, entry: Path) -> bool:
        """Prepare `entry` for writing; False when a complete entry is already there (another run stored it)."""
        manifest = load_manifest(entry / MANIFEST)
        if manifest is not None:
            return False
        shutil.rmtree(entry, ignore_errors=True)
        entry.mkdir(parents=True)
        return True

    def _finish(self, key: str, entry: Path, kind: str, manifest: Mapping[str, Any], outputs: dict[str, Any]) -> None:
        inputs = {}
        for name, path in (manifest.get("inputs") or {}).items():
            record: dict[str, Any] = {"path": str(path)}
            with contextlib.suppress(OSError):
                record["hash"] = f"{ALGORITHM}:{file_digest(path)}"
                record["size"] = Path(path).stat().st_size
            inputs[name] = record
        full = {
            "format": FORMAT,
            "kind": kind,
            "key": key,
            "created": utc_now(),
            "plugin": f"ap-cache-fs {__version__}",
            "hash": ALGORITHM,
            **{k: v for k, v in manifest.items() if k not in {"inputs", "outputs"}},
            "inputs": inputs,
            "outputs": outputs,
        }
        _write_bytes_atomic(entry / MANIFEST, dump_manifest(full))

    def store(self, key: str, outputs: Mapping[str, Path], manifest: Mapping[str, Any]) -> None:
        """Copy `outputs` into the entry, hashing them, then write the manifest last."""
        with self.locked(key) as held:
            if not held:
                self.warn(f"cache entry {key[:12]} is locked by another run; not storing this result")
                return
            entry = self.entry_dir(key)
            if not self._begin(entry):
                return
            try:
                records: dict[str, Any] = {}
                for index, (name, src) in enumerate(outputs.items()):
                    src = Path(src)
                    file = f"{index:04d}-{_safe_name(Path(name).stem)}{src.suffix}"
                    # The copy holds the source's bytes, so its digest is the source's; remembering it spares
                    # the next step, which may take this output as its input, a second read.
                    digest = file_digest(src)
                    _copy_atomic(src, entry / file)
                    records[name] = {"file": file, "size": (entry / file).stat().st_size, "hash": digest}
                self._finish(key, entry, FILES, manifest, records)
                hashing.save_memo(self.root / MEMO)
            except BaseException:
                shutil.rmtree(entry, ignore_errors=True)
                raise

    def store_arrays(self, key: str, arrays: Mapping[str, np.ndarray], manifest: Mapping[str, Any]) -> None:
        """Save each array exactly (.npy), then the manifest."""
        import numpy as np

        with self.locked(key) as held:
            if not held:
                return
            entry = self.entry_dir(key)
            if not self._begin(entry):
                return
            try:
                records: dict[str, Any] = {}
                for index, (name, array) in enumerate(arrays.items()):
                    buffer = io.BytesIO()
                    np.save(buffer, np.asarray(array), allow_pickle=False)
                    data = buffer.getvalue()
                    file = f"{index:04d}-{_safe_name(name)}.npy"
                    _write_bytes_atomic(entry / file, data)
                    records[name] = {
                        "file": file,
                        "size": len(data),
                        "hash": hash_bytes(data),
                        "dtype": str(np.asarray(array).dtype),
                        "shape": list(np.shape(array)),
                    }
                self._finish(key, entry, ARRAYS, manifest, records)
            except BaseException:
                shutil.rmtree(entry, ignore_errors=True)
                raise

    def discard(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.remove(key)

    def remove(self, key: str, timeout: float | None = None) -> bool:
        """Delete the entry under `key` (with its lock held); False when another run holds the lock."""
        with self.locked(key, timeout) as held:
            if not held:
                return False
            shutil.rmtree(self.entry_dir(key), ignore_errors=True)
            # Safe while held: filelock (>= 4.2) notices a lock file unlinked under a waiter and retries.
            self.lock_path(key).unlink(missing_ok=True)
            return True

    # ------------------------------------------------------------------ listing and cleaning

    def scan(self) -> list[EntryInfo]:
        """Every entry directory, complete or not, oldest use first."""
        found: list[EntryInfo] = []
        if not self.entries.is_dir():
            return found
        for shard in sorted(self.entries.iterdir()):
            if not shard.is_dir():
                continue
            for entry in sorted(shard.iterdir()):
                if entry.is_dir() and _KEY.match(entry.name):
                    found.append(self._info(entry))
        found.sort(key=lambda info: info.used)
        return found

    def strays(self) -> list[Path]:
        """Files and folders in the entry tree that are not entries (left by crashes, or foreign)."""
        if not self.entries.is_dir():
            return []
        stray: list[Path] = []
        for shard in sorted(self.entries.iterdir()):
            if not shard.is_dir():
                stray.append(shard)
                continue
            stray.extend(p for p in sorted(shard.iterdir()) if not (p.is_dir() and _KEY.match(p.name)))
        return stray

    def _info(self, entry: Path) -> EntryInfo:
        files = [p for p in entry.rglob("*") if p.is_file()]
        size = sum(p.stat().st_size for p in files)
        manifest = load_manifest(entry / MANIFEST)
        newest = max((p.stat().st_mtime for p in files), default=entry.stat().st_mtime)
        if manifest is None:
            return EntryInfo(entry.name, entry, False, size, newest, newest, {})
        used = (entry / MANIFEST).stat().st_mtime
        created = manifest.get("created")
        created_ts = created.timestamp() if isinstance(created, datetime) else _parse_time(created, used)
        return EntryInfo(entry.name, entry, True, size, created_ts, used, manifest)

    def clean(
        self, older_than: float | None = None, max_size: int | None = None, at: float | None = None
    ) -> tuple[list[EntryInfo], int]:
        """Drop stale incomplete entries, entries unused for `older_than` s, then LRU ones above `max_size` bytes.

        Returns (the entries removed, the number of stray files removed). Entries another run holds are kept.
        """
        now = time.time() if at is None else at
        removed: list[EntryInfo] = []
        kept: list[EntryInfo] = []
        for info in self.scan():
            stale = not info.complete and now - info.used > STALE_SECONDS
            old = info.complete and older_than is not None and now - info.used > older_than
            if (stale or old) and self.remove(info.key, timeout=0):
                removed.append(info)
            else:
                kept.append(info)
        if max_size is not None:
            total = sum(info.size for info in kept)
            for info in list(kept):  # least recently used first
                if total <= max_size:
                    break
                if info.complete and self.remove(info.key, timeout=0):
                    kept.remove(info)
                    removed.append(info)
                    total -= info.size
        strays = 0
        for path in self.strays():
            if now - path.lstat().st_mtime > STALE_SECONDS:
                _remove_path(path)
                strays += 1
        for lock in self.orphan_locks():
            if self.remove(lock.stem, timeout=0):
                strays += 1
        return removed, strays

    def orphan_locks(self) -> list[Path]:
        """Lock files whose entry is gone (left by runs that stored nothing there)."""
        if not self.locks.is_dir():
            return []
        return [
            p for p in sorted(self.locks.glob("*.lock")) if _KEY.match(p.stem) and not self.entry_dir(p.stem).exists()
        ]

    def clear(self) -> tuple[int, int]:
        """Remove every entry and stray file; returns (entries removed, bytes freed)."""
        entries = self.scan()
        freed = sum(info.size for info in entries)
        for info in entries:
            if not self.remove(info.key, timeout=0):
                shutil.rmtree(info.path, ignore_errors=True)  # clear means everything, even a busy entry
        for path in self.strays():
            _remove_path(path)
        for lock in self.orphan_locks():
            self.remove(lock.stem, timeout=0)
        for shard in list(self.entries.iterdir()) if self.entries.is_dir() else []:
            with contextlib.suppress(OSError):
                shard.rmdir()
        (self.root / MEMO).unlink(missing_ok=True)
        return len(entries), freed


def _remove_path(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _parse_time(value: Any, default: float) -> float:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    return default
