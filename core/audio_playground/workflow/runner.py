"""Run a workflow: each step names an `ap` command, whose click command is invoked in-process with ${...} filled in.

Steps go through the very commands of the CLI (found in the root group, plugins' commands included), so a
workflow step behaves exactly like the command line it prints in a dry run: same options, same cache, same
progress hooks. Everything is checked before anything runs; a failing step stops its input only.
"""

from __future__ import annotations

import difflib
import os
import shlex
import time
from collections.abc import Callable, Generator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import click

from audio_playground.cli.options import GLOBAL_OPTIONS
from audio_playground.errors import APError, ExitStatus, PluginError, UsageError
from audio_playground.workflow.outputs import declared_outputs, result_outputs, unavailable_hint
from audio_playground.workflow.schema import Ref, Workflow, load_workflow, parse_template, references

Mode = Literal["check", "plan", "run"]
GLOBAL_KEYS = frozenset(opt[2:] for option in GLOBAL_OPTIONS for opt in option.opts if opt.startswith("--"))
PROGS = ("ap", "audio-playground")


class _Unknown:
    """A value only known once an input is given or an earlier step has run (in checks)."""

    def __repr__(self) -> str:
        return "<unknown>"


UNKNOWN: Any = _Unknown()


class Placeholder(str):
    """In a dry run, an output known only once its step has run, shown as <step.key>."""


class _RefError(ValueError):
    """A reference that cannot be resolved, with what to do about it."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.hint = hint


class StepFailed(APError):
    """A step failed for one input: names the input, the step, its command and the cause (its exit code)."""

    def __init__(self, step: str, command: str, source: Path | None, cause: BaseException) -> None:
        super().__init__(f"step {step!r} ({command}) failed: {describe(cause)}", path=source)
        self.step = step
        self.cause = cause
        if isinstance(cause, APError):
            self.exit_code = cause.exit_code
        elif isinstance(cause, click.UsageError):
            self.exit_code = ExitStatus.USAGE
        else:
            self.exit_code = ExitStatus.FAILURE


class WorkflowFailed(APError):
    """Some inputs of a run failed (each was reported as it failed): exit 1."""

    exit_code = ExitStatus.FAILURE


def describe(error: BaseException) -> str:
    """One line for any error a step may raise."""
    if isinstance(error, APError):
        return str(error)
    if isinstance(error, click.ClickException):
        return error.format_message()
    return f"{type(error).__name__}: {error}"


@dataclass(frozen=True)
class ArgSpec:
    """What a step arg names: a click parameter, through one of its spellings."""

    key: str
    param: click.Parameter
    flag: str | None
    """The option spelling ("--output-dir"); None for a positional argument."""
    secondary: bool = False
    """True for the "off" spelling of a boolean flag ("no-progress")."""


@dataclass(frozen=True)
class Target:
    """A step's command, found in the root group."""

    names: tuple[str, ...]
    command: click.Command
    parent: click.Context
    outputs: tuple[str, ...] | None
    args: dict[str, ArgSpec]

    @property
    def display(self) -> str:
        return " ".join(self.names)


@dataclass(frozen=True)
class PlannedStep:
    """A step of a dry run: the command line it would run."""

    name: str
    command: str
    argv: tuple[str, ...]

    def command_line(self, prog: str = "ap") -> str:
        return shlex.join([prog, *self.command.split(), *self.argv])


@dataclass(frozen=True)
class StepEvent:
    """A step of one input started, finished or failed (for progress and logs)."""

    kind: Literal["started", "finished", "failed"]
    step: str
    command: str
    source: Path | None
    index: int
    total: int
    argv: tuple[str, ...] = ()
    seconds: float = 0.0
    error: BaseException | None = None


@dataclass
class InputRun:
    """What running the workflow on one input did: each step's result and named outputs, or the failure."""

    source: Path | None
    results: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    error: StepFailed | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class _Scope:
    mode: Mode
    source: Path | None
    outputs: dict[str, dict[str, Any]] = field(default_factory=dict)
    step_index: int = 0
    var_cache: dict[str, Any] = field(default_factory=dict)
    resolving: list[str] = field(default_factory=list)


