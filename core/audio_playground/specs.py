"""The data of the plugin contract: what hooks return, what separators and streams look like.

Everything here is plain data or a Protocol, cheap to import: discovery never loads a model.
Audio arrays are float32 shaped (channels, frames) everywhere in the core and its plugins.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    import numpy as np

    from audio_playground.config import AudioPlaygroundConfig


# --------------------------------------------------------------------------- audio sources


@dataclass(frozen=True)
class AudioInfo:
    """What a probe learns about an input without decoding it."""

    path: str
    sample_rate: int
    channels: int
    frames: int | None
    """Frames in the file: exact for PCM/FLAC, estimated from the container's duration otherwise."""
    duration: float
    codec: str
    container: str
    subtype: str | None = None
    """soundfile subtype of lossless PCM input ("PCM_16", "PCM_24", "FLOAT"); None for lossy codecs."""

    @property
    def lossless(self) -> bool:
        return self.subtype is not None


@runtime_checkable
class AudioStream(Protocol):
    """An opened input: iterate it for float32 (channels, frames) blocks."""

    info: AudioInfo
    sample_rate: int
    """Rate of the yielded blocks (after resampling, if asked)."""
    channels: int
    """Channels of the yielded blocks (after mixing, if asked)."""
    frames: int | None
    """Frames the stream yields, when known before decoding (exact for PCM/FLAC)."""

    def __iter__(self) -> Iterator[np.ndarray]: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SourceSpec:
    """A way to open inputs. The built-in source opens every file PyAV or libsndfile reads."""

    name: str
    can_open: Callable[[str], bool]
    probe: Callable[[str], AudioInfo]
    open: Callable[..., AudioStream]
    """open(location, *, start=None, end=None, sample_rate=None, channels=None) -> AudioStream."""
    priority: int = 0
    """Higher wins when several sources can open the same location."""


# --------------------------------------------------------------------------- segmenters


@dataclass(frozen=True)
class Segment:
    """One planned segment, sample-exact."""

    index: int
    start_frame: int
    frames: int

    def start_s(self, sample_rate: int) -> float:
        return self.start_frame / sample_rate

    def duration_s(self, sample_rate: int) -> float:
        return self.frames / sample_rate


@dataclass(frozen=True)
class SegmenterSpec:
    """A segment planner: plan(total_frames, sample_rate, window_s, overlap_s, max_segments) -> segments."""

    name: str
    plan: Callable[[int, int, float, float, int | None], list[Segment]]
    help: str = ""


# --------------------------------------------------------------------------- options


@dataclass(frozen=True)
class OptionSpec:
    """A separator option, declared once as data: the CLI renders it, workflows and the API take it by name."""

    name: str
    """Python name, e.g. "two_stems"; the flag is derived ("--two-stems") unless given."""
    type: builtins.type[Any] = str
    default: Any = None
    help: str = ""
    choices: tuple[str, ...] | None = None
    multiple: bool = False
    is_flag: bool = False
    flags: tuple[str, ...] = ()
    """Extra flag spellings, e.g. ("-j",) or ("--window-size",)."""
    secondary: str | None = None
    """For boolean flags: the "off" spelling, e.g. "--no-progress"."""
    hidden: bool = False
    cache_key: bool = True
    """False for options that cannot change the output (threads, progress, a report path): caches ignore them."""

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


# --------------------------------------------------------------------------- separators


@dataclass(frozen=True)
class ChunkPlan:
    """How the engine cuts a stream for a separator, all at the separator's sample rate."""

    frames: int
    """Chunk length."""
    hop: int
    """Distance between chunk starts (frames - overlap)."""
    window: np.ndarray
    """Overlap-add weights, length `frames`, every value > 0; a shorter last chunk uses its head."""
    pad_short: bool = False
    """Pad a short chunk to `frames`, centred, with real audio around it where there is some (demucs style)."""
    every_hop: bool = True
    """Start a chunk at every hop before the end, as demucs does (needed for parity); False skips a last chunk
    that would lie wholly inside the one before it, saving a model call."""


