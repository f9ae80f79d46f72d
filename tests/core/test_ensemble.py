"""Ensembles: every algorithm against numpy/scipy on the members' own stems, streamed in blocks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import scipy.signal
import soundfile as sf

from audio_playground import ensemble
from audio_playground.errors import UsageError
from tests.conftest import Result, noise, write_wav

MEMBERS = ("--member", "hpss", "--member", "hpss", "--member-option", "hpss#2.margin=3")


def _members_stems(ap: Callable[..., Result], song: Path, tmp: Path) -> list[dict[str, np.ndarray]]:
    """Each member's stems as a plain `extract hpss` writes them (float, unclipped)."""
    stems = []
    for i, extra in enumerate(((), ("--margin", "3"))):
        out = tmp / f"member{i}"
        assert ap("extract", "hpss", song, "-o", out, "--bit-depth", "32f", "--clip", "none", *extra).code == 0
        stems.append({s: sf.read(out / f"{s}-hpss.wav", always_2d=True)[0].T for s in ("harmonic", "percussive")})
    return stems


def _stft(x: np.ndarray) -> np.ndarray:
    return scipy.signal.stft(x, nperseg=ensemble.N_FFT, noverlap=ensemble.N_FFT - ensemble.HOP, window="hann")[2]


def _expected(algorithm: str, members: list[np.ndarray], weights: tuple[float, ...]) -> np.ndarray:
    stack = np.stack(members)
    if algorithm == "avg_wave":
        return np.tensordot(np.asarray(weights), stack, axes=1) / sum(weights)
    if algorithm == "median_wave":
        return np.median(stack, axis=0)
    spectra = np.stack([_stft(m) for m in members])
    pick = np.abs(spectra).argmin(0) if algorithm == "min_mag" else np.abs(spectra).argmax(0)
    chosen = np.take_along_axis(spectra, pick[None], 0)[0]
    istft = scipy.signal.istft(chosen, nperseg=ensemble.N_FFT, noverlap=ensemble.N_FFT - ensemble.HOP, window="hann")
    return istft[1][:, : members[0].shape[1]]


@pytest.mark.parametrize("algorithm", ensemble.ALGORITHMS)
def test_every_algorithm_matches_numpy_on_the_members_stems(
    algorithm: str, ap: Callable[..., Result], stereo_wav: Path, tmp_path: Path
) -> None:
    members = _members_stems(ap, stereo_wav, tmp_path)
    weights = ("--weights", "3,1") if algorithm == "avg_wave" else ()
    out = tmp_path / "ens"
    args = ("--algorithm", algorithm, "--bit-depth", "32f", "--clip", "none", *weights)
    result = ap("extract", "ensemble", stereo_wav, "-o", out, *MEMBERS, *args)
    assert result.code == 0, result.err
    for stem in ("harmonic", "percussive"):
        got = sf.read(out / f"{stem}-ensemble.wav", always_2d=True)[0].T
        want = _expected(algorithm, [m[stem] for m in members], (3.0, 1.0) if weights else (1.0, 1.0))
        assert got.shape == want.shape
        assert np.abs(got - want).max() <= 1e-6


def test_streamed_blocks_equal_one_whole_block(tmp_path: Path) -> None:
    paths = [write_wav(tmp_path / f"{i}.wav", noise(2, 30_011, seed=i), 22050, "FLOAT") for i in range(3)]
    for algorithm in ensemble.ALGORITHMS:
        small = np.concatenate(list(ensemble.combine_stem(algorithm, paths, (1, 2, 1), block=ensemble.HOP * 3)), 1)
        whole = np.concatenate(list(ensemble.combine_stem(algorithm, paths, (1, 2, 1), block=10**6)), 1)
        assert small.shape == whole.shape == (2, 30_011)
        assert np.abs(small - whole).max() <= 1e-6


