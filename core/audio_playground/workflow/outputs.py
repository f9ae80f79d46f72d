"""Named outputs of commands: each command declares what it produces, so workflow steps can chain on it.

A command declares a result dataclass (its fields are the outputs) or a tuple of output names. The module is
light on purpose: command modules import it at `ap --help` time.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

OUTPUTS_ATTR = "ap_outputs"
UNAVAILABLE_ATTR = "ap_unavailable"

C = TypeVar("C")


def declare_outputs(outputs: type | Sequence[str]) -> Callable[[C], C]:
    """Decorate a click command: its result is `outputs` (a dataclass type, or the names of its outputs)."""
    if isinstance(outputs, type):
        if not dataclasses.is_dataclass(outputs):
            raise TypeError(f"{outputs.__name__} is not a dataclass: declare its output names instead")
        names = tuple(f.name for f in dataclasses.fields(outputs))
    else:
        names = tuple(outputs)

    def decorate(command: C) -> C:
        setattr(command, OUTPUTS_ATTR, names)
        return command

    return decorate


def declared_outputs(command: Any) -> tuple[str, ...] | None:
    """The output names `command` declared, or None when it declares none."""
    names = getattr(command, OUTPUTS_ATTR, None)
    return None if names is None else tuple(names)


def mark_unavailable(command: C, hint: str) -> C:
    """Mark a placeholder command whose plugin is not installed (`hint` says what to install)."""
    setattr(command, UNAVAILABLE_ATTR, hint)
    return command


def unavailable_hint(command: Any) -> str | None:
    """What to install for a placeholder command; None for a real one."""
    return getattr(command, UNAVAILABLE_ATTR, None)


def result_outputs(result: Any, names: Sequence[str]) -> dict[str, Any]:
    """The named outputs of a command's return value.

    A dataclass or mapping gives its values by name. A list of results (one command over several files)
    gives each output as a list, one value per result: lists are joined, a value every result shares stays
    single (the output_dir of an atomic extract over many segments), mappings (stems) merge key by key.
    """
    if isinstance(result, list | tuple):
        per_item = [result_outputs(item, names) for item in result]
        return {name: _combine([item.get(name) for item in per_item]) for name in names}
    if result is None:
        return {}
    if isinstance(result, Mapping):
        return {name: result[name] for name in names if name in result}
    return {name: getattr(result, name) for name in names if hasattr(result, name)}


def _combine(values: list[Any]) -> Any:
    present = [v for v in values if v is not None]
    if not present:
        return None
    if all(isinstance(v, Mapping) for v in present):
        keys = list(dict.fromkeys(k for v in present for k in v))
        return {k: _combine([v.get(k) for v in present]) for k in keys}
    if all(isinstance(v, list | tuple) for v in present):
        return [item for v in present for item in v]
    if all(v == present[0] for v in present):
        return present[0]
    return present
