"""The workflow file: its schema (pydantic), YAML loading that keeps line numbers, and ${...} expressions."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from audio_playground.errors import InputError, UsageError

SUPPORTED_VERSION = "1.0"
STEP_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
INPUT_PARTS = ("stem", "name", "parent", "suffix")
"""${input.stem} (file name without extension), .name, .parent (its folder) and .suffix (".wav")."""
SHAPE_HINT = "a workflow has version, vars and steps; a step has name, command and args"

Scalar = str | bool | int | float | None
VarValue = Scalar | list[str | bool | int | float]


class Step(BaseModel):
    """One step: a command (e.g. "convert to-wav") and its args (option names without the dashes)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    command: str = Field(min_length=1)
    args: dict[str, Any] = Field(default_factory=dict)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not STEP_NAME.match(value):
            raise ValueError(
                f"step name {value!r} must start with a letter or _ and hold only letters, digits, _ and - "
                "(it is used in ${steps.NAME.outputs.KEY})"
            )
        return value

    @field_validator("args", mode="before")
    @classmethod
    def _args(cls, value: Any) -> Any:
        return {} if value is None else value


class WorkflowModel(BaseModel):
    """The whole file: version, vars, steps (CLI.md, "Workflow file")."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str
    vars: dict[str, VarValue] = Field(default_factory=dict)
    steps: list[Step] = Field(min_length=1)

    @field_validator("version", mode="before")
    @classmethod
    def _version(cls, value: Any) -> str:
        if isinstance(value, bool) or str(value).strip() not in ("1", "1.0"):
            raise ValueError(f"unsupported version {value!r}: this ap reads version {SUPPORTED_VERSION!r}")
        return SUPPORTED_VERSION

    @field_validator("vars", mode="before")
    @classmethod
    def _vars(cls, value: Any) -> Any:
        return {} if value is None else value


@dataclass(frozen=True)
class Workflow:
    """A validated workflow file, with the YAML nodes kept to name the line of any later error."""

    model: WorkflowModel
    path: Path
    node: Any = None

    @property
    def steps(self) -> list[Step]:
        return self.model.steps

    @property
    def vars(self) -> dict[str, VarValue]:
        return self.model.vars

    def line(self, *loc: str | int) -> int | None:
        """The 1-based line of the value at `loc` (e.g. "steps", 2, "args", "src"), or of its nearest parent."""
        return node_line(self.node, loc)

    def where(self, *loc: str | int) -> str:
        """FILE:LINE of `loc`, for error messages."""
        line = self.line(*loc)
        return f"{self.path}:{line}" if line else str(self.path)

    def error(self, loc: Sequence[str | int], message: str, hint: str | None = None) -> UsageError:
        """A usage error (exit 2) at `loc` of this file."""
        return UsageError(message, path=self.where(*loc), hint=hint)


def node_line(node: Any, loc: Sequence[str | int]) -> int | None:
    """Walk a composed YAML node along `loc`: the line of the deepest node reached (mapping keys by key line)."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if str(key.value) == str(part):
                    line, node = key.start_mark.line + 1, value
                    break
            else:
                return line
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def parse_workflow(text: str, path: str | Path = "<workflow>") -> Workflow:
    """Parse and validate workflow YAML; every error is a UsageError naming FILE:LINE."""
    path = Path(path)
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise UsageError(f"malformed YAML: {problem}", path=where, hint="fix the YAML syntax") from exc
    if data is None:
        raise UsageError("the workflow file is empty", path=path, hint=SHAPE_HINT)
    if not isinstance(data, dict):
        raise UsageError(f"the workflow must be a mapping, not a {type(data).__name__}", path=path, hint=SHAPE_HINT)
    try:
        model = WorkflowModel.model_validate(data)
    except ValidationError as exc:
        raise _schema_error(exc, data, path, node) from exc
    workflow = Workflow(model, path, node)
    seen: dict[str, int] = {}
    for index, step in enumerate(model.steps):
        if step.name in seen:
            raise workflow.error(
                ("steps", index, "name"),
                f"two steps are named {step.name!r} (steps {seen[step.name] + 1} and {index + 1})",
                hint="give every step its own name",
            )
        seen[step.name] = index
    return workflow


