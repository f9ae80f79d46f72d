"""The text-prompted driver over a small numpy "model" whose prompts are band-pass filters."""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audio_playground.config import AudioPlaygroundConfig
from audio_playground.engine import chunk_count, crossfade_window, separate_array
from audio_playground.errors import ModelError, OutputError, UsageError
from audio_playground.prompted import (
    OTHER_STEM,
    PROMPTED_OPTIONS,
    RESIDUAL_SUFFIX,
    GenerateOptions,
    Generation,
    PromptedModel,
    PromptedSeparator,
    PromptedSettings,
    parse_prompts,
    peak_rss_mb,
    sam_audio_options,
    stem_name,
)

RATE = 1000
BANDS = {"low": (0.0, 100.0), "mid": (100.0, 250.0), "high": (250.0, 501.0), "all": (0.0, 501.0)}


class BandModel:
    """A deterministic PromptedModel: the "codec" is an FFT, a prompt names a frequency band to keep."""

    def __init__(self, max_frames: int | None = None, capabilities: frozenset[str] = frozenset()) -> None:
        self.sample_rate = RATE
        self.max_frames = max_frames
        self.capabilities = capabilities
        self.text_calls: list[list[str]] = []
        self.batches: list[int] = []
        self.seeds: list[int] = []
        self.decoded: list[int] = []

    def encode_mixture(self, audio: np.ndarray) -> tuple[np.ndarray, int]:
        assert audio.dtype == np.float32 and audio.ndim == 2 and audio.shape[0] == 1
        return np.fft.rfft(audio[0].astype(np.float64)), audio.shape[1]

    def encode_text(self, prompts: Sequence[str]) -> list[tuple[float, float]]:
        self.text_calls.append(list(prompts))
        out = []
        for prompt in prompts:
            if prompt in BANDS:
                out.append(BANDS[prompt])
            else:  # any other text: a band derived from the words, so every prompt means something
                lo = zlib.crc32(prompt.encode()) % 400
                out.append((float(lo), float(lo + 100)))
        return out

    def generate(self, mixture: Any, text: Sequence[Any], seeds: Sequence[int], options: GenerateOptions) -> Generation:
        spectrum, frames = mixture
        freqs = np.fft.rfftfreq(frames, 1 / RATE)
        self.batches.append(len(text))
        self.seeds.extend(seeds)
        targets, residuals = [], []
        for lo, hi in text:
            mask = (freqs >= lo) & (freqs < hi)
            targets.append((spectrum * mask, frames))
            residuals.append((spectrum * ~mask, frames))
        return Generation(targets, residuals, options.steps * options.evaluations_per_step)

    def decode(self, latents: Sequence[Any]) -> list[np.ndarray]:
        self.decoded.append(len(latents))
        # one sample longer than the chunk: the driver trims to the chunk's length
        return [np.append(np.fft.irfft(s, n=frames), 0.5).astype(np.float32) for s, frames in latents]


