"""The real plugin behind the real commands: hits, resume, integrity, broken caches, concurrency, no model load."""

from __future__ import annotations

import errno
import importlib.util
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cachefs_helpers import noise, write_wav

from ap_cache_fs import store as store_module
from ap_cache_fs.store import MANIFEST, FsCache
from audio_playground import hookimpl
from audio_playground.engine import crossfade_window
from audio_playground.errors import ExitStatus
from audio_playground.plugins import build_plugin_manager
from audio_playground.specs import ChunkPlan, SeparatorSpec

SR = 8000


class Recorder:
    """Records finished steps and whether the cache served them."""

    def __init__(self) -> None:
        self.finished: list[tuple[str, bool]] = []

    @hookimpl
    def ap_step_finished(self, step: str, result: Any, seconds: float, cached: bool) -> None:
        self.finished.append((step, cached))


class Split:
    """A stereo test separator: a third and two thirds of each chunk; counts calls; fails at a chunk on demand."""

    sample_rate = SR
    channels = 2
    stems = ("third", "rest")

    def __init__(self, owner: Halves) -> None:
        self.owner = owner
        self.plan = ChunkPlan(1000, 750, crossfade_window(1000, 250))

    def separate(self, chunk: np.ndarray) -> dict[str, np.ndarray]:
        index = self.owner.done  # chunks this model computed (cached chunks never reach it)
        if index == self.owner.fail_at:
            raise self.owner.error(f"stopped at chunk {index}")
        self.owner.calls.append(index)
        self.owner.done += 1
        return {"third": chunk / 3, "rest": chunk * (2 / 3)}


