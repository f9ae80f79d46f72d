"""The core's cache integration, with a small in-test StepCache (a real, directory-backed store).

No cache plugin is installed here: the core must run uncached without one, call the ap_caches hook when one
is registered, check whole-step hits before loading a model, resume separations chunk by chunk, and keep
running (with a warning) when the cache fails.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from audio_playground import caching, hookimpl
from audio_playground.cli import run
from audio_playground.config import load_config
from audio_playground.engine import crossfade_window
from audio_playground.errors import ExitStatus, UsageError
from audio_playground.plugins import build_plugin_manager
from audio_playground.specs import CacheHit, CacheSpec, ChunkPlan, SeparatorSpec
from tests.conftest import noise, write_wav

SR = 8000


# --------------------------------------------------------------------------- an in-test store


class DirCache:
    """A StepCache kept in a directory: files copied in and out, arrays as .npy; keys from sha256."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.keys: list[dict[str, Any]] = []
        self.stored: list[str] = []
        self.discarded: list[str] = []

    def key(self, material: Mapping[str, Any]) -> str:
        self.keys.append(dict(material))
        inputs = {n: hashlib.sha256(Path(p).read_bytes()).hexdigest() for n, p in material["inputs"].items()}
        return hashlib.sha256(json.dumps({**material, "inputs": inputs}, sort_keys=True).encode()).hexdigest()

    def _dir(self, key: str) -> Path:
        return self.root / key

    def fetch(self, key: str, place: Callable[[str], Path]) -> CacheHit | None:
        manifest = self._dir(key) / "manifest.json"
        if not manifest.is_file():
            return None
        data = json.loads(manifest.read_text())
        places = {name: place(name) for name in data["files"]}
        for name, dest in places.items():
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self._dir(key) / data["files"][name], dest)
        return CacheHit(places, data["manifest"]["result"])

    def store(self, key: str, outputs: Mapping[str, Path], manifest: Mapping[str, Any]) -> None:
        entry = self._dir(key)
        entry.mkdir(exist_ok=True)
        files = {}
        for i, (name, path) in enumerate(outputs.items()):
            shutil.copyfile(path, entry / f"{i}")
            files[name] = f"{i}"
        (entry / "manifest.json").write_text(json.dumps({"files": files, "manifest": manifest}))
        self.stored.append(key)

    def fetch_arrays(self, key: str) -> dict[str, np.ndarray] | None:
        entry = self._dir(key)
        if not (entry / "manifest.json").is_file():
            return None
        names = json.loads((entry / "manifest.json").read_text())["arrays"]
        return {name: np.load(entry / f"{name}.npy") for name in names}

    def store_arrays(self, key: str, arrays: Mapping[str, np.ndarray], manifest: Mapping[str, Any]) -> None:
        entry = self._dir(key)
        entry.mkdir(exist_ok=True)
        for name, array in arrays.items():
            np.save(entry / f"{name}.npy", array)
        (entry / "manifest.json").write_text(json.dumps({"arrays": list(arrays), "manifest": manifest}))

    def discard(self, keys: Iterable[str]) -> None:
        for key in keys:
            self.discarded.append(key)
            shutil.rmtree(self._dir(key), ignore_errors=True)

    def entries(self) -> list[Path]:
        return sorted(p for p in self.root.iterdir() if (p / "manifest.json").is_file())


class Broken(DirCache):
    """A store whose every operation fails as a read-only or full disk would."""

    def key(self, material: Mapping[str, Any]) -> str:
        raise OSError(28, "No space left on device")


# --------------------------------------------------------------------------- an in-test separator


class Halves:
    """A mono separator that splits a chunk into a quarter and three quarters, counting and failing on demand."""

    sample_rate = SR
    channels = 1
    stems = ("quarter", "rest")

    def __init__(self, calls: list[int], fail_at: int | None = None) -> None:
        self.calls = calls
        self.fail_at = fail_at
        self.plan = ChunkPlan(1000, 800, crossfade_window(1000, 200))

    def separate(self, chunk: np.ndarray) -> dict[str, np.ndarray]:
        index = len(self.calls)
        if index == self.fail_at:
            raise RuntimeError(f"boom at chunk {index}")
        self.calls.append(index)
        return {"quarter": chunk * 0.25, "rest": chunk * 0.75}


