"""Ensembles: several separators' stems of one input, combined stem by stem, streamed block by block.

Each member runs through the normal separation path (and the cache: a member that ran before costs nothing)
into a scratch folder as 32-bit float WAV; the stems the members share are then combined in blocks and written
like any separator's stems. Wave algorithms combine samples; magnitude algorithms pick, per STFT bin, the member
with the smallest or largest magnitude (a streaming STFT on a global frame grid, identical to a whole-track
STFT/iSTFT with zero boundaries, as scipy.signal.stft/istft compute it).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from audio_playground.errors import UsageError
from audio_playground.executors.task import SeparateTask, SeparateWorker
from audio_playground.specs import SeparateResult, WorkItem

if TYPE_CHECKING:
    import numpy as np

    from audio_playground.api import Loaded
    from audio_playground.caching import CacheSession

ALGORITHMS = ("avg_wave", "median_wave", "min_mag", "max_mag")
"""avg_wave: weighted mean of the waves; median_wave: per-sample median; min_mag/max_mag: per STFT bin, the
member with the smallest/largest magnitude (weights apply to avg_wave only)."""
N_FFT = 2048
HOP = 512
BLOCK = 64 * HOP  # output frames per block: memory is bounded by this, never by the track


@dataclass(frozen=True)
class Member:
    """One ensemble member: a separator, optionally a model, and separator options."""

    separator: str
    model: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.separator}:{self.model}" if self.model else self.separator


def parse_member(text: str) -> Member:
    """`SEPARATOR[:MODEL]` (the model may be a path; only the first colon splits)."""
    name, _, model = text.partition(":")
    if not name.strip():
        raise UsageError(f"bad --member {text!r}", hint="use SEPARATOR or SEPARATOR:MODEL, e.g. demucs:htdemucs")
    return Member(name.strip(), model.strip() or None)


def member_labels(members: Sequence[Member]) -> list[str]:
    """Each member's label, numbered (`hpss#2`) where a label repeats."""
    labels = [m.label for m in members]
    return [
        f"{label}#{labels[:i].count(label) + 1}" if labels.count(label) > 1 else label for i, label in enumerate(labels)
    ]


def parse_weights(text: str | None, members: int) -> tuple[float, ...]:
    """`--weights 2,1,1`: one positive number per member (default: all 1)."""
    if text is None or text == "":
        return (1.0,) * members
    try:
        weights = tuple(float(w) for w in text.split(","))
    except ValueError as exc:
        raise UsageError(f"bad --weights {text!r}: {exc}", hint="give numbers separated by commas") from exc
    if len(weights) != members:
        raise UsageError(
            f"--weights {text!r} has {len(weights)} values for {members} members", hint="give one weight per member"
        )
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise UsageError(f"--weights {text!r} must be >= 0 with a positive sum")
    return weights


def common_stems(member_stems: Sequence[tuple[str, Sequence[str]]]) -> list[str]:
    """Stems every member produced, in the first member's order; none in common is a usage error."""
    first = list(member_stems[0][1])
    shared = [s for s in first if all(s in stems for _, stems in member_stems[1:])]
    if not shared:
        listing = "; ".join(f"{label}: {', '.join(stems) or 'none'}" for label, stems in member_stems)
        raise UsageError(
            f"the ensemble members have no stem in common ({listing})", hint="pick members with shared stems"
        )
    return shared


# ---------------------------------------------------------------------------------------------- combination


