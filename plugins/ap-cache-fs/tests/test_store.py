"""The file-system store: layout, atomic entries with the manifest last, verification, locks, cleaning."""

from __future__ import annotations

import errno
import os
import threading
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from filelock import FileLock

from ap_cache_fs import store as store_module
from ap_cache_fs.hashing import ALGORITHM, file_digest
from ap_cache_fs.store import MANIFEST, TAG_NAME, FsCache, copy_file, load_manifest
from audio_playground.errors import OutputError


@pytest.fixture
def warnings() -> list[str]:
    return []


@pytest.fixture
def cache(tmp_path: Path, warnings: list[str]) -> FsCache:
    opened = FsCache.open(tmp_path / "cache", warnings.append)
    assert opened is not None
    return opened


def material(src: Path, **options: Any) -> dict[str, Any]:
    return {"step": "convert", "version": "0.1.0", "identity": None, "options": options, "inputs": {"src": str(src)}}


def manifest(src: Path) -> dict[str, Any]:
    return {
        "command": "convert to-wav",
        "step": "convert",
        "version": "0.1.0",
        "identity": None,
        "inputs": {"src": str(src)},
        "config": {"rate": None, "channels": 2, "tags": ["a", None]},
        "result": {"frames": 7},
    }


def stored(tmp_path: Path, cache: FsCache, **outputs: bytes) -> tuple[str, Path]:
    src = tmp_path / "src.bin"
    src.write_bytes(b"input bytes")
    key = cache.key(material(src))
    files = {}
    for name, data in outputs.items():
        path = tmp_path / "made" / f"{name}.wav"
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        files[name] = path
    cache.store(key, files, manifest(src))
    return key, src


def test_open_makes_the_layout(tmp_path: Path, cache: FsCache) -> None:
    assert cache.entries.is_dir() and cache.locks.is_dir()
    assert (tmp_path / "cache" / TAG_NAME).read_text().startswith("Signature: 8a477f597d28d172789f06886806bc55")
    assert FsCache.open(tmp_path / "cache", print) is not None  # again: nothing to do


def test_open_refuses_a_file_or_garbage(tmp_path: Path, warnings: list[str]) -> None:
    file = tmp_path / "file"
    file.write_text("not a directory")
    assert FsCache.open(file, warnings.append) is None
    assert "cannot be used" in warnings[0] and "--no-cache" in warnings[0]
    garbage = tmp_path / "garbage"
    (garbage / store_module.LAYOUT).mkdir(parents=True)
    (garbage / store_module.LAYOUT / "entries").write_text("junk")
    assert FsCache.open(garbage, warnings.append) is None


def test_store_then_fetch_copies_verified_files(tmp_path: Path, cache: FsCache) -> None:
    key, src = stored(tmp_path, cache, target=b"RIFF stem one", extra=b"two")
    entry = cache.entry_dir(key)
    data = load_manifest(entry / MANIFEST)
    assert data is not None
    assert data["command"] == "convert to-wav" and data["kind"] == "files" and data["key"] == key
    assert data["inputs"]["src"] == {"path": str(src), "hash": f"{ALGORITHM}:{file_digest(src)}", "size": 11}
    assert data["config"] == {"channels": 2, "tags": ["a"]}  # TOML has no null
    assert data["outputs"]["target"]["size"] == 13
    out = tmp_path / "out" / "deep"
    hit = cache.fetch(key, lambda name: out / f"{name}.wav")
    assert hit is not None and hit.data == {"frames": 7}
    assert (out / "target.wav").read_bytes() == b"RIFF stem one"
    assert (out / "extra.wav").read_bytes() == b"two"
    # Copies, never links to the cache's files.
    assert (out / "target.wav").stat().st_ino != (entry / data["outputs"]["target"]["file"]).stat().st_ino
    assert not list(out.glob(".*"))  # no temporary files left


def test_a_rerun_leaves_outputs_that_already_hold_the_bytes(tmp_path: Path, cache: FsCache) -> None:
    key, _ = stored(tmp_path, cache, same=b"kept as it is", changed=b"original", gone=b"missing")
    out = tmp_path / "out"
    assert cache.fetch(key, lambda name: out / f"{name}.wav") is not None
    kept = (out / "same.wav").stat()
    (out / "changed.wav").write_bytes(b"0riginal")  # same size, other bytes
    (out / "gone.wav").unlink()
    assert cache.fetch(key, lambda name: out / f"{name}.wav") is not None
    assert (out / "same.wav").stat().st_ino == kept.st_ino  # not rewritten
    assert (out / "same.wav").stat().st_mtime_ns == kept.st_mtime_ns
    assert (out / "changed.wav").read_bytes() == b"original"
    assert (out / "gone.wav").read_bytes() == b"missing"
    # An output that already holds its bytes needs no intact artifact: only the rest are checked and copied.
    entry = cache.entry_dir(key)
    data = load_manifest(entry / MANIFEST)
    assert data is not None
    (entry / data["outputs"]["same"]["file"]).write_bytes(b"damaged in cache")
    assert cache.fetch(key, lambda name: out / f"{name}.wav") is not None
    assert (out / "same.wav").read_bytes() == b"kept as it is"


