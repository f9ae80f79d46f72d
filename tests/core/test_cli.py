"""The `ap` CLI: help, version, global options everywhere, config show, plugins and models lists, errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import soundfile as sf

from audio_playground.errors import ExitStatus


def test_help_lists_core_commands(ap) -> None:
    result = ap("--help")
    assert result.code == 0
    for name in ("convert", "segment", "merge", "extract", "config", "plugins", "models"):
        assert name in result.out


def test_version(ap) -> None:
    from audio_playground import __version__

    result = ap("--version")
    assert result.code == 0
    assert __version__ in result.out


def test_every_command_has_help(ap) -> None:
    for args in (
        ["convert", "to-wav"],
        ["segment", "split"],
        ["merge", "concat"],
        ["extract", "hpss"],
        ["extract", "process-hpss"],
        ["config", "show"],
        ["plugins", "list"],
        ["models", "list"],
    ):
        result = ap(*args, "--help")
        assert result.code == 0, args
        assert "--log-level" in result.out, args


def test_global_options_on_root_and_command(ap) -> None:
    root = ap("--device", "cpu", "config", "show")
    assert root.code == 0
    assert 'device = "cpu"' in root.out
    sub = ap("config", "show", "--device", "mps", "--json")
    assert json.loads(sub.out)["device"] == "mps"


def test_config_file_option(ap, tmp_path: Path) -> None:
    toml = tmp_path / "c.toml"
    toml.write_text("window_size = 3.0\n")
    result = ap("--config", toml, "config", "show")
    assert "window_size = 3.0" in result.out
    missing = ap("--config", tmp_path / "nope.toml", "config", "show")
    assert missing.code == ExitStatus.USAGE
    assert "nope.toml" in missing.err


def test_plugins_list_shows_builtins(ap) -> None:
    result = ap("plugins", "list")
    assert result.code == 0
    assert "audio_playground.hpss" in result.out
    assert "ap_separators" in result.out
    data = json.loads(ap("plugins", "list", "--json").out)
    assert any(r["name"] == "audio_playground.audio.plugin" and "ap_sources" in r["hooks"] for r in data)


def test_models_list(ap) -> None:
    result = ap("models", "list")
    assert result.code == 0
    assert "hpss" in result.out
    rows = json.loads(ap("models", "list", "--json").out)
    assert {"separator": "hpss", "backend": "numpy"}.items() <= rows[0].items()


def test_unknown_separator_and_missing_plugin(ap) -> None:
    unknown = ap("extract", "nope", "x.wav")
    assert unknown.code == ExitStatus.USAGE
    assert "hpss" in unknown.err
    demucs = ap("extract", "demucs", "x.wav", "--output-dir", "out")
    assert demucs.code == ExitStatus.FAILURE
    assert "ap-demucs" in demucs.err
    assert "Traceback" not in demucs.err


def test_missing_input_is_usage_error(ap, tmp_path: Path) -> None:
    result = ap("extract", "hpss", tmp_path / "missing.wav", "--output-dir", tmp_path / "out")
    assert result.code == ExitStatus.USAGE
    assert "missing.wav" in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_debug_shows_traceback(ap, tmp_path: Path) -> None:
    result = ap("--log-level", "DEBUG", "extract", "hpss", tmp_path / "missing.wav", "-o", tmp_path / "o")
    assert "Traceback" in result.err


def test_extract_hpss_end_to_end(ap, stereo_wav: Path, tmp_path: Path) -> None:
    out = tmp_path / "stems"
    result = ap("extract", "hpss", stereo_wav, "--output-dir", out, "--no-progress")
    assert result.code == 0, result.err
    info = sf.info(str(out / "harmonic-hpss.wav"))
    mix, _ = sf.read(str(stereo_wav), dtype="float32")
    assert (info.frames, info.channels, info.samplerate, info.subtype) == (mix.shape[0], 2, 44100, "PCM_16")
    harmonic, _ = sf.read(str(out / "harmonic-hpss.wav"), dtype="float32")
    percussive, _ = sf.read(str(out / "percussive-hpss.wav"), dtype="float32")
    assert np.abs(harmonic + percussive - mix).max() < 3e-4
    assert sorted(p.name for p in out.iterdir()) == ["harmonic-hpss.wav", "percussive-hpss.wav"]


def test_extract_several_inputs_one_failing(ap, stereo_wav: Path, tmp_path: Path) -> None:
    bad = tmp_path / "in" / "bad.wav"
    bad.write_text("not audio")
    out = tmp_path / "stems"
    result = ap(
        "extract",
        "hpss",
        stereo_wav.parent,
        "-o",
        out,
        "--format",
        "flac",
        "--bit-depth",
        "24",
        "--sample-rate",
        "22050",
    )
    assert result.code == ExitStatus.FAILURE
    assert "bad.wav" in result.err
    assert "1 of 2 inputs failed" in result.err
    info = sf.info(str(out / "song" / "harmonic-hpss.flac"))
    assert (info.samplerate, info.subtype) == (22050, "PCM_24")
    assert not (out / "bad").exists()


def test_extract_filename_template_and_options(ap, stereo_wav: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    ok = ap(
        "extract",
        "hpss",
        "--src",
        stereo_wav,
        "-o",
        out,
        "--filename",
        "{model}_{stem}.{ext}",
        "--kernel-size",
        "9",
        "--start-time",
        "0.5",
        "--end-time",
        "1.5",
    )
    assert ok.code == 0, ok.err
    assert sf.info(str(out / "hpss_harmonic.wav")).frames == 44100
    bad = ap("extract", "hpss", stereo_wav, "-o", out, "--filename", "{nope}.wav")
    assert bad.code == ExitStatus.USAGE
    assert "{nope}" in bad.err


def test_process_command_takes_globs(ap, stereo_wav: Path, tmp_path: Path) -> None:
    out = tmp_path / "p"
    result = ap("extract", "process-hpss", "--segment", str(stereo_wav.parent / "*.wav"), "-o", out)
    assert result.code == 0, result.err
    assert (out / "song-percussive.wav").exists()
    none = ap("extract", "process-hpss", "--segment", str(tmp_path / "zz*.wav"), "-o", out)
    assert none.code == ExitStatus.USAGE


def test_python_module_entry_point() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "audio_playground", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0
    assert "extract" in result.stdout


def test_shared_help_and_segment_option_clash() -> None:
    from audio_playground.cli.extract import build_command, shared_help
    from audio_playground.specs import OptionSpec, SeparatorSpec

    def spec(backend: str, help_text: str, options: tuple = ()) -> SeparatorSpec:
        return SeparatorSpec("x", backend, load=lambda o, d: None, help=help_text, options=options)

    assert shared_help([spec("a", "Split things, on A."), spec("b", "Split things, on B.")]) == "Split things."
    assert shared_help([spec("a", "Same."), spec("b", "Same.")]) == "Same."
    assert shared_help([spec("a", "")]) == ""
    seconds = (OptionSpec("segment", float, None, "Chunk seconds."),)
    atomic = build_command("x", [spec("a", "H.", seconds)], atomic=True, backend_names=["a", "zz"])
    segment_params = [p for p in atomic.params if p.name == "segment"]
    assert len(segment_params) == 1 and segment_params[0].type.name == "float"
    backend = next(p for p in atomic.params if p.name == "backend")
    assert list(backend.type.choices) == ["auto", "a", "zz"]
    plain = build_command("x", [spec("a", "H.")], atomic=True)
    assert any(p.name == "segment" and p.multiple for p in plain.params)
