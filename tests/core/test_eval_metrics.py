"""BSSEval v4 against museval itself (every window, to 0.01 dB), global SDR and SI-SDR, `evaluate()` and its
outputs, and bad input: mismatched files, silent references, --resample."""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import lfilter

from audio_playground.audio.demo import make_demo_stems
from audio_playground.errors import UsageError
from audio_playground.evaluation.bsseval import evaluate_sources
from audio_playground.evaluation.reader import BlockReader
from audio_playground.evaluation.report import evaluate, format_table, to_csv, to_json
from tests.conftest import write_wav

RATE = 44100


def museval_metrics() -> ModuleType:
    """museval.metrics, loaded from its file: `import museval` imports musdb -> stempeg, which refuses to load
    without ffmpeg binaries; the metrics module itself needs only numpy and scipy."""
    spec = importlib.util.find_spec("museval")
    assert spec is not None and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "metrics.py"
    module_spec = importlib.util.spec_from_file_location("museval_metrics", path)
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


def multitrack(
    seconds: float, rate: int = RATE, seed: int = 0, mono_bass: bool = False
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A 4-stem stereo song with known stems and an imperfect separation of it: (refs, estimates, names),
    arrays (source, frames, channel). Leakage between stems, a filtered stem, noise, a stem silent for a
    stretch (museval's NaN windows)."""
    stems = make_demo_stems(seconds, rate, seed)
    rng = np.random.default_rng(seed)
    frames = next(iter(stems.values())).shape[1]
    t = np.arange(frames) / rate
    lead = np.sin(2 * np.pi * 330 * t * (1 + 0.01 * np.sin(2 * np.pi * 0.5 * t))) * 0.2
    echo = np.sin(2 * np.pi * 495 * t) * 0.05
    vocals = np.stack([lead, 0.8 * lead + echo]) * (np.sin(2 * np.pi * 0.25 * t) > -0.3)
    refs = np.stack([stems["drums"], stems["bass"], stems["harmony"], vocals]).astype(np.float64)
    # Recordings have a noise floor (room, reverb tails): without one, the demo's pure tones make the
    # least-squares problem so ill-conditioned that any two implementations differ in the rounding noise.
    floor = lfilter([1.0], [1.0, -0.95], rng.standard_normal(refs.shape), axis=-1) * 0.003
    if mono_bass:  # the demo's bass is one signal on both channels: museval's G is then singular
        floor[1, 1] = floor[1, 0]
    refs += floor
    refs[3, :, int(rate * 1.9) : int(rate * 4.1)] = 0.0  # silent for a while
    est = refs + 0.15 * refs[[1, 2, 3, 0]] + 0.003 * rng.standard_normal(refs.shape)
    est[2] = lfilter([0.7, 0.2, 0.1], [1.0], est[2], axis=-1)
    est[3, :, int(rate * 1.9) : int(rate * 4.1)] = 0.0
    return refs.transpose(0, 2, 1), est.transpose(0, 2, 1), ["drums", "bass", "harmony", "vocals"]


def write_folder(folder: Path, audio: np.ndarray, names: list[str], rate: int, suffix: str = "") -> Path:
    for name, signal in zip(names, audio, strict=True):
        write_wav(folder / f"{name}{suffix}.wav", signal.T, rate, subtype="FLOAT")
    return folder


def read_folder(folder: Path, names: list[str], suffix: str = "") -> np.ndarray:
    return np.stack([sf.read(folder / f"{n}{suffix}.wav", dtype="float64", always_2d=True)[0] for n in names])


def test_bsseval_matches_museval_window_by_window(tmp_path: Path) -> None:
    refs, est, names = multitrack(6.0)
    write_folder(tmp_path / "refs", refs, names, RATE)
    write_folder(tmp_path / "est", est, names, RATE)
    r, e = read_folder(tmp_path / "refs", names), read_folder(tmp_path / "est", names)

    def opener() -> tuple[list[BlockReader], list[BlockReader]]:
        return (
            [BlockReader(tmp_path / "refs" / f"{n}.wav") for n in names],
            [BlockReader(tmp_path / "est" / f"{n}.wav") for n in names],
        )

    ours = evaluate_sources(opener, window=RATE, hop=RATE)
    expected = museval_metrics().bss_eval(
        r, e, window=RATE, hop=RATE, compute_permutation=False, framewise_filters=False, bsseval_sources_version=False
    )
    for index, metric in enumerate(("sdr", "isr", "sir", "sar")):
        mine = np.stack([s.windows[metric] for s in ours])
        theirs = expected[index]
        assert mine.shape == theirs.shape == (4, 6)
        assert np.array_equal(np.isnan(mine), np.isnan(theirs))
        assert np.isnan(mine).any()  # the silent stretch makes museval skip windows
        assert np.nanmax(np.abs(mine - theirs)) <= 0.01
        for k, score in enumerate(ours):
            assert score.median(metric) == pytest.approx(float(np.nanmedian(theirs[k])), abs=0.01)
    # global SDR (MDX) and SI-SDR over the whole track, all channels as one signal
    for k, score in enumerate(ours):
        s, shat = r[k], e[k]
        delta = 1e-7
        gsdr = 10 * np.log10((np.sum(s**2) + delta) / (np.sum((s - shat) ** 2) + delta))
        alpha = np.sum(s * shat) / np.sum(s**2)
        si = 10 * np.log10(np.sum((alpha * s) ** 2) / np.sum((shat - alpha * s) ** 2))
        assert score.global_sdr == pytest.approx(gsdr, abs=1e-6)
        assert score.si_sdr == pytest.approx(si, abs=1e-6)


def test_overlapping_windows_and_a_short_track_match_museval(tmp_path: Path) -> None:
    rate = 8000
    refs, est, names = multitrack(3.3, rate, seed=1)
    refs, est, names = refs[:2, :, :1], est[:2, :, :1], names[:2]  # two mono stems
    write_folder(tmp_path / "refs", refs, names, rate)
    write_folder(tmp_path / "est", est, names, rate)
    r, e = read_folder(tmp_path / "refs", names), read_folder(tmp_path / "est", names)
    metrics = museval_metrics()

    def opener() -> tuple[list[BlockReader], list[BlockReader]]:
        return (
            [BlockReader(tmp_path / "refs" / f"{n}.wav") for n in names],
            [BlockReader(tmp_path / "est" / f"{n}.wav") for n in names],
        )

    for window, hop in ((rate, rate // 2), (10 * rate, 10 * rate)):
        ours = evaluate_sources(opener, window=window, hop=hop, taps=64)
        expected = metrics.bss_eval(r, e, window=window, hop=hop, compute_permutation=False, filters_len=64)
        mine = np.stack([s.windows["sdr"] for s in ours])
        assert mine.shape == expected[0].shape
        assert np.nanmax(np.abs(mine - expected[0])) <= 0.01


def test_mono_stem_stored_as_stereo_matches_museval_least_squares(tmp_path: Path) -> None:
    """Identical channels make G singular: museval falls back to lstsq; leaving the copy out gives the same
    projections (and numbers) with a regular solve."""
    rate = 8000
    refs, est, names = multitrack(3.0, rate, seed=2, mono_bass=True)
    refs, est, names = refs[:3], est[:3], names[:3]
    assert np.array_equal(refs[1, :, 0], refs[1, :, 1])
    write_folder(tmp_path / "refs", refs, names, rate)
    write_folder(tmp_path / "est", est, names, rate)
    r, e = read_folder(tmp_path / "refs", names), read_folder(tmp_path / "est", names)

    def opener() -> tuple[list[BlockReader], list[BlockReader]]:
        return (
            [BlockReader(tmp_path / "refs" / f"{n}.wav") for n in names],
            [BlockReader(tmp_path / "est" / f"{n}.wav") for n in names],
        )

    ours = evaluate_sources(opener, window=rate, hop=rate, taps=32)
    expected = museval_metrics().bss_eval(r, e, window=rate, hop=rate, compute_permutation=False, filters_len=32)
    for index, metric in enumerate(("sdr", "isr", "sir", "sar")):
        mine = np.stack([s.windows[metric] for s in ours])
        assert np.nanmax(np.abs(mine - expected[index])) <= 0.01


def small(seconds: float, rate: int = 8000) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Two mono stems of the multitrack: the evaluate() tests need real files, not large solves."""
    refs, est, names = multitrack(seconds, rate)
    return refs[[0, 1, 3], :, :1], est[[0, 1, 3], :, :1], [names[0], names[1], names[3]]


def test_evaluate_folders_table_json_csv(tmp_path: Path) -> None:
    rate = 8000
    refs, est, names = small(3.0)
    for track in ("a", "b"):
        write_folder(tmp_path / "refs" / track, refs, names, rate)
        write_wav(tmp_path / "refs" / track / "mixture.wav", refs.sum(axis=0).T, rate, subtype="FLOAT")
        write_folder(tmp_path / "est" / track, est if track == "a" else refs * 0.5, names, rate, suffix="-demucs")
    report = evaluate(tmp_path / "est", tmp_path / "refs")
    data = json.loads(to_json(report))
    assert [t["name"] for t in data["tracks"]] == ["a", "b"]
    scores = data["tracks"][0]["stems"]["drums"]
    assert set(scores) == {"sdr", "sir", "isr", "sar", "global_sdr", "si_sdr"}
    assert all(isinstance(v, float) for v in scores.values())
    # a half-gain copy of the references: SI-SDR is unbounded (None), SDR is 20 log10(2) = 6.02 dB
    b = data["tracks"][1]["stems"]["bass"]
    assert b["si_sdr"] is None and b["global_sdr"] == pytest.approx(6.0206, abs=1e-3)
    assert data["median"]["drums"]["sdr"] == pytest.approx(
        float(np.median([data["tracks"][0]["stems"]["drums"]["sdr"], data["tracks"][1]["stems"]["drums"]["sdr"]]))
    )
    checks = {(c["stem"], c["name"]): c for c in data["tracks"][0]["checks"]}
    assert (None, "sum_error_db") in checks  # the references' mixture is used for the estimates' checks
    table = format_table(report)
    assert "median over 2 tracks" in table and "SI-SDR" in table and "n/a" in table
    rows = to_csv(report).splitlines()
    assert rows[0] == "track,stem,name,value,ok,message"
    assert any(row.startswith("(median),drums,sdr,") for row in rows)
    assert report.failures({"drums": 1000.0}) and not report.failures({"drums": -1000.0})
    assert report.failures({"nope": 0.0}) == ["nope: no such stem (stems: bass, drums, vocals)"]
    assert report.failures({"bass": 1000.0}, metric="si_sdr") == [
        f"bass: median SI-SDR {report.median['bass']['si_sdr']:.2f} dB is below 1000 dB"
    ]


def test_silent_reference_is_na_never_nan(tmp_path: Path) -> None:
    rate = 8000
    refs, est, names = small(3.0)
    refs[2] = 0.0
    write_folder(tmp_path / "refs", refs, names, rate)
    write_folder(tmp_path / "est", est, names, rate)
    est2 = est.copy()
    est2[1] = 0.0
    write_folder(tmp_path / "est2", est2, names, rate)
    report = evaluate(tmp_path / "est", tmp_path / "refs", checks=False)
    vocals = report.tracks[0].stems["vocals"]
    assert all(v is None for v in vocals.values())
    assert report.median["vocals"]["sdr"] is None and report.median["drums"]["sdr"] is not None
    text = to_json(report)  # allow_nan=False: would raise on NaN
    assert "NaN" not in text and "Infinity" not in text
    silent_est = evaluate(tmp_path / "est2", tmp_path / "refs", checks=False).tracks[0].stems["bass"]
    assert silent_est["sdr"] is None and silent_est["si_sdr"] is None and silent_est["global_sdr"] == pytest.approx(0)


def test_mismatches_name_both_files_and_resample_fixes_them(tmp_path: Path) -> None:
    rate = 8000
    refs, est, names = small(2.0)
    write_folder(tmp_path / "refs", refs, names, rate)
    write_folder(tmp_path / "short", est[:, :-10], names, rate)
    with pytest.raises(UsageError, match="does not match the reference") as info:
        evaluate(tmp_path / "short", tmp_path / "refs")
    assert str(tmp_path / "short") in str(info.value) and str(tmp_path / "refs") in str(info.value)
    assert "--resample" in str(info.value) and info.value.exit_code == 2
    # a higher-rate mono estimate: converted to the references' rate, channels and length
    for name, signal in zip(names, est, strict=True):
        up = np.repeat(signal.mean(axis=1), 2)[: 2 * signal.shape[0] - 7]
        write_wav(tmp_path / "other" / f"{name}.wav", up[None, :], 2 * rate, subtype="FLOAT")
    with pytest.raises(UsageError, match="16000 Hz, 1 ch, 31993 frames"):
        evaluate(tmp_path / "other", tmp_path / "refs")
    report = evaluate(tmp_path / "other", tmp_path / "refs", resample=True, checks=False)
    assert report.median["drums"]["sdr"] is not None
    # the shorter estimate is padded with --resample
    assert evaluate(tmp_path / "short", tmp_path / "refs", resample=True).median["bass"]["sdr"] is not None


def test_unmatched_tracks_and_stems_are_listed(tmp_path: Path) -> None:
    rate = 8000
    refs, est, names = small(1.0)
    write_folder(tmp_path / "refs" / "a", refs, names, rate)
    write_folder(tmp_path / "refs" / "b", refs, names, rate)
    write_folder(tmp_path / "est" / "a", est[:2], names[:2], rate)
    write_folder(tmp_path / "est" / "c", est, names, rate)
    with pytest.raises(UsageError, match="estimated tracks without references: c; reference tracks without"):
        evaluate(tmp_path / "est", tmp_path / "refs")
    write_folder(tmp_path / "one", est, ["drums", "bass", "keys"], rate)
    with pytest.raises(UsageError, match="without a reference: keys; reference stems without an estimate: vocals"):
        evaluate(tmp_path / "one", tmp_path / "refs" / "a")
    write_wav(tmp_path / "odd" / "drums.wav", refs[0].T, rate)
    write_wav(tmp_path / "odd" / "bass.wav", refs[1].T[:, :1], rate // 2)
    with pytest.raises(UsageError, match=r"references .* differ"):
        evaluate(tmp_path / "odd", tmp_path / "odd")
    with pytest.raises(UsageError, match="window and hop"):
        evaluate(tmp_path / "one", window=0)
    assert math.isfinite(evaluate(tmp_path / "refs" / "a", tmp_path / "refs" / "a").median["bass"]["isr"] or 0.0)


def test_pure_tones_warn_that_sir_isr_sar_are_rounding_noise(tmp_path: Path) -> None:
    rate = 8000
    t = np.arange(2 * rate) / rate
    tones = np.stack([np.sin(2 * np.pi * 220 * t), 0.5 * np.sin(2 * np.pi * 330 * t)])[:, :, None] * 0.3
    est = tones + 0.1 * tones[::-1]
    write_folder(tmp_path / "refs", tones, ["a", "b"], rate)
    write_folder(tmp_path / "est", est, ["a", "b"], rate)
    report = evaluate(tmp_path / "est", tmp_path / "refs", checks=False)
    assert report.tracks[0].warnings and "nearly linearly dependent" in report.tracks[0].warnings[0]
    assert "warning:" in format_table(report)
    refs, noisy, names = small(2.0)
    write_folder(tmp_path / "refs2", refs, names, rate)
    write_folder(tmp_path / "est2", noisy, names, rate)
    assert evaluate(tmp_path / "est2", tmp_path / "refs2", checks=False).tracks[0].warnings == []


def test_edges_lengths_found_while_streaming_lossy_references_and_identical_stems(tmp_path: Path) -> None:
    from audio_playground import evaluation
    from audio_playground.errors import InputError, OutputError
    from audio_playground.evaluation.report import write_text_atomic
    from tests.core.media import write_lossy

    rate = 8000
    refs, est, names = small(2.0)
    write_folder(tmp_path / "refs", refs, names, rate)
    write_folder(tmp_path / "short", est[:, :-10], names, rate)

    def opener() -> tuple[list[BlockReader], list[BlockReader]]:
        return (
            [BlockReader(tmp_path / "refs" / f"{n}.wav") for n in names],
            [BlockReader(tmp_path / "short" / f"{n}.wav") for n in names],
        )

    with pytest.raises(UsageError, match=r"has 15990 frames but .* has 16000"):
        evaluate_sources(opener, window=rate, hop=rate)
    # a lossy reference: its length is only known once decoded (--resample reads it)
    for name, signal in zip(names, refs, strict=True):
        write_lossy(tmp_path / "mp3" / f"{name}.mp3", signal.T.astype(np.float32), rate)
    report = evaluate(tmp_path / "short", tmp_path / "mp3", resample=True, checks=False)
    assert report.median["drums"]["global_sdr"] is not None
    # two identical references: G is exactly singular (museval's lstsq fallback); the track is flagged
    twins = refs[[0, 0]]
    write_folder(tmp_path / "twins", twins, ["a", "b"], rate)
    write_folder(tmp_path / "twin-est", est[[0, 1]], ["a", "b"], rate)

    def twin_opener() -> tuple[list[BlockReader], list[BlockReader]]:
        return (
            [BlockReader(tmp_path / "twins" / f"{n}.wav") for n in "ab"],
            [BlockReader(tmp_path / "twin-est" / f"{n}.wav") for n in "ab"],
        )

    flagged = evaluate_sources(twin_opener, window=rate, hop=rate, taps=32)
    assert flagged[0].ill_conditioned and flagged[0].median("sdr") is not None
    # a silent reference's stem is n/a: --fail-under on it fails
    silent = refs.copy()
    silent[1] = 0.0
    write_folder(tmp_path / "silent", silent, names, rate)
    na = evaluate(tmp_path / "short", tmp_path / "silent", resample=True, checks=False)
    assert na.failures({"bass": 0.0}) == ["bass: median SDR is n/a, below 0 dB"]
    # not audio, as a reference; writing beside a file; unknown attributes
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "drums.wav").write_text("not audio")
    (tmp_path / "junk-est").mkdir()
    write_wav(tmp_path / "junk-est" / "drums.wav", est[0].T, rate)
    with pytest.raises(InputError, match="not an audio file"):
        evaluate(tmp_path / "junk-est", tmp_path / "junk")
    with pytest.raises(OutputError, match="cannot write"):
        write_text_atomic(tmp_path / "junk" / "drums.wav" / "x.json", "{}")
    (tmp_path / "a-dir.json").mkdir()
    with pytest.raises(OutputError, match="cannot write"):
        write_text_atomic(tmp_path / "a-dir.json", "{}")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".a-dir.json")]
    with pytest.raises(AttributeError):
        _ = evaluation.nothing_here