class Plugin:
    """The test's plugin: a cache, a separator that counts loads and chunks, and a record of finished steps."""

    def __init__(self, cache: Any = None, identity: bool = True) -> None:
        self.cache = cache
        self.loads = 0
        self.calls: list[int] = []
        self.fail_at: int | None = None
        self.finished: list[tuple[str, bool]] = []
        self.identity = identity

    def _load(self, options: Mapping[str, Any], device: str) -> Halves:
        self.loads += 1
        return Halves(self.calls, self.fail_at)

    @hookimpl
    def ap_caches(self) -> list[CacheSpec]:
        if self.cache is None:
            return []
        return [CacheSpec("test", lambda config, warn: self.cache)]

    @hookimpl
    def ap_separators(self) -> list[SeparatorSpec]:
        return [
            SeparatorSpec(
                "halves",
                "numpy",
                self._load,
                stems=Halves.stems,
                cache_identity=(lambda options: "halves:1") if self.identity else None,
            )
        ]

    @hookimpl
    def ap_step_finished(self, step: str, result: Any, seconds: float, cached: bool) -> None:
        self.finished.append((step, cached))


def manager(plugin: Plugin) -> Any:
    pm = build_plugin_manager(load_entry_points=False)
    pm.register(plugin, name="test-plugin")
    return pm


@pytest.fixture
def wav(tmp_path: Path) -> Path:
    return write_wav(tmp_path / "in" / "mono.wav", noise(1, 9000, seed=3), SR)


def ap(pm: Any, *args: str | Path) -> int:
    return int(run([str(a) for a in args], pm=pm))


# --------------------------------------------------------------------------- opening


def test_no_cache_plugin_means_uncached(wav: Path, tmp_path: Path) -> None:
    plugin = Plugin()
    assert caching.open_cache(manager(plugin), load_config(), print) is None
    assert ap(manager(plugin), "convert", "to-wav", "--src", wav, "--target", tmp_path / "a.wav") == 0
    assert plugin.finished == [("convert", False)]


