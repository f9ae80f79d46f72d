"""The text-prompted separation driver: prompts, chained residuals, shared encodes, a text-feature cache.

A text-queried model (SAM-Audio on PyTorch or MLX, or any later one) supplies its steps as a `PromptedModel`;
`PromptedSeparator` turns them into an engine `Separator`. Per chunk it codec-encodes the mixture once and
shares it with every prompt, computes each prompt's text features once per run (keyed on the text alone),
batches prompts through the generator, decodes a residual only when something needs it, and counts it all
for the run report. No heavy imports here: the model's library lives in its plugin.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, runtime_checkable

from audio_playground.errors import ModelError, OutputError, UsageError
from audio_playground.specs import ChunkPlan, ModelInfo, OptionSpec, Separator, SeparatorSpec

if TYPE_CHECKING:
    import numpy as np

    from audio_playground.config import AudioPlaygroundConfig

__all__ = [
    "OTHER_STEM",
    "PROMPTED_OPTIONS",
    "RESIDUAL_SUFFIX",
    "SAM_MODEL_NAMES",
    "STEPS",
    "GenerateOptions",
    "Generation",
    "PromptedModel",
    "PromptedSeparator",
    "PromptedSettings",
    "parse_prompts",
    "peak_rss_mb",
    "sam_audio_options",
    "sam_audio_spec",
    "stem_name",
]

OTHER_STEM = "other"
"""The last residual of a chain (--chain-residuals): everything no prompt took."""
RESIDUAL_SUFFIX = "_residual"
"""Stem suffix of a prompt's own residual when residuals are asked for (--residuals)."""
STEPS = ("encode_mixture", "encode_text", "generate", "decode")
"""The model steps the driver times, in the report's `seconds`."""
SAM_MODEL_NAMES = ("small", "base", "large", "small-tv", "base-tv", "large-tv")
"""Short SAM-Audio model names every SAM backend maps to its own hub ids."""
SOLVERS = ("euler", "midpoint")


# --------------------------------------------------------------------------- the model contract


@dataclass(frozen=True)
class GenerateOptions:
    """How the generator runs: the ODE solver and steps (the model's ode_opt), reranking, span prediction."""

    solver: str = "midpoint"
    steps: int = 16
    reranking_candidates: int = 1
    predict_spans: bool = False

    def __post_init__(self) -> None:
        if self.solver not in SOLVERS:
            raise UsageError(f"unknown --solver {self.solver!r}", hint=f"use one of: {', '.join(SOLVERS)}")
        if self.steps < 1:
            raise UsageError(f"--solver-steps must be >= 1, not {self.steps}")
        if self.reranking_candidates < 1:
            raise UsageError(f"--reranking-candidates must be >= 1, not {self.reranking_candidates}")

    @property
    def step_size(self) -> float:
        """Integration step over t in [0, 1]."""
        return 1.0 / self.steps

    @property
    def evaluations_per_step(self) -> int:
        """Vector-field (transformer) evaluations per step: euler 1, midpoint 2."""
        return 1 if self.solver == "euler" else 2

    @property
    def ode_opt(self) -> dict[str, Any]:
        """The options in upstream sam_audio's form: {"method", "options": {"step_size"}} (torchdiffeq)."""
        return {"method": self.solver, "options": {"step_size": self.step_size}}


@dataclass
class Generation:
    """What one generate call returns: per item, target and residual latents, and the work it took."""

    targets: list[Any]
    residuals: list[Any]
    evaluations: int
    """Forward passes of the generator (each over the whole batch)."""


@runtime_checkable
class PromptedModel(Protocol):
    """The steps a text-queried separation model supplies; `PromptedSeparator` drives them.

    Audio is mono float32 at `sample_rate`. Handles and features are opaque to the driver: a plugin may put
    whatever it needs in them (the mixture audio for a ranker, the prompt text for a span predictor).
    """

    @property
    def sample_rate(self) -> int:
        """Rate of the audio it takes and gives; the engine resamples to and from it."""
        ...

    @property
    def max_frames(self) -> int | None:
        """Longest chunk one call takes (e.g. the transformer's positions times the codec hop); None: no limit."""
        ...

    @property
    def capabilities(self) -> frozenset[str]:
        """Optional features it implements: "reranking" (reranking_candidates > 1), "spans" (predict_spans),
        "seeded_decode" (decode takes `seed=`, the chunk's seed, for randomness in decoding such as a watermark)."""
        ...

    def encode_mixture(self, audio: np.ndarray) -> Any:
        """Codec-encode one (1, frames) float32 chunk; the handle is shared by every prompt of the chunk."""
        ...

    def encode_text(self, prompts: Sequence[str]) -> list[Any]:
        """Text features for each prompt, in order; each must be usable alone in any later batch."""
        ...

    def generate(self, mixture: Any, text: Sequence[Any], seeds: Sequence[int], options: GenerateOptions) -> Generation:
        """Separate `mixture` once per text feature (a batch), item i's noise drawn from seeds[i]."""
        ...

    def decode(self, latents: Sequence[Any]) -> list[np.ndarray]:
        """Decode latents (targets or residuals, any mix) to 1-D float32 audio; the driver fits the length.

        A model with the "seeded_decode" capability is called as decode(latents, seed=chunk_seed) instead: one
        seed per chunk, the same for every row of the chunk, whatever the rows' order."""
        ...