def test_fetch_records_the_last_use(tmp_path: Path, cache: FsCache) -> None:
    key, _ = stored(tmp_path, cache, target=b"x")
    os.utime(cache.entry_dir(key) / MANIFEST, (1000, 1000))
    assert cache.fetch(key, lambda name: tmp_path / "o.wav") is not None
    assert time.time() - (cache.entry_dir(key) / MANIFEST).stat().st_mtime < 60


def test_unknown_key_is_a_miss(tmp_path: Path, cache: FsCache) -> None:
    assert cache.fetch("0" * 32, lambda name: tmp_path / name) is None
    assert cache.fetch_arrays("0" * 32) is None
    with pytest.raises(ValueError, match="not a cache key"):
        cache.entry_dir("../../etc")


def test_a_changed_artifact_is_a_miss_with_a_warning(tmp_path: Path, cache: FsCache, warnings: list[str]) -> None:
    key, _ = stored(tmp_path, cache, target=b"original bytes")
    entry = cache.entry_dir(key)
    artifact = next(p for p in entry.iterdir() if p.name != MANIFEST)
    artifact.write_bytes(b"0riginal bytes")  # same size, other content
    assert cache.fetch(key, lambda name: tmp_path / "o.wav") is None
    assert "no longer matches its manifest" in warnings[0]
    assert not entry.exists() and not (tmp_path / "o.wav").exists()
    key, _ = stored(tmp_path, cache, target=b"again")
    next(p for p in cache.entry_dir(key).iterdir() if p.name != MANIFEST).unlink()
    assert cache.fetch(key, lambda name: tmp_path / "o.wav") is None
    assert len(warnings) == 2


def test_an_entry_without_a_valid_manifest_is_ignored_then_replaced(tmp_path: Path, cache: FsCache) -> None:
    key, src = stored(tmp_path, cache, target=b"x")
    entry = cache.entry_dir(key)
    (entry / MANIFEST).unlink()
    assert cache.fetch(key, lambda name: tmp_path / "o.wav") is None
    for garbage in (
        "not = [valid toml",
        "format = 99\nkind = 'files'\n[outputs]\n",
        "format = 1\nkind = 'files'\noutputs = 3\n",
        "format = 1\nkind = 'files'\n[outputs]\nx = 1\n",
        "format = 1\nkind = 'files'\n[outputs.x]\nfile = '../escape'\nsize = 1\nhash = 'h'\n",
        "format = 1\nkind = 'files'\n[outputs.x]\nfile = 'f'\nsize = 'big'\nhash = 'h'\n",
        f"format = 1\nkind = 'arrays'\nkey = '{key}'\n[outputs]\n",
    ):
        (entry / MANIFEST).write_text(garbage)
        assert cache.fetch(key, lambda name: tmp_path / "o.wav") is None, garbage
    (entry / MANIFEST).write_bytes(b"\xff\xfe")
    assert load_manifest(entry / MANIFEST) is None
    # A store over the incomplete entry rebuilds it.
    cache.store(key, {"target": src}, manifest(src))
    assert cache.fetch(key, lambda name: tmp_path / "o.wav") is not None


def test_a_second_store_of_a_complete_entry_keeps_the_first(tmp_path: Path, cache: FsCache) -> None:
    key, src = stored(tmp_path, cache, target=b"first")
    other = tmp_path / "other.wav"
    other.write_bytes(b"second")
    cache.store(key, {"target": other}, manifest(src))
    assert cache.fetch(key, lambda name: tmp_path / "o.wav") is not None
    assert (tmp_path / "o.wav").read_bytes() == b"first"


def test_a_store_that_fails_leaves_nothing(tmp_path: Path, cache: FsCache, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(src: Path, dest: Path) -> None:
        Path(dest).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module, "copy_file", full)
    with pytest.raises(OSError, match="No space"):
        stored(tmp_path, cache, target=b"x")
    assert [p for p in cache.entries.rglob("*") if p.is_file()] == []


def test_a_destination_that_cannot_be_written_is_an_output_error(tmp_path: Path, cache: FsCache) -> None:
    key, _ = stored(tmp_path, cache, target=b"x", extra=b"y")
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")
    places = {"target": tmp_path / "fine.wav", "extra": blocker / "sub" / "x.wav"}
    with pytest.raises(OutputError, match="cannot write"):
        cache.fetch(key, lambda name: places[name])
    assert not (tmp_path / "fine.wav").exists()  # nothing renamed into place: all or none
    assert not list(tmp_path.glob(".fine.wav.tmp-*"))


