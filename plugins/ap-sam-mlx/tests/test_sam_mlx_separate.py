"""The tiny MLX SAM-Audio through the core's prompted driver and engine: shapes, counters, invariances."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from audio_playground.engine import chunk_count, separate_array
from audio_playground.errors import UsageError
from audio_playground.prompted import OTHER_STEM, GenerateOptions, PromptedModel, PromptedSeparator, PromptedSettings

RATE = 8000


def mix(seconds: float = 2.0, seed: int = 0) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    rng = np.random.default_rng(seed)
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(t.shape)
    return tone.astype(np.float32)[None, :]


def separator(model: Any, prompts: tuple[str, ...], **kwargs: Any) -> PromptedSeparator:
    kwargs.setdefault("chunk_duration", 0.5)
    kwargs.setdefault("chunk_overlap", 0.125)
    kwargs.setdefault("generate", GenerateOptions("euler", 2))
    return PromptedSeparator(model, PromptedSettings(prompts=prompts, **kwargs), name=model.name)


def test_the_mlx_model_is_a_prompted_model(tiny: Any) -> None:
    assert isinstance(tiny, PromptedModel)
    assert tiny.sample_rate == RATE and tiny.hop == 32
    assert tiny.max_frames == 4096 * 32
    assert tiny.capabilities == frozenset()


def test_steps_have_the_documented_shapes(tiny: Any) -> None:
    audio = mix(0.3)
    features = tiny.encode_mixture(audio)
    frames = -(-audio.shape[1] // 32)
    assert tuple(features.shape) == (1, frames, 16)
    text = tiny.encode_text(["dog barking", "a much longer description of a car horn"])
    assert [t.shape[1] for t in text] == [16, 16] and text[0].shape[0] < text[1].shape[0]
    generation = tiny.generate(features, text, [1, 2], GenerateOptions("midpoint", 3))
    assert generation.evaluations == 6
    assert [tuple(t.shape) for t in generation.targets] == [(8, frames)] * 2
    wavs = tiny.decode([*generation.targets, generation.residuals[0]])
    assert len(wavs) == 3 and all(w.dtype == np.float32 and w.shape == (frames * 32,) for w in wavs)


def test_separates_seconds_in_chunks_with_one_encode_per_chunk(tiny: Any) -> None:
    audio = mix()
    sep = separator(tiny, ("dog barking", "car horn", "siren"))
    out = separate_array(audio, sep)
    chunks = chunk_count(audio.shape[1], sep.plan.hop, sep.plan.frames, every_hop=False)
    assert set(out) == {"dog_barking", "car_horn", "siren"}
    assert all(v.shape == (1, audio.shape[1]) and np.isfinite(v).all() and v.any() for v in out.values())
    report = sep.report()
    assert report["chunks"] == chunks == 5  # the 6th hop start lies inside the 5th chunk: skipped
    assert report["codec_encodes"] == chunks
    assert report["text_encodes"] == 3
    assert report["codec_decodes"] == 3 * chunks
    assert report["transformer_evals"] == 2 * chunks  # 2 euler steps, the 3 prompts in one batch


def test_chain_residuals_write_other_and_encode_each_link(tiny: Any) -> None:
    audio = mix(1.0)
    sep = separator(tiny, ("dog barking", "car horn"), chain_residuals=True)
    out = separate_array(audio, sep)
    assert sep.stems == ("dog_barking", "car_horn", OTHER_STEM)
    assert all(v.shape == (1, audio.shape[1]) for v in out.values())
    chunks = sep.counters["chunks"]
    assert sep.counters["codec_encodes"] == 2 * chunks
    assert sep.counters["codec_decodes"] == 4 * chunks
    assert sep.counters["text_encodes"] == 2


def test_euler_does_half_the_transformer_passes_of_midpoint(tiny: Any) -> None:
    passes = {}
    for solver in ("euler", "midpoint"):
        sep = separator(tiny, ("bass",), generate=GenerateOptions(solver, 3))
        sep.separate(mix(0.5))
        passes[solver] = sep.counters["transformer_evals"]
    assert passes == {"euler": 3, "midpoint": 6}


def test_batching_and_the_prompt_cache_do_not_change_the_stems(tiny: Any) -> None:
    audio = mix(1.0)
    prompts = ("dog barking", "car horn", "a long description of heavy rain on a roof")
    batched = separator(tiny, prompts, batch_size=3)
    single = separator(tiny, prompts, batch_size=1, prompt_cache=False)
    a, b = separate_array(audio, batched), separate_array(audio, single)
    for stem in a:
        np.testing.assert_allclose(a[stem], b[stem], atol=1e-4)
    assert batched.counters["transformer_evals"] * 3 == single.counters["transformer_evals"]
    assert single.counters["text_encodes"] == 3 * single.counters["chunks"]
    assert batched.counters["text_encodes"] == 3


def test_the_seed_makes_runs_reproducible(tiny: Any) -> None:
    audio = mix(0.5)
    first = separator(tiny, ("bass",), seed=7).separate(audio)["bass"]
    again = separator(tiny, ("bass",), seed=7).separate(audio)["bass"]
    other = separator(tiny, ("bass",), seed=8).separate(audio)["bass"]
    np.testing.assert_array_equal(first, again)
    assert not np.allclose(first, other)


def test_prompts_steer_the_output(tiny: Any) -> None:
    out = separator(tiny, ("dog barking", "violin")).separate(mix(0.5))
    assert not np.allclose(out["dog_barking"], out["violin"])


def test_streaming_decodes_in_pieces(tiny: Any) -> None:
    from ap_sam_mlx.model import MlxSamModel

    pieces = MlxSamModel(tiny.sam, name="tiny", decode_frames=8)
    audio = mix(0.5)
    whole = separator(tiny, ("bass",)).separate(audio)["bass"]
    streamed = separator(pieces, ("bass",)).separate(audio)["bass"]
    assert streamed.shape == whole.shape and np.isfinite(streamed).all()


def test_residuals_are_decoded_only_when_asked(tiny: Any) -> None:
    plain = separator(tiny, ("bass", "drums"))
    plain.separate(mix(0.5))
    asked = separator(tiny, ("bass", "drums"), residuals=True)
    out = asked.separate(mix(0.5))
    assert (plain.counters["codec_decodes"], asked.counters["codec_decodes"]) == (2, 4)
    assert set(out) == {"bass", "bass_residual", "drums", "drums_residual"}


@pytest.mark.parametrize("options", [GenerateOptions(reranking_candidates=2), GenerateOptions(predict_spans=True)])
def test_reranking_and_spans_say_to_use_another_backend(tiny: Any, options: GenerateOptions) -> None:
    with pytest.raises(UsageError, match="--backend pytorch"):
        separator(tiny, ("bass",), generate=options)


def test_a_chunk_longer_than_the_transformer_takes_is_refused(tiny: Any) -> None:
    with pytest.raises(UsageError, match=r"16.384 s"):
        separator(tiny, ("bass",), chunk_duration=20.0)


def test_report_file_is_written(tiny: Any, tmp_path: Path) -> None:
    sep = separator(tiny, ("bass",), report=tmp_path / "report.json")
    separate_array(mix(1.0), sep)
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["model"] == "sam-audio/mlx:tiny"
    assert report["chunks"] == report["codec_encodes"] == 3
    assert report["seconds"]["generate"] > 0 and report["peak_rss_mb"] > 0