def load_workflow(path: str | Path) -> Workflow:
    """Read and validate the workflow file at `path`."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such workflow file", path=path, hint="check the path given to --config")
    if not path.is_file():
        raise InputError("the workflow is not a file", path=path, hint="give a YAML file to --config")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read the workflow: {exc}", path=path, hint="check the file") from exc
    return parse_workflow(text, path)


def _schema_error(exc: ValidationError, data: dict[str, Any], path: Path, node: Any) -> UsageError:
    errors = exc.errors()
    # a misspelt key also makes the right one missing: name the misspelling
    error = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = tuple(error["loc"])
    subject = _subject(loc, data)
    if error["type"] == "missing":
        message, hint = f"{subject}missing key {loc[-1]!r}", SHAPE_HINT
    elif error["type"] == "extra_forbidden":
        message, hint = f"{subject}unknown key {loc[-1]!r}", SHAPE_HINT
    else:
        key = ".".join(str(p) for p in loc[2:] if not isinstance(p, int)) if loc[:1] == ("steps",) else ""
        key = key or ".".join(str(p) for p in loc)
        detail = error["msg"].removeprefix("Value error, ")
        message, hint = f"{subject}{key}: {detail}", None
    line = node_line(node, loc)
    return UsageError(message, path=f"{path}:{line}" if line else path, hint=hint)


def _subject(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    if len(loc) >= 2 and loc[0] == "steps" and isinstance(loc[1], int):
        steps = data.get("steps")
        step = steps[loc[1]] if isinstance(steps, list) and loc[1] < len(steps) else None
        name = step.get("name") if isinstance(step, dict) else None
        return f"step {name!r}: " if isinstance(name, str) else f"step {loc[1] + 1}: "
    return ""


# --------------------------------------------------------------------------- ${...} expressions

_TOKEN = re.compile(r"\$\$|\$\{([^{}]*)\}")
RefKind = Literal["input", "vars", "env", "steps"]
EXPRESSIONS = "${input}, ${input.stem}, ${vars.NAME}, ${env.NAME} or ${steps.NAME.outputs.KEY}"


@dataclass(frozen=True)
class Ref:
    """One ${...} reference, parsed: kind and dotted parts (for steps: step name, output key, sub-keys)."""

    kind: RefKind
    parts: tuple[str, ...]
    text: str

    @property
    def step(self) -> str:
        return self.parts[0]

    @property
    def output(self) -> tuple[str, ...]:
        """The output key and sub-keys of a steps reference, e.g. ("stems", "vocals")."""
        return self.parts[1:]


Piece = str | Ref


def parse_template(text: str) -> list[Piece]:
    """Split `text` into literal strings and Refs ("$$" is a literal "$"); ValueError on bad syntax."""
    pieces: list[Piece] = []
    literal = ""
    pos = 0
    for match in _TOKEN.finditer(text):
        raw = text[pos : match.start()]
        _check_unclosed(raw)
        literal += raw
        pos = match.end()
        if match.group(0) == "$$":
            literal += "$"
            continue
        if literal:
            pieces.append(literal)
        literal = ""
        pieces.append(parse_ref(match.group(1), match.group(0)))
    raw = text[pos:]
    _check_unclosed(raw)
    literal += raw
    if literal:
        pieces.append(literal)
    return pieces


def _check_unclosed(literal: str) -> None:
    if "${" in literal:
        raise ValueError(f"unclosed or nested '${{' in {literal!r}: write ${{...}}, or $$ for a literal $")


def parse_ref(expression: str, text: str | None = None) -> Ref:
    """Parse the inside of ${...}; ValueError naming the accepted forms when it is none of them."""
    text = text or "${" + expression + "}"
    parts = tuple(part.strip() for part in expression.strip().split("."))
    head = parts[0]
    if head == "input" and (len(parts) == 1 or (len(parts) == 2 and parts[1] in INPUT_PARTS)):
        return Ref("input", parts[1:], text)
    if head in ("vars", "env") and len(parts) == 2 and parts[1]:
        return Ref(head, parts[1:], text)
    if head == "steps" and len(parts) >= 4 and parts[2] == "outputs" and all(parts):
        return Ref("steps", (parts[1], *parts[3:]), text)
    if head == "input":
        hint = f"${{input}} takes one of .{', .'.join(INPUT_PARTS)}"
    elif head == "steps":
        hint = "write ${steps.NAME.outputs.KEY}"
    else:
        hint = f"use {EXPRESSIONS}"
    raise ValueError(f"unknown expression {text}: {hint}")


def references(value: Any) -> list[Ref]:
    """Every reference in an arg or var value (strings, and strings inside lists)."""
    if isinstance(value, str):
        return [p for p in parse_template(value) if isinstance(p, Ref)]
    if isinstance(value, list):
        return [ref for item in value for ref in references(item)]
    return []
