"""Step caching on the core's side: key material, guarded cache calls, cached steps and per-chunk resume.

The core has no hashing dependency. It describes a step execution (step, effective options, package version,
model identity, input files) and a cache plugin (ap-cache-fs) turns that into a content key and keeps the
results. With no cache plugin installed, with `--no-cache` or with `cache = false`, every step runs uncached.
A cache that fails (read-only, full, garbage) never fails a run: the run warns once and goes on uncached.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from audio_playground.errors import APError

if TYPE_CHECKING:
    import numpy as np

    from audio_playground.config import AudioPlaygroundConfig
    from audio_playground.loaded import Loaded
    from audio_playground.specs import (
        CacheHit,
        ConvertResult,
        MergeResult,
        SegmentResult,
        SeparatorSpec,
        StepCache,
    )

R = TypeVar("R")
Warn = Callable[[str], None]
ProgressCallback = Callable[[float, float | None], None]

SEPARATE_STEP = "separate"
CHUNK_STEP = "separate-chunk"
OUTPUT_OPTIONS = ("output_format", "bit_depth", "sample_rate", "clip", "bitrate")
"""Options of a separation that shape the written files but not the model's chunk results."""
UNSET_UNKEYED = frozenset({"bitrate"})
"""Output options added later: left out of a key while unset, so keys made before them stay valid."""
CLIP_KEYS = {"rescale": "rescale-track"}
"""clip="rescale" became one gain per track (it was per stem, now "rescale-stem"): keyed under a new name so
results stored before the change are not served for it."""


def plain(value: Any) -> Any:
    """`value` as JSON- and TOML-ready data: paths as strings, tuples as lists, numpy scalars as numbers."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(plain(v) for v in value)
    if not isinstance(value, str | bytes | int | float | bool) and hasattr(value, "item"):
        return value.item()  # a numpy scalar
    return value


def material(
    step: str, inputs: Mapping[str, str | Path], options: Mapping[str, Any], identity: str | None = None
) -> dict[str, Any]:
    """The key material of a step execution: what a cache hashes into its key (input files by content)."""
    from audio_playground import __version__

    return {
        "step": step,
        "version": __version__,
        "identity": identity,
        "options": plain(options),
        "inputs": {name: str(Path(path).resolve()) for name, path in inputs.items()},
    }


def open_cache(pm: Any, config: AudioPlaygroundConfig, warn: Warn) -> CacheSession | None:
    """The highest-priority installed cache, opened on `config`; None when caching is off or none can open."""
    if not config.cache:
        return None
    specs = [spec for group in pm.hook.ap_caches() for spec in group or ()]
    if not specs:
        return None
    spec = max(specs, key=lambda s: s.priority)
    try:
        store = spec.open(config, warn)
    except Exception as exc:  # a cache plugin's failure must never stop a run
        warn(f"the {spec.name} cache cannot open ({type(exc).__name__}: {exc}); running uncached")
        return None
    return None if store is None else CacheSession(store, warn)


class CacheSession:
    """A StepCache guarded for one run: its first failure warns and turns caching off; the run goes on."""

    def __init__(self, store: StepCache, warn: Warn) -> None:
        self.store = store
        self.warn = warn
        self.enabled = True

    def _failed(self, action: str, exc: BaseException) -> None:
        """Warn and turn caching off (only ever called while it is on: every call checks first)."""
        self.warn(f"the cache could not {action} ({type(exc).__name__}: {exc}); running uncached from here")
        self.enabled = False

    def key(self, data: Mapping[str, Any]) -> str | None:
        if not self.enabled:
            return None
        try:
            return self.store.key(data)
        except Exception as exc:
            self._failed("hash the inputs", exc)
            return None

    def entry(
        self,
        step: str,
        command: str,
        inputs: Mapping[str, str | Path],
        options: Mapping[str, Any],
        identity: str | None = None,
    ) -> Entry | None:
        """The entry of one step execution, or None when it cannot be cached (the step reports bad inputs)."""
        if not self.enabled or not all(Path(p).is_file() for p in inputs.values()):
            return None
        data = material(step, inputs, options, identity)
        key = self.key(data)
        return None if key is None else Entry(self, key, data, command)

    def fetch(self, key: str, place: Callable[[str], Path]) -> CacheHit | None:
        if not self.enabled:
            return None
        try:
            return self.store.fetch(key, place)
        except APError:  # `place` refused the hit, or an output cannot be written: the user's to fix
            raise
        except Exception as exc:
            self._failed("read an entry", exc)
            return None

    def store_files(self, key: str, outputs: Mapping[str, Path], manifest: Mapping[str, Any]) -> bool:
        if not self.enabled:
            return False
        try:
            self.store.store(key, outputs, manifest)
        except Exception as exc:
            self._failed("store a result", exc)
            return False
        return True

    def fetch_arrays(self, key: str) -> dict[str, np.ndarray] | None:
        if not self.enabled:
            return None
        try:
            return self.store.fetch_arrays(key)
        except Exception as exc:
            self._failed("read a chunk", exc)
            return None

    def store_arrays(self, key: str, arrays: Mapping[str, np.ndarray], manifest: Mapping[str, Any]) -> bool:
        if not self.enabled:
            return False
        try:
            self.store.store_arrays(key, arrays, manifest)
        except Exception as exc:
            self._failed("store a chunk", exc)
            return False
        return True

    def discard(self, keys: list[str]) -> None:
        if not self.enabled or not keys:
            return
        try:
            self.store.discard(keys)
        except Exception as exc:
            self._failed("drop entries", exc)


@dataclass
class Entry:
    """One step execution's place in the cache."""

    session: CacheSession
    key: str
    material: dict[str, Any]
    command: str

    def manifest(self, result: Mapping[str, Any]) -> dict[str, Any]:
        """What the run was: the command, the package version, inputs, options in force and the result fields."""
        return {
            "command": self.command,
            "step": self.material["step"],
            "version": self.material["version"],
            "identity": self.material["identity"],
            "inputs": self.material["inputs"],
            "config": self.material["options"],
            "result": plain(result),
        }

    def fetch(self, place: Callable[[str], Path]) -> CacheHit | None:
        return self.session.fetch(self.key, place)

    def store(self, outputs: Mapping[str, Path], result: Mapping[str, Any]) -> bool:
        return self.session.store_files(self.key, outputs, self.manifest(result))