class WorkflowRunner:
    """A checked workflow, bound to a root `ap` context: plan or run it per input."""

    def __init__(
        self,
        workflow: Workflow,
        root: click.Context,
        variables: Mapping[str, str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """Check everything that can be checked before running (raises UsageError / PluginError)."""
        self.workflow = workflow
        self.root = root
        self.env = dict(os.environ if env is None else env)
        self.vars: dict[str, Any] = dict(workflow.vars)
        self.overridden: set[str] = set()
        for key, value in (variables or {}).items():
            if key not in self.vars:
                raise UsageError(
                    f"--var {key}: the workflow declares no var {key!r}",
                    path=workflow.path,
                    hint=f"its vars: {', '.join(self.vars) or 'none'}",
                )
            self.vars[key] = value
            self.overridden.add(key)
        self.index = {step.name: i for i, step in enumerate(workflow.steps)}
        self.targets: list[Target] = []
        self.uses_input = False
        self._check()

    # ------------------------------------------------------------------ public

    def inputs(self, given: Sequence[str | Path]) -> list[Path | None]:
        """The inputs to run: files, and the audio/video files of folders; [None] for a workflow without ${input}."""
        if not given:
            if self.uses_input:
                raise UsageError(
                    "the workflow uses ${input} but no INPUT was given",
                    path=self.workflow.path,
                    hint="ap run --config FILE INPUT... (files or folders)",
                )
            return [None]
        from audio_playground.api import expand_inputs

        return list(expand_inputs(given))

    def plan(self, source: Path | None) -> list[PlannedStep]:
        """The command line of every step for `source`; outputs known only after a run show as <step.key>."""
        scope = _Scope("plan", source)
        planned = []
        for index, step in enumerate(self.workflow.steps):
            scope.step_index = index
            argv = self._argv(index, scope)
            planned.append(PlannedStep(step.name, self.targets[index].display, tuple(argv)))
        return planned

    def run_input(self, source: Path | None, on_event: Callable[[StepEvent], None] | None = None) -> InputRun:
        """Run every step for `source`, in order; the first failing step stops this input (see .error)."""
        scope = _Scope("run", source)
        run = InputRun(source, outputs=scope.outputs)
        total = len(self.workflow.steps)
        emit = on_event or (lambda event: None)
        for index, step in enumerate(self.workflow.steps):
            target = self.targets[index]
            scope.step_index = index
            argv: tuple[str, ...] = ()
            started = time.perf_counter()
            try:
                argv = tuple(self._argv(index, scope))
                emit(StepEvent("started", step.name, target.display, source, index, total, argv))
                result = self._invoke(target, argv)
                run.results[step.name] = result
                scope.outputs[step.name] = result_outputs(result, target.outputs or ())
            except (KeyboardInterrupt, click.Abort):
                raise
            except Exception as exc:
                failure = StepFailed(step.name, target.display, source, exc)
                failure.__cause__ = exc
                run.error = failure
                seconds = time.perf_counter() - started
                emit(StepEvent("failed", step.name, target.display, source, index, total, argv, seconds, failure))
                return run
            seconds = time.perf_counter() - started
            emit(StepEvent("finished", step.name, target.display, source, index, total, argv, seconds))
        return run

    # ------------------------------------------------------------------ checks

    def _check(self) -> None:
        scope = _Scope("check", None)
        for name, value in self.vars.items():
            try:
                for ref in references(value):
                    if ref.kind == "steps":
                        raise _RefError(
                            f"vars cannot use step outputs ({ref.text})", hint="use it in the args of a step"
                        )
                    self.uses_input |= ref.kind == "input"
                self._var(name, scope)
            except ValueError as exc:
                origin = " (set by --var)" if name in self.overridden else ""
                raise self.workflow.error(("vars", name), f"var {name!r}{origin}: {exc}", _hint(exc)) from exc
        for index, step in enumerate(self.workflow.steps):
            target = self._target(index)
            self.targets.append(target)
            for key, value in step.args.items():
                loc = ("steps", index, "args", key)
                if key not in target.args:
                    raise self.workflow.error(
                        loc, f"step {step.name!r}: {target.display} has no arg {key!r}", _unknown_arg_hint(key, target)
                    )
                try:
                    self.uses_input |= any(ref.kind == "input" for ref in references(value))
                except ValueError as exc:
                    raise self.workflow.error(loc, f"step {step.name!r}, arg {key!r}: {exc}") from exc
            self._check_required(index, target)
            scope.step_index = index
            self._argv(index, scope)

    def _check_required(self, index: int, target: Target) -> None:
        step = self.workflow.steps[index]
        for param in target.command.params:
            if not param.required or any(param is o for o in GLOBAL_OPTIONS):
                continue
            keys = [spec.key for spec in target.args.values() if spec.param is param]
            if keys and not any(key in step.args for key in keys):
                raise self.workflow.error(
                    ("steps", index, "args") if "args" in self._step_keys(index) else ("steps", index),
                    f"step {step.name!r}: {target.display} needs arg {keys[0]!r}",
                    hint=f"add {keys[0]}: ... under args",
                )

    def _step_keys(self, index: int) -> set[str]:
        return set(self.workflow.steps[index].model_fields_set)

    def _target(self, index: int) -> Target:
        step = self.workflow.steps[index]
        loc = ("steps", index, "command")
        names = step.command.split()
        if names[:1] and names[0] in PROGS:
            names = names[1:]
        if not names:
            raise self.workflow.error(loc, f"step {step.name!r}: the command is empty", hint="e.g. convert to-wav")
        if names == ["run"]:
            raise self.workflow.error(loc, f"step {step.name!r}: a workflow cannot run `ap run`")
        ctx = self.root
        command: click.Command = self.root.command
        for depth, name in enumerate(names):
            if not isinstance(command, click.Group):
                raise self.workflow.error(
                    loc, f"step {step.name!r}: {' '.join(names[:depth])!r} has no subcommand {name!r}"
                )
            if depth:
                ctx = click.Context(command, info_name=names[depth - 1], parent=ctx)
            found = command.get_command(ctx, name)
            if found is None:
                known = command.list_commands(ctx)
                close = difflib.get_close_matches(name, known, n=1)
                hint = f"maybe {close[0]!r}" if close else f"commands here: {', '.join(known)}"
                shown = " ".join(names[: depth + 1])
                raise self.workflow.error(loc, f"step {step.name!r}: unknown command {shown!r}", hint)
            command = found
        display = " ".join(names)
        if isinstance(command, click.Group):
            subs = ", ".join(command.list_commands(click.Context(command, parent=ctx)))
            raise self.workflow.error(loc, f"step {step.name!r}: {display!r} is a group", hint=f"name one of: {subs}")
        missing = unavailable_hint(command)
        if missing:
            raise PluginError(
                f"step {step.name!r}: {display!r} is not installed", path=self.workflow.where(*loc), hint=missing
            )
        return Target(tuple(names), command, ctx, declared_outputs(command), arg_specs(command))

    # ------------------------------------------------------------------ resolution

    def _argv(self, index: int, scope: _Scope) -> list[str]:
        step = self.workflow.steps[index]
        target = self.targets[index]
        options: list[str] = []
        positionals: list[str] = []
        for key, raw in step.args.items():
            spec = target.args[key]
            try:
                value = self._resolve(raw, scope)
                tokens = _tokens(spec, value, target.command if scope.mode == "check" else None)
            except ValueError as exc:
                subject = f"step {step.name!r}, arg {key!r}" if scope.mode != "run" else f"arg {key!r}"
                raise self.workflow.error(("steps", index, "args", key), f"{subject}: {exc}", _hint(exc)) from exc
            (options if spec.flag else positionals).extend(tokens)
        if any(p.startswith("-") for p in positionals):
            positionals.insert(0, "--")
        return options + positionals

    def _resolve(self, value: Any, scope: _Scope) -> Any:
        if isinstance(value, str):
            pieces = parse_template(value)
            if len(pieces) == 1 and isinstance(pieces[0], Ref):
                return self._lookup(pieces[0], scope)
            text: list[str] = []
            unknown = False
            for piece in pieces:
                if isinstance(piece, str):
                    text.append(piece)
                    continue
                found = self._lookup(piece, scope)
                if found is UNKNOWN:
                    unknown = True
                elif found is None:
                    raise _RefError(f"{piece.text} is null, so it cannot be part of {value!r}", "give it a value")
                elif isinstance(found, list | tuple | Mapping):
                    raise _RefError(
                        f"{piece.text} holds several values, so it cannot be part of {value!r}",
                        hint="use it as the whole value of an arg that takes several",
                    )
                else:
                    text.append(_text(found))
            return UNKNOWN if unknown else "".join(text)
        if isinstance(value, list):
            items: list[Any] = []
            for item in value:
                found = self._resolve(item, scope)
                whole = isinstance(item, str) and _is_whole_ref(item)
                if whole and isinstance(found, list | tuple | Mapping):
                    items.extend(found.values() if isinstance(found, Mapping) else found)
                elif not (whole and found is None):
                    items.append(found)
            return items
        if isinstance(value, dict):
            raise _RefError("a mapping is not an arg value", hint="give a value, or a list of values")
        return value

    def _lookup(self, ref: Ref, scope: _Scope) -> Any:
        if ref.kind == "input":
            if scope.source is None:
                if scope.mode == "check":
                    return UNKNOWN
                raise _RefError(f"{ref.text} has no value: no INPUT was given", hint="pass INPUT files to ap run")
            return _input_part(scope.source, ref.parts)
        if ref.kind == "env":
            name = ref.parts[0]
            if name not in self.env:
                raise _RefError(f"environment variable {name} is not set ({ref.text})", hint=f"set {name}")
            return self.env[name]
        if ref.kind == "vars":
            return self._var(ref.parts[0], scope)
        return self._output(ref, scope)

    def _var(self, name: str, scope: _Scope) -> Any:
        if name not in self.vars:
            raise _RefError(
                f"no var {name!r}", hint=f"declare it under vars (declared: {', '.join(self.vars) or 'none'})"
            )
        if name in scope.var_cache:
            return scope.var_cache[name]
        if name in scope.resolving:
            cycle = [*scope.resolving[scope.resolving.index(name) :], name]
            raise _RefError(f"vars refer to each other in a cycle: {' -> '.join(cycle)}", hint="break the cycle")
        scope.resolving.append(name)
        try:
            value = self._resolve(self.vars[name], scope)
        finally:
            scope.resolving.pop()
        scope.var_cache[name] = value
        return value

    def _output(self, ref: Ref, scope: _Scope) -> Any:
        if ref.step not in self.index:
            raise _RefError(f"{ref.text}: no step is named {ref.step!r}", hint=f"steps: {', '.join(self.index)}")
        producer = self.index[ref.step]
        if producer == scope.step_index:
            raise _RefError(f"{ref.text}: a step cannot use its own output (a cycle)", hint="use an earlier step's")
        if producer > scope.step_index:
            raise _RefError(
                f"{ref.text}: step {ref.step!r} runs later (a forward reference)",
                hint="steps run in order: move it before this step",
            )
        target = self.targets[producer]
        key = ref.output[0]
        if target.outputs is None:
            raise _RefError(f"{ref.text}: {target.display} declares no outputs", hint="its results cannot be chained")
        if key not in target.outputs:
            raise _RefError(
                f"{ref.text}: {target.display} has no output {key!r}", hint=f"its outputs: {', '.join(target.outputs)}"
            )
        if scope.mode == "check":
            return UNKNOWN
        if scope.mode == "plan":
            return self._predict(ref, producer, scope)
        return _produced(ref, scope.outputs.get(ref.step, {}))

    def _predict(self, ref: Ref, producer: int, scope: _Scope) -> Any:
        """In a dry run, an output that echoes one of its step's args (target, output_dir) has that arg's value."""
        args = self.workflow.steps[producer].args
        if len(ref.output) == 1:
            for key in (ref.output[0].replace("_", "-"), ref.output[0]):
                if key in args:
                    inner = _Scope("plan", scope.source, step_index=producer, var_cache=scope.var_cache)
                    value = self._resolve(args[key], inner)
                    if value is not None:
                        return value
        return Placeholder(f"<{ref.step}.{'.'.join(ref.output)}>")

    def _invoke(self, target: Target, argv: Sequence[str]) -> Any:
        with target.command.make_context(target.names[-1], list(argv), parent=target.parent) as ctx:
            try:
                return target.command.invoke(ctx)
            except click.exceptions.Exit as exc:
                if exc.exit_code:
                    raise
                return None


# --------------------------------------------------------------------------- helpers


def arg_specs(command: click.Command) -> dict[str, ArgSpec]:
    """Every arg key a step may give `command`: long option names without dashes, argument names."""
    specs: dict[str, ArgSpec] = {}
    for param in command.params:
        if any(param is option for option in GLOBAL_OPTIONS) or param.name is None:
            continue
        if isinstance(param, click.Option):
            for opt in param.opts:
                if opt.startswith("--"):
                    specs.setdefault(opt[2:], ArgSpec(opt[2:], param, opt))
            for opt in param.secondary_opts:
                if opt.startswith("--"):
                    specs.setdefault(opt[2:], ArgSpec(opt[2:], param, opt, secondary=True))
            if not any(spec.param is param for spec in specs.values()):
                specs.setdefault(param.name, ArgSpec(param.name, param, param.opts[0]))
        else:
            specs.setdefault(param.name, ArgSpec(param.name, param, None))
    return specs


def _unknown_arg_hint(key: str, target: Target) -> str:
    if key in GLOBAL_KEYS:
        return f"{key} is a global option: give it to ap itself (ap --{key} ... run ...)"
    close = difflib.get_close_matches(key, list(target.args), n=1)
    known = ", ".join(target.args)
    return f"maybe {close[0]!r} ({target.display} takes: {known})" if close else f"it takes: {known}"


def _tokens(spec: ArgSpec, value: Any, check: click.Command | None) -> list[str]:
    """The command-line tokens for one arg; with `check`, literal values go through click's type conversion."""
    param = spec.param
    if value is None:
        return []
    if isinstance(value, Placeholder) and isinstance(param, click.Option) and (param.is_flag or param.count):
        return [str(spec.flag), value]
    if isinstance(param, click.Option) and param.is_flag and not param.count:
        if value is UNKNOWN:
            return []
        if not isinstance(value, bool):
            raise ValueError(f"takes true or false, not {value!r}")
        if value:
            return [str(spec.flag)]
        others = [o for o in (param.opts if spec.secondary else param.secondary_opts) if o.startswith("--")]
        return others[:1]
    if isinstance(param, click.Option) and param.count:
        if value is UNKNOWN:
            return []
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"takes a count (0, 1, 2, ...), not {value!r}")
        return [str(spec.flag)] * value
    several = param.multiple or param.nargs == -1
    if several:
        values = list(value.values()) if isinstance(value, Mapping) else value
        values = list(values) if isinstance(values, list | tuple) else [values]
    elif isinstance(value, list | tuple | Mapping):
        raise ValueError(f"takes one value, not {len(value)}: {_shown(value)}")
    else:
        values = [value]
    tokens: list[str] = []
    for item in values:
        if isinstance(item, list | tuple | Mapping):
            raise ValueError(f"takes plain values, not nested lists: {_shown(value)}")
        if check is not None and item is not UNKNOWN:
            _convert(param, _text(item), check)
        text = _text(item)
        tokens.extend([text] if spec.flag is None else [spec.flag, text])
    return tokens


def _convert(param: click.Parameter, text: str, command: click.Command) -> None:
    """Run click's type conversion on a literal value (paths are checked by the command when it runs)."""
    if isinstance(param.type, click.Path | click.File):
        return
    try:
        param.type.convert(text, param, click.Context(command))
    except click.BadParameter as exc:
        raise ValueError(exc.message) from exc


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 80 else text[:77] + "..."


def _is_whole_ref(text: str) -> bool:
    pieces = parse_template(text)
    return len(pieces) == 1 and isinstance(pieces[0], Ref)


def _input_part(source: Path, parts: tuple[str, ...]) -> Any:
    if not parts:
        return source
    return {"stem": source.stem, "name": source.name, "parent": source.parent, "suffix": source.suffix}[parts[0]]


def _produced(ref: Ref, outputs: Mapping[str, Any]) -> Any:
    """The value of an output of a step that ran; an error when the step produced nothing there."""
    key = ".".join(ref.output)
    value: Any = outputs.get(ref.output[0])
    for depth, sub in enumerate(ref.output[1:], start=1):
        if not isinstance(value, Mapping) or sub not in value:
            have = f" (it has: {', '.join(map(str, value))})" if isinstance(value, Mapping) and value else ""
            raise _RefError(f"{ref.text}: step {ref.step!r} produced no {'.'.join(ref.output[: depth + 1])!r}{have}")
        value = value[sub]
    if value is None or (isinstance(value, list | tuple | Mapping) and not value):
        raise _RefError(f"{ref.text}: step {ref.step!r} produced no {key!r}")
    if isinstance(value, Path):
        paths = [value]
    elif isinstance(value, Mapping):
        paths = [v for v in value.values() if isinstance(v, Path)]
    elif isinstance(value, list | tuple):
        paths = [v for v in value if isinstance(v, Path)]
    else:
        paths = []
    for path in paths:
        if not path.exists():
            raise _RefError(f"{ref.text}: {path} (from step {ref.step!r}) no longer exists", hint="run again")
    return value


def _hint(error: BaseException) -> str | None:
    return getattr(error, "hint", None)


# --------------------------------------------------------------------------- Python API


@contextmanager
def root_context(pm: Any = None) -> Generator[click.Context]:
    """A root `ap` context (with its App) for running workflows from Python, the commands found as the CLI does."""
    from audio_playground.cli.app import App, build_cli

    root = build_cli(pm)
    ctx = click.Context(root, info_name="ap")
    ctx.obj = App(root.pm, ctx)
    with ctx:
        yield ctx


def run_workflow(
    path: str | Path,
    inputs: Sequence[str | Path] = (),
    *,
    variables: Mapping[str, str] | None = None,
    pm: Any = None,
    on_event: Callable[[StepEvent], None] | None = None,
) -> list[InputRun]:
    """Run the workflow file at `path` once per input; failures are in each InputRun's .error, nothing raised."""
    with root_context(pm) as ctx:
        runner = WorkflowRunner(load_workflow(path), ctx, variables)
        return [runner.run_input(source, on_event) for source in runner.inputs(inputs)]


def plan_workflow(
    path: str | Path,
    inputs: Sequence[str | Path] = (),
    *,
    variables: Mapping[str, str] | None = None,
    pm: Any = None,
) -> list[tuple[Path | None, list[PlannedStep]]]:
    """The dry-run plan of the workflow at `path`: per input, the command line of every step. Writes nothing."""
    with root_context(pm) as ctx:
        runner = WorkflowRunner(load_workflow(path), ctx, variables)
        return [(source, runner.plan(source)) for source in runner.inputs(inputs)]
