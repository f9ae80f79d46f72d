"""The loaded separator: chunk plan, stems, options, errors, and parity with demucs.api through the engine."""

from __future__ import annotations

import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from ap_demucs.models import remote_files, torch_hub_checkpoints
from ap_demucs.options import resolve_options
from ap_demucs.plugin import ap_separators
from ap_demucs.separator import DemucsSeparator, load_separator, resolve_device
from ap_demucs.testing import STEMS_4, STEMS_6, save_model, tiny_hdemucs, tiny_htdemucs, write_bag
from audio_playground.engine import mono_stats, run_separation, triangle_window
from audio_playground.errors import ExitStatus, ModelError, UsageError
from audio_playground.specs import AudioInfo, Separator

SR = 44100


def load(repo: Path, device: str = "cpu", **options: Any) -> DemucsSeparator:
    spec = ap_separators()[0]
    separator = spec.load({"repo": repo, **options}, device)
    assert isinstance(separator, DemucsSeparator)
    return separator


class ArrayStream:
    """An in-memory AudioStream (the engine's input protocol) yielding 0.5 s blocks."""

    def __init__(self, audio: np.ndarray, sample_rate: int = SR) -> None:
        self.audio = audio
        self.sample_rate = sample_rate
        self.channels = audio.shape[0]
        self.frames = audio.shape[1]
        self.info = AudioInfo(
            "memory", sample_rate, self.channels, self.frames, self.frames / sample_rate, "pcm_f32le", "memory", "FLOAT"
        )

    def __iter__(self) -> Iterator[np.ndarray]:
        step = self.sample_rate // 2
        for start in range(0, self.frames, step):
            yield self.audio[:, start : start + step]

    def close(self) -> None:
        pass


class Collect:
    """A stem sink that keeps what it is given."""

    def __init__(self) -> None:
        self.blocks: list[np.ndarray] = []

    def write(self, block: np.ndarray) -> None:
        self.blocks.append(block)

    @property
    def audio(self) -> np.ndarray:
        return np.concatenate(self.blocks, axis=1)


def engine_run(separator: DemucsSeparator, audio: np.ndarray) -> dict[str, np.ndarray]:
    sinks = {stem: Collect() for stem in separator.stems}
    result = run_separation(lambda: ArrayStream(audio), separator, sinks)
    assert result["frames"] == audio.shape[1]
    return {stem: sink.audio for stem, sink in sinks.items()}


def demucs_api(repo: Path, model: str, audio: np.ndarray, segment: float | None) -> dict[str, np.ndarray]:
    from demucs.api import Separator as DemucsApi

    # demucs annotates segment as int but takes seconds as a float (its CLI passes floats)
    api = DemucsApi(model=model, repo=repo, device="cpu", shifts=0, overlap=0.25, segment=segment)  # ty: ignore[invalid-argument-type]
    _, stems = api.separate_tensor(torch.from_numpy(audio), SR)
    return {stem: value.numpy() for stem, value in stems.items()}


# --------------------------------------------------------------------------- loading and the plan


def test_load_through_the_spec(repo: Path) -> None:
    separator = load(repo, model="tiny4", shifts=0)
    assert isinstance(separator, Separator)
    assert (separator.sample_rate, separator.channels) == (SR, 2)
    assert separator.stems == ("drums", "bass", "other", "vocals")
    assert separator.needs_stats and separator.device == "cpu"
    plan = separator.plan
    assert (plan.frames, plan.hop, plan.pad_short) == (2 * SR, int(0.75 * 2 * SR), True)
    np.testing.assert_array_equal(plan.window, triangle_window(2 * SR))
    assert plan.window.min() > 0 and len(plan.window) == plan.frames


def test_six_stems_come_from_the_model(repo: Path) -> None:
    assert load(repo, model="tiny6").stems == tuple(STEMS_6)


def test_shift_trick_leaves_room_in_the_ht_window(repo: Path) -> None:
    separator = load(repo, model="tiny4")  # default shifts=1
    assert separator.plan.frames == 2 * SR - SR // 2
    assert load(repo, model="tiny4", shifts=1, segment=1.0).plan.frames == SR  # 1 s + 0.5 s fits in 2 s
    assert load(repo, model="tinyh4").plan.frames == 2 * SR  # no fixed window: nothing to shorten


def test_non_ht_models_do_not_pad_short_chunks(repo: Path) -> None:
    assert not load(repo, model="tinyh4").plan.pad_short
    assert not load(repo, model="tinyd4").plan.pad_short


