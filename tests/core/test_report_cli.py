"""`ap report`, and `--report` of `extract NAME` and `run` (the page after a run)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import write_wav


def page_data(path: Path) -> dict:
    match = re.search(r'<script type="application/json" id="ap-data">(.*?)</script>', path.read_text(), re.S)
    assert match
    return json.loads(match.group(1))


def song(path: Path, seconds: float = 1.0, rate: int = 22050, seed: int = 0) -> Path:
    from audio_playground.audio.demo import make_demo_mix

    return write_wav(path, make_demo_mix(seconds, rate, seed=seed), rate)


def test_ap_report_writes_the_page(ap: Callable, tmp_path: Path) -> None:
    folder = tmp_path / "stems"
    for stem, freq in (("bass", 80), ("vocals", 440)):
        t = np.arange(8000) / 8000
        write_wav(folder / f"{stem}.wav", np.tile(0.2 * np.sin(2 * np.pi * freq * t), (2, 1)), 8000)
    result = ap("report", folder)
    assert result.code == 0, result.err
    data = page_data(folder / "report.html")
    assert [s["name"] for s in data["tracks"][0]["stems"]] == ["bass", "vocals"]
    out = tmp_path / "elsewhere" / "page.html"
    assert ap("report", folder, "--output", out, "--embed").code == 0
    assert page_data(out)["embedded"] is True


def test_ap_report_says_what_is_wrong_in_one_line(ap: Callable, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = ap("report", tmp_path / "empty")
    assert result.code == 2 and len(result.err.strip().splitlines()) == 1 and "empty" in result.err
    assert not (tmp_path / "empty" / "report.html").exists()
    folder = tmp_path / "broken"
    write_wav(folder / "bass.wav", np.zeros((1, 800)), 8000)
    (folder / "vocals.wav").write_bytes(b"RIFF....WAVEfmt garbage")
    result = ap("report", folder)
    assert result.code == 0  # the page marks the track; the log says why, one line per problem
    assert "vocals.wav: cannot read" in result.err
    assert page_data(folder / "report.html")["tracks"][0]["problems"]


def test_extract_report_writes_the_page_beside_the_stems(ap: Callable, tmp_path: Path) -> None:
    source = song(tmp_path / "demo.wav")
    out = tmp_path / "stems"
    result = ap("extract", "hpss", source, "--output-dir", out, "--report", "--no-cache")
    assert result.code == 0, result.err
    data = page_data(out / "report.html")
    track = data["tracks"][0]
    assert track["name"] == "demo" and [s["name"] for s in track["stems"]] == ["harmonic", "percussive"]
    assert track["mix"]["src"] == "../demo.wav"
    assert track["settings"]["separator"] == "hpss" and track["settings"]["seconds"] > 0
    assert {c["name"] for c in track["checks"]} >= {"sum_error_db"}
    page = tmp_path / "pages" / "hpss.html"
    assert ap("extract", "hpss", source, "-o", out, f"--report={page}").code == 0
    assert page.exists()


def test_extract_report_refuses_a_value_that_is_no_page(ap: Callable, tmp_path: Path) -> None:
    source = song(tmp_path / "demo.wav")
    result = ap("extract", "hpss", "--report", source, "-o", tmp_path / "out")
    assert result.code == 2 and "--report" in result.err and ".html" in result.err
    assert not (tmp_path / "out").exists()


def test_extract_report_after_a_batch_covers_every_track(ap: Callable, tmp_path: Path) -> None:
    inputs = [song(tmp_path / f"song{i}.wav", seed=i) for i in range(2)]
    out = tmp_path / "stems"
    result = ap("extract", "hpss", *inputs, "-o", out, "--report", "--no-cache")
    assert result.code == 0, result.err
    data = page_data(out / "report.html")
    assert [t["name"] for t in data["tracks"]] == ["song0", "song1"]
    assert data["tracks"][0]["stems"][0]["src"] == "song0/harmonic-hpss.wav"
    settings = data["tracks"][1]["settings"]  # from the run manifest, over what the command knew
    assert settings["separator"] == "hpss" and settings["status"] == "done" and settings["worker"].startswith("local")
    assert settings["input"] == str(inputs[1].resolve())


def test_a_failed_input_still_gets_its_page(ap: Callable, tmp_path: Path) -> None:
    good = song(tmp_path / "good.wav")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF0000WAVE this is no audio")
    out = tmp_path / "stems"
    result = ap("extract", "hpss", good, bad, "-o", out, "--report", "--no-cache")
    assert result.code == 1
    assert [t["name"] for t in page_data(out / "report.html")["tracks"]] == ["good"]


def test_the_sam_audio_report_option_keeps_its_json_form() -> None:
    from audio_playground.cli.report import take_page

    kwargs = {"report": "run.json", "output_dir": Path("out")}
    assert take_page(kwargs, json_report=True) is None and kwargs["report"] == Path("run.json")
    kwargs = {"report": "", "output_dir": Path("out")}
    assert take_page(kwargs, json_report=True) == Path("out/report.html") and kwargs["report"] is None
    kwargs = {"report": "page.HTML", "output_dir": Path("out")}
    assert take_page(kwargs, json_report=True) == Path("page.HTML") and kwargs["report"] is None
    kwargs = {"report": None, "output_dir": Path("out")}
    assert take_page(kwargs, json_report=False) is None and "report" not in kwargs


WORKFLOW = """\
version: "1.0"
steps:
  - name: separate
    command: extract hpss
    args:
      inputs: [ "${input}" ]
      output-dir: {out}/${input.stem}
      no-cache: true