def cached_step(
    entry: Entry | None,
    place: Callable[[str], Path],
    compute: Callable[[], R],
    outputs: Callable[[R], tuple[Mapping[str, Path], Mapping[str, Any]]],
    rebuild: Callable[[CacheHit], R],
) -> tuple[R, bool]:
    """A whole step through the cache: (result, True) on a hit; else compute, store, (result, False)."""
    if entry is not None:
        hit = entry.fetch(place)
        if hit is not None:
            return rebuild(hit), True
    result = compute()
    if entry is not None:
        files, data = outputs(result)
        entry.store(files, data)
    return result, False


def _placer(places: Mapping[str, Path]) -> Callable[[str], Path]:
    def place(name: str) -> Path:
        try:
            return places[name]
        except KeyError:
            raise ValueError(f"the entry has an unexpected output {name!r}") from None

    return place


def _same_file(a: Path, b: Path) -> bool:
    try:
        return b.exists() and a.resolve() == b.resolve()
    except OSError:  # pragma: no cover - resolve() on a broken path
        return False


# --------------------------------------------------------------------------- whole steps


def convert(
    cache: CacheSession | None,
    src: str | Path,
    target: str | Path,
    *,
    sample_rate: int | None = None,
    channels: int | None = None,
    bit_depth: Any = None,
    start_time: float | None = None,
    end_time: float | None = None,
    on_progress: ProgressCallback | None = None,
    output_format: str | None = None,
    bitrate: int | None = None,
) -> tuple[ConvertResult, bool]:
    """`convert to-wav` through the cache: (result, cached)."""
    from audio_playground.audio.convert import convert_to_wav
    from audio_playground.audio.formats import format_for_path
    from audio_playground.specs import ConvertResult

    src, target = Path(src), Path(target)
    fmt = format_for_path(target, output_format)  # refuses a suffix no writer produces, before a cache look-up
    options = {
        "sample_rate": sample_rate,
        "channels": channels,
        "bit_depth": bit_depth,
        "start_time": start_time,
        "end_time": end_time,
        "format": fmt,
    }
    if bitrate is not None:  # unset: keys made before --bitrate existed stay valid
        options["bitrate"] = bitrate
    # convert_to_wav refuses a target that is its source: never let a hit overwrite the input.
    entry = None
    if cache is not None and not _same_file(src, target):
        entry = cache.entry("convert", "convert to-wav", {"src": src}, options)

    def compute() -> ConvertResult:
        return convert_to_wav(
            src,
            target,
            sample_rate=sample_rate,
            channels=channels,
            bit_depth=bit_depth,
            start_time=start_time,
            end_time=end_time,
            on_progress=on_progress,
            output_format=output_format,
            bitrate=bitrate,
        )

    return cached_step(
        entry,
        _placer({"target": target}),
        compute,
        lambda r: ({"target": r.target}, {"sample_rate": r.sample_rate, "channels": r.channels, "frames": r.frames}),
        lambda hit: ConvertResult(
            target, int(hit.data["sample_rate"]), int(hit.data["channels"]), int(hit.data["frames"])
        ),
    )


