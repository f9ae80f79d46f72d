"""The adapter's steps against upstream's own `separate`, and through the core's prompted driver and engine."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from ap_sam_torch.model import Mixture, TorchSamModel, load_model, seeded_noise, time_grid, watermark_message
from audio_playground.engine import chunk_count, separate_array
from audio_playground.errors import ModelError, UsageError
from audio_playground.prompted import OTHER_STEM, GenerateOptions, PromptedModel, PromptedSeparator, PromptedSettings

RATE = 48_000
HOP = 1920


def ranked(judge: Path) -> dict[str, Any]:
    """An ensemble of CLAP and the judge (a local folder) as text ranker, as the hub configs name them."""
    judged = {"kind": "judge", "checkpoint_or_model_id": str(judge)}
    return {"kind": "ensemble", "rankers": {"clap": [{"kind": "clap"}, 0.5], "judge": [judged, 0.5]}}


def mix(seconds: float, channels: int = 1, seed: int = 0) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    rng = np.random.default_rng(seed)
    tones = [0.3 * np.sin(2 * np.pi * (220 + 110 * c) * t) for c in range(channels)]
    return np.stack([tone + 0.05 * rng.standard_normal(t.shape) for tone in tones]).astype(np.float32)


def reference(folder: Path) -> Any:
    """Upstream's SAMAudio built as its from_pretrained does (config.json as it is, every module), for `separate`;
    only a judge ranker is built by the adapter (upstream's cannot load with huggingface_hub >= 1.0)."""
    from sam_audio import SAMAudio  # ty: ignore  (the stand-in, on sys.path from conftest)
    from sam_audio.model.config import SAMAudioConfig  # ty: ignore

    from ap_sam_torch.model import build_ranker

    raw = json.loads((folder / "config.json").read_text())
    raw["text_encoder"]["name"] = str(folder / "text_encoder")
    text_ranker = raw.pop("text_ranker", None)
    sam = SAMAudio(SAMAudioConfig(**raw))
    if text_ranker is not None:
        sam.text_ranker = build_ranker(SAMAudioConfig(text_ranker=text_ranker, span_predictor=None).text_ranker)
    sam.load_state_dict(torch.load(folder / "checkpoint.pt", weights_only=True))  # upstream's strict load
    return sam.eval()


def fix_watermark(sam: Any, seed: int) -> None:
    """Make upstream's decoder embed the message our decode draws from `seed`, where it draws one at random."""
    message = watermark_message(seed)
    sam.audio_codec.decoder.wm_model.random_message = lambda bsz: message.expand(bsz, -1)


def separator(model: Any, prompts: tuple[str, ...], **kwargs: Any) -> PromptedSeparator:
    kwargs.setdefault("chunk_duration", 0.5)
    kwargs.setdefault("chunk_overlap", 0.125)
    kwargs.setdefault("generate", GenerateOptions("euler", 2))
    return PromptedSeparator(model, PromptedSettings(prompts=prompts, **kwargs), name=model.name)


@pytest.fixture(scope="module")
def judge_model(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny SAM-Audio Judge folder (config.json, checkpoint.pt, a tokenizer), in the hub's layout."""
    from sam_audio.model.config import SAMAudioJudgeConfig  # ty: ignore
    from sam_audio.model.judge import SAMAudioJudgeModel  # ty: ignore

    folder = tmp_path_factory.mktemp("judge")
    raw = {"audio_codec": json.loads((tiny_model / "config.json").read_text())["audio_codec"], "bottleneck_dim": 8}
    torch.manual_seed(0)
    torch.save(SAMAudioJudgeModel(SAMAudioJudgeConfig(**raw)).state_dict(), folder / "checkpoint.pt")
    (folder / "config.json").write_text(json.dumps(raw))
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (tiny_model / "text_encoder" / name).exists():
            shutil.copy(tiny_model / "text_encoder" / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def ranked_model(tiny_model: Path, judge_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with rankers and (by leaving the key out) upstream's default span predictor in config.json."""
    folder = Path(shutil.copytree(tiny_model, tmp_path_factory.mktemp("ranked") / "model"))
    config = json.loads((folder / "config.json").read_text())
    config["text_ranker"] = ranked(judge_model)
    del config["span_predictor"]
    (folder / "config.json").write_text(json.dumps(config))
    return folder


def test_the_torch_model_is_a_prompted_model(tiny: TorchSamModel) -> None:
    assert isinstance(tiny, PromptedModel)
    assert (tiny.sample_rate, tiny.hop, tiny.codebook_dim) == (RATE, HOP, 8)
    assert tiny.max_frames == 2000 * HOP  # RoPE positions times the hop: 80 s
    assert tiny.capabilities == frozenset({"seeded_decode"})
    assert tiny.sam.text_ranker is None and tiny.sam.visual_ranker is None
    assert not hasattr(tiny.sam, "span_predictor") and tiny.sam.vision_encoder is None
    assert tiny.name == "sam-audio/pytorch:tiny" and tiny.device == torch.device("cpu")


def test_steps_have_the_documented_shapes(tiny: TorchSamModel) -> None:
    audio = mix(0.3)  # 7.5 hops: an odd number of frames
    mixture = tiny.encode_mixture(audio)
    frames = -(-audio.shape[1] // HOP)
    assert tuple(mixture.features.shape) == (1, frames, 16) and mixture.frames == audio.shape[1]
    text = tiny.encode_text(["dog barking", "a much longer description of a car horn"])
    assert [t.features.shape[1] for t in text] == [16, 16] and text[0].features.shape[0] < text[1].features.shape[0]
    assert [t.prompt for t in text] == ["dog barking", "a much longer description of a car horn"]
    generation = tiny.generate(mixture, text, [1, 2], GenerateOptions("midpoint", 3))
    assert generation.evaluations == 6
    assert [tuple(t.shape) for t in generation.targets] == [(8, frames)] * 2
    assert [tuple(t.shape) for t in generation.residuals] == [(8, frames)] * 2 and frames % 2 == 0
    wavs = tiny.decode([*generation.targets, generation.residuals[0]])
    assert len(wavs) == 3 and all(w.dtype == np.float32 and w.shape == (frames * HOP,) for w in wavs)
    assert tiny.generate(mixture, text[:1], [1], GenerateOptions("euler", 3)).evaluations == 3


def test_steps_match_upstream_separate(tiny_model: Path, tiny: TorchSamModel) -> None:
    """Shared encode, cached text, batched generate and split decode give what upstream's one call gives."""
    from sam_audio import SAMAudioProcessor  # ty: ignore

    stereo = mix(0.3, channels=2)  # not a whole number of hops; the processor downmixes, the driver averages
    prompts = ["dog barking", "a car horn honking twice"]
    seeds = [11, 12]
    options = GenerateOptions("midpoint", 4)
    mixture = tiny.encode_mixture(stereo.mean(axis=0, keepdims=True))
    generation = tiny.generate(mixture, tiny.encode_text(prompts), seeds, options)
    wavs = tiny.decode([*generation.targets, *generation.residuals], seed=7)

    batch = SAMAudioProcessor.from_pretrained(str(tiny_model))(
        descriptions=prompts, audios=[torch.from_numpy(stereo)] * 2
    )
    noise = seeded_noise(seeds, 1, int(mixture.features.shape[1]), 16)
    sam = reference(tiny_model)
    fix_watermark(sam, 7)
    result = sam.separate(batch, noise=noise, ode_opt=options.ode_opt)
    for i in range(2):
        np.testing.assert_allclose(wavs[i], result.target[i].numpy(), atol=2e-5)
        np.testing.assert_allclose(wavs[2 + i], result.residual[i].numpy(), atol=2e-5)
    assert not np.allclose(wavs[0], wavs[1], atol=1e-4)  # the prompts differ, so do the stems


def test_rankers_and_span_predictor_match_upstream(ranked_model: Path) -> None:
    from sam_audio import SAMAudioProcessor  # ty: ignore

    model = load_model(str(ranked_model), rankers=True, spans=True)
    assert model.capabilities == frozenset({"reranking", "spans", "seeded_decode"})
    audio = mix(0.5)  # not whole hops: upstream ranks candidates of whole hops against the mixture as it is
    prompts = ["dog barking", "siren"]
    seeds = [5, 6]
    options = GenerateOptions("euler", 3, reranking_candidates=3, predict_spans=True)
    mixture = model.encode_mixture(audio)
    generation = model.generate(mixture, model.encode_text(prompts), seeds, options)
    assert generation.evaluations == 3 and len(generation.targets) == 2
    wavs = model.decode(generation.targets, seed=seeds[0])

    # upstream's separate builds its arguments before it predicts spans, so its predict_spans changes nothing;
    # ours conditions on the predicted spans: it is upstream given those spans as anchors
    processor = SAMAudioProcessor.from_pretrained(str(ranked_model))
    sam = reference(ranked_model)
    fix_watermark(sam, seeds[0])  # one message: every candidate and row decodes as ours (seeded per prompt)
    predicted = processor(descriptions=prompts, audios=[torch.from_numpy(audio)] * 2)
    features = sam._get_audio_features(predicted.audios)
    predicted = sam.predict_spans(predicted, features, predicted.audio_pad_mask)
    assert predicted.anchors is not None and any(predicted.anchors)
    anchored = processor(descriptions=prompts, audios=[torch.from_numpy(audio)] * 2, anchors=predicted.anchors)
    noise = seeded_noise(seeds, 3, int(mixture.features.shape[1]), 16)
    result = sam.separate(anchored, noise=noise, ode_opt=options.ode_opt, reranking_candidates=3)
    for i in range(2):
        np.testing.assert_allclose(wavs[i], result.target[i].numpy(), atol=2e-5)
    plain_batch = processor(descriptions=prompts, audios=[torch.from_numpy(audio)] * 2)
    unanchored = sam.separate(plain_batch, noise=noise, ode_opt=options.ode_opt, reranking_candidates=3)
    spans_ignored = sam.separate(
        plain_batch, noise=noise, ode_opt=options.ode_opt, reranking_candidates=3, predict_spans=True
    )
    assert all(torch.equal(a, b) for a, b in zip(unanchored.target, spans_ignored.target, strict=True))

    plain = model.generate(mixture, model.encode_text(prompts), seeds, GenerateOptions("euler", 3))
    plain = model.decode(plain.targets)
    assert not np.allclose(plain[0], wavs[0], atol=1e-4)


def test_upstream_decodes_differ_where_a_seeded_decode_does_not(tiny: TorchSamModel, tiny_model: Path) -> None:
    """DACVAE's decoder embeds a random watermark message each call; ours embeds the one the seed gives."""
    latents = torch.randn(2, 8, 5, generator=torch.Generator().manual_seed(0))
    sam = reference(tiny_model)
    with torch.inference_mode():
        first, second = sam.audio_codec.decode(latents), sam.audio_codec.decode(latents)
    assert not torch.equal(first, second)  # upstream's own: a new message every time
    ours = [tiny.decode(list(latents), seed=3) for _ in range(2)]
    assert all(np.array_equal(a, b) for a, b in zip(*ours, strict=True))
    assert not np.array_equal(ours[0][0], tiny.decode(list(latents), seed=4)[0])
    fix_watermark(sam, 3)
    with torch.inference_mode():
        np.testing.assert_allclose(ours[0][1], sam.audio_codec.decode(latents)[1, 0].numpy(), atol=1e-6)
    assert watermark_message(3).shape == (1, 16) and set(watermark_message(3).unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("steps", [16, 61, 109])
def test_the_time_grid_is_torchdiffeqs(steps: int) -> None:
    """torchdiffeq's fixed grid for step_size 1 / steps: float32 points, one step more for 61 and 109."""
    grid = time_grid(1 / steps)
    assert len(grid) == (steps + 1 if steps in (61, 109) else steps)
    assert float(grid[0][0]) == 0.0 and abs(float(grid[-1][0] + grid[-1][1]) - 1.0) < 1e-7
    assert all(t.dtype == torch.float32 for pair in grid for t in pair)


def test_a_step_count_with_an_extra_grid_step_matches_upstream(tiny_model: Path, tiny: TorchSamModel) -> None:
    from sam_audio import SAMAudioProcessor  # ty: ignore

    audio = mix(0.12)
    options = GenerateOptions("euler", 61)
    mixture = tiny.encode_mixture(audio)
    generation = tiny.generate(mixture, tiny.encode_text(["rain"]), [2], options)
    assert generation.evaluations == 62
    wav = tiny.decode(generation.targets, seed=1)[0]
    sam = reference(tiny_model)
    fix_watermark(sam, 1)
    batch = SAMAudioProcessor.from_pretrained(str(tiny_model))(descriptions=["rain"], audios=[torch.from_numpy(audio)])
    noise = seeded_noise([2], 1, int(mixture.features.shape[1]), 16)
    result = sam.separate(batch, noise=noise, ode_opt=options.ode_opt)
    np.testing.assert_allclose(wav, result.target[0].numpy(), atol=2e-5)


def test_upstreams_judge_cannot_load_itself_the_adapters_does(judge_model: Path) -> None:
    """Upstream's JudgeRanker calls from_pretrained, which huggingface_hub >= 1.0 breaks; the adapter loads it."""
    from sam_audio.model.config import JudgeRankerConfig  # ty: ignore
    from sam_audio.ranking.judge import JudgeRanker  # ty: ignore

    from ap_sam_torch.model import build_ranker

    config = JudgeRankerConfig(str(judge_model))
    with pytest.raises(TypeError, match=r"proxies|resume_download"):
        JudgeRanker(config)
    judge = build_ranker(config)
    assert isinstance(judge, JudgeRanker) and not judge.model.training
    state = torch.load(judge_model / "checkpoint.pt", weights_only=True)
    assert all(torch.equal(v, state[k]) for k, v in judge.model.state_dict().items())
    wavs = [torch.randn(2, 5000, generator=torch.Generator().manual_seed(i)) for i in range(2)]
    scores = judge(input_audio=wavs, extracted_audio=wavs[::-1], descriptions=["rain", "bell"], sample_rate=RATE)
    assert tuple(scores.shape) == (2, 2)


def test_the_same_seed_gives_the_same_stems(tiny: TorchSamModel) -> None:
    mixture = tiny.encode_mixture(mix(0.2))
    text = tiny.encode_text(["siren"])
    options = GenerateOptions("euler", 2)
    first = tiny.generate(mixture, text, [3], options).targets[0]
    assert torch.equal(first, tiny.generate(mixture, text, [3], options).targets[0])
    assert not torch.equal(first, tiny.generate(mixture, text, [4], options).targets[0])


def test_text_features_do_not_depend_on_the_batch(tiny: TorchSamModel) -> None:
    alone = tiny.encode_text(["dog barking"])[0].features
    batched = tiny.encode_text(["dog barking", "a much longer prompt about a door knock"])[0].features
    torch.testing.assert_close(alone, batched, atol=1e-5, rtol=1e-5)


def test_streaming_decodes_in_pieces_without_seams(tiny: TorchSamModel) -> None:
    mixture = tiny.encode_mixture(mix(1.5))
    generation = tiny.generate(mixture, tiny.encode_text(["bass"]), [1], GenerateOptions("euler", 1))
    whole = tiny.decode(generation.targets)[0]
    pieces = TorchSamModel(tiny.sam, tiny.config, name=tiny.name, decode_frames=10).decode(generation.targets)[0]
    assert pieces.shape == whole.shape == (38 * HOP,)
    np.testing.assert_allclose(pieces, whole, atol=1e-6)  # one watermark message for every piece


@pytest.mark.parametrize("samples", [96, HOP, HOP + 1])
def test_chunks_of_about_a_hop_encode_and_decode(tiny: TorchSamModel, samples: int) -> None:
    """Shorter than half a hop the codec's reflect pad fails: the adapter zero-pads such a chunk to one hop."""
    mixture = tiny.encode_mixture(mix(samples / RATE))
    frames = -(-samples // HOP)
    assert mixture.frames == samples and tuple(mixture.features.shape) == (1, frames, 16)
    wav = tiny.decode(tiny.generate(mixture, tiny.encode_text(["bell"]), [0], GenerateOptions("euler", 1)).targets)
    assert wav[0].shape == (frames * HOP,)


def test_a_torch_failure_is_one_model_error(tiny: TorchSamModel) -> None:
    good = tiny.encode_mixture(mix(0.1))
    broken = Mixture(good.audio, good.features[..., :4], good.frames)  # not the codec's width
    with pytest.raises(ModelError) as info:
        tiny.generate(broken, tiny.encode_text(["bell"]), [0], GenerateOptions("euler", 1))
    message = str(info.value)
    assert "failed to generate (4800 frames at 48000 Hz) on cpu: RuntimeError" in message
    assert "--chunk-duration" in message and "\n" not in message


def test_separates_seconds_in_chunks_with_one_encode_per_chunk(tiny: TorchSamModel) -> None:
    audio = mix(1.2)
    sep = separator(tiny, ("dog barking", "car horn", "siren"), residuals=True, batch_size=2)
    out = separate_array(audio, sep)
    chunks = chunk_count(audio.shape[1], sep.plan.hop, sep.plan.frames, sep.plan.every_hop)
    stems = ("dog_barking", "car_horn", "siren")
    assert set(out) == {*stems, *(f"{stem}_residual" for stem in stems)}
    assert all(v.shape == (1, audio.shape[1]) and np.isfinite(v).all() and v.any() for v in out.values())
    report = sep.report()
    assert report["chunks"] == chunks == 3  # a 4th hop start would lie inside the 3rd chunk: skipped
    assert report["codec_encodes"] == chunks and report["text_encodes"] == 3
    assert report["codec_decodes"] == 6 * chunks
    assert report["transformer_evals"] == 4 * chunks  # 2 euler steps, the 3 prompts in two batches


def test_chain_residuals_write_other_and_encode_each_link(tiny: TorchSamModel) -> None:
    audio = mix(0.8)
    sep = separator(tiny, ("dog barking", "car horn"), chain_residuals=True)
    out = separate_array(audio, sep)
    assert sep.stems == ("dog_barking", "car_horn", OTHER_STEM)
    assert all(v.shape == (1, audio.shape[1]) for v in out.values())
    chunks = sep.counters["chunks"]
    assert sep.counters["codec_encodes"] == 2 * chunks and sep.counters["codec_decodes"] == 4 * chunks


def test_a_chunk_longer_than_the_rope_positions_is_refused(tiny: TorchSamModel) -> None:
    with pytest.raises(UsageError, match="longer than this model takes in one call"):
        separator(tiny, ("bass",), chunk_duration=90.0)


def test_two_runs_with_a_seed_are_identical_in_any_batch_order(tiny: TorchSamModel) -> None:
    """The driver's chunk seed gives every row the same message: batch sizes and residual rows change nothing."""
    audio = mix(0.6)
    runs = [
        separate_array(audio, separator(tiny, ("dog barking", "siren"), residuals=True, batch_size=size))
        for size in (2, 2, 1)
    ]
    for stem in runs[0]:
        assert np.array_equal(runs[0][stem], runs[1][stem])
        np.testing.assert_allclose(runs[0][stem], runs[2][stem], atol=1e-6)
    other = separate_array(audio, separator(tiny, ("dog barking", "siren"), residuals=True, seed=1))
    assert not np.allclose(other["siren"], runs[0]["siren"], atol=1e-6)


def test_a_judge_on_the_hub_not_cached_offline_is_one_model_error(tiny_model: Path, tmp_path: Path) -> None:
    folder = Path(shutil.copytree(tiny_model, tmp_path / "model"))
    config = json.loads((folder / "config.json").read_text())
    config["text_ranker"] = {"kind": "judge"}  # facebook/sam-audio-judge, as the hub configs name it
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match=r"model: cannot build SAM-Audio \(LocalEntryNotFoundError") as info:
        load_model(str(folder), rankers=True)
    assert "\n" not in str(info.value) and "fetch their own weights" in str(info.value)