def test_open_cache_honours_config_and_priority(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    low, high = DirCache(tmp_path / "low"), DirCache(tmp_path / "high")

    class Two:
        @hookimpl
        def ap_caches(self) -> list[CacheSpec]:
            return [CacheSpec("low", lambda c, w: low, priority=1), CacheSpec("high", lambda c, w: high, priority=5)]

    pm = build_plugin_manager(load_entry_points=False)
    pm.register(Two())
    session = caching.open_cache(pm, load_config(), print)
    assert session is not None and session.store is high
    assert caching.open_cache(pm, load_config(cache=False), print) is None


def test_open_cache_survives_a_failing_or_declining_plugin(tmp_path: Path) -> None:
    warnings: list[str] = []

    def explode(config: Any, warn: Any) -> Any:
        raise PermissionError("read-only file system")

    class Failing:
        @hookimpl
        def ap_caches(self) -> list[CacheSpec]:
            return [CacheSpec("bad", explode)]

    pm = build_plugin_manager(load_entry_points=False)
    pm.register(Failing())
    assert caching.open_cache(pm, load_config(), warnings.append) is None
    assert "bad cache cannot open" in warnings[0] and "read-only" in warnings[0]

    class Declining:
        @hookimpl
        def ap_caches(self) -> list[CacheSpec]:
            return [CacheSpec("none", lambda c, w: None)]

    pm = build_plugin_manager(load_entry_points=False)
    pm.register(Declining())
    assert caching.open_cache(pm, load_config(), warnings.append) is None


def test_plain_and_material(tmp_path: Path) -> None:
    value = {"p": tmp_path, "t": (1, 2), "s": {"b", "a"}, "n": np.float32(0.5), "i": np.int64(3), "x": None}
    assert caching.plain(value) == {"p": str(tmp_path), "t": [1, 2], "s": ["a", "b"], "n": 0.5, "i": 3, "x": None}
    data = caching.material("convert", {"src": tmp_path / "x.wav"}, {"rate": 1}, "id")
    assert data["inputs"] == {"src": str((tmp_path / "x.wav").resolve())}
    assert data["step"] == "convert" and data["identity"] == "id" and data["version"]


# --------------------------------------------------------------------------- whole steps through the CLI


def test_convert_hits_the_second_time(wav: Path, tmp_path: Path) -> None:
    plugin = Plugin(DirCache(tmp_path / "c"))
    first, second = tmp_path / "out" / "a.wav", tmp_path / "out" / "b.wav"
    assert ap(manager(plugin), "convert", "to-wav", "--src", wav, "--target", first) == 0
    assert ap(manager(plugin), "convert", "to-wav", "--src", wav, "--target", second) == 0
    assert plugin.finished == [("convert", False), ("convert", True)]
    assert first.read_bytes() == second.read_bytes()
    # Other options are another entry; --no-cache neither reads nor writes.
    assert ap(manager(plugin), "convert", "to-wav", "--src", wav, "--target", second, "--sample-rate", "4000") == 0
    assert ap(manager(plugin), "convert", "to-wav", "--src", wav, "--target", second, "--no-cache") == 0
    assert plugin.finished[2:] == [("convert", False), ("convert", False)]
    assert len(plugin.cache.entries()) == 2


def test_config_cache_false_turns_it_off(wav: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    plugin = Plugin(DirCache(tmp_path / "c"))
    monkeypatch.setenv("AUDIO_PLAYGROUND_CACHE", "false")
    for _ in range(2):
        assert ap(manager(plugin), "convert", "to-wav", "--src", wav, "--target", tmp_path / "a.wav") == 0
    assert plugin.finished == [("convert", False), ("convert", False)]
    assert plugin.cache.entries() == []


def test_convert_onto_its_source_is_never_served(wav: Path, tmp_path: Path) -> None:
    plugin = Plugin(DirCache(tmp_path / "c"))
    assert ap(manager(plugin), "convert", "to-wav", "--src", wav, "--target", wav) == ExitStatus.USAGE
    assert plugin.cache.keys == []


def test_segment_and_merge_hit(wav: Path, tmp_path: Path) -> None:
    plugin = Plugin(DirCache(tmp_path / "c"))
    one, two = tmp_path / "one", tmp_path / "two"
    args = ("segment", "split", "--src", wav, "--window-size", "0.5", "--overlap", "0.1", "--output-dir")
    assert ap(manager(plugin), *args, one) == 0
    assert ap(manager(plugin), *args, two) == 0
    assert plugin.finished == [("segment", False), ("segment", True)]
    names = sorted(p.name for p in one.iterdir())
    assert names == sorted(p.name for p in two.iterdir())
    for name in names:
        assert (one / name).read_bytes() == (two / name).read_bytes()
    for target in (tmp_path / "m1.wav", tmp_path / "m2.wav"):
        assert ap(manager(plugin), "merge", "concat", "--input-dir", one, "--target", target) == 0
    assert plugin.finished[2:] == [("merge", False), ("merge", True)]
    assert (tmp_path / "m1.wav").read_bytes() == (tmp_path / "m2.wav").read_bytes()
    # A changed segment is another input: a miss.
    data, rate = sf.read(one / "segment-001.wav", dtype="int16")
    sf.write(one / "segment-001.wav", data // 2, rate, subtype="PCM_16")
    assert ap(manager(plugin), "merge", "concat", "--input-dir", one, "--target", tmp_path / "m3.wav") == 0
    assert plugin.finished[-1] == ("merge", False)


def test_step_errors_are_the_steps_own(wav: Path, tmp_path: Path) -> None:
    plugin = Plugin(DirCache(tmp_path / "c"))
    file = tmp_path / "file"
    file.write_text("x")
    assert ap(manager(plugin), "segment", "split", "--src", wav, "--output-dir", file) != 0
    assert ap(manager(plugin), "merge", "concat", "--input-dir", tmp_path / "nope", "--target", tmp_path / "m.wav") != 0
    assert ap(manager(plugin), "convert", "to-wav", "--src", tmp_path / "missing.wav", "--target", file) != 0
    assert plugin.cache.keys == []


def test_a_failing_cache_warns_once_and_the_run_goes_on(
    wav: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    plugin = Plugin(Broken(tmp_path / "c"))
    target = tmp_path / "a.wav"
    assert ap(manager(plugin), "convert", "to-wav", "--src", wav, "--target", target) == 0
    assert target.is_file()
    err = capsys.readouterr().err
    assert "could not hash the inputs" in err and "No space left" in err


def test_session_guards_every_call(tmp_path: Path, wav: Path) -> None:
    class Failing(DirCache):
        def fetch(self, key: str, place: Callable[[str], Path]) -> CacheHit | None:
            raise OSError("garbage")

        def store(self, key: str, outputs: Mapping[str, Path], manifest: Mapping[str, Any]) -> None:
            raise OSError("full")

        def fetch_arrays(self, key: str) -> dict[str, np.ndarray] | None:
            raise OSError("garbage")

        def store_arrays(self, key: str, arrays: Mapping[str, np.ndarray], manifest: Mapping[str, Any]) -> None:
            raise OSError("full")

        def discard(self, keys: Iterable[str]) -> None:
            raise OSError("read-only")

    warnings: list[str] = []
    for action, call in (
        ("read an entry", lambda s: s.fetch("k", lambda n: tmp_path / n)),
        ("store a result", lambda s: s.store_files("k", {}, {})),
        ("read a chunk", lambda s: s.fetch_arrays("k")),
        ("store a chunk", lambda s: s.store_arrays("k", {}, {})),
        ("drop entries", lambda s: s.discard(["k"])),
    ):
        session = caching.CacheSession(Failing(tmp_path / "c"), warnings.append)
        assert not call(session)
        assert not session.enabled
        assert action in warnings[-1]
        # Off now: every call is a quiet no-op.
        for again in (
            lambda s: s.fetch("k", lambda n: tmp_path / n),
            lambda s: s.store_files("k", {}, {}),
            lambda s: s.fetch_arrays("k"),
            lambda s: s.store_arrays("k", {}, {}),
            lambda s: s.discard(["k"]),
            lambda s: s.key({}),
            lambda s: s.entry("convert", "convert to-wav", {"src": wav}, {}),
        ):
            assert not again(session)
    assert len(warnings) == 5


def test_an_unexpected_output_in_an_entry_is_a_miss(wav: Path, tmp_path: Path) -> None:
    class Foreign(DirCache):
        def fetch(self, key: str, place: Callable[[str], Path]) -> CacheHit | None:
            place("surprise")
            raise AssertionError("unreachable")

    warnings: list[str] = []
    session = caching.CacheSession(Foreign(tmp_path / "c"), warnings.append)
    result, cached = caching.convert(session, wav, tmp_path / "a.wav")
    assert not cached and result.target.is_file()
    assert "unexpected output 'surprise'" in warnings[0]


def test_an_unsafe_output_name_is_a_miss(wav: Path, tmp_path: Path) -> None:
    cache = DirCache(tmp_path / "c")
    caching.split(caching.CacheSession(cache, print), wav, tmp_path / "segs", window_size=0.5)
    manifest = cache.entries()[0] / "manifest.json"
    data = json.loads(manifest.read_text())
    data["files"]["../evil.wav"] = data["files"].pop("segment-000.wav")
    manifest.write_text(json.dumps(data))
    warnings: list[str] = []
    out = tmp_path / "segs2"
    result, cached = caching.split(caching.CacheSession(cache, warnings.append), wav, out, window_size=0.5)
    assert not cached and result.segments[0] == out / "segment-000.wav"
    assert "unsafe output name" in warnings[0] and not (tmp_path / "evil.wav").exists()


# --------------------------------------------------------------------------- separation


def test_cached_extract_never_loads_the_model(wav: Path, tmp_path: Path) -> None:
    plugin = Plugin(DirCache(tmp_path / "c"))
    assert ap(manager(plugin), "extract", "halves", wav, "-o", tmp_path / "a") == 0
    assert plugin.loads == 1 and len(plugin.calls) == 12
    assert ap(manager(plugin), "extract", "halves", wav, "-o", tmp_path / "b", "--filename", "{stem}.{ext}") == 0
    assert plugin.loads == 1 and len(plugin.calls) == 12
    assert plugin.finished == [("separate", False), ("separate", True)]
    for stem in Halves.stems:
        assert (tmp_path / "a" / f"{stem}-halves.wav").read_bytes() == (tmp_path / "b" / f"{stem}.wav").read_bytes()
    # The chunk entries went once the whole result was stored.
    assert len(plugin.cache.entries()) == 1
    assert len(plugin.cache.discarded) == 12
    # Output options are part of the key; --no-cache loads the model again.
    assert ap(manager(plugin), "extract", "halves", wav, "-o", tmp_path / "c", "--bit-depth", "24") == 0
    assert plugin.finished[-1] == ("separate", False)
    assert ap(manager(plugin), "extract", "halves", wav, "-o", tmp_path / "d", "--no-cache") == 0
    assert plugin.loads == 3


def test_interrupted_extract_resumes_at_the_failed_chunk(wav: Path, tmp_path: Path) -> None:
    plugin = Plugin(DirCache(tmp_path / "c"))
    plugin.fail_at = 5
    assert ap(manager(plugin), "extract", "halves", wav, "-o", tmp_path / "a") == ExitStatus.FAILURE
    assert plugin.calls == [0, 1, 2, 3, 4]
    assert not (tmp_path / "a").exists() or not list((tmp_path / "a").iterdir())
    plugin.fail_at = None
    plugin.calls.clear()
    assert ap(manager(plugin), "extract", "halves", wav, "-o", tmp_path / "a") == 0
    # Chunks 0-4 came from the cache: the model computed chunks 5..11 only.
    assert plugin.calls == list(range(7))
    fresh = Plugin()
    assert ap(manager(fresh), "extract", "halves", wav, "-o", tmp_path / "b") == 0
    for stem in Halves.stems:
        name = f"{stem}-halves.wav"
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()


def test_separator_without_identity_is_not_cached(wav: Path, tmp_path: Path) -> None:
    plugin = Plugin(DirCache(tmp_path / "c"), identity=False)
    for out in ("a", "b"):
        assert ap(manager(plugin), "extract", "halves", wav, "-o", tmp_path / out) == 0
    assert plugin.finished == [("separate", False), ("separate", False)]
    assert plugin.cache.keys == []


def test_failing_identity_warns_and_runs_uncached(wav: Path, tmp_path: Path) -> None:
    from audio_playground import api

    def bad_identity(options: Mapping[str, Any]) -> str:
        raise RuntimeError("weights unreadable")

    spec = SeparatorSpec("halves", "numpy", lambda o, d: Halves([]), cache_identity=bad_identity)
    warnings: list[str] = []
    session = caching.CacheSession(DirCache(tmp_path / "c"), warnings.append)
    result = api.separate_file(api.Loaded(spec), wav, tmp_path / "a", cache=session)
    assert not result.cached and "weights unreadable" in warnings[0]
    none_spec = SeparatorSpec("halves", "numpy", lambda o, d: Halves([]), cache_identity=lambda o: None)
    assert caching.separation(session, api.Loaded(none_spec), wav, {}) is None


def test_fallback_to_another_backend_keys_the_model_that_ran(wav: Path, tmp_path: Path) -> None:
    from audio_playground import api
    from audio_playground.backends import Choice

    def fails(options: Mapping[str, Any], device: str) -> Any:
        raise RuntimeError("no GPU")

    first = SeparatorSpec("halves", "mlx", fails, cache_identity=lambda o: "halves:mlx")
    second = SeparatorSpec("halves", "numpy", lambda o, d: Halves([]), cache_identity=lambda o: "halves:numpy")
    cache = DirCache(tmp_path / "c")
    warnings: list[str] = []
    loaded = api.Loaded(first, choice=Choice("halves", (first, second)), warn=warnings.append)
    result = api.separate_file(loaded, wav, tmp_path / "a", cache=caching.CacheSession(cache, warnings.append))
    assert not result.cached and loaded.spec is second
    assert "falling back" in warnings[0]
    identities = {k["identity"] for k in cache.keys}
    assert identities == {"halves:mlx", "halves:numpy"}
    stored = json.loads((cache.entries()[0] / "manifest.json").read_text())["manifest"]
    assert stored["identity"] == "halves:numpy" and stored["command"] == "extract halves"


def test_a_hit_that_maps_two_stems_to_one_file_is_refused(wav: Path, tmp_path: Path) -> None:
    from audio_playground import api

    spec = SeparatorSpec("halves", "numpy", lambda o, d: Halves([]), cache_identity=lambda o: "h")
    session = caching.CacheSession(DirCache(tmp_path / "c"), print)
    api.separate_file(api.Loaded(spec), wav, tmp_path / "a", cache=session)
    with pytest.raises(UsageError, match="same file name"):
        api.separate_file(api.Loaded(spec), wav, tmp_path / "b", filename="{stem:.0}x.{ext}", cache=session)
    with pytest.raises(UsageError, match="FLAC holds"):
        api.separate_file(api.Loaded(spec), wav, tmp_path / "b", output_format="flac", bit_depth="32f", cache=session)
    # The same check without the cache: one file name for two stems.
    with pytest.raises(UsageError, match="same file name"):
        api.separate_file(api.Loaded(spec), wav, tmp_path / "b", filename="{stem:.0}x.{ext}")
    # FLAC from a float input, depth not given: 24-bit, FLAC's deepest (as convert does).
    floating = write_wav(tmp_path / "in" / "float.wav", noise(1, 2000), SR, subtype="FLOAT")
    result = api.separate_file(api.Loaded(spec), floating, tmp_path / "f", output_format="flac", cache=session)
    import soundfile as sf

    assert {sf.info(str(p)).subtype for p in result.stems.values()} == {"PCM_24"}


def test_python_api_uses_the_cache(wav: Path, tmp_path: Path) -> None:
    from audio_playground import api

    plugin = Plugin(DirCache(tmp_path / "c"))
    pm = manager(plugin)
    one = api.separate(wav, tmp_path / "a", "halves", pm=pm)
    two = api.separate(wav, tmp_path / "b", "halves", pm=pm)
    three = api.separate(wav, tmp_path / "c2", "halves", pm=pm, cache=False)
    assert (one.cached, two.cached, three.cached) == (False, True, False)
    assert plugin.finished == [("separate", False), ("separate", True), ("separate", False)]
    assert plugin.loads == 2


def test_python_api_warns_through_python_warnings(wav: Path, tmp_path: Path) -> None:
    from audio_playground import api

    plugin = Plugin(Broken(tmp_path / "c"))
    with pytest.warns(RuntimeWarning, match="could not hash"):
        result = api.separate(wav, tmp_path / "a", "halves", pm=manager(plugin))
    assert not result.cached and result.stems["quarter"].is_file()


def test_chunk_wrapper_forwards_the_models_attributes(tmp_path: Path, wav: Path) -> None:
    from audio_playground import api

    class WithStats(Halves):
        needs_stats = True
        stats: tuple[float, float] | None = None
        cached_chunks: list[int]

        def set_stats(self, mean: float, std: float) -> None:
            self.stats = (mean, std)

        def chunk_cached(self, index: int) -> None:
            self.cached_chunks.append(index)

    inner = WithStats([])
    inner.cached_chunks = []
    spec = SeparatorSpec("halves", "numpy", lambda o, d: inner, cache_identity=lambda o: "h")
    session = caching.CacheSession(DirCache(tmp_path / "c"), print)
    entry = caching.separation(session, api.Loaded(spec), wav, {})
    assert entry is not None
    wrapped = entry.chunks(inner)
    assert (wrapped.sample_rate, wrapped.channels, wrapped.stems, wrapped.plan) == (SR, 1, Halves.stems, inner.plan)
    assert wrapped.needs_stats
    wrapped.set_stats(0.0, 1.0)
    assert inner.stats == (0.0, 1.0)
    out = wrapped.separate(np.ones((1, 1000), np.float32))
    again = entry.chunks(inner).separate(np.zeros((1, 1000), np.float32))  # chunk 0 again: from the cache
    assert np.array_equal(out["quarter"], again["quarter"]) and len(inner.calls) == 1
    assert inner.cached_chunks == [0]  # told, so a separator that counts chunks stays in step


def test_loaded_is_lazy_and_loads_once(tmp_path: Path) -> None:
    from audio_playground import api

    plugin = Plugin()
    warnings: list[str] = []
    loaded = api.load("halves", backend="mlx", pm=manager(plugin), lazy=True, warn=warnings.append)
    assert not loaded.loaded and plugin.loads == 0
    assert "has no mlx backend" in warnings[0]  # the choice's warnings come at once, not at the load
    assert loaded.identity() == "halves:1" and loaded.identity() == "halves:1"
    assert loaded.for_rate(SR) is loaded.separator
    assert loaded.loaded and plugin.loads == 1
    eager = api.load("halves", pm=manager(plugin))
    assert eager.loaded and plugin.loads == 2
    assert api.Loaded(SeparatorSpec("x", "numpy", lambda o, d: Halves([]))).identity() is None
