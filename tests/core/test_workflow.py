"""`ap run`: the examples for real and dry, checks before running, chaining, failures, plugin commands, the API."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np
import pytest
import soundfile as sf

from audio_playground.errors import ExitStatus
from audio_playground.hookspecs import hookimpl
from audio_playground.plugins import PluginManager, build_plugin_manager
from audio_playground.workflow.outputs import declare_outputs
from tests.conftest import Result, noise, write_wav

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"
HPSS_EXAMPLE = EXAMPLES / "hpss-offline.yaml"

CLI_MD_EXAMPLE = """\
version: "1.0"
vars:
  out: out
steps:
  - name: convert
    command: convert to-wav
    args:
      src: ${input}
      target: ${vars.out}/audio.wav
  - name: segment
    command: segment split
    args:
      src: ${steps.convert.outputs.target}
      output-dir: ${vars.out}/segments
      window-size: 10
  - name: merge
    command: merge concat
    args:
      input-dir: ${steps.segment.outputs.output_dir}
      target: ${vars.out}/merged.wav
"""


@pytest.fixture
def wf(tmp_path: Path) -> Callable[[str], Path]:
    """Write workflow YAML (dedented) to wf.yaml and return its path."""

    def write(text: str) -> Path:
        path = tmp_path / "wf.yaml"
        path.write_text(textwrap.dedent(text))
        return path

    return write


def short_wav(path: Path, seconds: float = 1.0, sr: int = 8000, seed: int = 0) -> Path:
    return write_wav(path, noise(1, int(seconds * sr), seed=seed), sr)


def errors(result: Result) -> list[str]:
    return [line for line in result.err.splitlines() if line.startswith("error:")]


# --------------------------------------------------------------------------- the examples


def test_hpss_example_runs_for_real(ap, stereo_wav: Path) -> None:
    result = ap("-q", "run", "--config", HPSS_EXAMPLE, "--var", "window=1", stereo_wav)
    assert result.code == 0, result.err
    out = Path("out/song")
    assert sorted(p.name for p in (out / "segments").iterdir()) == [
        "segment-000.wav",
        "segment-001.wav",
        "segment-002.wav",
        "segment_metadata.json",
    ]
    assert len(list((out / "separated").glob("segment-*-harmonic.wav"))) == 3
    mix, _ = sf.read(str(out / "audio.wav"), dtype="float32")
    harmonic, sr = sf.read(str(out / "harmonic.wav"), dtype="float32")
    percussive, _ = sf.read(str(out / "percussive.wav"), dtype="float32")
    assert sr == 44100 and harmonic.shape == percussive.shape == mix.shape == (3 * 44100, 2)
    assert np.abs(harmonic + percussive - mix).max() < 1e-3
    assert not list(Path(".").rglob("*.tmp")) and not list(Path(".").rglob(".*"))


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_example_dry_runs_or_names_its_plugin(ap, stereo_wav: Path, example: Path) -> None:
    result = ap("run", "--config", example, "--dry-run", stereo_wav)
    if example == HPSS_EXAMPLE:
        assert result.code == 0, result.err
        lines = result.out.splitlines()
        assert lines[0] == f"# input: {stereo_wav}"
        assert lines[1] == f"convert: ap convert to-wav --src {stereo_wav} --target out/song/audio.wav"
        assert lines[3].startswith("separate: ap extract process-hpss --segment '<segment.segments>'")
        assert lines[4].startswith("harmonic: ap merge concat --input-dir out/song/separated")
    else:  # their separators come from plugins, which core tests do not load
        assert result.code == ExitStatus.FAILURE
        assert "is not installed" in result.err and "install ap-" in result.err
        assert f"{example}:" in result.err
    assert not Path("out").exists()


def test_cli_md_example_chains_steps_sample_exactly(ap, wf, tmp_path: Path) -> None:
    src = short_wav(tmp_path / "in" / "a.wav", seconds=2.5)
    result = ap("-q", "run", "--config", wf(CLI_MD_EXAMPLE), "--var", "out=res", src)
    assert result.code == 0, result.err
    original, _ = sf.read(str(src), dtype="int16")
    merged, _ = sf.read("res/merged.wav", dtype="int16")
    assert np.array_equal(original, merged)
    assert Path("res/segments/segment-000.wav").exists()


def test_dry_run_writes_nothing_and_shows_each_input(ap, wf, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    short_wav(folder / "a.wav")
    short_wav(folder / "b.flac")
    (folder / "notes.txt").write_text("not media")
    path = wf(CLI_MD_EXAMPLE.replace("out: out", "out: out/${input.stem}"))
    result = ap("run", "--config", path, "--dry-run", folder)
    assert result.code == 0, result.err
    assert f"# input: {folder / 'a.wav'}" in result.out and f"# input: {folder / 'b.flac'}" in result.out
    assert "segment: ap segment split --src out/b/audio.wav --output-dir out/b/segments --window-size 10" in (
        result.out
    )
    assert "merge: ap merge concat --input-dir out/a/segments --target out/a/merged.wav" in result.out
    assert not Path("out").exists()


# --------------------------------------------------------------------------- several inputs, failures


def test_a_failing_input_stops_alone_and_a_rerun_finishes(ap, wf, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    short_wav(folder / "a.wav")
    (folder / "b.wav").write_text("not audio")
    short_wav(folder / "c.wav", seed=2)
    path = wf(CLI_MD_EXAMPLE.replace("out: out", "out: out/${input.stem}"))
    first = ap("-q", "run", "--config", path, folder)
    assert first.code == ExitStatus.FAILURE
    lines = errors(first)
    assert len(lines) == 2
    assert lines[0].startswith(f"error: {folder / 'b.wav'}: step 'convert' (convert to-wav) failed: ")
    assert lines[1] == f"error: {path}: 1 of 3 inputs failed: {folder / 'b.wav'}."
    assert Path("out/a/merged.wav").exists() and Path("out/c/merged.wav").exists()
    assert not Path("out/b").exists()  # nothing half-written
    short_wav(folder / "b.wav", seed=1)
    again = ap("-q", "run", "--config", path, folder)
    assert again.code == 0, again.err
    assert Path("out/b/merged.wav").exists()


def test_a_rerun_after_a_failure_takes_finished_steps_from_the_cache(wf, tmp_path: Path) -> None:
    from audio_playground.specs import CacheSpec
    from audio_playground.workflow.runner import run_workflow
    from tests.core.test_caching import DirCache

    class Cached:
        def __init__(self, store: DirCache) -> None:
            self.store = store
            self.finished: list[tuple[str, bool]] = []

        @hookimpl
        def ap_caches(self) -> list[CacheSpec]:
            return [CacheSpec("test", lambda config, warn: self.store)]

        @hookimpl
        def ap_step_finished(self, step: str, result: Any, seconds: float, cached: bool) -> None:
            self.finished.append((step, cached))

    pm = build_plugin_manager(load_entry_points=False)
    plugin = Cached(DirCache(tmp_path / "store"))
    pm.register(plugin)
    folder = tmp_path / "in"
    short_wav(folder / "a.wav")
    (folder / "b.wav").write_text("not audio")
    path = wf(CLI_MD_EXAMPLE.replace("out: out", "out: out/${input.stem}"))
    assert [run.ok for run in run_workflow(path, [folder], pm=pm)] == [True, False]
    assert plugin.finished == [("convert", False), ("segment", False), ("merge", False)]
    plugin.finished.clear()
    short_wav(folder / "b.wav", seed=1)
    assert [run.ok for run in run_workflow(path, [folder], pm=pm)] == [True, True]
    assert plugin.finished == [
        ("convert", True),
        ("segment", True),
        ("merge", True),
        ("convert", False),
        ("segment", False),
        ("merge", False),
    ]


def test_one_failing_input_reports_its_own_error(ap, wf, tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    result = ap("-q", "run", "--config", wf(CLI_MD_EXAMPLE), bad)
    assert result.code == ExitStatus.FAILURE
    assert errors(result) == [line for line in result.err.splitlines() if line.strip()]
    assert len(errors(result)) == 1 and "step 'convert' (convert to-wav) failed" in result.err


def test_missing_input_and_no_input(ap, wf, tmp_path: Path) -> None:
    path = wf(CLI_MD_EXAMPLE)
    missing = ap("run", "--config", path, tmp_path / "nope.wav")
    assert missing.code == ExitStatus.USAGE
    assert "nope.wav: no such file or folder" in missing.err
    none = ap("run", "--config", path)
    assert none.code == ExitStatus.USAGE
    assert "uses ${input} but no INPUT was given" in none.err
    assert not Path("out").exists()
    no_file = ap("run", "--config", tmp_path / "nope.yaml", "x.wav")
    assert no_file.code == ExitStatus.USAGE and "no such workflow file" in no_file.err


def test_a_workflow_without_input_runs_once(ap, wf, tmp_path: Path) -> None:
    src = short_wav(tmp_path / "fixed.wav")
    path = wf(
        f"""\
        version: "1.0"
        steps:
          - name: convert
            command: ap convert to-wav
            args: {{src: "{src}", target: once.wav, channels: 2}}
        """
    )
    result = ap("-q", "run", "--config", path)
    assert result.code == 0, result.err
    assert sf.info("once.wav").channels == 2
    dry = ap("run", "--config", path, "--dry-run")
    assert dry.out.splitlines()[0] == "# input: (none)"


# --------------------------------------------------------------------------- checks before running

BASE = """\
version: "1.0"
vars:
  out: out
  window: 10
  none: null
  many: [a, b]