class Halves(Recorder):
    """The test plugin: the `split3` separator, with a cache identity, plus the step recorder."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[int] = []
        self.done = 0
        self.loads = 0
        self.fail_at: int | None = None
        self.error: type[BaseException] = RuntimeError

    def _load(self, options: Mapping[str, Any], device: str) -> Split:
        self.loads += 1
        self.done = 0
        return Split(self)

    @hookimpl
    def ap_separators(self) -> list[SeparatorSpec]:
        return [SeparatorSpec("split3", "numpy", self._load, stems=Split.stems, cache_identity=lambda o: "split3:v1")]


def manager(plugin: Any) -> Any:
    pm = build_plugin_manager()  # entry points: this plugin only (conftest)
    pm.register(plugin, name="test-plugin")
    assert pm.has_plugin("cache-fs")
    return pm


def same_files(a: Path, b: Path) -> None:
    names = sorted(p.name for p in a.iterdir())
    assert names == sorted(p.name for p in b.iterdir()) and names
    for name in names:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


@pytest.fixture
def clip(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "in" / "clip.wav", noise(2, 9000, seed=7), SR)


def test_every_step_hits_the_second_time(ap, song: Path, tmp_path: Path) -> None:
    rec = Recorder()
    pm = manager(rec)
    for out in ("a", "b"):
        o = tmp_path / out
        assert ap("convert", "to-wav", "--src", song, "--target", o / "conv.wav", pm=pm).code == 0
        assert (
            ap("segment", "split", "--src", song, "--output-dir", o / "segs", "--window-size", "0.7", pm=pm).code == 0
        )
        assert ap("merge", "concat", "--input-dir", o / "segs", "--target", o / "merged.wav", pm=pm).code == 0
        assert ap("extract", "hpss", song, "-o", o / "stems", pm=pm).code == 0
    assert rec.finished == [
        ("convert", False),
        ("segment", False),
        ("merge", False),
        ("separate", False),
        ("convert", True),
        ("segment", True),
        ("merge", True),
        ("separate", True),
    ]
    for sub in ("segs", "stems"):
        same_files(tmp_path / "a" / sub, tmp_path / "b" / sub)
    for name in ("conv.wav", "merged.wav"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    steps = sorted(i.manifest["step"] for i in FsCache(Path(os.environ["AUDIO_PLAYGROUND_CACHE_DIR"]), print).scan())
    assert steps == ["convert", "merge", "segment", "separate"]  # chunk entries dropped after the whole result


def test_no_cache_reads_and_writes_nothing(ap, song: Path, tmp_path: Path, cache_dir: Path) -> None:
    rec = Recorder()
    pm = manager(rec)
    for _ in range(2):
        assert ap("extract", "hpss", song, "-o", tmp_path / "o", "--no-cache", pm=pm).code == 0
    assert rec.finished == [("separate", False), ("separate", False)]
    assert FsCache(cache_dir, print).scan() == []


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_an_interrupted_extract_resumes_at_the_first_unfinished_chunk(
    ap, clip: Path, tmp_path: Path, cache_dir: Path, error: type[BaseException]
) -> None:
    plugin = Halves()
    plugin.fail_at, plugin.error = 7, error
    result = ap("extract", "split3", clip, "-o", tmp_path / "out", pm=manager(plugin))
    assert result.code == (ExitStatus.INTERRUPTED if error is KeyboardInterrupt else ExitStatus.FAILURE)
    assert plugin.calls == list(range(7))
    assert not list((tmp_path / "out").glob("*.wav")) if (tmp_path / "out").exists() else True
    chunk_entries = [i for i in FsCache(cache_dir, print).scan() if i.manifest.get("step") == "separate-chunk"]
    assert len(chunk_entries) == 7
    plugin.fail_at, plugin.calls = None, []
    assert ap("extract", "split3", clip, "-o", tmp_path / "out", pm=manager(plugin)).code == 0
    fresh = Halves()
    assert ap("extract", "split3", clip, "-o", tmp_path / "ref", "--no-cache", pm=manager(fresh)).code == 0
    assert len(fresh.calls) == 12
    assert len(plugin.calls) == 12 - 7  # the model ran only the chunks the first run did not finish
    same_files(tmp_path / "out", tmp_path / "ref")  # a resumed run writes the same bytes
    cache = FsCache(cache_dir, print)
    assert [i.manifest["step"] for i in cache.scan()] == ["separate"]
    assert sorted(p.stem for p in cache.locks.glob("*.lock")) == [cache.scan()[0].key]


def test_a_tampered_artifact_is_recomputed_with_a_warning(ap, song: Path, tmp_path: Path, cache_dir: Path) -> None:
    rec = Recorder()
    pm = manager(rec)
    assert ap("convert", "to-wav", "--src", song, "--target", tmp_path / "a.wav", pm=pm).code == 0
    (entry,) = FsCache(cache_dir, print).scan()
    artifact = next(p for p in entry.path.iterdir() if p.name != MANIFEST)
    data = bytearray(artifact.read_bytes())
    data[-1] ^= 0xFF
    artifact.write_bytes(bytes(data))
    result = ap("convert", "to-wav", "--src", song, "--target", tmp_path / "b.wav", pm=pm)
    assert result.code == 0 and "no longer matches its manifest" in result.err
    assert (tmp_path / "a.wav").read_bytes() == (tmp_path / "b.wav").read_bytes()
    assert ap("convert", "to-wav", "--src", song, "--target", tmp_path / "c.wav", pm=pm).code == 0
    assert rec.finished == [("convert", False), ("convert", False), ("convert", True)]


def test_a_changed_input_is_a_miss(ap, song: Path, tmp_path: Path) -> None:
    rec = Recorder()
    pm = manager(rec)
    copy = tmp_path / "elsewhere" / "renamed.wav"
    copy.parent.mkdir()
    shutil.copyfile(song, copy)
    assert ap("convert", "to-wav", "--src", song, "--target", tmp_path / "a.wav", pm=pm).code == 0
    assert ap("convert", "to-wav", "--src", copy, "--target", tmp_path / "b.wav", pm=pm).code == 0  # same bytes
    write_wav(copy, noise(2, 4000, seed=9), 22050)
    assert ap("convert", "to-wav", "--src", copy, "--target", tmp_path / "c.wav", pm=pm).code == 0
    assert rec.finished == [("convert", False), ("convert", True), ("convert", False)]


def test_a_garbage_cache_directory_never_breaks_a_run(ap, song: Path, tmp_path: Path, monkeypatch) -> None:
    rec = Recorder()
    pm = manager(rec)
    file = tmp_path / "cache-file"
    file.write_text("not a directory")
    monkeypatch.setenv("AUDIO_PLAYGROUND_CACHE_DIR", str(file))
    result = ap("extract", "hpss", song, "-o", tmp_path / "a", pm=pm)
    assert result.code == 0 and "cannot be used" in result.err and "running uncached" in result.err
    junk = tmp_path / "junk-cache"
    monkeypatch.setenv("AUDIO_PLAYGROUND_CACHE_DIR", str(junk))
    assert ap("convert", "to-wav", "--src", song, "--target", tmp_path / "x.wav", pm=pm).code == 0
    store = FsCache(junk, print)
    for entry in store.scan():
        (entry.path / MANIFEST).write_text("garbage = [")
    (store.entries / "zz").write_text("junk")
    (store.entries / "ab").mkdir(exist_ok=True)
    (store.entries / "ab" / "whatever").write_text("junk")
    for _ in range(2):
        assert ap("convert", "to-wav", "--src", song, "--target", tmp_path / "y.wav", pm=pm).code == 0
    assert rec.finished == [("separate", False), ("convert", False), ("convert", False), ("convert", True)]


def test_a_full_disk_warns_and_the_run_goes_on(
    ap, song: Path, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(src: Path, dest: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store_module, "copy_file", full)
    result = ap("segment", "split", "--src", song, "--output-dir", tmp_path / "segs", pm=manager(Recorder()))
    assert result.code == 0 and "could not store a result" in result.err and "No space left" in result.err
    assert (tmp_path / "segs" / "segment_metadata.json").is_file()
    assert FsCache(cache_dir, print).scan() == []


RUN = """
import sys
from audio_playground.cli import run
code = run(sys.argv[1:])
sys.exit(code)
"""


def _env(cache_dir: Path, plugins: str = "cache-fs") -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIO_PLAYGROUND_")}
    env.update(AUDIO_PLAYGROUND_LOAD_PLUGINS=plugins, AUDIO_PLAYGROUND_CACHE_DIR=str(cache_dir))
    return env


def test_a_read_only_cache_directory_never_breaks_a_run(song: Path, tmp_path: Path, cache_dir: Path) -> None:
    assert FsCache.open(cache_dir, print) is not None
    for path in [cache_dir, *cache_dir.rglob("*")]:
        path.chmod(0o555 if path.is_dir() else 0o444)
    prefix: list[str] = []
    if os.geteuid() == 0:  # root writes anywhere: drop that power for the child
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: a read-only directory cannot be simulated")
        prefix = [setpriv, "--inh-caps=-dac_override,-fowner", "--bounding-set=-dac_override,-fowner"]
    out = tmp_path / "out"
    out.mkdir()
    try:
        result = subprocess.run(
            [
                *prefix,
                sys.executable,
                "-c",
                RUN,
                "convert",
                "to-wav",
                "--src",
                str(song),
                "--target",
                str(out / "a.wav"),
            ],
            capture_output=True,
            text=True,
            env=_env(cache_dir),
            timeout=120,
        )
    finally:
        for path in [cache_dir, *cache_dir.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
    assert result.returncode == 0, result.stderr
    assert "cannot be used" in result.stderr and (out / "a.wav").is_file()


def test_concurrent_runs_on_the_same_input_share_one_entry(song: Path, tmp_path: Path, cache_dir: Path) -> None:
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                RUN,
                "segment",
                "split",
                "--src",
                str(song),
                "--output-dir",
                str(tmp_path / f"s{i}"),
            ],
            env=_env(cache_dir),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "warning" not in err.lower()
    entries = FsCache(cache_dir, print).scan()
    assert len(entries) == 1 and entries[0].complete
    for i in (1, 2):
        same_files(tmp_path / "s0", tmp_path / f"s{i}")
    hit = FsCache(cache_dir, print).fetch(entries[0].key, lambda name: tmp_path / "hit" / name)
    assert hit is not None and len(hit.outputs) == 2  # one segment and the metadata


MARKER_PLUGIN = """
import numpy as np
from audio_playground import hookimpl
from audio_playground.engine import crossfade_window
from audio_playground.specs import ChunkPlan, SeparatorSpec