def test_segment_longer_than_the_model_is_our_error(repo: Path) -> None:
    with pytest.raises(ModelError) as caught:
        load(repo, model="tiny4", segment=2.5)
    assert str(caught.value) == (
        "--segment 2.5 is longer than the 2 s Demucs model tiny4 was trained on. "
        "pass --segment 2 or less, or leave it out."
    )
    assert caught.value.exit_code == ExitStatus.FAILURE
    with pytest.raises(ModelError, match="longer than the 2 s"):
        load(repo, model="tinybag", segment=3)
    assert load(repo, model="tiny4", shifts=0, segment=1.5).plan.frames == int(SR * 1.5)
    assert load(repo, model="tinyh4", segment=3.0).plan.frames == 3 * SR  # non-HT models take any length


def test_bag_models_must_share_a_segment(repo: Path, tmp_path: Path) -> None:
    shutil.copyfile(repo / "tiny4.th", tmp_path / "tiny4.th")
    save_model(tiny_hdemucs(STEMS_4), tmp_path / "h3.th")
    state = torch.load(tmp_path / "h3.th", weights_only=False)
    state["kwargs"]["segment"] = 3
    torch.save(state, tmp_path / "h3.th")
    write_bag(tmp_path / "odd.yaml", ["tiny4", "h3"])
    with pytest.raises(ModelError, match=r"use different segments \(2, 3 s\)"):
        load(tmp_path, model="odd")
    assert load(tmp_path, model="odd", segment=1.0, shifts=0).plan.frames == SR
    write_bag(tmp_path / "clash.yaml", ["tiny4", "tiny6"])
    shutil.copyfile(repo / "tiny6.th", tmp_path / "tiny6.th")
    with pytest.raises(ModelError, match="do not fit together"):
        load(tmp_path, model="clash")


def test_unknown_model_through_load(repo: Path) -> None:
    with pytest.raises(ModelError, match="no Demucs model 'htdemucs' in this repo"):
        load(repo, model="htdemucs")


def test_offline_published_model_through_load() -> None:
    with pytest.raises(ModelError, match="not on this machine"):
        ap_separators()[0].load({"model": "htdemucs_ft"}, "cpu")


def test_published_name_loads_from_the_torch_hub_cache(repo: Path, mix: np.ndarray) -> None:
    target = torch_hub_checkpoints() / remote_files()["955717e8"]
    target.parent.mkdir(parents=True)
    shutil.copyfile(repo / "tiny4.th", target)
    cached = ap_separators()[0].load({"model": "htdemucs", "shifts": 0}, "auto")
    local = load(repo, model="tiny4", shifts=0)
    chunk = mix[:, : cached.plan.frames]
    ours, theirs = cached.separate(chunk), local.separate(chunk)
    for stem in local.stems:
        np.testing.assert_array_equal(ours[stem], theirs[stem])


def test_published_name_loads_from_the_hugging_face_cache(repo: Path, mix: np.ndarray, offline_caches: Path) -> None:
    from test_demucs_models import put_in_hf_cache

    put_in_hf_cache(offline_caches, "htdemucs_6s", "5c90dfd2", tiny_htdemucs(STEMS_6, seed=2))
    cached = ap_separators()[0].load({"model": "htdemucs_6s", "shifts": 0}, "cpu")
    local = load(repo, model="tiny6", shifts=0)  # the same seeded weights, saved as .th
    assert cached.stems == tuple(STEMS_6)
    chunk = mix[:, : cached.plan.frames]
    ours, theirs = cached.separate(chunk), local.separate(chunk)
    for stem in local.stems:
        np.testing.assert_array_equal(ours[stem], theirs[stem])


def test_quantized_models_need_diffq(repo: Path, tmp_path: Path) -> None:
    package = torch.load(repo / "tiny4.th", weights_only=False)
    package["state"] = {"__quantized": True, "quantized": b""}
    torch.save(package, tmp_path / "q.th")
    with pytest.raises(ModelError, match="needs diffq") as caught:
        load(tmp_path, model="q")
    assert "pip install diffq" in str(caught.value)
    files = remote_files()
    checkpoints = torch_hub_checkpoints()
    checkpoints.mkdir(parents=True)
    for sig in ("6b9c2ca1", "b72baf4e", "42e558d4", "305bc58f"):  # mdx_q's models, as if downloaded
        shutil.copyfile(repo / "tiny4.th", checkpoints / files[sig])
    with pytest.raises(ModelError, match="mdx_q is quantized and needs diffq"):
        ap_separators()[0].load({"model": "mdx_q"}, "cpu")


