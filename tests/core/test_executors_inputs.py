"""Batch inputs (files, folders, --recursive, globs, --manifest lines / CSV / JSONL) and the run manifest file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from audio_playground.errors import InputError, UsageError
from audio_playground.executors import MANIFEST_NAME, read_manifest
from audio_playground.executors.inputs import count_manifest, expand, failed_items, iter_manifest, work_items
from audio_playground.executors.manifest import ManifestWriter, iter_records, last_status


def touch(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return path


@pytest.fixture
def library(tmp_path: Path) -> Path:
    root = tmp_path / "lib"
    for name in ("b.wav", "a.flac", "notes.txt", ".hidden.wav", "x/one.mp3", "x/y/two.wav", ".git/z.wav"):
        touch(root / name)
    return root


def test_expand_files_folders_and_globs(library: Path) -> None:
    assert [(p.name, t) for p, t in expand([library])] == [("a.flac", "a"), ("b.wav", "b")]
    recursive = [t for _, t in expand([library], recursive=True)]
    assert recursive == ["a", "b", "x/one", "x/y/two"]
    assert [t for _, t in expand([str(library / "**" / "*.wav")])] == ["b", "two"]
    assert [p for p, _ in expand([library / "notes.txt"])] == [library / "notes.txt"]


def test_expand_errors_name_the_path(library: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        expand([library / "missing.wav"])
    with pytest.raises(InputError, match="no file matches"):
        expand([str(library / "*.ogg")])
    (library / "empty").mkdir()
    with pytest.raises(InputError, match="--recursive"):
        expand([library / "empty"])
    touch(library / "deep" / "sub" / "s.wav")
    assert [t for _, t in expand([library / "deep"], recursive=True)] == ["sub/s"]


def test_manifest_of_lines_csv_and_jsonl(tmp_path: Path) -> None:
    song = touch(tmp_path / "music" / "song.wav")
    lines = tmp_path / "list.txt"
    lines.write_text(f"# a comment\n\n{song}\nmusic/other.wav\n")
    assert list(iter_manifest(lines)) == [song, tmp_path / "music" / "other.wav"]
    table = tmp_path / "list.csv"
    table.write_text(f"id,path\n1,{song}\n2,\n3,music/other.wav\n")
    assert list(iter_manifest(table)) == [song, tmp_path / "music" / "other.wav"]
    rows = tmp_path / "list.jsonl"
    rows.write_text(json.dumps({"path": str(song), "genre": "x"}) + "\n\n" + json.dumps({"path": "rel.wav"}) + "\n")
    assert list(iter_manifest(rows)) == [song, tmp_path / "rel.wav"]
    sniffed = tmp_path / "list"
    sniffed.write_text(json.dumps({"path": "a.wav"}) + "\n")
    assert list(iter_manifest(sniffed)) == [tmp_path / "a.wav"]
    empty = tmp_path / "empty.txt"
    empty.write_text("\n")
    assert count_manifest(empty) == 0 and count_manifest(lines) == 2


def test_bad_manifests_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="manifest not found"):
        list(iter_manifest(tmp_path / "none.txt"))
    table = tmp_path / "t.csv"
    table.write_text("file\nsong.wav\n")
    with pytest.raises(UsageError, match="no 'path' column"):
        list(iter_manifest(table))
    rows = tmp_path / "r.jsonl"
    rows.write_text('{"path": "a.wav"}\nnot json\n')
    with pytest.raises(UsageError, match=r"r.jsonl:2: not a JSON object"):
        count_manifest(rows)
    rows.write_text('{"file": "a.wav"}\n')
    with pytest.raises(UsageError, match=r"r.jsonl:1: no 'path' field"):
        count_manifest(rows)


def test_work_items_stream_given_paths_then_the_manifest(tmp_path: Path) -> None:
    song = touch(tmp_path / "song.wav")
    listed = tmp_path / "list.txt"
    listed.write_text("a.wav\nb.wav\n")
    items, total = work_items([song], manifest=listed)
    assert total == 3
    got = list(items)
    assert [(i.index, Path(i.input).name, i.track) for i in got] == [
        (0, "song.wav", "song"),
        (1, "a.wav", "a"),
        (2, "b.wav", "b"),
    ]
    assert all(Path(i.input).is_absolute() for i in got)
    with pytest.raises(UsageError, match="no input given"):
        work_items([])


def test_manifest_writer_appends_and_the_last_line_wins(tmp_path: Path) -> None:
    assert read_manifest(tmp_path) == {}
    with ManifestWriter(tmp_path) as writer:
        writer.write({"input": "/a.wav", "status": "failed", "track": "a"})
        writer.write({"input": "/b.wav", "status": "done"})
    path = tmp_path / MANIFEST_NAME
    with path.open("a") as handle:  # a crash mid-line, then junk
        handle.write('{"input": "/c.wav", "status": "do')
    with ManifestWriter(tmp_path) as writer:
        writer.write({"input": "/a.wav", "status": "done", "track": "a"})
    with path.open("a") as handle:
        handle.write('[1, 2]\n{"input": 3, "status": "done"}\n{"input": "/d.wav", "status": "weird"}\n')
    records = read_manifest(tmp_path)
    assert sorted(records) == ["/a.wav", "/b.wav"]
    assert records["/a.wav"]["status"] == "done"
    assert len(list(iter_records(tmp_path))) == 3
    assert last_status(tmp_path) == {"/a.wav": ("done", "a"), "/b.wav": ("done", "b")}


def test_failed_items_come_from_the_manifest(tmp_path: Path) -> None:
    song = touch(tmp_path / "song.wav")
    with ManifestWriter(tmp_path / "out") as writer:
        writer.write({"input": str(song), "status": "failed", "track": "song"})
        writer.write({"input": "/x/other.wav", "status": "failed", "track": "other"})
        writer.write({"input": "/x/fine.wav", "status": "done", "track": "fine"})
    items, total = failed_items(tmp_path / "out")
    assert total == 2 and [i.track for i in items] == ["song", "other"]
    items, total = failed_items(tmp_path / "out", [song])
    assert total == 1 and [i.input for i in items] == [str(song)]
    with pytest.raises(UsageError, match="no failed input to retry"):
        failed_items(tmp_path / "elsewhere")