def tone_mix(seconds: float = 3.0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    low = np.sin(2 * np.pi * 30 * t)
    mid = 0.5 * np.sin(2 * np.pi * 180 * t)
    high = 0.25 * np.sin(2 * np.pi * 400 * t)
    return (low + mid + high).astype(np.float32)[None, :]


def make(prompts: Sequence[str], model: BandModel | None = None, name: str = "", **kwargs: Any) -> PromptedSeparator:
    kwargs.setdefault("chunk_duration", 1.0)
    kwargs.setdefault("chunk_overlap", 0.25)
    settings = PromptedSettings(prompts=tuple(prompts), **kwargs)
    return PromptedSeparator(model or BandModel(), settings, name=name)


def test_model_satisfies_the_protocol() -> None:
    assert isinstance(BandModel(), PromptedModel)


def test_one_codec_encode_per_chunk_shared_by_every_prompt() -> None:
    sep = make(["low", "mid", "high"])
    mix = tone_mix()
    separate_array(mix, sep)
    chunks = chunk_count(mix.shape[1], sep.plan.hop, sep.plan.frames, sep.plan.every_hop)
    assert sep.counters["chunks"] == chunks == 4
    assert sep.counters["codec_encodes"] == chunks
    assert sep.counters["codec_decodes"] == 3 * chunks  # targets only: no residual is needed


def test_text_features_are_encoded_once_per_prompt_per_run() -> None:
    model = BandModel()
    sep = make(["low", "mid", "high"], model, batch_size=2)
    separate_array(tone_mix(), sep)
    assert sep.counters["text_encodes"] == 3
    assert model.text_calls == [["low", "mid"], ["high"]]
    assert sep.counters["text_cache_hits"] == 3 * (sep.counters["chunks"] - 1)
    # the cache keys on the text alone: a second file through the same separator encodes nothing
    separate_array(tone_mix(1.0), sep)
    assert sep.counters["text_encodes"] == 3


def test_no_prompt_cache_encodes_text_for_every_chunk() -> None:
    sep = make(["low", "mid"], prompt_cache=False)
    separate_array(tone_mix(), sep)
    assert sep.counters["text_encodes"] == 2 * sep.counters["chunks"]
    assert sep.counters["text_cache_hits"] == 0
    assert sep.text_cache == {}


def test_a_shared_text_cache_spans_separators() -> None:
    cache: dict[str, Any] = {}
    first = PromptedSeparator(BandModel(), PromptedSettings(prompts=("low",)), text_cache=cache)
    first.separate(tone_mix(0.5))
    second = PromptedSeparator(BandModel(), PromptedSettings(prompts=("low", "mid")), text_cache=cache)
    second.separate(tone_mix(0.5))
    assert set(cache) == {"low", "mid"}
    assert second.counters["text_encodes"] == 1


def test_parallel_prompts_are_band_passes_of_the_mix() -> None:
    mix = tone_mix()
    sep = make(["low", "mid", "high"])
    out = separate_array(mix, sep)
    assert set(out) == {"low", "mid", "high"} == set(sep.stems)
    t = np.arange(mix.shape[1]) / RATE
    # FFT band-passes of finite chunks leak a little at the very end; the body is the 30 Hz tone
    np.testing.assert_allclose(out["low"][0, :-10], np.sin(2 * np.pi * 30 * t[:-10]), atol=0.05)
    np.testing.assert_allclose(out["low"][0] + out["mid"][0] + out["high"][0], mix[0], atol=1e-4)
    assert all(v.shape == (1, mix.shape[1]) and v.dtype == np.float32 for v in out.values())


def test_chain_takes_each_prompt_from_the_previous_residual() -> None:
    mix = tone_mix(1.0)
    freqs = np.fft.rfftfreq(mix.shape[1], 1 / RATE)

    def band(signal: np.ndarray, lo: float, hi: float) -> np.ndarray:
        spectrum = np.fft.rfft(signal[0])
        return np.fft.irfft(spectrum * ((freqs >= lo) & (freqs < hi)), n=signal.shape[1])

    model = BandModel()
    model_bands = {"wide": (0.0, 200.0), "overlapping": (100.0, 300.0)}
    BANDS.update(model_bands)
    try:
        chained = make(["wide", "overlapping"], model, chain_residuals=True, chunk_duration=1.0)
        out = chained.separate(mix)
        parallel = make(["wide", "overlapping"], chunk_duration=1.0).separate(mix)
    finally:
        for key in model_bands:
            del BANDS[key]
    assert chained.stems == ("wide", "overlapping", OTHER_STEM)
    # the second prompt sees only what the first left: 200..300 Hz, not 100..300 Hz
    np.testing.assert_allclose(out["overlapping"][0], band(mix, 200, 300), atol=1e-4)
    np.testing.assert_allclose(parallel["overlapping"][0], band(mix, 100, 300), atol=1e-4)
    np.testing.assert_allclose(out[OTHER_STEM][0], band(mix, 300, 501), atol=1e-4)
    total = out["wide"] + out["overlapping"] + out[OTHER_STEM]
    np.testing.assert_allclose(total, mix, atol=1e-4)
    # each link encodes its own input and decodes target + residual together
    assert chained.counters["codec_encodes"] == 2
    assert chained.counters["codec_decodes"] == 4
    assert model.decoded == [2, 2]


def test_residuals_are_decoded_only_when_asked_for() -> None:
    model = BandModel()
    sep = make(["low", "mid"], model, residuals=True, batch_size=2)
    out = sep.separate(tone_mix(1.0))
    assert sep.stems == ("low", "low" + RESIDUAL_SUFFIX, "mid", "mid" + RESIDUAL_SUFFIX)
    assert model.decoded == [4]
    np.testing.assert_allclose(out["low"] + out["low_residual"], tone_mix(1.0), atol=1e-4)
    chained = make(["low", "mid"], residuals=True, chain_residuals=True)
    out = chained.separate(tone_mix(1.0))
    np.testing.assert_allclose(out["low_residual"], out["mid"] + out[OTHER_STEM], atol=1e-4)


def test_prompts_are_batched_through_the_generator() -> None:
    model = BandModel()
    sep = make(
        ["low", "mid", "high", "all", "dog barking"],
        model,
        batch_size=2,
        generate=GenerateOptions("euler", 4),
    )
    separate_array(tone_mix(2.0), sep)
    chunks = sep.counters["chunks"]
    assert model.batches == [2, 2, 1] * chunks
    assert sep.counters["transformer_evals"] == 3 * 4 * chunks
    assert sep.counters["transformer_items"] == 5 * 4 * chunks
    one = make(["low", "mid", "high"], batch_size=8)
    one.separate(tone_mix(1.0))
    assert one.counters["transformer_evals"] == 32  # midpoint, 16 steps, one batch


def test_euler_does_half_the_evaluations_of_midpoint() -> None:
    counts = {}
    for solver in ("euler", "midpoint"):
        sep = make(["low"], generate=GenerateOptions(solver, 8))
        sep.separate(tone_mix(1.0))
        counts[solver] = sep.counters["transformer_evals"]
    assert counts == {"euler": 8, "midpoint": 16}


def test_report_has_the_counters_and_is_written_after_each_chunk(tmp_path: Path) -> None:
    path = tmp_path / "out" / "report.json"
    sep = make(["low", "mid"], report=path)
    separate_array(tone_mix(), sep)
    report = json.loads(path.read_text())
    assert report == json.loads(json.dumps(sep.report()))
    for key in ("chunks", "prompts", "codec_encodes", "codec_decodes", "text_encodes", "transformer_evals"):
        assert isinstance(report[key], int)
    assert report["prompts"] == 2 and report["prompt_texts"] == ["low", "mid"]
    assert report["codec_encodes"] == report["chunks"] == 4
    assert report["audio_seconds"] == pytest.approx(3.0 + 3 * 0.25)
    assert set(report["seconds"]) == {"encode_mixture", "encode_text", "generate", "decode", "total"}
    assert report["seconds"]["total"] >= report["seconds"]["generate"] > 0
    assert report["peak_rss_mb"] > 10
    assert [p.name for p in path.parent.iterdir()] == ["report.json"]  # no temp file left


def test_report_to_an_unwritable_place_is_an_output_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    sep = make(["low"])
    with pytest.raises(OutputError, match="cannot write the report"):
        sep.write_report(blocker / "report.json")


def test_seeds_depend_on_seed_chunk_and_prompt_not_on_order() -> None:
    a, b = BandModel(), BandModel()
    make(["low", "mid"], a, batch_size=1).separate(tone_mix(1.0))
    make(["mid", "low"], b, batch_size=2).separate(tone_mix(1.0))
    assert sorted(a.seeds) == sorted(b.seeds) and a.seeds[0] == b.seeds[1]
    c = BandModel()
    make(["low", "mid"], c, seed=1).separate(tone_mix(1.0))
    assert set(c.seeds).isdisjoint(a.seeds)
    assert all(0 <= s < 2**32 for s in a.seeds)


def test_max_segments_runs_the_model_on_the_first_chunks_only() -> None:
    sep = make(["all"], max_chunks=2)
    mix = tone_mix()
    out = separate_array(mix, sep)
    assert sep.counters["chunks"] == 2 and sep.counters["chunks_skipped"] == 2
    assert sep.max_frames == sep.plan.hop + sep.plan.frames
    head = sep.plan.hop + sep.plan.hop // 2
    np.testing.assert_allclose(out["all"][0, :head], mix[0, :head], atol=1e-3)
    assert not out["all"][0, sep.max_frames :].any()


def test_stereo_and_one_dimensional_chunks_are_mixed_to_mono() -> None:
    sep = make(["all"])
    mono = tone_mix(0.5)
    stereo = np.concatenate([mono * 0.5, mono * 1.5])
    np.testing.assert_allclose(sep.separate(stereo)["all"], mono, atol=1e-4)
    np.testing.assert_allclose(sep.separate(mono[0])["all"], mono, atol=1e-4)
    assert sep.separate(np.zeros((1, 0), np.float32))["all"].shape == (1, 0)


def test_chunk_plan_is_a_crossfade_window() -> None:
    sep = make(["low"], chunk_duration=2.0, chunk_overlap=0.5, crossfade_type="linear")
    assert (sep.plan.frames, sep.plan.hop) == (2000, 1500)
    np.testing.assert_array_equal(sep.plan.window, crossfade_window(2000, 500, "linear"))
    assert sep.channels == 1 and sep.sample_rate == RATE


@pytest.mark.parametrize("kind", ["cosine", "linear"])
def test_crossfade_window_fades_sum_to_one(kind: str) -> None:
    window = crossfade_window(100, 20, kind)
    assert window.shape == (100,) and (window > 0).all() and window.dtype == np.float32
    np.testing.assert_allclose(window[80:] + window[:20], 1.0, atol=1e-6)
    np.testing.assert_array_equal(window[20:80], 1.0)


def test_parse_prompts() -> None:
    assert parse_prompts(["dog barking", " car horn , siren", "dog barking"]) == [
        "dog barking",
        "car horn",
        "siren",
    ]
    assert parse_prompts("bass,drums") == ["bass", "drums"]
    for bad in (["a,,b"], [" "], ["a,"], None, []):
        with pytest.raises(UsageError):
            parse_prompts(bad)
    with pytest.raises(UsageError) as info:
        parse_prompts(["bass, "])
    assert "empty prompt" in str(info.value) and "--prompts" in str(info.value)
    assert info.value.exit_code == 2


def test_stem_name() -> None:
    assert stem_name("dog barking") == "dog_barking"
    assert stem_name("AC/DC guitar") == "AC_DC_guitar"
    assert stem_name(" tab\there ") == "tab_here"
    assert stem_name("back\\slash") == "back_slash"
    assert stem_name("café: ünïcode") == "café:_ünïcode"
    for bad in ("..", "/", " . "):
        with pytest.raises(UsageError):
            stem_name(bad)


@pytest.mark.parametrize(
    ("prompts", "kwargs"),
    [
        (["a b", "a_b"], {}),
        (["Dog", "dog"], {}),
        (["other", "bass"], {"chain_residuals": True}),
        (["bass", "bass_residual"], {"residuals": True}),
    ],
)
def test_prompts_that_would_share_a_file_are_rejected(prompts: list[str], kwargs: dict[str, Any]) -> None:
    with pytest.raises(UsageError, match="share the file name"):
        PromptedSettings(prompts=tuple(prompts), **kwargs)


def test_other_is_a_fine_prompt_without_a_chain() -> None:
    assert make(["other"]).stems == ("other",)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"batch_size": 0}, "--batch-size"),
        ({"chunk_duration": 0.0}, "--chunk-duration"),
        ({"chunk_overlap": 1.0, "chunk_duration": 1.0}, "--chunk-overlap"),
        ({"chunk_overlap": -0.1}, "--chunk-overlap"),
        ({"crossfade_type": "square"}, "--crossfade-type"),
        ({"max_chunks": 0}, "--max-segments"),
        ({"prompts": ()}, "no prompt"),
    ],
)
def test_bad_settings_are_usage_errors(kwargs: dict[str, Any], message: str) -> None:
    kwargs = {"prompts": ("bass",), **kwargs}
    with pytest.raises(UsageError, match=message):
        PromptedSettings(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"solver": "rk4"}, "--solver"),
        ({"steps": 0}, "--solver-steps"),
        ({"reranking_candidates": 0}, "--reranking-candidates"),
    ],
)
def test_bad_generate_options_are_usage_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        GenerateOptions(**kwargs)