class Sep:
    sample_rate = 8000
    channels = 2
    stems = ("a", "b")
    plan = ChunkPlan(1000, 800, crossfade_window(1000, 200))

    def separate(self, chunk):
        return {"a": chunk * 0.5, "b": chunk * 0.5}


def load(options, device):
    import heavy_marker  # stands for torch: a model load imports its runtime

    return Sep()


@hookimpl
def ap_separators():
    return [SeparatorSpec("marked", "numpy", load, stems=("a", "b"), cache_identity=lambda o: "marked:1")]
"""

MARKED_RUN = """
import sys
import marker_plugin
from audio_playground.cli import run
from audio_playground.plugins import build_plugin_manager
pm = build_plugin_manager()
pm.register(marker_plugin, name="marker")
code = run(sys.argv[1:], pm=pm)
print("LOADED:" + ",".join(m for m in ("heavy_marker", "torch", "demucs") if m in sys.modules))
sys.exit(code)
"""


def test_a_cached_extract_loads_no_model(clip: Path, tmp_path: Path, cache_dir: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "marker_plugin.py").write_text(MARKER_PLUGIN)
    (plugins / "heavy_marker.py").write_text("")
    env = _env(cache_dir)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(plugins), env.get("PYTHONPATH")]))
    seen = []
    for out in ("a", "b"):
        result = subprocess.run(
            [sys.executable, "-c", MARKED_RUN, "extract", "marked", str(clip), "-o", str(tmp_path / out)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        seen.append(result.stdout.strip().splitlines()[-1])
    assert seen == ["LOADED:heavy_marker", "LOADED:"]
    same_files(tmp_path / "a", tmp_path / "b")


@pytest.mark.skipif(importlib.util.find_spec("ap_demucs") is None, reason="ap-demucs is not installed")
def test_a_cached_demucs_extract_imports_no_torch(clip: Path, tmp_path: Path, cache_dir: Path) -> None:
    repo = tmp_path / "repo"
    subprocess.run([sys.executable, "-m", "ap_demucs.testing", str(repo)], check=True, capture_output=True, timeout=300)
    song = write_wav(tmp_path / "in" / "song44.wav", noise(2, 44100 * 3, seed=4), 44100)
    script = RUN.replace("sys.exit(code)", 'print("TORCH:" + str("torch" in sys.modules))\nsys.exit(code)')
    env = _env(cache_dir, "cache-fs,demucs")
    seen = []
    for out in ("a", "b"):
        args = ["extract", "demucs", str(song), "--repo", str(repo), "--model", "tiny4", "-o", str(tmp_path / out)]
        result = subprocess.run(
            [sys.executable, "-c", script, *args], capture_output=True, text=True, env=env, timeout=300
        )
        assert result.returncode == 0, result.stderr
        seen.append(result.stdout.strip().splitlines()[-1])
    assert seen == ["TORCH:True", "TORCH:False"]
    same_files(tmp_path / "a", tmp_path / "b")


def test_python_api_through_the_plugin(song: Path, tmp_path: Path) -> None:
    from audio_playground import api

    pm = manager(Recorder())
    one = api.separate(song, tmp_path / "a", "hpss", pm=pm)
    two = api.separate(song, tmp_path / "b", "hpss", pm=pm)
    assert (one.cached, two.cached) == (False, True)
    same_files(tmp_path / "a", tmp_path / "b")


def test_several_inputs_mix_hits_and_misses(ap, song: Path, clip: Path, tmp_path: Path) -> None:
    rec = Recorder()
    pm = manager(rec)
    assert ap("extract", "hpss", song, "-o", tmp_path / "one", pm=pm).code == 0
    assert ap("extract", "hpss", song, clip, "-o", tmp_path / "two", pm=pm).code == 0
    assert rec.finished == [("separate", False), ("separate", True), ("separate", False)]
    same_files(tmp_path / "one", tmp_path / "two" / "song")


def test_a_stored_output_is_not_hashed_again_as_the_next_input(
    ap, song: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ap_cache_fs import hashing

    pm = manager(Recorder())
    assert ap("convert", "to-wav", "--src", song, "--target", tmp_path / "c.wav", pm=pm).code == 0
    hashed: list[Path] = []
    real = hashing.hash_file

    def counting(path: str | Path) -> str:
        hashed.append(Path(path))
        return real(path)

    monkeypatch.setattr(hashing, "hash_file", counting)
    assert ap("segment", "split", "--src", tmp_path / "c.wav", "--output-dir", tmp_path / "s", pm=pm).code == 0
    assert tmp_path / "c.wav" not in hashed  # its digest was taken when the convert step stored it
    assert any(p.name == "segment-000.wav" for p in hashed)


def test_a_rerun_into_the_same_folder_reads_no_file(
    ap, song: Path, tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ap_cache_fs import hashing, store

    split = ["segment", "split", "--src", song, "--output-dir", tmp_path / "s", "--window-size", "0.5"]
    assert ap(*split).code == 0
    assert (cache_dir / "steps-v1" / "digests.json").is_file()
    hashing.forget()  # the next run is another process: it knows only the memo file
    hashed: list[Path] = []
    real = hashing.hash_file
    monkeypatch.setattr(hashing, "hash_file", lambda path: hashed.append(Path(path)) or real(path))
    monkeypatch.setattr(store, "hash_file", hashing.hash_file)
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "s").iterdir()}
    assert ap(*split).code == 0
    assert hashed == []  # neither the input nor the segments already there were read
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "s").iterdir()} == before
    assert ap(*split[:-4], "--output-dir", tmp_path / "t", "--window-size", "0.5").code == 0
    assert hashed and all(p.parent.name != "t" for p in hashed)  # a new folder: the artifacts are checked
    assert ap("cache", "clear").code == 0 and not (cache_dir / "steps-v1" / "digests.json").exists()


def test_plugin_is_listed(ap) -> None:
    result = ap("plugins", "list")
    assert "cache-fs" in result.out and "ap_caches" in result.out and "ap_register_commands" in result.out
