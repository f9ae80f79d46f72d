"""Workflow files: schema, YAML line numbers, ${...} expressions, and every check made before anything runs."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from audio_playground.errors import ExitStatus, UsageError
from audio_playground.workflow.outputs import declare_outputs, declared_outputs, result_outputs
from audio_playground.workflow.schema import (
    Ref,
    load_workflow,
    node_line,
    parse_ref,
    parse_template,
    parse_workflow,
    references,
)
from tests.core.test_workflow import CLI_MD_EXAMPLE


def write(tmp_path: Path, text: str, name: str = "wf.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def usage_error(text: str) -> UsageError:
    with pytest.raises(UsageError) as info:
        parse_workflow(textwrap.dedent(text), "wf.yaml")
    return info.value


# --------------------------------------------------------------------------- schema


def test_the_cli_md_example_parses() -> None:
    workflow = parse_workflow(CLI_MD_EXAMPLE, "wf.yaml")
    assert [s.name for s in workflow.steps] == ["convert", "segment", "merge"]
    assert workflow.vars == {"out": "out"}
    assert workflow.steps[1].args["window-size"] == 10
    assert workflow.line("steps", 1, "args", "window-size") == 15
    assert workflow.where("steps", 2, "command") == "wf.yaml:17"
    assert workflow.line("steps", 9) == 4  # the nearest parent that exists


def test_versions_and_empty_sections() -> None:
    assert parse_workflow("version: 1.0\nvars:\nsteps:\n  - {name: a, command: config show}\n").vars == {}
    assert parse_workflow("version: '1'\nsteps:\n  - {name: a, command: config show, args: }\n").steps[0].args == {}
    error = usage_error("version: '2.0'\nsteps:\n  - {name: a, command: config show}\n")
    assert "unsupported version '2.0'" in str(error) and str(error).startswith("wf.yaml:1: ")
    assert "unsupported version True" in str(usage_error("version: true\nsteps: [{name: a, command: b}]\n"))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("version: '1.0'\nsteps:\n  - name: a\n    command: [x\n", "wf.yaml:5: malformed YAML"),
        ("version: '1.0'\n  steps: oops\n", "wf.yaml:2: malformed YAML"),
        ("", "the workflow file is empty"),
        ("- a\n- b\n", "must be a mapping, not a list"),
        ("steps:\n  - {name: a, command: b}\n", "wf.yaml:1: missing key 'version'"),
        ("version: '1.0'\nsteps: []\n", "wf.yaml:2: steps: List should have at least 1 item"),
        ("version: '1.0'\nstep:\n  - {name: a, command: b}\n", "wf.yaml:2: unknown key 'step'"),
        (
            "version: '1.0'\nsteps:\n  - name: a\n    command: b\n    arg: {}\n",
            "wf.yaml:5: step 'a': unknown key 'arg'",
        ),
        ("version: '1.0'\nsteps:\n  - name: a\n", "wf.yaml:3: step 'a': missing key 'command'"),
        ("version: '1.0'\nsteps:\n  - command: b\n", "wf.yaml:3: step 1: missing key 'name'"),
        ("version: '1.0'\nsteps:\n  - {name: 'a b', command: c}\n", "step name 'a b' must start with a letter"),
        ("version: '1.0'\nsteps:\n  - {name: a, command: 7}\n", "step 'a': command: Input should be a valid"),
        ("version: '1.0'\nvars: {x: {y: 1}}\nsteps:\n  - {name: a, command: b}\n", "wf.yaml:2: vars.x"),
        (
            "version: '1.0'\nsteps:\n  - {name: a, command: b}\n  - {name: c, command: b}\n  - {name: a, command: b}\n",
            "wf.yaml:5: two steps are named 'a' (steps 1 and 3)",
        ),
    ],
)
def test_bad_files_name_the_line(text: str, expected: str) -> None:
    error = usage_error(text)
    assert expected in str(error)
    assert error.exit_code == ExitStatus.USAGE


def test_load_workflow_file_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such workflow file"):
        load_workflow(tmp_path / "missing.yaml")
    with pytest.raises(UsageError, match="not a file"):
        load_workflow(tmp_path)
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(b"version: '\xe9'\n")
    with pytest.raises(UsageError, match="cannot read the workflow"):
        load_workflow(bad)
    assert load_workflow(write(tmp_path, CLI_MD_EXAMPLE)).path == tmp_path / "wf.yaml"


def test_node_line_without_a_node() -> None:
    assert node_line(None, ("steps",)) is None
    workflow = parse_workflow(CLI_MD_EXAMPLE)
    assert node_line(workflow.node, ("steps", "x")) == 4  # a key on a sequence stops at the sequence


# --------------------------------------------------------------------------- expressions


def test_templates_split_into_text_and_references() -> None:
    pieces = parse_template("a/${vars.out}-${input.stem}.wav")
    assert pieces == [
        "a/",
        Ref("vars", ("out",), "${vars.out}"),
        "-",
        Ref("input", ("stem",), "${input.stem}"),
        ".wav",
    ]
    assert parse_template("cost $$5 and $${x}") == ["cost $5 and ${x}"]
    assert parse_template("") == []
    ref = parse_ref("steps.sep.outputs.stems.vocals")
    assert (ref.kind, ref.step, ref.output) == ("steps", "sep", ("stems", "vocals"))
    assert references(["${env.HOME}", 3, "x", ["${input}"]]) == [
        Ref("env", ("HOME",), "${env.HOME}"),
        Ref("input", (), "${input}"),
    ]
    assert references(5) == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("${nope}", "unknown expression ${nope}: use ${input}"),
        ("${input.size}", "${input} takes one of .stem, .name, .parent, .suffix"),
        ("${steps.a.target}", "write ${steps.NAME.outputs.KEY}"),
        ("${steps.a.outputs.}", "write ${steps.NAME.outputs.KEY}"),
        ("${vars.}", "use ${input}"),
        ("a ${vars.x", "unclosed or nested"),
        ("${a${vars.x}}", "unclosed or nested"),
    ],
)
def test_bad_expressions(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        parse_template(text)
    assert message in str(info.value)


# --------------------------------------------------------------------------- outputs


def test_declared_outputs_and_results(tmp_path: Path) -> None:
    from audio_playground.specs import SegmentResult, SeparateResult

    class Holder:
        pass

    holder = declare_outputs(SegmentResult)(Holder())
    assert declared_outputs(holder) == ("output_dir", "metadata", "segments")
    assert declared_outputs(declare_outputs(["a", "b"])(Holder())) == ("a", "b")
    assert declared_outputs(Holder()) is None
    with pytest.raises(TypeError, match="not a dataclass"):
        declare_outputs(Holder)
    names = ("source", "output_dir", "stems", "cached")
    one = SeparateResult(Path("a.wav"), Path("o"), {"x": Path("o/a-x.wav"), "y": Path("o/a-y.wav")})
    two = SeparateResult(Path("b.wav"), Path("o"), {"x": Path("o/b-x.wav")}, cached=True)
    assert result_outputs(one, names)["stems"]["y"] == Path("o/a-y.wav")
    combined = result_outputs([one, two], names)
    assert combined == {
        "source": [Path("a.wav"), Path("b.wav")],
        "output_dir": Path("o"),
        "stems": {"x": [Path("o/a-x.wav"), Path("o/b-x.wav")], "y": Path("o/a-y.wav")},
        "cached": [False, True],
    }
    segments = SegmentResult(Path("s"), Path("s/m.json"), (Path("s/1.wav"), Path("s/2.wav")))
    more = SegmentResult(Path("t"), Path("t/m.json"), (Path("t/1.wav"),))
    assert result_outputs([segments, more], ("segments",))["segments"] == [
        Path("s/1.wav"),
        Path("s/2.wav"),
        Path("t/1.wav"),
    ]
    assert result_outputs(None, names) == {}
    assert result_outputs({"a": 1, "z": 2}, ("a", "b")) == {"a": 1}
    assert result_outputs([{"a": None}], ("a",)) == {"a": None}