@runtime_checkable
class Separator(Protocol):
    """A loaded model, ready to separate chunks. Built by SeparatorSpec.load, on first use.

    Optional members, used when present: `needs_stats` and `set_stats(mean, std)` (whole-input statistics
    before the first chunk), `any_rate` and `for_rate(rate)` (a model that works at any rate), and
    `chunk_cached(index)`: the step cache served chunk `index` without calling `separate`, so a separator
    that counts chunks (a chunk limit, a report) can count that one too; `batch_size` and
    `separate_batch(chunks) -> [stems per chunk]`: the engine hands over `batch_size` chunks a call.
    """

    @property
    def sample_rate(self) -> int:
        """Rate the model works at; the engine resamples to and from it."""
        ...

    @property
    def channels(self) -> int:
        """Channels the model takes; the engine mixes to and from them."""
        ...

    @property
    def stems(self) -> tuple[str, ...]:
        """Names of the stems `separate` returns."""
        ...

    @property
    def plan(self) -> ChunkPlan:
        """How the engine cuts the stream for this model."""
        ...

    def separate(self, chunk: np.ndarray) -> Mapping[str, np.ndarray]:
        """Separate one (channels, frames) chunk into {stem: (channels, frames)} of the same length."""
        ...


@dataclass(frozen=True)
class ModelInfo:
    """A model a separator can load, and whether it is on this machine."""

    name: str
    available: bool
    location: str = ""
    note: str = ""
    stems: tuple[str, ...] = ()
    """The stems this model writes, when they differ per model (checkpoints with their own configs)."""


@dataclass(frozen=True)
class SeparatorSpec:
    """A separator a plugin offers: a model family by name, on one backend, loaded lazily."""

    name: str
    """Command name under `ap extract`, e.g. "demucs", "sam-audio", "hpss"."""
    backend: str
    """Backend name ("numpy", "pytorch", "mlx", ...); several specs may share a name on different backends."""
    load: Callable[[Mapping[str, Any], str], Separator]
    """load(options, device) -> Separator. Heavy imports happen here, never at discovery."""
    help: str = ""
    stems: tuple[str, ...] = ()
    """Fixed stems of the default model; empty for a prompted separator."""
    prompted: bool = False
    """True when stems come from --prompts (text-queried models)."""
    suffix: str = ""
    """Default file-name suffix ({stem}-{suffix}.wav); the name when empty."""
    options: tuple[OptionSpec, ...] = ()
    models: Callable[[Mapping[str, Any]], list[ModelInfo]] | None = None
    """List the models this separator knows and whether each is available locally. `ap models list` passes
    {"repo": its --repo folder or None, "models_dir": the value of the `models_dir` setting or None}."""
    models_dir: str = ""
    """Name of the config field holding this separator's local models folder (e.g. "roformer_dir"), if any."""
    plugin: str = ""
    """Distribution that provides it, for install hints."""
    cache_identity: Callable[[Mapping[str, Any]], str | None] | None = None
    """A string naming the model and its weights (name + weights hash), for cache keys; without it (or when it
    returns None for some options) the separator's results are never cached."""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    """Output defaults of this separator (e.g. {"suffix": "sam"})."""

    @property
    def file_suffix(self) -> str:
        return self.suffix or self.name


@dataclass(frozen=True)
class BackendSpec:
    """A compute runtime. Availability is checked with importlib.util.find_spec, never by importing it."""

    name: str
    module: str
    """Top-level module whose presence means the backend is importable."""
    priority: int = 0
    """Higher is preferred by `--backend auto`."""
    devices: Callable[[], list[str]] | None = None
    """Devices it can use (may import the runtime: call only when asked)."""
    install_hint: str = ""

    def available(self) -> bool:
        from importlib.util import find_spec

        try:
            return find_spec(self.module) is not None
        except (ImportError, ValueError):
            return False


# --------------------------------------------------------------------------- caches


@dataclass(frozen=True)
class CacheHit:
    """A complete, verified cache entry copied to its requested places."""

    outputs: Mapping[str, Path]
    """Each output's name -> the file it was copied to."""
    data: Mapping[str, Any]
    """The step's result fields stored with the entry (e.g. frames, sample_rate)."""