def test_place_may_refuse_before_anything_is_written(tmp_path: Path, cache: FsCache) -> None:
    key, _ = stored(tmp_path, cache, target=b"x", extra=b"y")
    seen: list[str] = []

    def place(name: str) -> Path:
        seen.append(name)
        if name == "extra":
            raise RuntimeError("refused")
        return tmp_path / f"{name}.wav"

    with pytest.raises(RuntimeError, match="refused"):
        cache.fetch(key, place)
    assert seen == ["target", "extra"] and not (tmp_path / "target.wav").exists()


def test_arrays_round_trip_exactly(tmp_path: Path, cache: FsCache, warnings: list[str]) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"in")
    key = cache.key({**material(src), "step": "separate-chunk"})
    rng = np.random.default_rng(1)
    arrays = {"drums": rng.standard_normal((2, 1000)).astype(np.float32), "bass / low": np.zeros((2, 3), np.float32)}
    cache.store_arrays(key, arrays, {**manifest(src), "step": "separate-chunk"})
    back = cache.fetch_arrays(key)
    assert back is not None and set(back) == set(arrays)
    for name, array in arrays.items():
        assert back[name].dtype == np.float32 and np.array_equal(back[name], array)
    data = load_manifest(cache.entry_dir(key) / MANIFEST)
    assert data is not None and data["outputs"]["drums"]["shape"] == [2, 1000]
    assert cache.fetch(key, lambda n: tmp_path / n) is None  # arrays are not files
    cache.store_arrays(key, {"drums": np.ones(1, np.float32)}, manifest(src))  # complete already: kept
    kept = cache.fetch_arrays(key)
    assert kept is not None and np.array_equal(kept["drums"], arrays["drums"])
    npy = cache.entry_dir(key) / data["outputs"]["drums"]["file"]
    npy.write_bytes(npy.read_bytes()[:-4] + b"\0\0\0\0")
    assert cache.fetch_arrays(key) is None and "no longer matches" in warnings[0]
    key2 = cache.key({**material(src), "step": "other"})
    cache.store_arrays(key2, arrays, manifest(src))
    next(cache.entry_dir(key2).glob("*.npy")).unlink()
    assert cache.fetch_arrays(key2) is None


def test_arrays_store_failure_leaves_nothing(tmp_path: Path, cache: FsCache, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module, "_write_bytes_atomic", full)
    with pytest.raises(OSError):
        cache.store_arrays("ab" * 16, {"x": np.zeros(3, np.float32)}, {})
    assert not cache.entry_dir("ab" * 16).exists()


def test_a_locked_entry_is_a_miss_and_is_not_stored(tmp_path: Path, warnings: list[str]) -> None:
    cache = FsCache(tmp_path / "cache", warnings.append, lock_timeout=0.05)
    cache.create()
    key, src = stored(tmp_path, cache, target=b"x")
    with FileLock(str(cache.lock_path(key))):
        assert cache.fetch(key, lambda n: tmp_path / "o.wav") is None
        assert cache.fetch_arrays(key) is None
        cache.store("cd" * 16, {}, {})  # another key: not blocked
        assert not cache.remove(key, timeout=0)
    assert "locked by another run" in warnings[0]
    lock = FileLock(str(cache.lock_path("12" * 16)))
    with lock:
        cache_blocked = FsCache(tmp_path / "cache", warnings.append, lock_timeout=0.05)
        cache_blocked.store("12" * 16, {"target": src}, manifest(src))
        cache_blocked.store_arrays("12" * 16, {"x": np.zeros(1, np.float32)}, {})
    assert "not storing" in warnings[-1]
    assert not cache.entry_dir("12" * 16).exists()


def test_concurrent_stores_of_one_key_leave_one_valid_entry(tmp_path: Path, cache: FsCache) -> None:
    src = tmp_path / "src.bin"
    src.write_bytes(b"in")
    big = tmp_path / "big.wav"
    big.write_bytes(os.urandom(1 << 20))
    key = cache.key(material(src))
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            FsCache(cache.cache_dir, print).store(key, {"target": big}, manifest(src))
        except BaseException as exc:  # pragma: no cover - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert cache.fetch(key, lambda n: tmp_path / "o.wav") is not None
    assert (tmp_path / "o.wav").read_bytes() == big.read_bytes()
    assert len([p for p in cache.entry_dir(key).iterdir()]) == 2  # one artifact and the manifest