# --------------------------------------------------------------------------- prompts and stem names


def parse_prompts(values: Sequence[str] | str | None) -> list[str]:
    """Prompts from repeatable and comma-separated values: stripped, duplicates dropped, none empty."""
    if values is None:
        values = []
    elif isinstance(values, str):
        values = [values]
    prompts: list[str] = []
    for value in values:
        for part in str(value).split(","):
            prompt = part.strip()
            if not prompt:
                raise UsageError(
                    f"empty prompt in --prompts {value!r}",
                    hint="describe each sound, e.g. --prompts 'dog barking' --prompts 'car horn' "
                    "or --prompts 'dog barking,car horn'",
                )
            if prompt not in prompts:
                prompts.append(prompt)
    if not prompts:
        raise UsageError("no prompt given", hint="describe the sound to extract, e.g. --prompts 'dog barking'")
    return prompts


def stem_name(prompt: str) -> str:
    """The file-safe stem of a prompt: whitespace, slashes and control characters become "_"."""
    name = "".join("_" if ch.isspace() or ch in "/\\" or ord(ch) < 32 else ch for ch in prompt.strip())
    if not name or set(name) <= {".", "_"}:
        raise UsageError(f"prompt {prompt!r} gives no usable file name", hint="describe the sound in words")
    return name


def _stems(prompts: Sequence[str], chain: bool, residuals: bool) -> tuple[str, ...]:
    stems: list[str] = []
    for prompt in prompts:
        stems.append(stem_name(prompt))
        if residuals:
            stems.append(stem_name(prompt) + RESIDUAL_SUFFIX)
    if chain:
        stems.append(OTHER_STEM)
    seen: dict[str, str] = {}
    for stem in stems:
        key = stem.casefold()  # one file on case-insensitive file systems
        if key in seen:
            raise UsageError(
                f"two outputs would share the file name {stem!r} ({seen[key]!r} and {stem!r})",
                hint="reword one prompt" + (f" ({OTHER_STEM!r} is the chain's residual)" if chain else ""),
            )
        seen[key] = stem
    return tuple(stems)


# --------------------------------------------------------------------------- options, declared once

DEFAULTS: dict[str, Any] = {
    "model": "base",
    "chain_residuals": False,
    "residuals": False,
    "batch_size": 4,
    "prompt_cache": True,
    "solver": "midpoint",
    "solver_steps": 16,
    "reranking_candidates": 1,
    "predict_spans": False,
    "seed": 0,
    "chunk_duration": 10.0,
    "chunk_overlap": 2.0,
    "streaming": False,
}