def split(
    cache: CacheSession | None,
    src: str | Path,
    output_dir: str | Path,
    *,
    window_size: float,
    overlap: float = 0.0,
    max_segments: int | None = None,
    on_progress: ProgressCallback | None = None,
) -> tuple[SegmentResult, bool]:
    """`segment split` through the cache: (result, cached)."""
    from audio_playground.segmenting import METADATA_NAME
    from audio_playground.segmenting import split as split_file
    from audio_playground.specs import SegmentResult

    src, out = Path(src), Path(output_dir)
    # The metadata names the source as given, so the path is part of the result.
    options = {"window_size": window_size, "overlap": overlap, "max_segments": max_segments, "source": str(src)}
    entry = None
    if cache is not None and not (out.exists() and not out.is_dir()):  # split itself reports a file there
        entry = cache.entry("segment", "segment split", {"src": src}, options)

    def compute() -> SegmentResult:
        return split_file(
            src, out, window_size=window_size, overlap=overlap, max_segments=max_segments, on_progress=on_progress
        )

    def outputs(result: SegmentResult) -> tuple[dict[str, Path], dict[str, Any]]:
        files = {path.name: path for path in result.segments}
        files[result.metadata.name] = result.metadata
        return files, {"segments": [path.name for path in result.segments]}

    def rebuild(hit: CacheHit) -> SegmentResult:
        names = [str(name) for name in hit.data["segments"]]
        return SegmentResult(output_dir=out, metadata=out / METADATA_NAME, segments=tuple(out / n for n in names))

    def place(name: str) -> Path:
        if Path(name).name != name or name in {"", ".", ".."}:
            raise ValueError(f"the entry has an unsafe output name {name!r}")
        return out / name

    return cached_step(entry, place, compute, outputs, rebuild)


def merge_inputs(input_dir: Path, target: Path, pattern: str | None) -> dict[str, Path]:
    """The files `merge concat` reads (as it selects them), by name: segments and their metadata."""
    from audio_playground.segmenting import METADATA_NAME, merge_files

    if not input_dir.is_dir():
        return {}
    files = {p.name: p for p in merge_files(input_dir, pattern, target)}
    meta = input_dir / METADATA_NAME
    if files and meta.is_file():
        files[METADATA_NAME] = meta
    return dict(sorted(files.items()))


def concat(
    cache: CacheSession | None,
    input_dir: str | Path,
    target: str | Path,
    *,
    pattern: str | None = None,
    crossfade_type: str = "cosine",
    on_progress: ProgressCallback | None = None,
) -> tuple[MergeResult, bool]:
    """`merge concat` through the cache: (result, cached)."""
    from audio_playground.segmenting import concat as concat_files
    from audio_playground.specs import MergeResult

    directory, target = Path(input_dir), Path(target)
    inputs = merge_inputs(directory, target, pattern)
    from audio_playground.audio.formats import format_for_path

    # The target's suffix names its format; one no writer produces is refused before any work.
    options = {"crossfade_type": crossfade_type, "format": format_for_path(target)}
    entry = cache.entry("merge", "merge concat", inputs, options) if cache is not None and inputs else None

    def compute() -> MergeResult:
        return concat_files(directory, target, pattern=pattern, crossfade_type=crossfade_type, on_progress=on_progress)

    return cached_step(
        entry,
        _placer({"target": target}),
        compute,
        lambda r: ({"target": r.target}, {"frames": r.frames}),
        lambda hit: MergeResult(target=target, frames=int(hit.data["frames"])),
    )


# --------------------------------------------------------------------------- separation


@dataclass
class Separation:
    """The cache entries of one input's separation: the whole result, and its chunks for resuming."""

    session: CacheSession
    entry: Entry
    spec: SeparatorSpec
    src: Path
    options: dict[str, Any]
    identity: str
    chunk_keys: list[str] = field(default_factory=list)

    def chunk_material(self, separator: Any) -> dict[str, Any]:
        """Key material shared by every chunk: the model-rate geometry instead of the output options."""
        plan = separator.plan
        window = hashlib.blake2b(memoryview(_float32(plan.window)).cast("B"), digest_size=16).hexdigest()
        options = {k: v for k, v in self.options.items() if k not in OUTPUT_OPTIONS}
        options["model"] = {
            "sample_rate": int(separator.sample_rate),
            "channels": int(separator.channels),
            "stems": list(separator.stems),
            "plan": {"frames": int(plan.frames), "hop": int(plan.hop), "pad_short": bool(plan.pad_short)},
            "window": window,
        }
        return material(CHUNK_STEP, {"src": self.src}, options, self.identity)

    def chunks(self, separator: Any) -> CachedChunks:
        """`separator` wrapped so each chunk's stems come from the cache or go into it."""
        return CachedChunks(separator, self, self.chunk_material(separator))

    def store(self, stems: Mapping[str, Path]) -> None:
        """Keep the written stems; the chunk entries, now redundant, are dropped to keep the cache small."""
        if self.entry.store(stems, {"stems": list(stems)}):
            self.session.discard(self.chunk_keys)


