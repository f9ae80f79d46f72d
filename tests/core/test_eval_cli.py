"""`ap eval` end to end: the table, --json/--csv, --fail-under, checks only, bad input, and eval as a
workflow step after a real HPSS separation."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import numpy as np

import audio_playground
from tests.conftest import write_wav
from tests.core.test_eval_metrics import small, write_folder

RATE = 8000


def _folders(tmp_path: Path) -> tuple[Path, Path]:
    refs, est, names = small(2.0)
    write_folder(tmp_path / "refs" / "song", refs, names, RATE)
    write_wav(tmp_path / "refs" / "song" / "mixture.wav", refs.sum(axis=0).T, RATE, subtype="FLOAT")
    write_folder(tmp_path / "est" / "song", est, names, RATE, suffix="-demucs")
    return tmp_path / "est", tmp_path / "refs"


def test_eval_prints_the_table_and_writes_json_and_csv(ap, tmp_path: Path) -> None:
    est, refs = _folders(tmp_path)
    result = ap("eval", est, "--references", refs, "--json", tmp_path / "r.json", "--csv", tmp_path / "r.csv")
    assert result.code == 0, result.err
    assert "song" in result.out and "median over 1 track" in result.out and "SI-SDR" in result.out
    data = json.loads((tmp_path / "r.json").read_text())
    assert set(data["median"]) == {"drums", "bass", "vocals"}
    assert data["tracks"][0]["checks"]
    assert (tmp_path / "r.csv").read_text().startswith("track,stem,name,value,ok,message\n")
    assert audio_playground.evaluate(est, refs).to_dict()["median"] == data["median"]


def test_fail_under_exits_1_after_writing(ap, tmp_path: Path) -> None:
    est, refs = _folders(tmp_path)
    ok = ap("eval", est, "--references", refs, "--fail-under", "drums=-100", "--fail-under", "bass=-100")
    assert ok.code == 0, ok.err
    bad = ap("eval", est, "--references", refs, "--fail-under", "drums=100", "--json", tmp_path / "r.json")
    assert bad.code == 1
    [line] = [x for x in bad.err.splitlines() if x.startswith("error:")]
    assert "drums: median SDR" in line and "below 100 dB" in line
    assert (tmp_path / "r.json").exists()
    si = ap("eval", est, "--references", refs, "--fail-under", "vocals=100", "--metric", "si_sdr")
    assert si.code == 1 and "SI-SDR" in si.err
    assert ap("eval", est, "--references", refs, "--fail-under", "drums").code == 2
    assert ap("eval", est, "--references", refs, "--fail-under", "drums=loud").code == 2
    assert ap("eval", est, "--fail-under", "drums=1").code == 2


def test_checks_only_and_bad_input(ap, tmp_path: Path) -> None:
    est, _ = _folders(tmp_path)
    mix = tmp_path / "refs" / "song" / "mixture.wav"
    result = ap("eval", est / "song", "--mix", mix, "--no-checks")
    assert result.code == 0 and "SDR" not in result.out
    result = ap("eval", est / "song", "--mix", mix)
    assert result.code == 0, result.err
    assert "checks:" in result.out
    for args in (
        ("eval", tmp_path / "nope"),
        ("eval", mix),
        ("eval", tmp_path / "refs", "--references", tmp_path / "empty"),
    ):
        (tmp_path / "empty").mkdir(exist_ok=True)
        bad = ap(*args)
        assert bad.code == 2, (args, bad.err)
        assert len([x for x in bad.err.splitlines() if x.startswith("error:")]) == 1
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "vocals.wav").write_text("not audio")
    bad = ap("eval", tmp_path / "junk")
    assert bad.code == 2 and "vocals.wav: not an audio file" in bad.err
    mismatch = ap("eval", est / "song", "--references", tmp_path / "refs" / "song", "--window", "0.5", "--hop", "0.25")
    assert mismatch.code == 0, mismatch.err


def test_eval_as_a_workflow_step_after_hpss(ap, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    t = np.arange(2 * RATE) / RATE
    audio = np.stack([0.3 * np.sin(2 * np.pi * 220 * t), 0.2 * np.sin(2 * np.pi * 330 * t)])
    audio += 0.05 * rng.standard_normal(audio.shape)
    song = write_wav(tmp_path / "in" / "song.wav", audio.astype(np.float32), RATE)
    config = tmp_path / "wf.yaml"
    config.write_text(
        textwrap.dedent(
            """\
            version: "1.0"
            steps:
              - name: sep
                command: extract hpss
                args:
                  src: ${input}
                  output-dir: out/stems
              - name: check
                command: eval
                args:
                  estimates: ${steps.sep.outputs.output_dir}
                  mix: ${input}
                  json: out/eval.json
            """
        )
    )
    result = ap("run", "--config", config, song)
    assert result.code == 0, result.err
    data = json.loads(Path("out/eval.json").read_text())
    checks = {(c["stem"], c["name"]): c for c in data["tracks"][0]["checks"]}
    assert checks[(None, "sum_error_db")]["ok"] and checks[(None, "sum_error_db")]["value"] < -60
    assert {c["stem"] for c in data["tracks"][0]["checks"]} == {None, "harmonic", "percussive"}