PROMPTED_OPTIONS: tuple[OptionSpec, ...] = (
    OptionSpec(
        "prompts",
        str,
        (),
        "What to extract, in words; repeat it or separate prompts with commas "
        "(required). Each gives {prompt}-{suffix}.wav.",
        multiple=True,
    ),
    OptionSpec(
        "chain_residuals",
        bool,
        False,
        "Take prompt 1 from the mix, prompt 2 from what is left, ...; the last residual is written as other.",
        is_flag=True,
    ),
    OptionSpec(
        "residuals",
        bool,
        False,
        "Also write each prompt's residual (all but that sound) as {prompt}_residual.",
        is_flag=True,
    ),
    OptionSpec("batch_size", int, DEFAULTS["batch_size"], "Prompts generated together in one batch."),
    OptionSpec(
        "prompt_cache",
        bool,
        True,
        "Encode each prompt's text once per run and reuse it for every chunk (--no-prompt-cache: once per chunk).",
        is_flag=True,
        secondary="--no-prompt-cache",
    ),
    OptionSpec("seed", int, DEFAULTS["seed"], "Noise seed; with the same seed a run is reproducible."),
    OptionSpec("chunk_duration", float, DEFAULTS["chunk_duration"], "Seconds of audio per model call."),
    OptionSpec(
        "chunk_overlap",
        float,
        DEFAULTS["chunk_overlap"],
        "Seconds shared by neighbouring chunks, crossfaded.",
    ),
    OptionSpec(
        "crossfade_type",
        str,
        None,
        "Crossfade shape where chunks overlap (default: the config's, cosine).",
        choices=("cosine", "linear"),
    ),
    OptionSpec(
        "report",
        Path,
        None,
        "Write a JSON run report (counters, seconds per step, peak memory) to this file.",
        cache_key=False,  # where the report goes does not change the stems
    ),
    OptionSpec("window_size", float, None, "Same as --chunk-duration (compat).", hidden=True),
    OptionSpec(
        "max_segments",
        int,
        None,
        "Run the model on the first N chunks only; the rest stays silent (compat).",
        hidden=True,
    ),
)
"""Options of every text-prompted separator (the driver's own)."""


def sam_audio_options() -> tuple[OptionSpec, ...]:
    """Every SAM-Audio option: the driver's plus the model's; both SAM plugins declare exactly these."""
    model_options = (
        OptionSpec(
            "model",
            str,
            DEFAULTS["model"],
            "small, base, large, small-tv, base-tv, large-tv, a hub id, or a local model folder.",
        ),
        OptionSpec(
            "solver",
            str,
            DEFAULTS["solver"],
            "ODE solver: euler does one transformer pass per step, midpoint two.",
            choices=SOLVERS,
        ),
        OptionSpec("solver_steps", int, DEFAULTS["solver_steps"], "ODE steps from noise to the stems."),
        OptionSpec(
            "reranking_candidates",
            int,
            DEFAULTS["reranking_candidates"],
            "Generate N candidates and keep the best by a ranking model (needs a backend with one).",
        ),
        OptionSpec(
            "predict_spans",
            bool,
            False,
            "Predict when the sound is present and condition on it (needs a backend with a span predictor).",
            is_flag=True,
        ),
        OptionSpec(
            "streaming",
            bool,
            False,
            "Decode in short pieces: lower peak memory on long chunks.",
            is_flag=True,
        ),
    )
    return (PROMPTED_OPTIONS[0], model_options[0], *PROMPTED_OPTIONS[1:], *model_options[1:])


def sam_audio_spec(
    backend: str,
    *,
    load: Callable[[Mapping[str, Any], str], Separator],
    models: Callable[[Mapping[str, Any]], list[ModelInfo]],
    cache_identity: Callable[[Mapping[str, Any]], str | None],
    plugin: str,
    runtime: str,
) -> SeparatorSpec:
    """The `sam-audio` separator on one backend: every SAM plugin offers this shape, with its own loader and models.

    `runtime` names the backend for people ("MLX", "PyTorch") in the command's help.
    """
    return SeparatorSpec(
        name="sam-audio",
        backend=backend,
        load=load,
        help=f"SAM-Audio: extract any sound described in words (--prompts 'dog barking'), on {runtime}.",
        prompted=True,
        suffix="sam",
        options=sam_audio_options(),
        models=models,
        plugin=plugin,
        cache_identity=cache_identity,
        defaults={"suffix": "sam"},
    )


def _get(options: Mapping[str, Any], name: str) -> Any:
    value = options.get(name)
    return DEFAULTS.get(name) if value is None else value


