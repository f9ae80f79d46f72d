"""The options of `ap extract demucs`, declared once, and their validation into one typed record."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from audio_playground.errors import ModelError, UsageError
from audio_playground.specs import OptionSpec

DEFAULT_MODEL = "htdemucs"
DEFAULT_STEMS = ("drums", "bass", "other", "vocals")
KNOWN_MODELS = ("htdemucs", "htdemucs_ft", "htdemucs_6s", "hdemucs_mmi", "mdx", "mdx_extra", "mdx_q", "mdx_extra_q")
"""The pretrained names demucs publishes, in the order `ap models list` shows them."""

OPTIONS = (
    OptionSpec(
        "model",
        str,
        DEFAULT_MODEL,
        "Demucs model: " + ", ".join(KNOWN_MODELS) + "; or a signature or bag name found in --repo.",
    ),
    OptionSpec(
        "repo",
        Path,
        None,
        "Folder of <signature>.th weights and <name>.yaml bags to load from, never the network (offline use).",
        cache_key=False,  # the cache keys on the weights' hash, not on where they lie
    ),
    OptionSpec(
        "shifts",
        int,
        1,
        "Shift trick: run each chunk this many times at random offsets of up to 0.5 s and average (0 = off).",
    ),
    OptionSpec("overlap", float, 0.25, "Overlap between chunks, a fraction of the chunk in [0, 1)."),
    OptionSpec(
        "segment",
        float,
        None,
        "Chunk length in seconds (default: the model's; HT models accept at most their 7.8 s, and with "
        "--shifts their chunks leave 0.5 s of that window for the shift).",
    ),
    OptionSpec(
        "two_stems",
        str,
        None,
        "Write only STEM and no_STEM (the sum of the other stems), e.g. --two-stems vocals.",
    ),
    OptionSpec(
        "threads",
        int,
        None,
        "CPU threads torch uses for this model; chunks stream in order, so N threads work on each chunk. "
        "Default: torch's own choice (with -j N worker processes: the CPUs split between them). "
        "-j N is the core's worker count (demucs's own -j ran N chunks at once; same stems either way).",
        cache_key=False,  # threads change the speed, not the stems
    ),
)


@dataclass(frozen=True)
class DemucsOptions:
    """Validated options: every field has its final type, None only where None means "the model's"."""

    model: str = DEFAULT_MODEL
    repo: Path | None = None
    shifts: int = 1
    overlap: float = 0.25
    segment: float | None = None
    two_stems: str | None = None
    threads: int | None = None


def resolve_options(options: Mapping[str, Any]) -> DemucsOptions:
    """Fill unset (None or missing) options with their defaults and reject values demucs cannot use."""
    defaults = DemucsOptions()

    def get(name: str) -> Any:
        value = options.get(name)
        return getattr(defaults, name) if value is None else value

    model = str(get("model")).strip()
    if not model:
        raise UsageError("--model is empty", hint="name a Demucs model, e.g. --model htdemucs")
    repo = get("repo")
    shifts = int(get("shifts"))
    if shifts < 0:
        raise UsageError(f"--shifts must be >= 0, not {shifts}", hint="use 0 to turn the shift trick off")
    overlap = float(get("overlap"))
    if not 0.0 <= overlap < 1.0:
        raise UsageError(f"--overlap must be in [0, 1), not {overlap:g}", hint="the default is 0.25")
    segment = get("segment")
    if segment is not None:
        segment = float(segment)
        if segment <= 0:
            raise UsageError(f"--segment must be > 0 seconds, not {segment:g}", hint="or leave it out")
    threads = get("threads")
    if threads is not None:
        threads = int(threads)
        if threads < 1:
            raise UsageError(f"--threads must be >= 1, not {threads}", hint="or leave it out for torch's default")
    two_stems = get("two_stems")
    return DemucsOptions(
        model=model,
        repo=None if repo is None else Path(repo).expanduser(),
        shifts=shifts,
        overlap=overlap,
        segment=segment,
        two_stems=None if two_stems is None else str(two_stems),
        threads=threads,
    )


class StemsAndStats:
    """What both Demucs separators (PyTorch and ONNX) share: the stems they write and the input's statistics."""

    name: str
    sources: tuple[str, ...]
    options: DemucsOptions
    mean: float | None
    std: float | None

    def _stems(self) -> tuple[str, ...]:
        stem = self.options.two_stems
        if stem is None:
            return self.sources
        if stem not in self.sources:
            raise ModelError(
                f"--two-stems {stem}: Demucs model {self.name} has no such stem",
                hint=f"its stems are {', '.join(self.sources)}",
            )
        return (stem, f"no_{stem}")

    def set_stats(self, mean: float, std: float) -> None:
        """The whole input's mono-mix mean and unbiased std at the model rate, as demucs.api normalises."""
        self.mean = float(mean)
        self.std = float(std)