def separator_options(spec: SeparatorSpec, options: Mapping[str, Any]) -> dict[str, Any]:
    """The separator options that can change its output (OptionSpec.cache_key), by name."""
    ignored = {o.name for o in spec.options if not o.cache_key}
    return {k: v for k, v in sorted(options.items()) if k not in ignored}


def separation(
    cache: CacheSession | None,
    loaded: Loaded,
    src: Path,
    output: Mapping[str, Any],
) -> Separation | None:
    """The cache entries of separating `src` with `loaded` (not loading it), or None when uncacheable.

    `output` holds the options that shape the written files (format, bit depth, rate, clip, start and end
    time). A separator whose spec names no cache identity (its weights) is never cached.
    """
    if cache is None or not cache.enabled:
        return None
    spec = loaded.spec
    if spec.cache_identity is None:
        return None
    try:
        identity = loaded.identity()
    except APError:  # a model that is not there (or a bad --model): loading reports it, once
        return None
    except Exception as exc:  # loading will report a real problem; a failing identity only costs the cache
        cache.warn(f"{spec.name}: cannot name the model for the cache ({exc}); running uncached")
        return None
    if identity is None:
        return None
    options = {
        "separator": spec.name,
        "backend": spec.backend,
        "options": separator_options(spec, loaded.options),
        **{
            k: CLIP_KEYS.get(output[k], output[k]) if k == "clip" and output.get(k) else output.get(k)
            for k in (*OUTPUT_OPTIONS, "start_time", "end_time")
            if k not in UNSET_UNKEYED or output.get(k) is not None
        },
    }
    entry = cache.entry(SEPARATE_STEP, f"extract {spec.name}", {"src": src}, options, identity)
    if entry is None:
        return None
    return Separation(cache, entry, spec, src, options, identity)


def _float32(array: Any) -> Any:
    import numpy as np

    return np.ascontiguousarray(array, dtype=np.float32)


class CachedChunks:
    """A separator whose chunks come from the cache when stored, else are computed and stored.

    The engine asks for chunks in order, so the n-th call is chunk n. After an interrupted run, the rerun
    reads the chunks already done and computes from the first missing one on.
    """

    def __init__(self, separator: Any, owner: Separation, base: dict[str, Any]) -> None:
        self._inner = separator
        self._owner = owner
        self._base = base
        self.index = 0
        self.hits = 0
        self.computed = 0

    @property
    def sample_rate(self) -> int:
        return self._inner.sample_rate

    @property
    def channels(self) -> int:
        return self._inner.channels

    @property
    def stems(self) -> tuple[str, ...]:
        return tuple(self._inner.stems)

    @property
    def plan(self) -> Any:
        return self._inner.plan

    def __getattr__(self, name: str) -> Any:  # needs_stats, set_stats, report, ...: the model's own
        return getattr(self._inner, name)

    def _key(self, index: int) -> str | None:
        data = dict(self._base)
        data["options"] = {**self._base["options"], "chunk": index}
        return self._owner.session.key(data)

    def separate(self, chunk: np.ndarray) -> Mapping[str, np.ndarray]:
        """Chunk n's stems: from the cache, or from the model (then stored, before the next chunk)."""
        index = self.index
        self.index += 1
        session = self._owner.session
        key = self._key(index)
        if key is not None:
            self._owner.chunk_keys.append(key)
            stored = session.fetch_arrays(key)
            if stored is not None and all(stem in stored for stem in self.stems):
                self.hits += 1
                notify = getattr(self._inner, "chunk_cached", None)
                if callable(notify):  # a separator that counts chunks counts this one too
                    notify(index)
                return stored
        result = self._inner.separate(chunk)
        self.computed += 1
        if key is not None:
            arrays = {stem: _float32(result[stem]) for stem in self.stems if stem in result}
            manifest = {
                "command": f"extract {self._owner.spec.name} (chunk {index})",
                "step": CHUNK_STEP,
                "version": self._base["version"],
                "identity": self._base["identity"],
                "inputs": self._base["inputs"],
                "config": {**self._base["options"], "chunk": index},
                "result": {"stems": list(arrays), "frames": int(chunk.shape[-1])},
            }
            session.store_arrays(key, arrays, manifest)
        return result