steps:
  - name: convert
    command: convert to-wav
    args:
      src: ${input}
      target: ${vars.out}/audio.wav
  - name: segment
    command: segment split
    args:
      src: ${steps.convert.outputs.target}
      output-dir: ${vars.out}/segments
"""


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("      window-size: abc\n", "wf.yaml:18: step 'segment', arg 'window-size': 'abc' is not a valid float"),
        ("      window-size: -1\n", "arg 'window-size': -1.0 is not in the range x>0"),
        ("      output_dir: x\n", "wf.yaml:18: step 'segment': segment split has no arg 'output_dir'"),
        ("      device: cpu\n", "device is a global option: give it to ap itself"),
        ("      no-cache: 3\n", "arg 'no-cache': takes true or false, not 3"),
        ("      window-size: [1, 2]\n", "arg 'window-size': takes one value, not 2: [1, 2]"),
        ("      window-size: {a: 1}\n", "arg 'window-size': a mapping is not an arg value"),
        ("      window-size: ${vars.many}\n", "takes one value, not 2"),
        ("      overlap: x${vars.none}\n", "${vars.none} is null, so it cannot be part of 'x${vars.none}'"),
        ("      overlap: x${vars.many}\n", "${vars.many} holds several values"),
        ("      overlap: ${vars.nope}\n", "no var 'nope'. declare it under vars (declared: out, window, none, many)"),
        ("      overlap: ${env.AP_SURELY_UNSET}\n", "environment variable AP_SURELY_UNSET is not set"),
        ("      overlap: ${steps.merge.outputs.target}\n", "no step is named 'merge'. steps: convert, segment"),
        ("      overlap: ${steps.segment.outputs.segments}\n", "a step cannot use its own output (a cycle)"),
        ("      overlap: ${steps.convert.outputs.frame}\n", "convert to-wav has no output 'frame'. its outputs"),
        ("      overlap: ${input.size}\n", "${input} takes one of .stem"),
        (
            "  - name: show\n    command: config show\n  - name: last\n    command: merge concat\n"
            "    args: {input-dir: '${steps.show.outputs.x}', target: t.wav}\n",
            "wf.yaml:22: step 'last', arg 'input-dir': ${steps.show.outputs.x}: config show declares no outputs",
        ),
        (
            "  - name: early\n    command: merge concat\n    args: {input-dir: '${steps.later.outputs.target}'"
            ", target: t.wav}\n  - name: later\n    command: merge concat\n    args: {input-dir: x, target: y}\n",
            "step 'later' runs later (a forward reference). steps run in order",
        ),
        ("  - name: m\n    command: merge concat\n    args: {target: t.wav}\n", "merge concat needs arg 'input-dir'"),
        ("  - name: m\n    command: merge concat\n", "wf.yaml:18: step 'm': merge concat needs arg 'input-dir'"),
        ("  - name: x\n    command: convert to-mp3\n", "wf.yaml:19: step 'x': unknown command 'convert to-mp3'"),
        ("  - name: x\n    command: covert to-wav\n", "unknown command 'covert'. maybe 'convert'."),
        ("  - name: x\n    command: zzz\n", "commands here: config, convert, "),
        ("  - name: x\n    command: convert\n", "'convert' is a group. name one of: to-wav"),
        ("  - name: x\n    command: config show more\n", "'config show' has no subcommand 'more'"),
        ("  - name: x\n    command: ap run\n", "a workflow cannot run `ap run`"),
        ("  - name: x\n    command: ap\n", "step 'x': the command is empty"),
        ("  - name: x\n    command: extract nope\n", "unknown command 'extract nope'. commands here: ensemble, hpss"),
        (
            "  - name: x\n    command: merge concat\n    args: {input-dir: x, target: t.wav, crossfade-type: square}\n",
            "arg 'crossfade-type': 'square' is not one of 'cosine', 'linear'",
        ),
    ],
)
def test_checks_name_the_step_the_key_and_the_line(ap, wf, stereo_wav: Path, extra: str, expected: str) -> None:
    result = ap("run", "--config", wf(BASE + extra), stereo_wav)
    assert result.code == ExitStatus.USAGE, result.err
    assert expected in result.err
    assert len(result.err.strip().splitlines()) == 1
    assert not Path("out").exists()


@pytest.mark.parametrize(
    ("vars_text", "expected"),
    [
        ("  a: ${vars.b}\n  b: x${vars.a}\n", "wf.yaml:3: var 'a': vars refer to each other in a cycle: a -> b -> a"),
        ("  a: ${steps.convert.outputs.target}\n", "var 'a': vars cannot use step outputs"),
        ("  a: ${foo}\n", "var 'a': unknown expression ${foo}"),
    ],
)
def test_bad_vars(ap, wf, stereo_wav: Path, vars_text: str, expected: str) -> None:
    text = BASE.replace("vars:\n", "vars:\n" + vars_text)
    result = ap("run", "--config", wf(text), stereo_wav)
    assert result.code == ExitStatus.USAGE
    assert expected in result.err


def test_bad_expression_in_an_arg(ap, wf, stereo_wav: Path) -> None:
    result = ap("run", "--config", wf(BASE + "      overlap: ${oops\n"), stereo_wav)
    assert result.code == ExitStatus.USAGE
    assert "wf.yaml:18: step 'segment', arg 'overlap': unclosed" in result.err


def test_vars_env_and_overrides(ap, wf, stereo_wav: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AP_WF_ROOT", "from-env")
    text = BASE.replace("  out: out\n", "  out: ${env.AP_WF_ROOT}/${vars.sub}\n  sub: ${input.stem}\n")
    text += "      window-size: ${vars.window}\n      overlap: ${vars.none}\n"
    path = wf(text)
    dry = ap("run", "--config", path, "--dry-run", stereo_wav)
    assert dry.code == 0, dry.err
    assert "--output-dir from-env/song/segments --window-size 10" in dry.out
    assert "--overlap" not in dry.out  # a null value leaves the option out
    over = ap("run", "--config", path, "--dry-run", "--var", "window=2.5", "--var", "sub=x=y", stereo_wav)
    assert "--src from-env/x=y/audio.wav" in over.out and "--window-size 2.5" in over.out
    unknown = ap("run", "--config", path, "--var", "windw=3", stereo_wav)
    assert unknown.code == ExitStatus.USAGE and "declares no var 'windw'" in unknown.err
    malformed = ap("run", "--config", path, "--var", "window", stereo_wav)
    assert malformed.code == ExitStatus.USAGE and "'window' is not KEY=VALUE" in malformed.err
    wrong = ap("run", "--config", path, "--var", "window=big", stereo_wav)
    assert wrong.code == ExitStatus.USAGE and "'big' is not a valid float" in wrong.err
    cyclic = ap("run", "--config", path, "--var", "sub=${vars.out}", "--dry-run", stereo_wav)
    assert "var 'out' (set by --var)" not in cyclic.err and "cycle: out -> sub -> out" in cyclic.err
    forced = ap("run", "--config", path, "--var", "out=${nope}", stereo_wav)
    assert "var 'out' (set by --var): unknown expression ${nope}" in forced.err


# --------------------------------------------------------------------------- plugin commands in workflows

CALLS: list[dict[str, Any]] = []


@click.group()
def probe() -> None:
    """Commands a test plugin contributes."""


@declare_outputs(("files", "nothing", "empty", "info", "gone", "word"))
@probe.command("make")
@click.option("--dir", "directory", type=click.Path(path_type=Path), required=True)
@click.option("--count", type=int, default=2)
def make(directory: Path, count: int) -> dict[str, Any]:
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for index in range(count):
        path = directory / f"f{index}.txt"
        path.write_text(str(index))
        files.append(path)
    return {"files": files, "nothing": None, "empty": [], "info": {"a": files[0]}, "gone": directory / "x", "word": 5}


@declare_outputs(("values",))
@probe.command("echo")
@click.argument("values", nargs=-1)
@click.option("--flag/--no-flag", default=None)
@click.option("--switch", is_flag=True)
@click.option("-v", "verbose", count=True)
@click.option("--tag", multiple=True)
@click.option("--level", type=click.Choice(["low", "high"]))
@click.option("--exists", type=click.Path(exists=True))
def echo(**kwargs: Any) -> dict[str, Any]:
    CALLS.append(kwargs)
    return {"values": list(kwargs["values"])}


@probe.command("fail")
@click.option("--how", type=click.Choice(["runtime", "interrupt", "exit0", "exit3", "usage"]), required=True)
def fail(how: str) -> None:
    if how == "runtime":
        raise RuntimeError("boom")
    if how == "interrupt":
        raise KeyboardInterrupt
    if how == "usage":
        raise click.UsageError("bad usage")
    click.get_current_context().exit(0 if how == "exit0" else 3)


class ProbePlugin:
    @hookimpl
    def ap_register_commands(self, cli: click.Group) -> None:
        cli.add_command(probe)


@pytest.fixture
def probe_pm() -> PluginManager:
    pm = build_plugin_manager(load_entry_points=False)
    pm.register(ProbePlugin(), name="probe")
    CALLS.clear()
    return pm


@pytest.fixture
def ap_probe(probe_pm: PluginManager, capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    from audio_playground.cli import run

    def invoke(*args: str | Path) -> Result:
        capsys.readouterr()
        code = run([str(a) for a in args], pm=probe_pm)
        captured = capsys.readouterr()
        return Result(int(code), captured.out, captured.err)

    return invoke


PROBE = """\
version: "1.0"
vars:
  dir: made