def test_generate_options_give_the_upstream_ode_opt() -> None:
    options = GenerateOptions("euler", 32)
    assert options.ode_opt == {"method": "euler", "options": {"step_size": 1 / 32}}
    assert GenerateOptions().ode_opt == {"method": "midpoint", "options": {"step_size": 2 / 32}}


def test_features_the_model_lacks_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="--reranking-candidates and --predict-spans need a model feature"):
        make(["bass"], generate=GenerateOptions(reranking_candidates=2, predict_spans=True))
    with pytest.raises(UsageError, match="--predict-spans needs"):
        make(["bass"], generate=GenerateOptions(predict_spans=True))
    able = BandModel(capabilities=frozenset({"reranking", "spans"}))
    make(["low"], able, generate=GenerateOptions(reranking_candidates=3, predict_spans=True))


def test_a_chunk_longer_than_the_model_takes_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="longer than this model takes"):
        make(["low"], BandModel(max_frames=500), chunk_duration=1.0)
    with pytest.raises(UsageError, match="leaves no audio to advance"):
        make(["low"], chunk_duration=0.0004, chunk_overlap=0.0)
    assert make(["low"], BandModel(max_frames=1000), chunk_duration=1.0).plan.frames == 1000


class BrokenModel(BandModel):
    """Breaks one part of the contract, chosen by `broken`."""

    def __init__(self, broken: str) -> None:
        super().__init__()
        self.broken = broken

    def encode_text(self, prompts: Sequence[str]) -> list[tuple[float, float]]:
        out = super().encode_text(prompts)
        return out[:-1] if self.broken == "text" else out

    def generate(self, mixture: Any, text: Sequence[Any], seeds: Sequence[int], options: GenerateOptions) -> Generation:
        out = super().generate(mixture, text, seeds, options)
        if self.broken == "generate":
            out.targets.pop()
        return out

    def decode(self, latents: Sequence[Any]) -> list[np.ndarray]:
        out = super().decode(latents)
        return out[:-1] if self.broken == "decode" else out