class StepCache(Protocol):
    """A store of step results, keyed by content. See the ap-cache-fs plugin for the reference store.

    Key material is a dict {"step", "version", "identity", "options", "inputs": {name: path}}; the store turns
    it into a key, hashing each input file's bytes (never its path). Every write is atomic, the manifest last;
    an entry without a manifest, or whose artifacts no longer match it, is a miss. Methods may raise OSError:
    the core then warns and runs the rest of the run uncached.
    """

    def key(self, material: Mapping[str, Any]) -> str:
        """The key of a step execution described by `material` (inputs hashed by content)."""
        ...

    def fetch(self, key: str, place: Callable[[str], Path]) -> CacheHit | None:
        """Copy a complete, verified entry's artifacts to place(name) for each output; None on a miss.

        `place` is called for every output before anything is written, so it may raise to refuse the hit.
        Copies appear atomically and never alias the cache's own files.
        """
        ...

    def store(self, key: str, outputs: Mapping[str, Path], manifest: Mapping[str, Any]) -> None:
        """Store copies of `outputs` (name -> file) under `key`; `manifest` describes the run (TOML-able)."""
        ...

    def fetch_arrays(self, key: str) -> dict[str, np.ndarray] | None:
        """The float32 arrays stored under `key` (a separated chunk's stems), verified; None on a miss."""
        ...

    def store_arrays(self, key: str, arrays: Mapping[str, np.ndarray], manifest: Mapping[str, Any]) -> None:
        """Store `arrays` (name -> array) under `key`, exactly, with `manifest`."""
        ...

    def discard(self, keys: Iterable[str]) -> None:
        """Drop the entries under `keys` (missing ones are fine)."""
        ...


@dataclass(frozen=True)
class CacheSpec:
    """A cache plugin: open(config, warn) -> StepCache, or None when it cannot run (after warn(why))."""

    name: str
    open: Callable[[AudioPlaygroundConfig, Callable[[str], None]], StepCache | None]
    priority: int = 0
    """Higher wins when several cache plugins are installed."""


# --------------------------------------------------------------------------- executors


@dataclass(frozen=True)
class WorkItem:
    """One input of a batch: the file and the track name its outputs take (plain data: it travels to workers)."""

    index: int
    input: str
    """Absolute path of the input file."""
    track: str
    """{track} in the file-name template (the file's stem; its path under the folder with --recursive)."""


@dataclass(frozen=True)
class ExecutorSpec:
    """Where a batch of work items runs: this process or worker processes (the core's `local`), a Ray cluster.

    run(ctx, items) takes an `audio_playground.executors.BatchContext` (the task every item goes through, the
    worker count, the address, the driver's plugin manager) and an iterator of WorkItem, pulled in the calling
    thread as the executor has room; it yields one run-manifest record (a dict) per item as each finishes, in
    any order. A failed item is a record with status "failed", never an exception; run raises only for the
    batch as a whole (an unreachable address: UsageError). An executor never changes what a step computes.
    """

    name: str
    run: Callable[..., Iterator[Mapping[str, Any]]]
    help: str = ""
    plugin: str = ""
    """Distribution that provides it, for install hints."""
    connects: bool = False
    """True when it takes --address (a cluster to join)."""


# --------------------------------------------------------------------------- step results


@dataclass(frozen=True)
class ConvertResult:
    """Output of `convert to-wav`."""

    target: Path
    sample_rate: int
    channels: int
    frames: int


@dataclass(frozen=True)
class SegmentResult:
    """Output of `segment split`."""

    output_dir: Path
    metadata: Path
    segments: tuple[Path, ...]


@dataclass(frozen=True)
class MergeResult:
    """Output of `merge concat`."""

    target: Path
    frames: int


@dataclass(frozen=True)
class SeparateResult:
    """Output of one separation of one input: the written stem files (and --video files, by mix name)."""

    source: Path
    output_dir: Path
    stems: Mapping[str, Path]
    cached: bool = False
    videos: Mapping[str, Path] = field(default_factory=dict)


StepOutputs = Sequence[str]