def test_several_inputs_get_a_folder_per_track(ap: Callable[..., Result], stereo_wav: Path, tmp_path: Path) -> None:
    second = write_wav(tmp_path / "in" / "other.wav", noise(2, 44100), 44100)
    result = ap("extract", "ensemble", stereo_wav, second, "-o", tmp_path / "out", *MEMBERS, "--format", "flac")
    assert result.code == 0, result.err
    assert sorted(p.relative_to(tmp_path / "out").as_posix() for p in (tmp_path / "out").rglob("*.flac")) == [
        "other/harmonic-ensemble.flac",
        "other/percussive-ensemble.flac",
        "song/harmonic-ensemble.flac",
        "song/percussive-ensemble.flac",
    ]


def test_a_failing_input_does_not_stop_the_others(ap: Callable[..., Result], stereo_wav: Path, tmp_path: Path) -> None:
    broken = tmp_path / "in" / "broken.wav"
    broken.write_bytes(b"not audio at all")
    result = ap("extract", "ensemble", broken, stereo_wav, "-o", tmp_path / "out", *MEMBERS)
    assert result.code == 1
    assert "broken.wav" in result.err
    assert (tmp_path / "out" / "song" / "harmonic-ensemble.wav").exists()
    assert not list((tmp_path / "out").glob("broken*"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--member", "hpss"), "two or more --member"),
        (("--member", "hpss", "--member", "nosuch"), "unknown ensemble member 'nosuch'"),
        (("--member", "hpss:big", "--member", "hpss"), "hpss takes no model"),
        (("--member", "hpss", "--member", "hpss", "--weights", "1"), "1 values for 2 members"),
        (("--member", "hpss", "--member", "hpss", "--weights", "1,x"), "bad --weights"),
        (("--member", "hpss", "--member", "hpss", "--weights", "-1,0"), "must be >= 0"),
        (("--member", "hpss", "--member", "hpss", "--member-option", "hpss.nope=1"), "has no option 'nope'"),
        (("--member", "hpss", "--member", "hpss", "--member-option", "margin=1"), "bad --member-option"),
        (("--member", "hpss", "--member", "hpss", "--member-option", "hpss.n_fft=big"), "hpss.n_fft='big'"),
        (("--member", ":x", "--member", "hpss"), "bad --member"),
        (("--member", "hpss", "--member", "hpss", "--filename", "{stem}.wav", "SECOND"), "needs {track}"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    args: tuple[str, ...], message: str, ap: Callable[..., Result], stereo_wav: Path, tmp_path: Path
) -> None:
    inputs = [stereo_wav, stereo_wav] if "SECOND" in args else [stereo_wav]
    result = ap("extract", "ensemble", *inputs, "-o", tmp_path / "out", *(a for a in args if a != "SECOND"))
    assert result.code == 2
    assert message in result.err
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*.wav"))


def test_members_with_no_common_stem_are_listed() -> None:
    with pytest.raises(UsageError, match=r"no stem in common \(hpss: harmonic, percussive; demucs: drums, bass\)"):
        ensemble.common_stems([("hpss", ["harmonic", "percussive"]), ("demucs", ["drums", "bass"])])
    assert ensemble.common_stems([("a", ["x", "y", "z"]), ("b", ["z", "x"])]) == ["x", "z"]


def test_members_parse_and_label() -> None:
    assert ensemble.parse_member("demucs:htdemucs_ft") == ensemble.Member("demucs", "htdemucs_ft")
    assert ensemble.parse_member("roformer:C:/models/bs.ckpt").model == "C:/models/bs.ckpt"
    labels = ensemble.member_labels([ensemble.Member("hpss"), ensemble.Member("demucs"), ensemble.Member("hpss")])
    assert labels == ["hpss#1", "demucs", "hpss#2"]
    assert ensemble.parse_weights(None, 3) == (1.0, 1.0, 1.0)


def test_api_refuses_bad_algorithm_and_single_member(stereo_wav: Path, tmp_path: Path) -> None:
    from audio_playground import api

    loaded = api.load("hpss", lazy=True)
    member = ensemble.Member("hpss")
    with pytest.raises(UsageError, match="unknown --algorithm"):
        ensemble.ensemble_file([(member, loaded)] * 2, stereo_wav, tmp_path, algorithm="mean")
    with pytest.raises(UsageError, match="two or more"):
        ensemble.ensemble_file([(member, loaded)], stereo_wav, tmp_path)
    with pytest.raises(UsageError, match="unknown --algorithm"):
        ensemble.combine_waves("min_mag", [np.zeros((1, 4))], (1.0,))


def test_help_lists_ensemble(ap: Callable[..., Result]) -> None:
    assert "ensemble" in ap("extract", "--help").out
    help_text = ap("extract", "ensemble", "--help").out
    for option in ("--member", "--algorithm", "--weights", "--member-option", "--format"):
        assert option in help_text


def test_ensemble_is_a_workflow_step(ap: Callable[..., Result], stereo_wav: Path, tmp_path: Path) -> None:
    workflow = tmp_path / "ensemble.yaml"
    workflow.write_text(
        "version: '1.0'\n"
        "steps:\n"
        "  - name: ensemble\n"
        "    command: extract ensemble\n"
        "    args:\n"
        "      inputs: ${input}\n"
        "      output-dir: out/${input.stem}\n"
        "      member: [hpss, hpss]\n"
        "      member-option: ['hpss#2.margin=3']\n"
        "      algorithm: median_wave\n"
        "  - name: merge\n"
        "    command: merge concat\n"
        "    args:\n"
        "      input-dir: ${steps.ensemble.outputs.output_dir}\n"
        "      pattern: harmonic-*.wav\n"
        "      target: out/${input.stem}/harmonic-copy.wav\n"
    )
    result = ap("run", "--config", workflow, stereo_wav)
    assert result.code == 0, result.err
    assert sf.info("out/song/harmonic-ensemble.wav").frames == sf.info(stereo_wav).frames
    assert Path("out/song/harmonic-copy.wav").exists()


def test_a_killed_runs_scratch_folder_is_removed_by_the_next_run(
    ap: Callable[..., Result], stereo_wav: Path, tmp_path: Path
) -> None:
    import subprocess
    import sys

    from audio_playground.audio.tempfiles import _host

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    out = tmp_path / "out"
    stale = out / f".song.ensemble.partial-{_host()}-{int(dead.stdout)}-0badf00d"
    (stale / "0").mkdir(parents=True)
    (stale / "0" / "harmonic.wav").write_bytes(b"left by a killed run")
    assert ap("extract", "ensemble", stereo_wav, "-o", out, *MEMBERS).code == 0
    assert sorted(p.name for p in out.iterdir()) == ["harmonic-ensemble.wav", "percussive-ensemble.wav"]


def test_a_batch_runs_on_worker_processes_with_a_run_manifest(
    ap: Callable[..., Result], stereo_wav: Path, tmp_path: Path
) -> None:
    import json

    second = write_wav(tmp_path / "in" / "other.wav", noise(2, 44100, seed=3), 44100)
    one = ap("extract", "ensemble", stereo_wav, second, "-o", tmp_path / "seq", *MEMBERS, "--algorithm", "min_mag")
    two = ap(
        "extract", "ensemble", tmp_path / "in", "-o", tmp_path / "par", *MEMBERS, "--algorithm", "min_mag", "-j", "2"
    )
    assert one.code == two.code == 0, two.err
    for track in ("song", "other"):
        for stem in ("harmonic", "percussive"):
            name = f"{track}/{stem}-ensemble.wav"
            assert (tmp_path / "seq" / name).read_bytes() == (tmp_path / "par" / name).read_bytes()
    records = [json.loads(line) for line in (tmp_path / "par" / "run-manifest.jsonl").read_text().splitlines()]
    assert sorted(r["track"] for r in records) == ["other", "song"]
    assert {r["status"] for r in records} == {"done"}
    assert all(r["separator"] == "ensemble" and r["backend"] == "numpy+numpy" for r in records)
    assert records[0]["options"]["algorithm"] == "min_mag"
    assert [m["options"]["margin"] for m in records[0]["options"]["members"]] == [1.0, 3.0]


def test_report_writes_the_review_page(ap: Callable[..., Result], stereo_wav: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = ap("extract", "ensemble", stereo_wav, "-o", out, *MEMBERS, "--report")
    assert result.code == 0, result.err
    page = (out / "report.html").read_text()
    assert "harmonic-ensemble.wav" in page and "percussive-ensemble.wav" in page