def test_damaged_weights_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.th").write_bytes(b"not a torch file")
    with pytest.raises(ModelError) as caught:
        load(tmp_path, model="bad")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'bad.th'}: cannot load Demucs weights (")
    assert "\n" not in message and "download it again" in message


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"shifts": -1}, "--shifts must be >= 0"),
        ({"overlap": 1.0}, r"--overlap must be in \[0, 1\)"),
        ({"segment": 0}, "--segment must be > 0"),
        ({"threads": 0}, "--threads must be >= 1"),
        ({"model": " "}, "--model is empty"),
    ],
)
def test_bad_options_are_usage_errors(options: dict[str, Any], match: str) -> None:
    with pytest.raises(UsageError, match=match) as caught:
        resolve_options(options)
    assert caught.value.exit_code == ExitStatus.USAGE


def test_options_default_when_unset() -> None:
    opts = resolve_options({"model": None, "repo": "~/models", "segment": "1.5", "threads": "2", "overlap": 0})
    assert (opts.model, opts.shifts, opts.overlap, opts.segment, opts.threads) == ("htdemucs", 1, 0.0, 1.5, 2)
    assert opts.repo == Path("~/models").expanduser() and opts.two_stems is None


def test_overlap_that_leaves_no_hop(repo: Path) -> None:
    with pytest.raises(UsageError, match="leaves no chunk to run"):
        load(repo, model="tiny4", shifts=0, overlap=0.99999999)


def test_devices() -> None:
    assert resolve_device("auto") in {"cpu", "cuda", "mps"}
    assert resolve_device(None) == resolve_device("auto")
    assert resolve_device("CPU") == "cpu"
    with pytest.raises(UsageError, match="unknown device 'gpu0'"):
        resolve_device("gpu0")
    with pytest.raises(UsageError, match="not supported by ap-demucs"):
        resolve_device("meta")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="torch sees no CUDA GPU"):
            resolve_device("cuda:0")
    if not torch.backends.mps.is_available():
        with pytest.raises(UsageError, match="not available on this machine"):
            resolve_device("mps")


# --------------------------------------------------------------------------- separating chunks


def test_two_stems(repo: Path, mix: np.ndarray) -> None:
    full = load(repo, model="tiny4", shifts=0)
    pair = load(repo, model="tiny4", shifts=0, two_stems="vocals")
    assert pair.stems == ("vocals", "no_vocals")
    for separator in (full, pair):
        separator.set_stats(0.01, 0.2)
    chunk = mix[:, : full.plan.frames]
    four, two = full.separate(chunk), pair.separate(chunk)
    assert set(two) == {"vocals", "no_vocals"}
    np.testing.assert_array_equal(two["vocals"], four["vocals"])
    np.testing.assert_allclose(two["no_vocals"], four["drums"] + four["bass"] + four["other"], atol=1e-6)
    with pytest.raises(ModelError) as caught:
        load(repo, model="tiny6", two_stems="flute")
    assert "its stems are drums, bass, other, vocals, guitar, piano" in str(caught.value)


def test_chunk_without_stats_uses_its_own(repo: Path, mix: np.ndarray) -> None:
    separator = load(repo, model="tiny4", shifts=0)
    chunk = mix[:, : separator.plan.frames]
    alone = separator.separate(chunk)
    mono = chunk.astype(np.float64).mean(axis=0)
    separator.set_stats(float(mono.mean()), float(mono.std(ddof=1)))
    told = separator.separate(chunk)
    for stem in separator.stems:
        np.testing.assert_array_equal(alone[stem], told[stem])
        assert told[stem].dtype == np.float32 and told[stem].shape == chunk.shape


def test_short_and_long_chunks(repo: Path, mix: np.ndarray) -> None:
    separator = load(repo, model="tiny4", shifts=0)
    separator.set_stats(0.0, 0.2)
    short = separator.separate(mix[:, :1000])  # padded to the training length inside, trimmed back
    assert short["drums"].shape == (2, 1000)
    with pytest.raises(ModelError, match="longer than Demucs model tiny4 accepts"):
        separator.separate(mix[:, : 2 * SR + 1])
    with pytest.raises(ModelError, match=r"takes \(2, frames\) audio"):
        separator.separate(mix[:1])


def test_torch_failures_are_one_model_error(repo: Path, mix: np.ndarray) -> None:
    separator = load(repo, model="tiny4", shifts=0)
    separator.device = "meta"  # the model stays on the cpu: torch refuses to mix the two
    with pytest.raises(ModelError) as caught:
        separator.separate(mix[:, : separator.plan.frames])
    message = str(caught.value)
    assert message.startswith("Demucs model tiny4 failed on a 88200-frame chunk on meta (")
    assert "\n" not in message and message.endswith("try a shorter --segment, or --device cpu.")