"""


@pytest.mark.parametrize("value", [None, "page.html"])
def test_run_report_covers_the_workflow_separations(ap: Callable, tmp_path: Path, value: str | None) -> None:
    inputs = [song(tmp_path / f"song{i}.wav", seed=i) for i in range(2)]
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(WORKFLOW.replace("{out}", str(tmp_path / "out")))
    args = ["--report"] if value is None else [f"--report={tmp_path / value}"]
    result = ap("run", "--config", workflow, *inputs, *args)
    assert result.code == 0, result.err
    page = tmp_path / "out" / "report.html" if value is None else tmp_path / value
    data = page_data(page)
    assert [t["name"] for t in data["tracks"]] == ["song0", "song1"]
    expected = "song1/harmonic-hpss.wav" if value is None else "out/song1/harmonic-hpss.wav"
    assert data["tracks"][1]["stems"][0]["src"] == expected


def test_run_report_without_a_separation(ap: Callable, tmp_path: Path) -> None:
    source = song(tmp_path / "a.wav")
    workflow = tmp_path / "wf.yaml"
    workflow.write_text(
        'version: "1.0"\nsteps:\n  - name: c\n    command: convert to-wav\n    args:\n'
        f"      src: ${{input}}\n      target: {tmp_path}/c.wav\n"
    )
    result = ap("run", "--config", workflow, source, "--report")
    assert result.code == 0 and "separated nothing" in result.err
    assert ap("run", "--config", workflow, "--report", source).code == 2


def test_the_page_after_a_run_that_returned_no_results(ap: Callable, tmp_path: Path) -> None:
    """A batch that keeps no results (a --manifest run) reports what its output folder holds."""
    from audio_playground.cli.report import report_results, run_with_page
    from audio_playground.errors import DecodeError, InputError

    out = tmp_path / "stems"
    assert ap("extract", "hpss", song(tmp_path / "a.wav"), "-o", out, "--no-cache").code == 0
    target = out / "report.html"
    with _app():
        assert run_with_page(lambda: {"done": 1}, target, out) == {"done": 1}
        assert page_data(target)["tracks"][0]["name"] == "stems"
        target.unlink()

        def failing() -> None:
            raise DecodeError("broken input")

        with pytest.raises(DecodeError):
            run_with_page(failing, target, out)
        assert target.exists()  # the page covers what the folder holds
        (tmp_path / "nothing").mkdir()
        with pytest.raises(DecodeError):
            run_with_page(failing, tmp_path / "nothing" / "r.html", tmp_path / "nothing")  # no page: a warning
        assert not (tmp_path / "nothing" / "r.html").exists()
        with pytest.raises(DecodeError):
            run_with_page(failing, target, tmp_path / "never-made")
        with pytest.raises(InputError, match="no stems"):
            report_results([{"done": 1}], target)


def _app():
    """A click context with the App, as a command has it."""
    from audio_playground.cli.app import build_cli

    group = build_cli()
    return group.make_context("ap", ["report", "x"], resilient_parsing=True)
