"""`ap cache list | info | clean | clear`, discovered through the ap_register_commands hook."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
import pytest

from ap_cache_fs.commands import human_age, human_size, parse_duration, parse_size
from ap_cache_fs.store import MANIFEST, FsCache


def fill(ap, song: Path, tmp_path: Path) -> None:
    assert ap("convert", "to-wav", "--src", song, "--target", tmp_path / "a.wav").code == 0
    assert ap("segment", "split", "--src", song, "--output-dir", tmp_path / "segs", "--window-size", "0.5").code == 0


def test_cache_commands_are_listed(ap) -> None:
    result = ap("--help")
    assert "cache" in result.out
    result = ap("cache", "--help")
    for name in ("list", "info", "clean", "clear"):
        assert name in result.out
    assert "--log-level" in ap("cache", "list", "--help").out


def test_empty_cache(ap, cache_dir: Path) -> None:
    assert ap("cache", "list").out.strip() == "the cache is empty"
    assert json.loads(ap("cache", "list", "--json").out) == []
    info = json.loads(ap("cache", "info", "--json").out)
    assert info["entries"] == 0 and info["directory"] == str(cache_dir)
    assert ap("cache", "clear").out.strip() == "removed 0 entries (0 B)"
    assert not cache_dir.exists()  # looking does not create it


def _shows_input(line: str, song: Path) -> bool:
    """Whether a `cache list` line names the input and, right after it, the input's size."""
    return song.name in line and line.split(song.name)[1].split()[:2] == human_size(song.stat().st_size).split()


def test_list_and_info(ap, song: Path, tmp_path: Path, cache_dir: Path) -> None:
    fill(ap, song, tmp_path)
    result = ap("cache", "list")
    assert result.code == 0
    lines = result.out.strip().splitlines()
    assert lines[0].split() == [
        "KEY", "STEP", "SEPARATOR", "MODEL", "INPUT", "INPUT", "SIZE", "AGE", "USED", "SIZE", "OPTIONS"
    ]  # fmt: skip
    assert lines[1].split()[1:4] == ["convert", "-", "-"] and _shows_input(lines[1], song)
    assert lines[2].split()[1] == "segment" and "window_size=0.5 overlap=0.0" in lines[2]
    rows = json.loads(ap("cache", "list", "--json").out)
    assert [r["command"] for r in rows] == ["convert to-wav", "segment split"]
    assert all(r["complete"] and r["size"] > 0 for r in rows)
    info = ap("cache", "info")
    assert f"directory:  {cache_dir}" in info.out and "entries:    2" in info.out
    assert "convert" in info.out and "segment" in info.out
    data = json.loads(ap("cache", "info", "--json").out)
    assert data["steps"] == {"convert": 1, "segment": 1} and data["hash"] == "xxh3-128"


def test_list_hides_chunk_entries_unless_asked(ap, song: Path, tmp_path: Path, cache_dir: Path) -> None:
    cache = FsCache.open(cache_dir, print)
    assert cache is not None
    key = cache.key({"step": "separate-chunk", "inputs": {"src": str(song)}})
    import numpy as np

    cache.store_arrays(
        key, {"a": np.zeros(4, np.float32)}, {"command": "extract x (chunk 0)", "step": "separate-chunk"}
    )
    assert ap("cache", "list").out.strip() == "the cache is empty"
    assert "separate-chunk" in ap("cache", "list", "--all").out


def _separation(cache: FsCache, song: Path, tmp_path: Path, identity: str, **options: Any) -> None:
    """An entry as a separation stores it (api.separate_file through caching.separation)."""
    config = {"separator": "demucs", "backend": "pytorch", "options": options, "output_format": "wav"}
    material = {"step": "separate", "identity": identity, "options": config, "inputs": {"src": str(song)}}
    stem = tmp_path / f"{identity}.wav"
    stem.write_bytes(identity.encode())
    manifest = {"command": "extract demucs", "step": "separate", "identity": identity, "config": config}
    cache.store(cache.key(material), {"vocals": stem}, {**manifest, "inputs": {"src": str(song)}})


def test_list_tells_models_and_options_on_one_input_apart(ap, song: Path, tmp_path: Path, cache_dir: Path) -> None:
    cache = FsCache.open(cache_dir, print)
    assert cache is not None
    _separation(cache, song, tmp_path, "demucs:htdemucs:0123456789abcdef", model="htdemucs", shifts=1)
    _separation(cache, song, tmp_path, "demucs:mdx_extra:fedcba9876543210", model="mdx_extra", shifts=1)
    _separation(cache, song, tmp_path, "hpss:builtin", margin=2.0)
    lines = ap("cache", "list").out.strip().splitlines()[1:]
    assert [line.split()[1:4] for line in lines] == [
        ["separate", "demucs", "htdemucs@01234567"],
        ["separate", "demucs", "mdx_extra@fedcba98"],
        ["separate", "demucs", "builtin"],
    ]
    assert all(_shows_input(line, song) for line in lines)
    assert lines[0].endswith("shifts=1 backend=pytorch output_format=wav") and "margin=2.0" in lines[2]
    rows = json.loads(ap("cache", "list", "--json").out)
    assert rows[1] == {
        **rows[1],
        "step": "separate",
        "separator": "demucs",
        "model": "mdx_extra",
        "weights": "fedcba9876543210",
        "options": {"shifts": 1, "backend": "pytorch", "output_format": "wav"},
        "input": "song.wav",
        "input_size": song.stat().st_size,
        "command": "extract demucs",
    }