steps:
  - name: make
    command: probe make
    args: {dir: "${vars.dir}"}
"""


def test_plugin_commands_chain_like_core_ones(ap_probe, wf) -> None:
    path = wf(
        PROBE.replace("dir: made\n", "dir: made\n  none: null\n")
        + """\
  - name: echo
    command: probe echo
    args:
      values: ["${steps.make.outputs.files}", -x, "${steps.make.outputs.info}", "${vars.none}"]
      flag: false
      switch: true
      verbose: 2
      tag: "${steps.make.outputs.info.a}"
      level: high
      exists: made/f0.txt
  - name: again
    command: probe echo
    args: {no-flag: false, switch: false, values: "${steps.echo.outputs.values}", tag: [a, true]}
  - name: count
    command: probe echo
    args: {verbose: "${steps.make.outputs.word}"}
"""
    )
    result = ap_probe("-q", "run", "--config", path)
    assert result.code == 0, result.err
    assert CALLS[0] == {
        "values": ("made/f0.txt", "made/f1.txt", "-x", "made/f0.txt"),
        "flag": False,
        "switch": True,
        "verbose": 2,
        "tag": ("made/f0.txt",),
        "level": "high",
        "exists": "made/f0.txt",
    }
    assert CALLS[1]["flag"] is True and CALLS[1]["switch"] is False and CALLS[1]["tag"] == ("a", "true")
    assert CALLS[2]["verbose"] == 5
    assert CALLS[1]["values"] == CALLS[0]["values"]
    dry = ap_probe("run", "--config", path, "--dry-run")
    assert (
        "--no-flag --switch -v -v --tag '<make.info.a>' --level high --exists made/f0.txt -- '<make.files>' -x "
        in dry.out
    )
    assert "again: ap probe echo --flag --tag a --tag true -- '<make.files>' -x '<make.info>'" in dry.out
    assert "count: ap probe echo -v '<make.word>'" in dry.out


@pytest.mark.parametrize(
    ("arg", "expected"),
    [
        ("${steps.make.outputs.nothing}", "step 'make' produced no 'nothing'"),
        ("${steps.make.outputs.empty}", "step 'make' produced no 'empty'"),
        ("${steps.make.outputs.info.b}", "step 'make' produced no 'info.b' (it has: a)"),
        ("${steps.make.outputs.word.b}", "step 'make' produced no 'word.b'"),
        ("${steps.make.outputs.gone}", "made/x (from step 'make') no longer exists"),
    ],
)
def test_an_output_that_was_not_produced(ap_probe, wf, arg: str, expected: str) -> None:
    path = wf(PROBE + f"  - name: use\n    command: probe echo\n    args: {{values: '{arg}'}}\n")
    result = ap_probe("-q", "run", "--config", path)
    assert result.code == ExitStatus.USAGE
    assert "error: step 'use' (probe echo) failed: " in result.err
    assert expected in result.err and "wf.yaml:10: arg 'values'" in result.err
    assert CALLS == []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ("{verbose: -1}", "wf.yaml:10: step 'use', arg 'verbose': takes a count (0, 1, 2, ...), not -1"),
        ("{tag: [[a]]}", "arg 'tag': takes plain values, not nested lists: [['a']]"),
        ("{switch: '${steps.make.outputs.word}'}", "wf.yaml:10: arg 'switch': takes true or false, not 5"),
    ],
)
def test_flag_and_count_values(ap_probe, wf, args: str, expected: str) -> None:
    result = ap_probe(
        "-q", "run", "--config", wf(PROBE + f"  - name: use\n    command: probe echo\n    args: {args}\n")
    )
    assert result.code == ExitStatus.USAGE
    assert expected in result.err


def test_running_without_the_input_a_workflow_uses(probe_pm: PluginManager, wf) -> None:
    from audio_playground.errors import UsageError
    from audio_playground.workflow.runner import WorkflowRunner, root_context
    from audio_playground.workflow.schema import load_workflow

    path = wf(PROBE.replace("dir: made", "dir: ${input.stem}"))
    with root_context(probe_pm) as ctx:
        runner = WorkflowRunner(load_workflow(path), ctx, env={})
        assert runner.uses_input
        with pytest.raises(UsageError, match=r"\$\{input.stem\} has no value: no INPUT was given"):
            runner.plan(None)
        failed = runner.run_input(None)
    assert failed.error is not None and "no INPUT was given" in str(failed.error)


@pytest.mark.parametrize(
    ("how", "code", "expected"),
    [
        ("runtime", ExitStatus.FAILURE, "step 'fail' (probe fail) failed: RuntimeError: boom."),
        ("exit3", ExitStatus.FAILURE, "step 'fail' (probe fail) failed: Exit: 3"),
        ("usage", ExitStatus.USAGE, "step 'fail' (probe fail) failed: bad usage."),
        ("interrupt", ExitStatus.INTERRUPTED, "interrupted"),
        ("exit0", ExitStatus.OK, ""),
    ],
)
def test_failing_plugin_commands(ap_probe, wf, how: str, code: int, expected: str) -> None:
    path = wf(PROBE + f"  - name: fail\n    command: probe fail\n    args: {{how: {how}}}\n")
    result = ap_probe("-q", "run", "--config", path)
    assert result.code == code, result.err
    assert expected in result.err


def test_python_api_runs_plans_and_reports_events(probe_pm: PluginManager, wf, tmp_path: Path) -> None:
    from audio_playground.workflow.runner import StepEvent, plan_workflow, run_workflow

    path = wf(PROBE + "  - name: fail\n    command: probe fail\n    args: {how: runtime}\n")
    events: list[StepEvent] = []
    (run,) = run_workflow(path, pm=probe_pm, variables={"dir": str(tmp_path / "m")}, on_event=events.append)
    assert not run.ok and run.error is not None and run.error.step == "fail"
    assert isinstance(run.error.cause, RuntimeError)
    assert run.outputs["make"]["files"] == [tmp_path / "m" / "f0.txt", tmp_path / "m" / "f1.txt"]
    assert run.results["make"]["word"] == 5
    assert [(e.kind, e.step, e.index, e.total) for e in events] == [
        ("started", "make", 0, 2),
        ("finished", "make", 0, 2),
        ("started", "fail", 1, 2),
        ("failed", "fail", 1, 2),
    ]
    assert events[2].argv == ("--how", "runtime") and events[3].error is run.error
    ((source, plan),) = plan_workflow(path, pm=probe_pm)
    assert source is None
    assert [step.command_line() for step in plan] == ["ap probe make --dir made", "ap probe fail --how runtime"]
    second = run_workflow(path, pm=probe_pm)
    assert second[0].outputs["make"]["word"] == 5


def test_run_help_is_cheap() -> None:
    script = (
        "import sys\nfrom audio_playground.cli import run\nrun(['run', '--help'])\n"
        "print(sorted(m for m in ('yaml', 'pydantic', 'audio_playground.workflow.runner') if m in sys.modules))"
    )
    env = {**os.environ, "AUDIO_PLAYGROUND_LOAD_PLUGINS": ""}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True)
    assert "--dry-run" in result.stdout and "--var KEY=VALUE" in result.stdout
    assert result.stdout.strip().splitlines()[-1] == "[]"