@pytest.mark.parametrize("broken", ["text", "generate", "decode"])
def test_a_model_breaking_the_contract_is_a_model_error(broken: str) -> None:
    sep = make(["low", "mid"], BrokenModel(broken), name="broken")
    with pytest.raises(ModelError, match=f"broken: {'encode_text' if broken == 'text' else broken}"):
        sep.separate(tone_mix(0.5))


def test_settings_from_options_apply_defaults_aliases_and_the_config(tmp_path: Path) -> None:
    settings = PromptedSettings.from_options(
        {"prompts": ("dog, cat",), "solver": None, "batch_size": None},
        config=AudioPlaygroundConfig(crossfade_type="linear"),
    )
    assert settings.prompts == ("dog", "cat")
    assert settings.crossfade_type == "linear"
    assert settings.generate == GenerateOptions("midpoint", 16, 1, False)
    assert (settings.batch_size, settings.chunk_duration, settings.chunk_overlap) == (4, 10.0, 2.0)
    assert settings.prompt_cache and not settings.chain_residuals and settings.report is None
    given = PromptedSettings.from_options(
        {
            "prompts": ["a", "b"],
            "chain_residuals": True,
            "residuals": True,
            "batch_size": 0 + 2,
            "prompt_cache": False,
            "solver": "euler",
            "solver_steps": 8,
            "reranking_candidates": 1,
            "predict_spans": False,
            "seed": 0,
            "window_size": 4.0,
            "chunk_overlap": 0.0,
            "crossfade_type": "cosine",
            "report": str(tmp_path / "r.json"),
            "max_segments": 3,
        }
    )
    assert given.chunk_duration == 4.0 and given.chunk_overlap == 0.0  # 0 is a real value
    assert given.generate == GenerateOptions("euler", 8)
    assert given.max_chunks == 3 and given.report == tmp_path / "r.json"
    assert given.chain_residuals and given.residuals and not given.prompt_cache
    assert (
        PromptedSettings.from_options(
            {"prompts": ["a"], "window_size": 4.0, "chunk_duration": 6.0, "crossfade_type": "cosine"}
        ).chunk_duration
        == 6.0
    )


