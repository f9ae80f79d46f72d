"""Content keys: xxh3-128 of file bytes, path-independent, remembered per file state within a run."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import xxhash

from ap_cache_fs import hashing


def test_hash_file_is_xxh3_of_the_bytes(tmp_path: Path) -> None:
    data = os.urandom(hashing.BLOCK * 2 + 12345)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    assert hashing.hash_file(path) == xxhash.xxh3_128_hexdigest(data) == hashing.hash_bytes(data)
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert hashing.hash_file(empty) == xxhash.xxh3_128_hexdigest(b"")


def test_digests_are_remembered_until_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "f.bin"
    path.write_bytes(b"one")
    first = hashing.file_digest(path)
    assert len(hashing._memo) == 1
    assert hashing.file_digest(path) == first and len(hashing._memo) == 1
    path.write_bytes(b"two")  # same size, new content: new mtime/ctime
    os.utime(path, ns=(1, 1))
    assert hashing.file_digest(path) != first
    hashing.forget()
    assert hashing._memo == {}


def test_keys_follow_content_not_paths(tmp_path: Path) -> None:
    a = tmp_path / "a.wav"
    a.write_bytes(b"audio")
    b = tmp_path / "elsewhere" / "b.wav"
    b.parent.mkdir()
    shutil.copyfile(a, b)
    base = {"step": "convert", "version": "1", "identity": None, "options": {"rate": 1}}
    key_a = hashing.key_of({**base, "inputs": {"src": str(a)}})
    assert key_a == hashing.key_of({**base, "inputs": {"src": str(b)}})
    assert len(key_a) == 32 and int(key_a, 16) >= 0
    assert key_a != hashing.key_of({**base, "options": {"rate": 2}, "inputs": {"src": str(a)}})
    assert key_a != hashing.key_of({**base, "version": "2", "inputs": {"src": str(a)}})
    assert key_a != hashing.key_of({**base, "inputs": {"other": str(a)}})
    b.write_bytes(b"AUDIO")
    assert key_a != hashing.key_of({**base, "inputs": {"src": str(b)}})
    assert hashing.key_of({"step": "x"}) == hashing.key_of({"step": "x", "inputs": {}})


def test_canonical_is_order_free() -> None:
    assert hashing.canonical({"b": 1, "a": [1, 2]}) == hashing.canonical({"a": [1, 2], "b": 1}) == b'{"a":[1,2],"b":1}'
    assert hashing.canonical({"p": Path("/x")}) == b'{"p":"/x"}'


def test_the_memo_file_carries_digests_to_the_next_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    memo = tmp_path / "digests.json"
    path = tmp_path / "f.bin"
    path.write_bytes(b"content")
    hashing.save_memo(memo)
    assert not memo.exists()  # nothing learnt, nothing written
    digest = hashing.file_digest(path)
    hashing.save_memo(memo)
    hashing.forget()  # a new process
    hashing.load_memo(memo)
    read: list[Path] = []
    monkeypatch.setattr(hashing, "hash_file", lambda p: read.append(Path(p)) or "x")
    assert hashing.file_digest(path) == digest and read == []
    path.write_bytes(b"changed")  # any write changes the state: read again
    assert hashing.file_digest(path) == "x" and read == [path]


def test_a_bad_memo_file_is_ignored_and_the_memo_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    memo = tmp_path / "digests.json"
    for text in ("not json", '{"a": 1}', '[[1, 2], ["p", 1, 2, 3, "4", "d"], "row"]'):
        memo.write_text(text)
        hashing.load_memo(memo)
        assert hashing._memo == {}
    hashing.load_memo(tmp_path / "missing.json")
    monkeypatch.setattr(hashing, "MEMO_LIMIT", 2)
    for name in ("a", "b", "c"):
        (tmp_path / name).write_bytes(name.encode())
        hashing.file_digest(tmp_path / name)
    hashing.file_digest(tmp_path / "a")  # already known: stays where it was
    hashing.save_memo(memo)
    kept = [Path(row[0]).name for row in json.loads(memo.read_text())]
    assert kept == ["b", "c"]
    hashing.remember(tmp_path / "a", "abc")  # remembered again: the most recent
    hashing.save_memo(tmp_path / "no-such-folder" / "digests.json")  # cannot be written: ignored
    hashing.save_memo(memo)
    assert [Path(row[0]).name for row in json.loads(memo.read_text())] == ["c", "a"]