@dataclass(frozen=True)
class PromptedSettings:
    """The driver's settings, validated: built from CLI/API options by `from_options`."""

    prompts: tuple[str, ...]
    chain_residuals: bool = False
    residuals: bool = False
    batch_size: int = DEFAULTS["batch_size"]
    prompt_cache: bool = True
    generate: GenerateOptions = field(default_factory=GenerateOptions)
    seed: int = 0
    chunk_duration: float = DEFAULTS["chunk_duration"]
    chunk_overlap: float = DEFAULTS["chunk_overlap"]
    crossfade_type: str = "cosine"
    max_chunks: int | None = None
    report: Path | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "prompts", tuple(parse_prompts(list(self.prompts))))
        if self.batch_size < 1:
            raise UsageError(f"--batch-size must be >= 1, not {self.batch_size}")
        if not self.chunk_duration > 0:
            raise UsageError(f"--chunk-duration must be > 0 seconds, not {self.chunk_duration}")
        if not 0 <= self.chunk_overlap < self.chunk_duration:
            raise UsageError(
                f"--chunk-overlap must be >= 0 and below --chunk-duration ({self.chunk_duration} s), "
                f"not {self.chunk_overlap}"
            )
        if self.crossfade_type not in ("cosine", "linear"):
            raise UsageError(f"unknown --crossfade-type {self.crossfade_type!r}", hint="use cosine or linear")
        if self.max_chunks is not None and self.max_chunks < 1:
            raise UsageError(f"--max-segments must be >= 1, not {self.max_chunks}")
        _stems(self.prompts, self.chain_residuals, self.residuals)

    @classmethod
    def from_options(cls, options: Mapping[str, Any], config: AudioPlaygroundConfig | None = None) -> PromptedSettings:
        """Settings from option values by name (None or missing: the default; crossfade: the config's)."""
        crossfade = options.get("crossfade_type")
        if crossfade is None:
            if config is None:
                from audio_playground.config import load_config

                config = load_config()
            crossfade = config.crossfade_type
        duration = options.get("chunk_duration")
        if duration is None:
            duration = options.get("window_size")
        report = options.get("report")
        return cls(
            prompts=tuple(parse_prompts(options.get("prompts"))),
            chain_residuals=bool(_get(options, "chain_residuals")),
            residuals=bool(_get(options, "residuals")),
            batch_size=int(_get(options, "batch_size")),
            prompt_cache=bool(_get(options, "prompt_cache")),
            generate=GenerateOptions(
                solver=str(_get(options, "solver")),
                steps=int(_get(options, "solver_steps")),
                reranking_candidates=int(_get(options, "reranking_candidates")),
                predict_spans=bool(_get(options, "predict_spans")),
            ),
            seed=int(_get(options, "seed")),
            chunk_duration=float(DEFAULTS["chunk_duration"] if duration is None else duration),
            chunk_overlap=float(_get(options, "chunk_overlap")),
            crossfade_type=str(crossfade),
            max_chunks=None if options.get("max_segments") is None else int(options["max_segments"]),
            report=None if report in (None, "") else Path(report),
        )


# --------------------------------------------------------------------------- the driver