def test_shift_trick_is_the_model_on_the_shifted_chunk(repo: Path, mix: np.ndarray) -> None:
    from demucs.apply import apply_model

    separator = load(repo, model="tiny4", shifts=1)
    separator.set_stats(0.02, 0.3)
    chunk = mix[:, : separator.plan.frames]
    ours = separator.separate(chunk)
    lead = int(np.random.default_rng([1, zlib.crc32(chunk.tobytes())]).integers(0, SR // 2 + 1))
    normalised = (torch.from_numpy(chunk) - 0.02) / (0.3 + 1e-8)
    padded = torch.nn.functional.pad(normalised, (lead, SR // 2 - lead))
    model: Any = separator.models[0]
    expected = apply_model(model, padded[None], shifts=0, split=False)[0]
    expected = expected[..., lead : lead + chunk.shape[1]] * (0.3 + 1e-8) + 0.02
    for k, stem in enumerate(separator.stems):
        np.testing.assert_allclose(ours[stem], expected[k].numpy(), atol=1e-5)
    again = separator.separate(chunk)
    assert all(np.array_equal(again[stem], ours[stem]) for stem in separator.stems)  # reproducible


def test_several_shifts_average(repo: Path, mix: np.ndarray) -> None:
    one = load(repo, model="tinyh4", shifts=0)
    three = load(repo, model="tinyh4", shifts=3)
    for separator in (one, three):
        separator.set_stats(0.0, 0.25)
    chunk = mix[:, :SR]
    plain, shifted = one.separate(chunk), three.separate(chunk)
    for stem in one.stems:
        assert shifted[stem].shape == chunk.shape and np.isfinite(shifted[stem]).all()
        assert not np.array_equal(plain[stem], shifted[stem])


def test_threads_sets_torch_threads_for_the_call(repo: Path, mix: np.ndarray) -> None:
    separator = load(repo, model="tiny4", shifts=0, threads=1)
    seen: list[int] = []
    separator.models[0].register_forward_pre_hook(lambda module, args: seen.append(torch.get_num_threads()))
    before = torch.get_num_threads()
    separator.separate(mix[:, : separator.plan.frames])
    assert seen == [1] and torch.get_num_threads() == before


# --------------------------------------------------------------------------- parity with demucs


@pytest.mark.parametrize(
    ("model", "segment"),
    [("tiny4", None), ("tiny4", 1.5), ("tiny6", None), ("tinybag", None), ("tinyh4", None)],
)
def test_engine_matches_demucs_api(repo: Path, mix: np.ndarray, model: str, segment: float | None) -> None:
    separator = load(repo, model=model, shifts=0, overlap=0.25, segment=segment)
    ours = engine_run(separator, mix)
    theirs = demucs_api(repo, model, mix, segment)
    assert set(ours) == set(theirs)
    for stem in ours:
        assert ours[stem].shape == mix.shape
        assert np.abs(ours[stem] - theirs[stem]).max() < 1e-4, stem


def test_time_domain_demucs_is_close(repo: Path, mix: np.ndarray) -> None:
    # demucs pads these models' chunks to their valid length with neighbouring audio; we pad with zeros.
    separator = load(repo, model="tinyd4", shifts=0)
    ours = engine_run(separator, mix)
    theirs = demucs_api(repo, "tinyd4", mix, None)
    for stem in ours:
        assert np.abs(ours[stem] - theirs[stem]).max() < 1e-3, stem


def test_stats_pass_normalises_like_demucs(repo: Path, mix: np.ndarray) -> None:
    separator = load(repo, model="tiny4", shifts=0)
    engine_run(separator, mix)
    ref = mix.mean(axis=0)
    assert separator.mean == pytest.approx(float(ref.mean()), abs=1e-7)
    assert separator.std == pytest.approx(float(torch.from_numpy(ref).std()), rel=1e-5)
    assert mono_stats([mix]) == pytest.approx((separator.mean, separator.std), rel=1e-9)


def test_load_separator_directly(repo: Path) -> None:
    separator = load_separator({"model": "tinyd4", "repo": repo})
    assert separator.device in {"cpu", "cuda", "mps"} and separator.weights is None
    assert load(repo, model="tinybag").weights == [[1.0, 0.0, 1.0, 0.5], [0.0, 1.0, 1.0, 0.5]]
    assert tiny_htdemucs().segment == 2