def combine_waves(algorithm: str, blocks: Sequence[np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """Combine members' (channels, frames) blocks of the same span sample by sample."""
    import numpy as np

    stack = np.stack([np.asarray(b, dtype=np.float64) for b in blocks])
    if algorithm == "avg_wave":
        w = np.asarray(weights, dtype=np.float64).reshape(-1, 1, 1)
        return (stack * w).sum(axis=0) / w.sum()
    if algorithm == "median_wave":
        return np.median(stack, axis=0)
    raise UsageError(f"unknown --algorithm {algorithm!r}", hint=f"use one of {', '.join(ALGORITHMS)}")


def _window() -> np.ndarray:
    import scipy.signal

    return scipy.signal.get_window("hann", N_FFT)


def select_bins(algorithm: str, spectra: np.ndarray) -> np.ndarray:
    """From (members, ...) complex spectra, the bin of the member with the min or max magnitude."""
    import numpy as np

    magnitude = np.abs(spectra)
    pick = magnitude.argmin(axis=0) if algorithm == "min_mag" else magnitude.argmax(axis=0)
    return np.take_along_axis(spectra, pick[None], axis=0)[0]


def spectral_block(
    algorithm: str, read: Callable[[int, int], list[np.ndarray]], start: int, stop: int, total: int
) -> np.ndarray:
    """Output frames [start, stop) of the magnitude-selected signal (`read(a, b)` gives each member's frames
    [a, b) zero-padded outside the track, as (channels, b - a))."""
    import numpy as np

    window = _window()
    half = N_FFT // 2
    last_frame = -(-total // HOP)  # frames t = 0..last_frame, centred at t*HOP (scipy's boundary + padding)
    first_t = max(0, -(-(start - half + 1) // HOP))
    last_t = min(last_frame, (stop - 1 + half) // HOP)
    begin = first_t * HOP - half
    members = read(begin, last_t * HOP + half)
    count = last_t - first_t + 1
    index = np.arange(N_FFT)[None, :] + HOP * np.arange(count)[:, None]  # (frames, N_FFT)
    spectra = np.stack([np.fft.rfft(m[:, index] * window, axis=-1) for m in members])  # (M, ch, frames, bins)
    frames = np.fft.irfft(select_bins(algorithm, spectra), n=N_FFT, axis=-1) * window
    channels = frames.shape[0]
    out = np.zeros((channels, (count - 1) * HOP + N_FFT))
    norm = np.zeros((count - 1) * HOP + N_FFT)
    for k in range(count):
        out[:, k * HOP : k * HOP + N_FFT] += frames[:, k]
        norm[k * HOP : k * HOP + N_FFT] += window**2
    lo, hi = start - begin, stop - begin
    return out[:, lo:hi] / np.maximum(norm[lo:hi], 1e-10)


class _MemberStems:
    """The members' files of one stem, read by absolute frame range with zeros outside the track."""

    def __init__(self, paths: Sequence[Path]) -> None:
        import soundfile as sf

        self.files = [sf.SoundFile(str(p)) for p in paths]
        self.frames = max(f.frames for f in self.files)
        self.channels = self.files[0].channels
        self.sample_rate = self.files[0].samplerate

    def read(self, begin: int, end: int) -> list[np.ndarray]:
        import numpy as np

        blocks = []
        for f in self.files:
            out = np.zeros((self.channels, end - begin))
            lo, hi = max(begin, 0), min(end, f.frames)
            if hi > lo:
                f.seek(lo)
                out[:, lo - begin : hi - begin] = f.read(hi - lo, dtype="float64", always_2d=True).T
            blocks.append(out)
        return blocks

    def close(self) -> None:
        for f in self.files:
            f.close()


def combine_stem(
    algorithm: str, paths: Sequence[Path], weights: Sequence[float], block: int = BLOCK
) -> Iterator[np.ndarray]:
    """The combined stem as (channels, frames) float32 blocks."""
    import numpy as np

    stems = _MemberStems(paths)
    try:
        for start in range(0, stems.frames, block):
            stop = min(start + block, stems.frames)
            if algorithm in ("min_mag", "max_mag"):
                out = spectral_block(algorithm, stems.read, start, stop, stems.frames)
            else:
                out = combine_waves(algorithm, stems.read(start, stop), weights)
            yield out.astype(np.float32)
    finally:
        stems.close()


# ---------------------------------------------------------------------------------------------- one input


@dataclass(frozen=True)
class EnsembleResult(SeparateResult):
    """An ensemble's stems, plus which members the cache served."""

    members: dict[str, bool] = field(default_factory=dict)
    """member label -> served by the cache."""


def ensemble_file(
    members: Sequence[tuple[Member, Loaded]],
    src: str | Path,
    output_dir: str | Path,
    *,
    algorithm: str = "avg_wave",
    weights: Sequence[float] | None = None,
    filename: str = "{stem}-{suffix}.{ext}",
    suffix: str = "ensemble",
    output_format: str = "wav",
    bit_depth: str | None = None,
    sample_rate: int | None = None,
    clip: str = "rescale",
    start_time: float | None = None,
    end_time: float | None = None,
    cache: CacheSession | None = None,
    on_chunk: Callable[[int, int | None, float], None] | None = None,
    bitrate: int | None = None,
    track: str | None = None,
) -> EnsembleResult:
    """Run every member on `src` (cached like any separation), then write the combined shared stems."""
    from audio_playground import api
    from audio_playground.audio import AtomicGroup, probe
    from audio_playground.audio.formats import FORMATS, check_output, format_for_path
    from audio_playground.audio.tempfiles import partial_name, remove_stale

    if algorithm not in ALGORITHMS:
        raise UsageError(f"unknown --algorithm {algorithm!r}", hint=f"use one of {', '.join(ALGORITHMS)}")
    if len(members) < 2:
        raise UsageError("an ensemble needs two or more --member", hint="e.g. --member hpss --member demucs")
    weights = tuple(weights) if weights is not None else (1.0,) * len(members)
    src, out_dir = Path(src), Path(output_dir)
    check_output(output_format, bitrate)
    info = probe(src)
    # The members' stems go to a scratch folder beside the outputs, named after this process: a run killed
    # outright leaves it behind, and the next ensemble of the same track removes it.
    marker = out_dir / f"{src.stem}.ensemble"
    remove_stale(marker)
    scratch = partial_name(marker)
    scratch.mkdir(parents=True)
    try:
        outputs: list[tuple[str, Mapping[str, Path]]] = []
        served: dict[str, bool] = {}
        labels = member_labels([member for member, _ in members])
        for i, (label, (_, loaded)) in enumerate(zip(labels, members, strict=True)):
            result = api.separate_file(
                loaded,
                src,
                scratch / str(i),
                filename="{stem}.{ext}",
                output_format="wav",
                bit_depth="32f",
                sample_rate=sample_rate,
                clip="none",
                start_time=start_time,
                end_time=end_time,
                on_chunk=on_chunk,
                cache=cache,
            )
            outputs.append((label, result.stems))
            served[label] = result.cached
        stems = common_stems([(label, list(paths)) for label, paths in outputs])
        names = {
            "track": track or src.stem,
            "suffix": suffix,
            "ext": FORMATS[output_format].ext,
            "model": "+".join(served),
        }
        paths = {stem: out_dir / filename.format(stem=stem, **names) for stem in stems}
        for path in paths.values():
            format_for_path(path, output_format)  # a --filename suffix that does not fit the format
        with AtomicGroup() as group:
            writers = api.stem_writers(group, paths, info, output_format, bit_depth, sample_rate, clip, bitrate)
            for stem, writer in writers.items():
                for block in combine_stem(algorithm, [o[stem] for _, o in outputs], weights):
                    writer.write(block)
            group.commit()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return EnsembleResult(source=src, output_dir=out_dir, stems=paths, cached=all(served.values()), members=served)


# ---------------------------------------------------------------------------------------------- batches


@dataclass(frozen=True)
class EnsembleTask(SeparateTask):
    """`extract ensemble` for every item of a batch: options hold the members, the algorithm and the weights.

    options = {"members": [{"separator", "model", "options"}, ...], "algorithm": str, "weights": [float, ...]}
    """

    def worker(self, *, label: str | None = None, pm: Any = None, warn: Any = None) -> SeparateWorker:
        return EnsembleWorker(self, label=label, pm=pm, warn=warn)


class EnsembleWorker(SeparateWorker):
    """Runs items of an EnsembleTask: every member chosen once per worker, each model loaded on first need."""

    def load(self) -> None:
        from audio_playground import api

        task = self.task
        self.members = [
            (
                Member(m["separator"], m.get("model"), m.get("options") or {}),
                api.load(
                    m["separator"],
                    backend=task.backend,
                    options=m.get("options") or {},
                    device=task.device,
                    pm=self.pm,
                    warn=self.warn,
                    lazy=True,
                ),
            )
            for m in task.options["members"]
        ]

    def backend(self) -> str | None:
        return "+".join(loaded.spec.backend for _, loaded in self.members)

    def model_loaded(self) -> bool:
        return any(loaded.loaded for _, loaded in self.members)

    def separate(self, src: Path, item: WorkItem, on_chunk: Any) -> EnsembleResult:
        task = self.task
        options: dict[str, Any] = {
            **task.write_options(),
            "suffix": task.suffix if task.suffix is not None else "ensemble",
        }
        return ensemble_file(
            self.members,
            src,
            task.output_dir,
            algorithm=task.options["algorithm"],
            weights=task.options["weights"],
            track=item.track,
            on_chunk=on_chunk,
            **options,
            cache=self.cache,
        )