def test_copy_file_without_copy_file_range(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "a"
    src.write_bytes(os.urandom(70000))
    copy_file(src, tmp_path / "b")
    assert (tmp_path / "b").read_bytes() == src.read_bytes()
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    copy_file(empty, tmp_path / "empty2")
    assert (tmp_path / "empty2").read_bytes() == b""

    def cross_device(*args: Any) -> int:
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", cross_device)
    copy_file(src, tmp_path / "c")
    assert (tmp_path / "c").read_bytes() == src.read_bytes()

    def short(*args: Any) -> int:
        return 0

    monkeypatch.setattr(os, "copy_file_range", short)
    copy_file(src, tmp_path / "d")
    assert (tmp_path / "d").read_bytes() == src.read_bytes()

    def broken(*args: Any) -> int:
        raise OSError(errno.EIO, "I/O error")

    monkeypatch.setattr(os, "copy_file_range", broken)
    with pytest.raises(OSError, match="I/O"):
        copy_file(src, tmp_path / "e")
    monkeypatch.delattr(os, "copy_file_range")
    copy_file(src, tmp_path / "f")
    assert (tmp_path / "f").read_bytes() == src.read_bytes()


def test_scan_clean_and_clear(tmp_path: Path, cache: FsCache) -> None:
    keys = []
    for i in range(4):
        src = tmp_path / f"src{i}.bin"
        src.write_bytes(b"x" * (i + 1))
        key = cache.key(material(src))
        made = tmp_path / f"o{i}.wav"
        made.write_bytes(b"y" * 1000)
        cache.store(key, {"target": made}, manifest(src))
        os.utime(cache.entry_dir(key) / MANIFEST, (1000 + i, 1000 + i))  # used long ago, in order
        keys.append(key)
    os.utime(cache.entry_dir(keys[3]) / MANIFEST)  # the last one: used now
    incomplete = cache.entry_dir("ab" * 16)
    incomplete.mkdir(parents=True)
    (incomplete / "0000-x.wav").write_bytes(b"z")
    fresh_incomplete = cache.entry_dir("cd" * 16)
    fresh_incomplete.mkdir(parents=True)
    (cache.entries / "stray.txt").write_text("junk")
    (cache.entries / "ab" / "not-a-key").mkdir()
    os.utime(cache.entries / "stray.txt", (1000, 1000))
    os.utime(cache.entries / "ab" / "not-a-key", (1000, 1000))
    os.utime(incomplete / "0000-x.wav", (1000, 1000))
    held = FileLock(str(cache.lock_path("ef" * 16)))  # an orphan lock of a run storing nothing yet
    held.acquire()
    (cache.lock_path("01" * 16)).write_text("")

    infos = cache.scan()
    assert [i.key for i in infos if i.complete] == keys
    assert {i.key for i in infos if not i.complete} == {"ab" * 16, "cd" * 16}
    first = next(i for i in infos if i.key == keys[0])
    assert first.command == "convert to-wav" and first.input == "src0.bin" and first.size > 1000
    assert next(i for i in infos if not i.complete).command == "(incomplete)"
    assert len(cache.strays()) == 2

    removed, strays = cache.clean(older_than=None, max_size=None)
    assert [i.key for i in removed] == ["ab" * 16]  # only the stale incomplete entry
    assert strays == 3  # the stray file, the stray folder, and the one free orphan lock
    assert cache.lock_path("ef" * 16).exists()  # held: kept
    removed, _ = cache.clean(older_than=3600)
    assert [i.key for i in removed] == keys[:3]
    for key in keys[:3]:
        assert not cache.lock_path(key).exists()
    assert cache.fetch(keys[3], lambda n: tmp_path / "hit.wav") is not None

    cache.store(cache.key(material(tmp_path / "o0.wav")), {"target": tmp_path / "o1.wav"}, manifest(tmp_path))
    sizes = {i.key: i.size for i in cache.scan() if i.complete}
    removed, _ = cache.clean(max_size=max(sizes.values()) + 1)
    assert [i.key for i in removed] == [keys[3]]  # the least recently used goes first
    count, freed = cache.clear()
    assert count == 2 and freed > 0  # the last complete entry and the fresh incomplete one
    assert cache.scan() == [] and list(cache.entries.iterdir()) == []


def test_scan_of_a_missing_store(tmp_path: Path) -> None:
    cache = FsCache(tmp_path / "none", print)
    assert cache.scan() == [] and cache.strays() == [] and cache.orphan_locks() == []
    assert cache.clear() == (0, 0)


def test_manifest_is_toml_with_a_datetime(tmp_path: Path, cache: FsCache) -> None:
    key, _ = stored(tmp_path, cache, target=b"x")
    raw = tomllib.loads((cache.entry_dir(key) / MANIFEST).read_text())
    info = next(i for i in cache.scan() if i.key == key)
    assert abs(info.created - raw["created"].timestamp()) < 1
    assert store_module._parse_time("2026-01-01T00:00:00Z", 5.0) > 0
    assert store_module._parse_time("garbage", 5.0) == 5.0
    assert store_module._parse_time(None, 5.0) == 5.0