def test_settings_from_options_read_the_environment_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUDIO_PLAYGROUND_CROSSFADE_TYPE", "linear")
    assert PromptedSettings.from_options({"prompts": ["a"]}).crossfade_type == "linear"


def test_sam_audio_options_are_the_cli_contract() -> None:
    options = sam_audio_options()
    names = [o.name for o in options]
    assert len(names) == len(set(names))
    flags = {o.flag for o in options}
    for flag in (
        "--prompts",
        "--model",
        "--chain-residuals",
        "--batch-size",
        "--predict-spans",
        "--reranking-candidates",
        "--solver",
        "--solver-steps",
        "--chunk-duration",
        "--chunk-overlap",
        "--crossfade-type",
        "--streaming",
        "--prompt-cache",
        "--report",
        "--window-size",
        "--max-segments",
    ):
        assert flag in flags
    by_name = {o.name: o for o in options}
    assert by_name["prompt_cache"].secondary == "--no-prompt-cache"
    assert by_name["prompts"].multiple
    assert by_name["solver"].choices == ("euler", "midpoint")
    assert {o.name for o in options if o.hidden} == {"window_size", "max_segments"}
    assert set(PROMPTED_OPTIONS) <= set(options)
    assert names[:2] == ["prompts", "model"]


def test_peak_rss_is_measured() -> None:
    peak = peak_rss_mb()
    assert peak is not None and peak > 1


