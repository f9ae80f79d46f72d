"""`ap report`: peaks, spectrograms, manifest reading, escaping, bad input, atomic writes (the Python side)."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import numpy as np
import pytest

from audio_playground.evaluation import Track
from audio_playground.report import analysis, build_report
from audio_playground.report.images import palette, spectrogram_image
from audio_playground.report.manifest import json_safe, read_manifest, settings_for
from audio_playground.report.page import render, script_json, write_page
from tests.conftest import write_wav

XSS = "<img src=x onerror=alert(1)>"


def page_data(html: str) -> dict:
    """The JSON block of a written page."""
    match = re.search(r'<script type="application/json" id="ap-data">(.*?)</script>', html, re.S)
    assert match
    return json.loads(match.group(1))


def sine(seconds: float, rate: int, freq: float, amp: float, channels: int = 2) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return np.tile(amp * np.sin(2 * np.pi * freq * t), (channels, 1)).astype(np.float32)


def stems_folder(root: Path, tracks: int = 2, seconds: float = 1.0, rate: int = 22050) -> Path:
    """{track}/{stem}.wav for a few tracks (three stems and a mixture each)."""
    for t in range(tracks):
        parts = {"bass": sine(seconds, rate, 80, 0.3), "drums": sine(seconds, rate, 2000, 0.2)}
        parts["vocals"] = sine(seconds, rate, 440, 0.1)
        for stem, audio in parts.items():
            write_wav(root / f"song{t}" / f"{stem}.wav", audio, rate)
        write_wav(root / f"song{t}" / "mixture.wav", sum(parts.values()), rate)
    return root


# ----------------------------------------------------------------------------------------- analysis


def test_analyse_measures_level_length_and_peaks(tmp_path: Path) -> None:
    rate = 22050
    audio = np.concatenate([np.zeros((2, rate)), sine(1.0, rate, 1000, 0.5)], axis=1)
    measured = analysis.analyse(write_wav(tmp_path / "a.wav", audio, rate, subtype="FLOAT"))
    assert (measured.sample_rate, measured.channels, measured.frames) == (rate, 2, 2 * rate)
    assert measured.duration == pytest.approx(2.0)
    assert measured.peak == pytest.approx(0.5, abs=1e-3)
    assert measured.rms == pytest.approx(0.5 / np.sqrt(2) / np.sqrt(2), rel=1e-3)  # half the file is silent
    assert measured.peak_db == pytest.approx(-6.02, abs=0.01)
    peaks = np.frombuffer(measured.peaks, dtype=np.uint8)
    assert peaks.shape == (analysis.PEAK_BUCKETS,)
    assert peaks[: analysis.PEAK_BUCKETS // 2 - 1].max() == 0
    assert peaks[analysis.PEAK_BUCKETS // 2 + 1 :].min() >= 126  # 0.5 of full scale


def test_the_spectrogram_puts_a_tone_in_its_row(tmp_path: Path) -> None:
    rate = 22050
    for freq in (200.0, 3000.0):
        levels = analysis.analyse(write_wav(tmp_path / f"{freq}.wav", sine(1.0, rate, freq, 0.5), rate)).spectrogram
        assert levels.shape == (analysis.SPEC_ROWS, analysis.SPEC_COLUMNS)
        assert levels.min() >= 0.0 and levels.max() <= 1.0
        row = int(np.argmax(levels.mean(axis=1)))
        # rows run from Nyquist (top, row 0) down to 30 Hz, log-spaced
        expected = analysis.SPEC_ROWS - 1 - np.log(freq / 30) / np.log(rate / 2 / 30) * analysis.SPEC_ROWS
        assert abs(row - expected) <= 3
        assert levels.mean(axis=1)[row] > 0.8  # a -6 dBFS tone on a 90 dB scale


def test_streaming_in_small_blocks_gives_the_same_picture(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rate = 8000
    rng = np.random.default_rng(1)
    audio = (rng.standard_normal((1, 3 * rate)) * np.linspace(0, 0.5, 3 * rate)).astype(np.float32)
    path = write_wav(tmp_path / "n.wav", audio, rate, subtype="FLOAT")
    whole = analysis.analyse(path)
    monkeypatch.setattr(analysis, "BLOCK_FRAMES", 1000)
    blocks = analysis.analyse(path)
    assert blocks.peaks == whole.peaks
    np.testing.assert_allclose(blocks.spectrogram, whole.spectrogram, atol=1e-5)
    assert blocks.rms == pytest.approx(whole.rms, rel=1e-5)


def test_a_file_shorter_than_one_fft_frame(tmp_path: Path) -> None:
    measured = analysis.analyse(write_wav(tmp_path / "s.wav", sine(0.01, 8000, 440, 0.5, channels=1), 8000))
    assert measured.frames == 80
    assert measured.spectrogram.max() > 0.1  # zero-padded into one window: dim, but there
    assert np.frombuffer(measured.peaks, dtype=np.uint8).max() > 100


def test_silence_has_no_level(tmp_path: Path) -> None:
    measured = analysis.analyse(write_wav(tmp_path / "z.wav", np.zeros((2, 4000), dtype=np.float32), 8000))
    assert measured.peak_db is None and measured.rms_db is None
    assert measured.spectrogram.max() == 0.0


def test_the_spectrogram_image_is_a_small_webp(tmp_path: Path) -> None:
    from PIL import Image

    levels = np.tile(np.linspace(0, 1, analysis.SPEC_COLUMNS, dtype=np.float32), (analysis.SPEC_ROWS, 1))
    data = spectrogram_image(levels)
    assert data[:4] == b"RIFF" and data[8:12] == b"WEBP"
    image = Image.open(io.BytesIO(data))
    assert image.size == (analysis.SPEC_COLUMNS, analysis.SPEC_ROWS)
    # the colour ramp gets lighter all the way: the image reads without colour
    colours = palette().astype(float)
    luma = colours @ np.array([0.299, 0.587, 0.114])
    assert np.all(np.diff(luma) >= 0) and luma[0] < 10 and luma[-1] > 230


# ----------------------------------------------------------------------------------------- manifest


def test_read_manifest_keeps_the_last_record_and_skips_bad_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps({"input": "/in/a.wav", "track": "a", "status": "failed"}),
        '{"input": "/in/b.wav", "status": "do',  # a line cut short by a crash
        "not json",
        json.dumps(["a list"]),
        json.dumps({"no": "input"}),
        json.dumps({"input": "/in/a.wav", "track": "a", "status": "done", "separator": "demucs"}),
    ]
    (tmp_path / "run-manifest.jsonl").write_text("\n".join(lines) + "\n")
    records = read_manifest(tmp_path)
    assert list(records) == ["/in/a.wav"] and records["/in/a.wav"]["status"] == "done"
    assert read_manifest(tmp_path / "missing") == {}


def test_settings_match_by_outputs_then_by_track_name(tmp_path: Path) -> None:
    stem = tmp_path / "x" / "vocals.wav"
    records = {
        "/in/x.wav": {
            "input": "/in/x.wav",
            "track": "other-name",
            "outputs": {"vocals": str(stem)},
            "separator": "demucs",
            "model": "htdemucs",
            "options": {"shifts": 1, "repo": Path("/models")},
            "seconds": 1.5,
            "error": None,
        },
        "/in/y.wav": {"input": "/in/y.wav", "track": "y", "separator": "hpss"},
    }
    found = settings_for(records, "x", {"vocals": stem})
    assert found["separator"] == "demucs" and found["model"] == "htdemucs" and "error" not in found
    assert found["options"] == {"shifts": 1, "repo": "/models"} and found["input"] == "/in/x.wav"
    assert settings_for(records, "y", {"a": tmp_path / "nowhere.wav"})["separator"] == "hpss"
    assert settings_for(records, "z", {}) == {}


def test_json_safe() -> None:
    assert json_safe({"a": (1, 2.5), "b": {Path("p")}, "c": float("nan"), "d": None, "e": True}) == {
        "a": [1, 2.5],
        "b": ["p"],
        "c": "nan",
        "d": None,
        "e": True,
    }


# ----------------------------------------------------------------------------------------- page


def test_script_json_cannot_close_the_script_or_open_html() -> None:
    text = script_json({"name": "</script><!-- \u2028 & " + XSS})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text)["name"] == "</script><!-- \u2028 & " + XSS
    assert script_json({"a": "plain"}) == '{"a":"plain"}'


def test_the_page_inlines_its_assets_and_holds_no_raw_names(tmp_path: Path) -> None:
    html = render({"title": XSS, "tracks": []})
    assert "/*__CSS__*/" not in html and "/*__JS__*/" not in html and "__DATA__" not in html
    assert XSS not in html
    assert "<script src" not in html and '<link rel="stylesheet"' not in html
    assert "http://" not in html and "https://" not in html  # nothing to fetch from anywhere


def test_names_from_disk_travel_only_as_json(tmp_path: Path) -> None:
    rate = 8000
    folder = tmp_path / "out"
    write_wav(folder / XSS / f"{XSS}.wav", sine(0.5, rate, 440, 0.2), rate)
    write_wav(folder / XSS / "bass.wav", sine(0.5, rate, 80, 0.2), rate)
    result = build_report(folder)
    html = result.path.read_text()
    assert XSS not in html
    data = page_data(html)
    assert data["tracks"][0]["name"] == XSS
    assert {s["name"] for s in data["tracks"][0]["stems"]} == {XSS, "bass"}
    stem = next(s for s in data["tracks"][0]["stems"] if s["name"] == XSS)
    assert (
        stem["src"] == "%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.wav"
    )


# ----------------------------------------------------------------------------------------- build


def test_build_report_for_several_tracks(tmp_path: Path) -> None:
    folder = stems_folder(tmp_path / "out")
    result = build_report(folder)
    assert result.path == folder / "report.html" and (result.tracks, result.stems) == (2, 6)
    assert result.problems == []
    data = page_data(result.path.read_text())
    track = data["tracks"][0]
    assert track["name"] == "song0" and track["duration"] == pytest.approx(1.0)
    assert [s["name"] for s in track["stems"]] == ["bass", "drums", "vocals"]
    assert track["mix"]["src"] == "song0/mixture.wav"
    bass = track["stems"][0]
    assert bass["src"] == "song0/bass.wav" and bass["rate"] == 22050 and bass["channels"] == 2
    assert len(base64.b64decode(bass["peaks"])) == analysis.PEAK_BUCKETS
    assert bass["spectrogram"].startswith("data:image/webp;base64,")
    assert {c["name"] for c in track["checks"]} >= {"silent", "clipped", "length", "rate", "sum_error_db"}
    assert data["embedded"] is False and data["median"] is None


def test_relative_sources_from_another_output_folder(tmp_path: Path) -> None:
    folder = stems_folder(tmp_path / "out", tracks=1)
    result = build_report(folder, output=tmp_path / "pages" / "r.html")
    assert result.path == tmp_path / "pages" / "r.html"
    stem = page_data(result.path.read_text())["tracks"][0]["stems"][0]
    assert stem["src"] == "../out/song0/bass.wav" and stem["file"] == "../out/song0/bass.wav"


def test_embed_puts_the_audio_in_the_page(tmp_path: Path) -> None:
    folder = stems_folder(tmp_path / "out", tracks=1, seconds=0.5)
    plain = build_report(folder, output=tmp_path / "plain.html").path.stat().st_size
    result = build_report(folder, output=tmp_path / "shared.html", embed=True)
    data = page_data(result.path.read_text())
    stem = data["tracks"][0]["stems"][0]
    assert data["embedded"] is True
    assert stem["src"].startswith("data:audio/wav;base64,")
    assert base64.b64decode(stem["src"].split(",", 1)[1]) == (folder / "song0" / "bass.wav").read_bytes()
    assert result.path.stat().st_size > plain + 3 * (folder / "song0" / "bass.wav").stat().st_size


def test_settings_from_the_run_manifest(tmp_path: Path) -> None:
    folder = stems_folder(tmp_path / "out")
    record = {
        "input": "/music/song1.flac",
        "track": "song1",
        "status": "done",
        "outputs": {"bass": str(folder / "song1" / "bass.wav")},
        "separator": "demucs",
        "model": "htdemucs",
        "backend": "pytorch",
        "options": {"shifts": 2},
        "seconds": 12.5,
        "worker": "local:1",
        "error": None,
    }
    (folder / "run-manifest.jsonl").write_text(json.dumps(record) + "\n")
    data = page_data(build_report(folder).path.read_text())
    assert data["tracks"][0]["settings"] == {}
    settings = data["tracks"][1]["settings"]
    assert settings["separator"] == "demucs" and settings["options"] == {"shifts": 2} and settings["seconds"] == 12.5


def test_unreadable_audio_is_a_marked_row(tmp_path: Path) -> None:
    folder = stems_folder(tmp_path / "out", tracks=1)
    (folder / "song0" / "vocals.wav").write_bytes(b"RIFF not really a wave file at all")
    result = build_report(folder)
    assert any("vocals.wav: cannot read" in p for p in result.problems)
    track = page_data(result.path.read_text())["tracks"][0]
    vocals = next(s for s in track["stems"] if s["name"] == "vocals")
    assert vocals["error"] and "src" not in vocals
    assert track["problems"]


def test_stems_of_different_lengths_and_rates_are_marked(tmp_path: Path) -> None:
    folder = tmp_path / "out"
    write_wav(folder / "a.wav", sine(1.0, 8000, 440, 0.2), 8000)
    write_wav(folder / "b.wav", sine(2.0, 16000, 440, 0.2), 16000)
    result = build_report(folder)
    text = " | ".join(result.problems)
    assert "different sample rates (a 8000 Hz, b 16000 Hz)" in text
    assert "different lengths (a 0:01.00, b 0:02.00)" in text
    track = page_data(result.path.read_text())["tracks"][0]
    assert track["duration"] == pytest.approx(2.0)


def test_a_failing_check_is_a_problem_not_a_crash(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import audio_playground.evaluation.checks as checks

    def broken(track: Track) -> list:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(checks, "check_track", broken)
    result = build_report(stems_folder(tmp_path / "out", tracks=1))
    assert result.problems == ["song0: checks failed: Input/output error"]


def test_no_stems_is_one_error(tmp_path: Path) -> None:
    from audio_playground.errors import InputError

    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError):
        build_report(tmp_path / "empty")
    with pytest.raises(InputError, match="not a folder"):
        build_report(tmp_path / "missing")
    with pytest.raises(InputError, match="no stems found"):
        build_report(tmp_path / "empty", tracks=[Track("t", {}, None)])


def test_a_failed_write_leaves_no_page_and_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from audio_playground.errors import OutputError

    (tmp_path / "pages").mkdir()
    target = tmp_path / "pages" / "report.html"
    target.write_text("the old page")

    class Boom(OSError):
        pass

    real_open = open

    def failing_open(path, mode="r", *args, **kwargs):
        handle = real_open(path, mode, *args, **kwargs)
        if "w" in mode:
            handle.write("<!doctype html><html>half")
            handle.close()
            raise Boom(28, "No space left on device")
        return handle

    monkeypatch.setattr("builtins.open", failing_open)  # a full disk, which a test cannot make
    with pytest.raises(OutputError, match="No space left on device"):
        write_page(target, "<!doctype html>whole page")
    monkeypatch.undo()
    assert target.read_text() == "the old page"
    assert sorted(p.name for p in target.parent.iterdir()) == ["report.html"]
    with pytest.raises(OutputError):
        write_page(target / "below-a-file.html", "x")


def test_an_unreadable_mix_is_marked(tmp_path: Path) -> None:
    folder = stems_folder(tmp_path / "out", tracks=1)
    mix = tmp_path / "mix.mp3"
    mix.write_bytes(b"ID3 not an mp3")
    result = build_report(folder, tracks=[Track("song0", {"bass": folder / "song0" / "bass.wav"}, mix)])
    assert any("mix.mp3: cannot read the mix" in p for p in result.problems)


def test_errors_are_described_in_one_line() -> None:
    from audio_playground.errors import DecodeError
    from audio_playground.report.build import _describe

    assert _describe(DecodeError("bad frame", path="a.wav", hint="convert it")) == "bad frame"
    assert _describe(OSError(13, "Permission denied")) == "Permission denied"
    assert _describe(ValueError("odd")) == "ValueError: odd"


def test_settings_ignore_outputs_that_are_not_paths(tmp_path: Path) -> None:
    records = {"/in/x.wav": {"input": "/in/x.wav", "track": "x", "outputs": {"a": None}, "model": "m"}}
    assert settings_for(records, "x", {"a": tmp_path / "a.wav"})["model"] == "m"


def test_references_add_the_metrics_of_ap_eval(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    rate = 8000
    for t in ("a", "b"):
        for stem in ("bass", "vocals"):
            truth = (0.1 * rng.standard_normal((2, 2 * rate))).astype(np.float32)
            write_wav(tmp_path / "refs" / t / f"{stem}.wav", truth, rate, subtype="FLOAT")
            noisy = truth + (0.01 * rng.standard_normal(truth.shape)).astype(np.float32)
            write_wav(tmp_path / "est" / t / f"{stem}.wav", noisy, rate, subtype="FLOAT")
    result = build_report(tmp_path / "est", references=tmp_path / "refs")
    data = page_data(result.path.read_text())
    metrics = data["tracks"][0]["metrics"]
    assert set(metrics) == {"bass", "vocals"}
    assert metrics["bass"]["si_sdr"] == pytest.approx(20, abs=1.5)  # noise 20 dB below the signal
    assert set(metrics["bass"]) >= {"sdr", "sir", "isr", "sar", "global_sdr", "si_sdr"}
    assert data["median"]["vocals"]["global_sdr"] == pytest.approx(20, abs=1.5)