def test_list_reads_entries_written_before_it_showed_models(ap, song: Path, tmp_path: Path, cache_dir: Path) -> None:
    # Older or foreign manifests: no identity, the model only among the options, no input size; long names.
    cache = FsCache.open(cache_dir, print)
    assert cache is not None
    long_name = tmp_path / ("a-very-long-input-file-name-" * 2 + "end.wav")
    long_name.write_bytes(b"x")
    config = {
        "separator": "some-separator-name",
        "options": {"model": "m1", "flags": [1, 2], "on": True, "d": {"k": 1}},
    }
    key = cache.key({"step": "separate", "options": config, "inputs": {"src": str(long_name)}})
    stem = tmp_path / "stem.wav"
    stem.write_bytes(b"stem")
    cache.store(key, {"s": stem}, {"step": "separate", "config": config, "inputs": {"src": str(long_name)}})
    (cache.entry_dir(key) / MANIFEST).write_text(
        (cache.entry_dir(key) / MANIFEST).read_text().replace("size = 1\n", "", 1)
    )
    line = ap("cache", "list").out.strip().splitlines()[1]
    assert "…arator-name m1 " in line and "…input-file-name-end.wav" in line
    assert line.endswith("flags=1,2 on=true d={k=1}")
    row = json.loads(ap("cache", "list", "--json").out)[0]
    assert (row["model"], row["weights"], row["input_size"]) == ("m1", "", None)


def test_incomplete_entries_show_and_clean_drops_them(ap, song: Path, tmp_path: Path, cache_dir: Path) -> None:
    fill(ap, song, tmp_path)
    cache = FsCache(cache_dir, print)
    broken = cache.entry_dir("ab" * 16)
    broken.mkdir(parents=True)
    (broken / "0000-x.wav").write_bytes(b"half")
    os.utime(broken / "0000-x.wav", (1000, 1000))
    assert "incomplete: 1" in ap("cache", "info").out
    assert "(incomplete)" in ap("cache", "list").out
    result = ap("cache", "clean")
    assert result.out.startswith("removed 1 entries") and "2 entries" in result.out
    for entry in cache.scan():
        os.utime(entry.path / MANIFEST, (1000, 1000))
    result = ap("cache", "clean", "--older-than", "7d")
    assert result.out.startswith("removed 2 entries") and "0 entries (0 B) remain" in result.out


def test_clean_max_size_and_clear(ap, song: Path, tmp_path: Path) -> None:
    fill(ap, song, tmp_path)
    result = ap("cache", "clean", "--max-size", "1KB")
    assert result.out.startswith("removed 2 entries")
    fill(ap, song, tmp_path)
    (Path(FsCache(Path(os.environ["AUDIO_PLAYGROUND_CACHE_DIR"]), print).entries) / "junk").write_text("x")
    result = ap("cache", "clear")
    assert result.out.startswith("removed 2 entries") and "KB" in result.out
    assert ap("cache", "list").out.strip() == "the cache is empty"


def test_bad_values_are_usage_errors(ap) -> None:
    assert ap("cache", "clean", "--older-than", "soon").code == 2
    assert ap("cache", "clean", "--max-size", "lots").code == 2


def test_cache_dir_option_and_a_file_in_its_place(
    ap, song: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = tmp_path / "other-cache"
    assert ap("--cache-dir", other, "convert", "to-wav", "--src", song, "--target", tmp_path / "x.wav").code == 0
    assert "convert" in ap("cache", "list", "--cache-dir", other).out.splitlines()[1].split()
    assert ap("cache", "list").out.strip() == "the cache is empty"
    file = tmp_path / "file"
    file.write_text("x")
    assert ap("cache", "info", "--cache-dir", file).code == 2  # click checks the option itself
    monkeypatch.setenv("AUDIO_PLAYGROUND_CACHE_DIR", str(file))
    result = ap("cache", "info")
    assert result.code == 1 and "is not a directory" in result.err


def test_parse_duration() -> None:
    assert parse_duration("7d") == 7 * 86400
    assert parse_duration("1d12h") == 36 * 3600
    assert parse_duration("90m") == 5400 and parse_duration("45s") == 45 and parse_duration("2w") == 1209600
    assert parse_duration("30") == 30 and parse_duration("1.5h") == 5400
    for bad in ("", "7x", "d", "7d junk"):
        with pytest.raises(click.BadParameter):
            parse_duration(bad)


def test_parse_size() -> None:
    assert parse_size("10GB") == 10 * 1000**3
    assert parse_size("1.5G") == 1_500_000_000
    assert parse_size("100KiB") == 102400 and parse_size("2048") == 2048 and parse_size("5 mb") == 5_000_000
    for bad in ("", "10XB", "GB", "-1GB"):
        with pytest.raises(click.BadParameter):
            parse_size(bad)


def test_human_units() -> None:
    assert human_size(0) == "0 B" and human_size(1500) == "1.5 KB" and human_size(2.5e9) == "2.5 GB"
    assert human_size(3e12) == "3.0 TB"
    assert human_age(5) == "5s" and human_age(600) == "10m" and human_age(10800) == "3h" and human_age(864000) == "10d"
    assert human_age(-3) == "0s"