def test_a_report_onto_a_folder_leaves_no_temp_file(tmp_path: Path) -> None:
    (tmp_path / "reports" / "taken").mkdir(parents=True)
    with pytest.raises(OutputError):
        make(["low"]).write_report(tmp_path / "reports" / "taken")
    assert [p.name for p in (tmp_path / "reports").iterdir()] == ["taken"]


class ShortModel(BandModel):
    """Decodes a few samples short, as a codec with a coarse hop may: the driver pads to the chunk."""

    def decode(self, latents: Sequence[Any]) -> list[np.ndarray]:
        return [w[:-5] for w in super().decode(latents)]


def test_short_decodes_are_padded_to_the_chunk() -> None:
    out = make(["all"], ShortModel()).separate(tone_mix(0.5))
    assert out["all"].shape == (1, 500)
    assert not out["all"][0, -4:].any() and out["all"][0, :-4].any()


def test_chunks_served_by_the_cache_are_counted(tmp_path) -> None:
    sep = make(["low"], max_chunks=2, report=tmp_path / "r.json")
    sep.chunk_cached(0)
    out = sep.separate(np.ones((1, 100), np.float32))
    assert sep.counters["chunks_cached"] == 1 and sep.counters["chunks"] == 1
    assert not sep.separate(np.ones((1, 100), np.float32))["low"].any()  # beyond --max-segments: silence
    assert out["low"].shape == (1, 100)
    assert json.loads((tmp_path / "r.json").read_text())["chunks_cached"] == 1


class SeededDecodeModel(BandModel):
    """A model whose decoding draws from a seed (as DACVAE's watermark does): it records each call's seed."""

    def __init__(self) -> None:
        super().__init__(capabilities=frozenset({"seeded_decode"}))
        self.decode_seeds: list[int] = []

    def decode(self, latents: Sequence[Any], seed: int = -1) -> list[np.ndarray]:
        self.decode_seeds.append(seed)
        return super().decode(latents)


@pytest.mark.parametrize("chain", [False, True])
def test_a_seeded_decode_gets_one_seed_per_chunk(chain: bool) -> None:
    """Every decode of a chunk (each batch, each link of a chain) gets the chunk's seed; --seed changes it."""
    seeds = {}
    for seed in (0, 1):
        model = SeededDecodeModel()
        sep = make(["low", "mid", "high"], model, batch_size=2, chain_residuals=chain, residuals=True, seed=seed)
        sep.separate(tone_mix(0.5))
        sep.separate(tone_mix(0.5) * 0.5)
        assert len(model.decode_seeds) == (6 if chain else 4) and -1 not in model.decode_seeds
        half = len(model.decode_seeds) // 2
        first, second = model.decode_seeds[:half], model.decode_seeds[half:]
        assert len(set(first)) == 1 and len(set(second)) == 1 and first[0] != second[0]
        seeds[seed] = first[0]
    assert seeds[0] != seeds[1]