def peak_rss_mb() -> float | None:
    """Peak resident memory of this process in MiB (None where the platform does not say)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _fit(wav: np.ndarray, frames: int) -> np.ndarray:
    """A decoded signal cut or zero-padded to `frames`, as a (1, frames) float32 row."""
    import numpy as np

    wav = np.asarray(wav, dtype=np.float32).reshape(-1)[:frames]
    if wav.shape[0] < frames:
        wav = np.pad(wav, (0, frames - wav.shape[0]))
    return wav[None, :]


def _batches(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


class PromptedSeparator:
    """An engine Separator over a PromptedModel: one stem per prompt (+ residuals, + other when chained)."""

    channels = 1

    def __init__(
        self,
        model: PromptedModel,
        settings: PromptedSettings,
        *,
        text_cache: MutableMapping[str, Any] | None = None,
        name: str = "",
    ) -> None:
        missing = [
            flag
            for flag, wanted, capability in (
                ("--reranking-candidates", settings.generate.reranking_candidates > 1, "reranking"),
                ("--predict-spans", settings.generate.predict_spans, "spans"),
            )
            if wanted and capability not in model.capabilities
        ]
        if missing:
            raise UsageError(
                f"{' and '.join(missing)} need{'s' if len(missing) == 1 else ''} a model feature "
                f"this backend ({name or type(model).__name__}) lacks",
                hint="leave them off, or use a backend that has it (e.g. --backend pytorch)",
            )
        self.model = model
        self.settings = settings
        self.name = name or type(model).__name__
        self.prompts: tuple[str, ...] = settings.prompts
        self.sample_rate = int(model.sample_rate)
        self.stems = _stems(self.prompts, settings.chain_residuals, settings.residuals)
        frames = round(settings.chunk_duration * self.sample_rate)
        overlap = round(settings.chunk_overlap * self.sample_rate)
        limit = model.max_frames
        if limit is not None and frames > limit:
            raise UsageError(
                f"--chunk-duration {settings.chunk_duration} s is longer than this model takes in one call "
                f"({limit / self.sample_rate:g} s)",
                hint=f"use --chunk-duration {limit / self.sample_rate:g} or less",
            )
        if frames < 1 or frames - overlap < 1:
            raise UsageError(
                f"--chunk-duration {settings.chunk_duration} s with --chunk-overlap "
                f"{settings.chunk_overlap} s leaves no audio to advance at {self.sample_rate} Hz",
                hint="use a longer chunk or a shorter overlap",
            )
        from audio_playground.engine import crossfade_window

        self.plan = ChunkPlan(
            frames, frames - overlap, crossfade_window(frames, overlap, settings.crossfade_type), every_hop=False
        )
        self.max_frames = None if settings.max_chunks is None else ((settings.max_chunks - 1) * self.plan.hop + frames)
        """Model-rate frames the model runs on (--max-segments); an engine may stop reading there."""
        self.text_cache: MutableMapping[str, Any] = {} if text_cache is None else text_cache
        self.counters: dict[str, int] = dict.fromkeys(
            (
                "chunks",
                "chunks_skipped",
                "chunks_cached",
                "frames",
                "codec_encodes",
                "codec_decodes",
                "text_encodes",
                "text_cache_hits",
                "transformer_evals",
                "transformer_items",
            ),
            0,
        )
        self.seconds: dict[str, float] = dict.fromkeys((*STEPS, "total"), 0.0)

    # ---------------------------------------------------------------- steps, timed and counted

    def _timed(self, step: str, started: float) -> None:
        self.seconds[step] += time.perf_counter() - started

    def _encode_mixture(self, audio: np.ndarray) -> Any:
        started = time.perf_counter()
        handle = self.model.encode_mixture(audio)
        self._timed("encode_mixture", started)
        self.counters["codec_encodes"] += 1
        return handle

    def _text_features(self) -> dict[str, Any]:
        """Features of every prompt: from the run's cache, or freshly encoded (batched) when it is off."""
        cache: MutableMapping[str, Any] = self.text_cache if self.settings.prompt_cache else {}
        todo = [p for p in self.prompts if p not in cache]
        self.counters["text_cache_hits"] += len(self.prompts) - len(todo)
        for group in _batches(todo, self.settings.batch_size):
            started = time.perf_counter()
            features = self.model.encode_text(group)
            self._timed("encode_text", started)
            if len(features) != len(group):
                raise_model_error(self.name, f"encode_text returned {len(features)} features for {len(group)} prompts")
            self.counters["text_encodes"] += len(group)
            cache.update(zip(group, features, strict=True))
        return {p: cache[p] for p in self.prompts}

    def _generate(self, mixture: Any, features: list[Any], seeds: list[int]) -> Generation:
        started = time.perf_counter()
        generation = self.model.generate(mixture, features, seeds, self.settings.generate)
        self._timed("generate", started)
        if len(generation.targets) != len(features) or len(generation.residuals) != len(features):
            raise_model_error(
                self.name, f"generate returned {len(generation.targets)} targets for {len(features)} prompts"
            )
        self.counters["transformer_evals"] += generation.evaluations
        self.counters["transformer_items"] += generation.evaluations * len(features)
        return generation

    def _decode(self, latents: list[Any], frames: int, seed: int) -> list[np.ndarray]:
        started = time.perf_counter()
        if "seeded_decode" in self.model.capabilities:
            wavs = self.model.decode(latents, seed=seed)  # ty: ignore[unknown-argument]
        else:
            wavs = self.model.decode(latents)
        self._timed("decode", started)
        if len(wavs) != len(latents):
            raise_model_error(self.name, f"decode returned {len(wavs)} signals for {len(latents)} latents")
        self.counters["codec_decodes"] += len(latents)
        return [_fit(w, frames) for w in wavs]

    def _chunk_seed(self, chunk: np.ndarray) -> int:
        """The chunk's seed (from the seed and the chunk's samples): what a seeded decode of its rows draws from."""
        import numpy as np

        crc = zlib.crc32(np.ascontiguousarray(chunk, dtype=np.float32).tobytes())
        return int(np.random.SeedSequence([self.settings.seed, crc]).generate_state(1)[0])

    def _seeds(self, chunk: np.ndarray, prompts: Sequence[str]) -> list[int]:
        """Noise seeds from the seed, the chunk's samples and the prompt: reproducible in any order."""
        import numpy as np

        crc = zlib.crc32(np.ascontiguousarray(chunk, dtype=np.float32).tobytes())
        return [
            int(np.random.SeedSequence([self.settings.seed, crc, zlib.crc32(p.encode())]).generate_state(1)[0])
            for p in prompts
        ]

    # ---------------------------------------------------------------- the Separator contract

    def separate(self, chunk: np.ndarray) -> dict[str, np.ndarray]:
        """Separate one (channels, frames) chunk into {stem: (1, frames)} (channels are averaged first)."""
        import numpy as np

        started = time.perf_counter()
        audio = np.asarray(chunk, dtype=np.float32)
        if audio.ndim == 1:
            audio = audio[None, :]
        if audio.shape[0] != 1:
            audio = audio.mean(axis=0, keepdims=True, dtype=np.float32)
        frames = audio.shape[1]
        index = self.counters["chunks"] + self.counters["chunks_skipped"] + self.counters["chunks_cached"]
        if frames == 0 or (self.settings.max_chunks is not None and index >= self.settings.max_chunks):
            self.counters["chunks_skipped"] += 1
            return {stem: np.zeros((1, frames), np.float32) for stem in self.stems}
        self.counters["chunks"] += 1
        self.counters["frames"] += frames
        features = self._text_features()
        run = self._chain if self.settings.chain_residuals else self._parallel
        out = run(audio, features)
        self._timed("total", started)
        if self.settings.report is not None:
            self.write_report(self.settings.report)
        return out

    def chunk_cached(self, index: int) -> None:
        """The step cache served chunk `index`: count it (chunk limit, report) without running the model."""
        self.counters["chunks_cached"] += 1
        if self.settings.report is not None:
            self.write_report(self.settings.report)

    def _parallel(self, audio: np.ndarray, features: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Every prompt from the mix: one shared encode, prompts batched, residuals decoded only if asked."""
        frames = audio.shape[1]
        mixture = self._encode_mixture(audio)
        seed = self._chunk_seed(audio)
        out: dict[str, np.ndarray] = {}
        for group in _batches(self.prompts, self.settings.batch_size):
            generation = self._generate(mixture, [features[p] for p in group], self._seeds(audio, group))
            latents = list(generation.targets)
            if self.settings.residuals:
                latents += generation.residuals
            wavs = self._decode(latents, frames, seed)
            for i, prompt in enumerate(group):
                out[stem_name(prompt)] = wavs[i]
                if self.settings.residuals:
                    out[stem_name(prompt) + RESIDUAL_SUFFIX] = wavs[len(group) + i]
        return out

    def _chain(self, audio: np.ndarray, features: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Prompt 1 from the mix, prompt 2 from prompt 1's residual, ...; the last residual is `other`."""
        frames = audio.shape[1]
        current = audio
        seed = self._chunk_seed(audio)  # one per chunk: every link of the chain decodes with it
        out: dict[str, np.ndarray] = {}
        for prompt in self.prompts:
            mixture = self._encode_mixture(current)
            generation = self._generate(mixture, [features[prompt]], self._seeds(current, [prompt]))
            target, residual = self._decode([generation.targets[0], generation.residuals[0]], frames, seed)
            out[stem_name(prompt)] = target
            if self.settings.residuals:
                out[stem_name(prompt) + RESIDUAL_SUFFIX] = residual
            current = residual
        out[OTHER_STEM] = current
        return out

    # ---------------------------------------------------------------- the run report

    def report(self) -> dict[str, Any]:
        """Counters, settings and seconds per step of this run so far (JSON-ready)."""
        s = self.settings
        return {
            "model": self.name,
            "sample_rate": self.sample_rate,
            "prompts": len(self.prompts),
            "prompt_texts": list(self.prompts),
            "stems": list(self.stems),
            "chain_residuals": s.chain_residuals,
            "residuals": s.residuals,
            "batch_size": s.batch_size,
            "prompt_cache": s.prompt_cache,
            "solver": s.generate.solver,
            "solver_steps": s.generate.steps,
            "chunk_frames": self.plan.frames,
            "hop_frames": self.plan.hop,
            **self.counters,
            "audio_seconds": self.counters["frames"] / self.sample_rate,
            "seconds": {k: round(v, 6) for k, v in self.seconds.items()},
            "peak_rss_mb": peak_rss_mb(),
        }

    def write_report(self, path: str | Path) -> Path:
        """Write `report()` as JSON to `path`, atomically (a temp file beside it, then a rename)."""
        target = Path(path)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(self.report(), handle, indent=2)
                    handle.write("\n")
                os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is an ordinary file
                os.replace(tmp, target)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise OutputError(
                f"cannot write the report ({exc.strerror or exc})",
                path=target,
                hint="choose a writable --report path",
            ) from exc
        return target


def raise_model_error(name: str, cause: str) -> NoReturn:
    """A model that broke the PromptedModel contract: a ModelError naming it."""
    raise ModelError(f"{name}: {cause}", hint="report this to the plugin's authors")
